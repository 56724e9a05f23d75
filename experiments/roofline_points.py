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


def roofline_points(catalog, *, chip: str, model: str, phase: str, batch: int | str, precision: str,
                    tensor_parallel: int | None, pipeline: int | None, input_tokens: int,
                    output_tokens: int) -> list[dict]:
    """One result record per chip of `chip` (comma-separated ids) for the single workload `model`; the keywords are
    the `compute-market roofline` options of the same names."""
    chips = [catalog.accelerator(cid) for cid in id_list(chip, "--chip")]
    models = [catalog.workload(mid) for mid in id_list(model, "--model")]
    if len(models) != 1:
        raise UsageError("--model takes one id unless --plot is given")
    roofline.check_precision(chips, precision)
    check_group_size(chips, tensor_parallel)
    if batch == "max" and phase == "train":
        raise UsageError("--batch max applies to inference phases (prefill, decode, serve), not train")
    batches = None if batch == "max" else [batch]
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
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "feasible": bool(r.feasible[at]),
                "infeasible_reason": roofline.INFEASIBLE_REASONS[int(r.infeasible_reason[at])] or None,
                "batch": clean(float(r.batch[at])),
                "chips": clean(float(r.chips[at])),
                "tokens_per_second": clean(float(r.tokens_per_second[at])),
                "tokens_per_second_per_chip": clean(float(r.tokens_per_second_per_chip[at])),
                "latency_ms": clean(float(r.latency_s[at]) * 1e3),
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


def check_group_size(chips, group: int | None) -> None:
    """A --tensor-parallel group no larger than each chip's scale-up domain (catalog `max_group`)."""
    if group is None:
        return
    for chip in chips:
        if group > chip.max_group:
            raise UsageError(f"--tensor-parallel {group}: {chip.id} groups at most {chip.max_group} chips (its "
                             f"scale-up domain); choose {chip.max_group} or fewer")


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
    lines.append(f"  batch:        {rec['batch']} sequences")
    lines.append(f"  chips:        {rec['chips']}")
    lines.append(f"  throughput:   {rec['tokens_per_second']:,.1f} {kind} tokens/s (group), "
                 f"{rec['tokens_per_second_per_chip']:,.1f} per chip")
    lines.append(f"  latency:      {rec['latency_ms']:,.2f} ms ({LATENCY_MEANING[phase]})")
    lines.append(f"  bound:        {rec['bound']} (compute {rec['compute_ms']:,.2f} ms, "
                 f"memory {rec['memory_ms']:,.2f} ms, interconnect {rec['interconnect_ms']:,.2f} ms, "
                 f"overheads {rec['overhead_ms']:,.2f} ms)")
    lines.append(f"  rental price: ${rec['price_per_chip_hour']:.2f} per chip-hour (catalog price, default TCO)")
    lines.append(f"  cost:         ${rec['usd_per_million_tokens']:,.3f} per million {kind} tokens")
    lines.append(f"  energy:       {rec['joules_per_token']:,.3g} J per {kind} token "
                 f"({rec['tokens_per_joule']:,.3g} tokens/J) at {rec['power_w_per_chip']:,.0f} W per chip; "
                 f"{rec['joules_per_flop'] * 1e12:,.3g} J per TFLOP of model work")
    return "\n".join(lines)
