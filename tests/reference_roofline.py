"""A plain, per-point reference implementation of the roofline (scalar Python, explicit loops).

Written independently of market/roofline.py to check the vectorised kernel on random inputs. It
follows DESIGN.md section 4 directly and sums a served request's decode steps one by one.
"""

from __future__ import annotations

import math

BYTES = {"bf16": (2.0, 2.0), "fp8": (1.0, 1.0), "int8": (1.0, 1.0), "fp4": (0.5, 1.0)}  # (weights, kv)
ACT = 2.0


def _kv_per_token(m, kv):
    return m["attention_layers"] * m["kv_elements"] * kv


def _state(m, kv):
    return (m["n_layers"] - m["attention_layers"]) * m["state_elements"] * kv


def _weights_read(m, tokens, bpp, share=1.0):
    """Weights one tensor group reads: all dense weights, and of the experts it holds (`share` of a copy) the ones
    the `tokens` routed to that copy touch."""
    if m["experts"] <= 1:
        return m["params_total"] * bpp
    share_touched = 1.0 - (1.0 - m["experts_per_token"] / m["experts"]) ** tokens
    return (m["params_total"] - m["params_expert"] + m["params_expert"] * share_touched * share) * bpp


def _ep(m, layout):
    """Expert parallelism in use: a mixture of experts and an EP group of more than one chip."""
    return m["experts"] > 1 and layout.get("expert", 0) > 1


def _expert_share(m, t, layout):
    """Share of one copy of the experts a tensor group of t chips holds: t / EP under EP, else all of it."""
    return t / layout["expert"] if _ep(m, layout) else 1.0


def _copies_of_kv(m, t):
    """Chips of a tensor group that hold each KV byte: a head is not split, a latent cache is one head."""
    heads = 1.0 if m.get("latent") else m.get("kv_heads", math.inf)
    return t / min(t, heads)


def _alltoall(message, k, c):
    """All-to-all of `message` bytes per chip over k chips: one step on a switch, a 2-D torus otherwise."""
    if k <= 1:
        return 0.0
    a, per_byte = c["link_latency"], message / c["link_bandwidth"]
    share = (k - 1) / k
    if c["switched"]:
        return a + share * per_byte
    side = math.sqrt(k)
    return 2 * side * a + share * per_byte * max(side / 2, 1.0)


def _allreduce(message, k, c):
    """Cheapest all-reduce on the chip's fabric: ring or tree, plus one-shot and two-shot where switched."""
    if k <= 1:
        return 0.0
    a, per_byte = c["link_latency"], message / c["link_bandwidth"]
    options = [2 * (k - 1) * a + 2 * (k - 1) / k * per_byte, 2 * math.ceil(math.log2(k)) * a + 2 * per_byte]
    if c["switched"]:
        options += [a + (k - 1) * per_byte, 2 * a + 2 * (k - 1) / k * per_byte]
    return min(options)


def _pass(c, m, flop, moved, message, k, p, b, prefill, layout=None):
    """One forward pass over all layers on k chips in p pipeline stages (k / p tensor-parallel chips each),
    b sequences in min(b, p) microbatches. Returns (compute, memory, interconnect, overhead, busy) along the
    critical path, in seconds."""
    mb = min(b, p)
    t = k / p
    compute = flop / (k * c["peak_flops"] * c["mfu_infer"])
    memory = moved / (k * c["hbm_bandwidth"] * c["mbu"])
    # one microbatch on one stage: its share of the work, its layers' all-reduces (under EP, an MoE layer's second
    # one is a dispatch and a combine all-to-all of each chip's share of the tokens, top_k times) and overheads
    layout = layout or {}
    second = (2 * _alltoall(message / mb / t * m["experts_per_token"], layout["expert"], c) if _ep(m, layout)
              else _allreduce(message / mb, t, c))
    stage_collective = (m["n_layers"] / p) * (_allreduce(message / mb, t, c) + second)
    stage_overhead = (m["n_layers"] / p) * (c["prefill_layer_overhead"] if prefill else c["layer_overhead"])
    hops = (p - 1) * c["link_latency"]
    if prefill:  # fill and drain: mb + p - 1 stage-times on the critical path
        n = mb + p - 1
        return n * compute / mb, n * memory / mb, n * stage_collective + hops, n * stage_overhead, compute
    # pipeline kept full across decode steps: each round every stage serves its microbatches; with fewer
    # microbatches than stages, stages wait (p rounds of one microbatch's stage-time)
    return (p * compute / mb, p * memory / mb, p * stage_collective + hops,
            p * stage_overhead + b * c["sequence_overhead"],
            compute)


def _expert_extra(m, efficiency):
    """FLOP-equivalents per token added by routed experts running below the dense rate."""
    if m["experts"] <= 1:
        return 0.0
    return 2.0 * m["params_expert"] * m["experts_per_token"] / m["experts"] * (1.0 / efficiency - 1.0)


def _kv_rereads(m, sharing):
    group = max(2.0 * m["attention_width"] / m["kv_elements"], 1.0) if m["kv_elements"] > 0 else 1.0
    return 1.0 + (group - 1.0) * (1.0 - sharing)


def _routed(m, tokens, t, layout):
    """Tokens one copy of the experts serves: under EP it serves EP / t tensor groups."""
    return tokens * layout["expert"] / t if _ep(m, layout) else tokens


def decode_step(c, m, b, ctx, k, precision, p=1, layout=None):
    layout = layout or {}
    bpp, kv = BYTES[precision]
    t = k / p
    width = m["n_heads"] * m["kv_elements"] if m.get("latent") else m["attention_width"]
    flop = b * (2.0 * m["params_active"] + 4.0 * m["attention_layers"] * width * ctx
                + _expert_extra(m, c["expert_efficiency"]))
    rereads = 1.0 if m.get("latent") else _kv_rereads(m, c["gqa_sharing"])
    moved = (_weights_read(m, _routed(m, b, t, layout), bpp, _expert_share(m, t, layout))
             + b * ctx * _kv_per_token(m, kv) * rereads * _copies_of_kv(m, t) + 2.0 * b * _state(m, kv))
    return _pass(c, m, flop, moved, b * m["d_model"] * ACT, k, p, b, prefill=False, layout=layout)


def prefill(c, m, b, prompt, k, precision, p=1, layout=None):
    layout = layout or {}
    bpp, kv = BYTES[precision]
    t = k / p
    flop = b * ((2.0 * m["params_active"] + _expert_extra(m, c["expert_efficiency"])) * prompt
                + 2.0 * m["attention_layers"] * m["attention_width"] * prompt**2)
    moved = (_weights_read(m, _routed(m, b * prompt, t, layout), bpp, _expert_share(m, t, layout))
             + b * prompt * _kv_per_token(m, kv) * _copies_of_kv(m, t) + b * _state(m, kv))
    return _pass(c, m, flop, moved, b * prompt * m["d_model"] * ACT, k, p, b, prefill=True, layout=layout)


def fits(c, m, b, context, k, precision, p=1, layout=None):
    layout = layout or {}
    bpp, kv = BYTES[precision]
    t = k / p
    experts = m["params_expert"] * (_expert_share(m, t, layout) - 1.0)
    need = ((m["params_total"] + experts) * bpp
            + b * (context * _kv_per_token(m, kv) * _copies_of_kv(m, t) + _state(m, kv)))
    return need <= k * c["hbm_bytes"] * c["usable"]


def smallest_group(c, m, b, context, precision):
    k = 1
    while k <= c["max_group"]:
        if fits(c, m, b, context, k, precision):
            return k
        k *= 2
    return None


def evaluate_point(phase, c, m, b, inp, out, precision, k=None, p=None, layout=None):
    """Returns dict(tokens_per_second, latency_s, bound, chips) or None when infeasible. `layout`: {"data": data-
    parallel replicas of the group, "expert": EP group size} (serving only)."""
    layout = {"data": 1, "expert": 0, **(layout or {})}
    if phase == "train":
        flop_per_token = (6.0 * m["params_active"]
                          + 12.0 * m["attention_layers"] * m["attention_width"] * m["train_seq_len"])
        per_chip = c["peak_flops"] * c["mfu_train"] / flop_per_token
        # 16 bytes of state per parameter, and one sequence's activations under full recomputation (a 16-bit
        # input per layer plus one layer's 34 bytes per token and model dimension), all split over the k chips
        state = m["params_total"] * 16.0 + (2.0 * m["n_layers"] + 34.0) * m["train_seq_len"] * m["d_model"]
        k = 1
        while state > k * c["hbm_bytes"] * c["usable"]:
            k *= 2
        return {"tokens_per_second": per_chip * k, "latency_s": b * m["train_seq_len"] / (per_chip * k),
                "bound": "compute", "chips": k}
    context = {"prefill": inp, "decode": inp + 1, "serve": inp + out}[phase]
    if k is None:
        k = smallest_group(c, m, b, context, precision)
        if k is None:
            return None
    if p is None:
        p = k if c["hbm_bytes"] < 1e9 else 1
    elif k % p:
        return None
    if k > c["max_group"] or not fits(c, m, b, context, k, precision, p, layout):
        return None
    if _ep(m, layout) and ((k / p * layout["data"]) % layout["expert"] or layout["expert"] > c["max_group"]):
        return None

    def total(parts):
        tc, tm, tx, to, _ = parts
        return max(tc, tm) + tx + to

    if phase == "prefill":
        parts = prefill(c, m, b, inp, k, precision, p, layout)
        seconds, produced = total(parts), b * inp
    elif phase == "decode":
        parts = decode_step(c, m, b, inp, k, precision, p, layout)
        seconds, produced = total(parts), b
    else:
        parts = prefill(c, m, b, inp, k, precision, p, layout)
        seconds = total(parts)
        for ctx in range(inp + 1, inp + out):
            step = decode_step(c, m, b, ctx, k, precision, p, layout)
            seconds += total(step)
            parts = tuple(x + y for x, y in zip(parts, step, strict=False))
        produced = b * out
    produced *= layout["data"]
    k *= layout["data"]
    named = dict(zip(("compute", "memory", "interconnect", "overhead"), parts[:4], strict=True))
    bound = max(named, key=named.get)
    return {"tokens_per_second": produced / seconds, "latency_s": seconds, "bound": bound, "chips": k}


def is_close(a, b, rel=1e-9):
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.0)
