"""The hardware baseline report: catalog, roofline grid, cost per token, calibration, figures.

Written into a temporary sibling folder and renamed into place at the end, so an interrupted run
never leaves a folder that looks complete. Only a new or empty folder, or an earlier hardware report
holding nothing but its own files, is replaced (experiments.rundir).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hardware_catalog import Catalog
from market import calibration, roofline
from market.evaluation import evaluate_cheapest_group, evaluate_grid, grid_frame

from . import plots
from .rundir import atomic_directory

DECODE_BATCHES = tuple(2**i for i in range(11))  # 1 .. 1024
SERVE_INPUT, SERVE_OUTPUT = 512, 256
PREFILL_INPUT = 2048
REFERENCE_WORKLOADS = ("llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3-70b", "llama-3.1-405b", "mixtral-8x7b")
PLOT_CHIPS = ("a100-80gb", "h100-sxm", "b200", "mi300x", "gaudi3", "tpu-v6e", "trainium2")


def roofline_grid(catalog: Catalog) -> pd.DataFrame:
    """Every catalog chip x reference workload at bf16 and fp8, for all four phases."""
    chips = list(catalog.accelerators.values())
    workloads = [catalog.workload(w) for w in REFERENCE_WORKLOADS]
    frames = []
    for precision in ("bf16", "fp8"):
        specs = [
            ("decode", DECODE_BATCHES, SERVE_INPUT, 1),
            ("serve", None, SERVE_INPUT, SERVE_OUTPUT),
            ("prefill", (1,), PREFILL_INPUT, 1),
            ("train", (1,), 0, 0),
        ]
        for phase, batches, inp, out in specs:
            # inference at its cheapest tensor-parallel group; training at the chips its state needs
            evaluate = evaluate_grid if phase == "train" else evaluate_cheapest_group
            grid = evaluate(catalog, chips, workloads, phase, batches=batches, precision=precision,
                            input_tokens=inp, output_tokens=out)
            frame = grid_frame(grid)
            frame.insert(4, "precision", precision)
            frame.insert(5, "input_tokens", inp)
            frame.insert(6, "output_tokens", out)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


ARCHITECTURES = ("llama-3-70b", "mixtral-8x7b", "jamba-v0.1", "mamba-2.8b", "deepseek-v3")
ARCHITECTURE_CHIPS = ("h200", "mi300x", "b200")
ARCHITECTURE_CONTEXTS = (1_024, 32_768)


def architecture_table(catalog: Catalog) -> pd.DataFrame:
    """Decode at fp8 and the largest batch that fits, at a short and a long context: how the cache (dense and
    latent attention), a recurrent state (state-space, hybrid) and expert routing change memory and throughput."""
    chips = [catalog.accelerator(c) for c in ARCHITECTURE_CHIPS]
    workloads = [catalog.workload(w) for w in ARCHITECTURES]
    frames = []
    for context in ARCHITECTURE_CONTEXTS:
        frame = grid_frame(evaluate_cheapest_group(catalog, chips, workloads, "decode", batches=None, precision="fp8",
                                                   input_tokens=context))
        frames.append(frame.assign(context=context,
                                   cache_mb_per_sequence=[catalog.workload(w).kv_bytes_per_token(1.0)
                                                          * (context + 1) / 1e6
                                                          + _state_mb(catalog.workload(w)) for w in frame.workload]))
    return pd.concat(frames, ignore_index=True)


def _state_mb(workload) -> float:
    return (workload.n_layers - workload.kv_layers) * workload.state_elements * 1.0 / 1e6


def _summary(catalog: Catalog, grid: pd.DataFrame, table: pd.DataFrame, architectures: pd.DataFrame) -> str:
    serve = grid[(grid.phase == "serve") & (grid.precision == "bf16") & (grid.workload == "llama-3-70b")]
    serve = serve.sort_values("usd_per_million_tokens")
    lines = [
        "# compute-market: hardware baseline",
        "",
        "Roofline throughput and cost of the catalog's accelerators on reference workloads, priced at",
        "catalog launch prices through the default cloud TCO (hardware_catalog/data/tco.toml).",
        "",
        f"## Serving Llama-3-70B, bf16, {SERVE_INPUT} tokens in / {SERVE_OUTPUT} out",
        "",
        "Each chip at its cheapest tensor-parallel group, with the largest batch that fits that group.",
        "",
        "| chip | chips | batch | output tok/s per chip | bound | $/chip-hour | $/M output tokens "
        "| W per chip | tokens/J |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in serve.itertuples():
        if row.feasible:
            lines.append(
                f"| {row.chip} | {row.chips:.0f} | {row.batch:.0f} | {row.tokens_per_second_per_chip:,.0f} | "
                f"{row.bound} "
                f"| {row.price_per_chip_hour:.2f} | {row.usd_per_million_tokens:.3f} | {row.power_w_per_chip:,.0f} "
                f"| {row.tokens_per_joule:.2f} |"
            )
        else:
            lines.append(f"| {row.chip} | - | - | - | {row.infeasible_reason} | {row.price_per_chip_hour:.2f} | - | - "
                         "| - |")
    lines += [
        "",
        f"Power: a chip draws {roofline.POWER_FLOOR:.0%} of its TDP while it streams memory "
        "with idle compute units and",
        "rises linearly to TDP with the share of the step its compute units are busy (market/roofline.py, from",
        "ML.ENERGY H100 measurements); energy per token and per FLOP are in roofline_grid.csv, "
        "figures/perf_per_watt.png.",
    ]
    lines += [
        "",
        "## Architectures: decode at fp8, largest batch that fits, short and long context",
        "",
        "KV cache (or recurrent state) per sequence and output tokens/s per chip "
        "at the cheapest tensor-parallel group.",
        "A state-space model keeps the same state at any context; a hybrid caches only in its attention layers;",
        "latent attention caches a compressed latent; a mixture of experts reads more experts as the batch grows.",
        "",
        "| workload | chip | context | MB per sequence | batch | tok/s per chip | bound |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in architectures.itertuples():
        if row.feasible:
            lines.append(f"| {row.workload} | {row.chip} | {row.context:,} | {row.cache_mb_per_sequence:,.1f} | "
                         f"{row.batch:.0f} "
                         f"| {row.tokens_per_second_per_chip:,.0f} | {row.bound} |")
        else:
            lines.append(f"| {row.workload} | {row.chip} | {row.context:,} | {row.cache_mb_per_sequence:,.1f} | - | - "
                         "| "
                         f"{row.infeasible_reason} |")
    lines += [
        "",
        "## Roofline calibration",
        "",
        f"Median absolute percentage error over fitted cases: {calibration.median_abs_pct_error(table):.1f}%"
        f" (all cases: {calibration.median_abs_pct_error(table, fitted_only=False):.1f}%). "
        "Full table: calibration.csv.",
        "",
        "## Files",
        "",
        "- catalog.csv: accelerators with sources; roofline_grid.csv: every chip x workload x phase point;",
        "  architectures.csv: the architecture table above",
        "- calibration.csv: predicted vs measured; "
        "figures/*.png (perf_per_watt.png: tokens per joule and TFLOP per kJ)",
        "",
    ]
    return "\n".join(lines)


def write_hardware_report(catalog: Catalog, out: Path) -> Path:
    """Write the report folder `out` atomically; returns its summary path."""
    with atomic_directory(out, "hardware-report") as tmp:
        write_hardware_files(catalog, tmp)
    return Path(out) / "summary.md"


def write_hardware_files(catalog: Catalog, folder: Path) -> None:
    """Write the report's tables, figures and summary into an existing `folder`."""
    figures = folder / "figures"
    figures.mkdir(exist_ok=True)
    catalog.accelerators_frame().to_csv(folder / "catalog.csv", index=False)
    grid = roofline_grid(catalog)
    grid.to_csv(folder / "roofline_grid.csv", index=False)
    table = calibration.calibration_table(catalog)
    table.to_csv(folder / "calibration.csv", index=False)
    (folder / "calibration.txt").write_text(calibration.format_table(table, catalog.efficiency) + "\n")
    chips = [catalog.accelerator(c) for c in PLOT_CHIPS]
    plots.roofline_chart(catalog, chips, [catalog.workload("llama-3-70b"), catalog.workload("llama-2-7b")],
                         figures / "roofline.png", precision="bf16")
    serve = grid[(grid.phase == "serve") & (grid.precision == "bf16") & grid.feasible]
    plots.cost_per_token_chart(serve, figures / "usd_per_million_tokens.png",
                               f"Serving cost, bf16, {SERVE_INPUT} in / {SERVE_OUTPUT} out, cheapest tensor-parallel "
                               "group, largest batch")
    train = grid[(grid.phase == "train") & (grid.precision == "bf16") & grid.feasible
                 & (grid.workload == "llama-3-70b")]
    plots.perf_per_watt_chart(serve, train, figures / "perf_per_watt.png",
                              f"Serving, bf16, {SERVE_INPUT} in / {SERVE_OUTPUT} out (cheapest group, largest batch)",
                              f"power per chip: {roofline.POWER_FLOOR:.0%} of TDP streaming memory, rising to TDP when "
                              "compute-bound (market/roofline.py)")
    decode = grid[(grid.phase == "decode") & (grid.precision == "bf16") & (grid.workload == "llama-2-70b")]
    decode = decode[decode.chip.isin(PLOT_CHIPS)]
    plots.throughput_vs_batch_chart(decode, figures / "decode_throughput_vs_batch.png",
                                    f"Llama-2-70B decode, bf16, context {SERVE_INPUT}: tokens/s per chip vs batch")
    architectures = architecture_table(catalog)
    architectures.to_csv(folder / "architectures.csv", index=False)
    (folder / "summary.md").write_text(_summary(catalog, grid, table, architectures))
