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


def _weights_read(m, tokens, bpp):
    if m["experts"] <= 1:
        return m["params_total"] * bpp
    share_touched = 1.0 - (1.0 - m["experts_per_token"] / m["experts"]) ** tokens
    return (m["params_total"] - m["params_expert"] + m["params_expert"] * share_touched) * bpp


def _allreduce(message, k, c):
    if k <= 1:
        return 0.0
    return c["allreduce_latency"] + 2.0 * (k - 1) / k * message / c["link_bandwidth"]


def _step(c, m, flop, moved, message, k):
    t_c = flop / (k * c["peak_flops"] * c["mfu_infer"])
    t_m = moved / (k * c["hbm_bandwidth"] * c["mbu"])
    t_x = 2.0 * m["n_layers"] * _allreduce(message, k, c)
    return t_c, t_m, t_x


def decode_step(c, m, b, ctx, k, precision):
    bpp, kv = BYTES[precision]
    flop = b * (2.0 * m["params_active"] + 4.0 * m["attention_layers"] * m["attention_width"] * ctx)
    moved = _weights_read(m, b, bpp) + b * ctx * _kv_per_token(m, kv) + 2.0 * b * _state(m, kv)
    return _step(c, m, flop, moved, b * m["d_model"] * ACT, k)


def prefill(c, m, b, prompt, k, precision):
    bpp, kv = BYTES[precision]
    flop = b * (2.0 * m["params_active"] * prompt + 2.0 * m["attention_layers"] * m["attention_width"] * prompt**2)
    moved = _weights_read(m, b * prompt, bpp) + b * prompt * _kv_per_token(m, kv) + b * _state(m, kv)
    return _step(c, m, flop, moved, b * prompt * m["d_model"] * ACT, k)


def fits(c, m, b, context, k, precision):
    bpp, kv = BYTES[precision]
    need = m["params_total"] * bpp + b * (context * _kv_per_token(m, kv) + _state(m, kv))
    return need <= k * c["hbm_bytes"] * c["usable"]


def smallest_group(c, m, b, context, precision):
    k = 1
    while k <= c["max_group"]:
        if fits(c, m, b, context, k, precision):
            return k
        k *= 2
    return None


def evaluate_point(phase, c, m, b, inp, out, precision, k=None):
    """Returns dict(tokens_per_second, latency_s, bound, chips) or None when infeasible."""
    if phase == "train":
        flop_per_token = 6.0 * m["params_active"] + 12.0 * m["attention_layers"] * m["attention_width"] * m["train_seq_len"]
        per_chip = c["peak_flops"] * c["mfu_train"] / flop_per_token
        state = m["params_total"] * 16.0
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
    elif k > c["max_group"] or not fits(c, m, b, context, k, precision):
        return None
    if phase == "prefill":
        tc, tm, tx = prefill(c, m, b, inp, k, precision)
        total, produced = max(tc, tm) + tx, b * inp
    elif phase == "decode":
        tc, tm, tx = decode_step(c, m, b, inp, k, precision)
        total, produced = max(tc, tm) + tx, b
    else:
        tc, tm, tx = prefill(c, m, b, inp, k, precision)
        total = max(tc, tm) + tx
        for ctx in range(inp + 1, inp + out):
            sc, sm, sx = decode_step(c, m, b, ctx, k, precision)
            total += max(sc, sm) + sx
            tc, tm, tx = tc + sc, tm + sm, tx + sx
        produced = b * out
    parts = {"compute": tc, "memory": tm, "interconnect": tx}
    bound = max(parts, key=parts.get)
    return {"tokens_per_second": produced / total, "latency_s": total, "bound": bound, "chips": k}


def is_close(a, b, rel=1e-9):
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.0)
