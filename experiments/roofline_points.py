"""The roofline of one workload on chips, as records and as the text `compute-market roofline` prints."""

from __future__ import annotations

from experiments.errors import UsageError
from experiments.json_safe import clean
from market import roofline
from market.evaluation import evaluate_grid


def _ids(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def id_list(text: str, option: str) -> list[str]:
    """The comma-separated ids of `option`; at least one (so `--chip ,` is refused, not silently empty)."""
    ids = _ids(text)
    if not ids:
        raise UsageError(f"{option}: no id given (got '{text}'); name at least one, e.g. {option} "
                         f"{'h100-sxm' if option == '--chip' else 'llama-3-70b'} (see 'compute-market catalog')")
    return ids


def roofline_points(catalog, *, chip: str, model: str, phase: str, batch: int | str | None, precision: str,
                    tensor_parallel: int | None, pipeline: int | None, input_tokens: int,
                    output_tokens: int, expert_parallel: int | None = None, data_parallel: int = 1,
                    context_parallel: int = 1, zero: int = 0, concurrency: int | None = None,
                    kv_precision: str | None = None) -> list[dict]:
    """One result record per chip of `chip` (comma-separated ids) for the single workload `model`; the keywords are
    the `compute-market roofline` options of the same names. `batch` is per data-parallel replica; `concurrency`
    (requests in flight over all replicas) sets it instead: ceil(concurrency / data_parallel)."""
    chips = [catalog.accelerator(cid) for cid in id_list(chip, "--chip")]
    models = [catalog.workload(mid) for mid in id_list(model, "--model")]
    if len(models) != 1:
        raise UsageError("--model takes one id unless --plot is given")
    roofline.check_precision(chips, precision)
    batch = batch_of(batch, concurrency, data_parallel, phase)
    check_layout(chips, models[0], phase, tensor_parallel, pipeline, expert_parallel, data_parallel,
                 context_parallel, zero)
    if batch == "max" and phase == "train":
        raise UsageError("--batch max applies to inference phases (prefill, decode, serve), not train")
    batches = None if batch == "max" else [batch]
    parallel = roofline.Parallel(data=float(data_parallel), expert=float(expert_parallel or 0),
                                 context=float(context_parallel), zero=zero)
    grid = evaluate_grid(
        catalog,
        chips,
        models,
        phase,
        batches=batches,
        precision=precision,
        group=tensor_parallel,
        pipeline=pipeline,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        parallel=parallel,
        kv_precision=kv_precision,
    )
    r = grid.result
    records = []
    for i, chip in enumerate(chips):
        at = (i, 0, 0)
        records.append(
            {
                "chip": chip.id,
                "model": models[0].id,
                "phase": phase,
                "precision": precision,
                "kv_precision": kv_precision or precision,
                "tensor_parallel": tensor_parallel,
                "pipeline": pipeline,
                "expert_parallel": expert_parallel,
                "data_parallel": data_parallel,
                "context_parallel": context_parallel if phase == "train" else None,
                "zero": zero if phase == "train" else None,
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "feasible": bool(r.feasible[at]),
                "infeasible_reason": reason_text(phase, int(r.infeasible_reason[at])),
                "batch": clean(float(r.batch[at])),
                "chips": clean(float(r.chips[at])),
                "tokens_per_second": clean(float(r.tokens_per_second[at])),
                "tokens_per_second_per_chip": clean(float(r.tokens_per_second_per_chip[at])),
                "latency_ms": clean(float(r.latency_s[at]) * 1e3),
                "tokens_per_second_per_request": clean(per_request(phase, float(r.latency_s[at]), input_tokens,
                                                                   output_tokens)),
                "bound": r.bound_name(at) if r.feasible[at] else None,
                "compute_ms": clean(float(r.compute_s[at]) * 1e3),
                "memory_ms": clean(float(r.memory_s[at]) * 1e3),
                "interconnect_ms": clean(float(r.interconnect_s[at]) * 1e3),
                "overhead_ms": clean(float(r.overhead_s[at]) * 1e3),
                "price_per_chip_hour": clean(float(grid.price_per_chip_hour[i, 0, 0])),
                "usd_per_million_tokens": clean(float(grid.usd_per_million_tokens[at])),
                "power_w_per_chip": clean(float(r.power_w[at])),
                "joules_per_token": clean(float(r.joules_per_token[at])),
                "tokens_per_joule": clean(float(r.tokens_per_joule[at])),
                "joules_per_flop": clean(float(r.joules_per_flop[at])),
            }
        )
        for key in ("batch", "chips"):
            if records[-1][key] is not None:
                records[-1][key] = int(records[-1][key])
    return records


def check_group_size(chips, group: int | None, pipeline: int | None = None, phase: str = "serve") -> None:
    """A --tensor-parallel group no larger than each chip's scale-up domain (catalog `max_group`); in training only
    its tensor-parallel part (group / stages) must be: pipeline stages may span the scale-out network."""
    if group is None:
        return
    tensor = group // (pipeline or 1) if phase == "train" else group
    for chip in chips:
        if tensor > chip.max_group:
            raise UsageError(f"--tensor-parallel {group}: {chip.id} groups at most {chip.max_group} chips (its "
                             f"scale-up domain); choose {chip.max_group} or fewer"
                             + (" per pipeline stage" if phase == "train" else ""))


def batch_of(batch: int | str | None, concurrency: int | None, data_parallel: int, phase: str) -> int | str:
    """The batch per data-parallel replica: --batch (default 1), or --concurrency spread over the replicas."""
    if concurrency is None:
        return 1 if batch is None else batch
    if batch is not None:
        raise UsageError("--concurrency sets the batch (requests in flight / --data-parallel); give one of "
                         "--concurrency and --batch")
    if phase == "train":
        raise UsageError("--concurrency applies to inference phases (prefill, decode, serve), not train")
    return -(-concurrency // data_parallel)


def check_layout(chips, workload, phase: str, tensor_parallel: int | None, pipeline: int | None,
                 expert_parallel: int | None, data_parallel: int, context_parallel: int, zero: int) -> None:
    """The parallelism options fit together, the workload and each chip (one line naming the option otherwise)."""
    check_group_size(chips, tensor_parallel, pipeline, phase)
    if phase != "train" and (context_parallel != 1 or zero):
        raise UsageError("--context-parallel and --zero apply to training (--phase train)")
    if expert_parallel is None:
        return
    if phase == "train":
        raise UsageError("--expert-parallel applies to inference phases (prefill, decode, serve); training MoE "
                         "models is costed with tensor x pipeline x data parallelism")
    if not workload.is_moe:
        raise UsageError(f"--expert-parallel: {workload.id} is a dense model; expert parallelism needs a mixture "
                         "of experts (e.g. deepseek-v3, mixtral-8x7b)")
    if tensor_parallel is None:
        raise UsageError("--expert-parallel needs --tensor-parallel (the chips of each attention group)")
    tensor = tensor_parallel // (pipeline or 1)
    if (tensor * data_parallel) % expert_parallel:
        raise UsageError(f"--expert-parallel {expert_parallel} must divide the chips of the attention groups per "
                         f"stage, --tensor-parallel x --data-parallel = {tensor} x {data_parallel}")
    for chip in chips:
        if expert_parallel > chip.max_group:
            raise UsageError(f"--expert-parallel {expert_parallel}: {chip.id}'s scale-up domain holds "
                             f"{chip.max_group} chips; the all-to-all of an EP group runs inside it")


def per_request(phase: str, latency_s: float, input_tokens: int, output_tokens: int) -> float:
    """Tokens per second one request sees: prompt tokens over the time to first token (prefill), one output token
    per step (decode), output tokens over the whole request (serve); NaN for training."""
    if phase == "train" or not latency_s > 0:
        return float("nan")
    return {"prefill": input_tokens, "decode": 1.0, "serve": output_tokens}[phase] / latency_s


LATENCY_MEANING = {
    "train": "per optimiser step of the batch on the chips",
    "prefill": "time to first token",
    "decode": "per output token",
    "serve": "whole request",
}

THROUGHPUT_MEANING = {"train": "trained", "prefill": "prompt", "decode": "output", "serve": "output"}


def format_point(rec: dict) -> str:
    """The lines `compute-market roofline` prints for one record (without --json)."""
    phase = rec["phase"]
    context = {
        "decode": f"context {rec['input_tokens']} tokens",
        "prefill": f"prompt {rec['input_tokens']} tokens",
        "serve": f"{rec['input_tokens']} in / {rec['output_tokens']} out tokens",
        "train": "",
    }[phase]
    lines = [f"{rec['chip']}  {rec['model']}  {phase}  {rec['precision']}  {context}"]
    if not rec["feasible"]:
        lines.append(f"  infeasible: {rec['infeasible_reason']}")
        return "\n".join(lines)
    kind = THROUGHPUT_MEANING[phase]
    replicas = rec["data_parallel"] > 1 and phase != "train"  # a training batch is the whole step's
    lines.append(f"  batch:        {rec['batch']} sequences" + (f" per replica, {rec['data_parallel']} replicas"
                                                                 if replicas else ""))
    lines.append(f"  chips:        {rec['chips']}" + layout_text(rec))
    lines.append(f"  throughput:   {rec['tokens_per_second']:,.1f} {kind} tokens/s (group), "
                 f"{rec['tokens_per_second_per_chip']:,.1f} per chip")
    lines.append(f"  latency:      {rec['latency_ms']:,.2f} ms ({LATENCY_MEANING[phase]})")
    if phase != "train":
        lines.append(f"  per request:  {rec['tokens_per_second_per_request']:,.1f} {kind} tokens/s")
    lines.append(f"  bound:        {rec['bound']} (compute {rec['compute_ms']:,.2f} ms, "
                 f"memory {rec['memory_ms']:,.2f} ms, interconnect {rec['interconnect_ms']:,.2f} ms, "
                 f"overheads {rec['overhead_ms']:,.2f} ms)")
    lines.append(f"  rental price: ${rec['price_per_chip_hour']:.2f} per chip-hour (catalog price, default TCO)")
    lines.append(f"  cost:         ${rec['usd_per_million_tokens']:,.3f} per million {kind} tokens")
    lines.append(f"  energy:       {rec['joules_per_token']:,.3g} J per {kind} token "
                 f"({rec['tokens_per_joule']:,.3g} tokens/J) at {rec['power_w_per_chip']:,.0f} W per chip; "
                 f"{rec['joules_per_flop'] * 1e12:,.3g} J per TFLOP of model work")
    return "\n".join(lines)


def layout_text(rec: dict) -> str:
    """ (TP 8 x DP 9, EP 8, KV fp8)-style note of the parallelism and KV precision a record was given ("" if none)."""
    parts = []
    if rec["tensor_parallel"]:
        parts.append(f"group {rec['tensor_parallel']}" + (f" in {rec['pipeline']} stages" if rec["pipeline"] else ""))
    for key, name in (("data_parallel", "DP"), ("context_parallel", "CP")):
        if (rec.get(key) or 1) > 1:
            parts.append(f"{name} {rec[key]}")
    if rec["expert_parallel"]:
        parts.append(f"EP {rec['expert_parallel']}")
    if rec.get("zero"):
        parts.append(f"ZeRO-{rec['zero']}")
    if rec["kv_precision"] != rec["precision"]:
        parts.append(f"KV cache {rec['kv_precision']}")
    return f" ({', '.join(parts)})" if parts else ""


def reason_text(phase: str, code: int) -> str | None:
    """Why a point is infeasible (None if it is not); training does not fit its state and activations, not a KV
    cache."""
    if phase == "train" and code == roofline.NO_FIT:
        return "training state and activations do not fit the chips (see --pipeline, --zero, --context-parallel)"
    return roofline.INFEASIBLE_REASONS[code] or None
