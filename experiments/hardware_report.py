"""The hardware baseline report: catalog, roofline grid, cost per token, calibration, figures.

Written into a temporary sibling folder and renamed into place at the end, so an interrupted run
never leaves a folder that looks complete. Only a new or empty folder, or an earlier hardware report
holding nothing but its own files, is replaced (experiments.rundir).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hardware_catalog import Catalog
from market import calibration
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


def _summary(catalog: Catalog, grid: pd.DataFrame, table: pd.DataFrame) -> str:
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
        "| chip | chips | batch | output tok/s per chip | bound | $/chip-hour | $/M output tokens |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in serve.itertuples():
        if row.feasible:
            lines.append(
                f"| {row.chip} | {row.chips:.0f} | {row.batch:.0f} | {row.tokens_per_second_per_chip:,.0f} | {row.bound} "
                f"| {row.price_per_chip_hour:.2f} | {row.usd_per_million_tokens:.3f} |"
            )
        else:
            lines.append(f"| {row.chip} | - | - | - | {row.infeasible_reason} | {row.price_per_chip_hour:.2f} | - |")
    lines += [
        "",
        "## Roofline calibration",
        "",
        f"Median absolute percentage error over fitted cases: {calibration.median_abs_pct_error(table):.1f}%"
        f" (all cases: {calibration.median_abs_pct_error(table, fitted_only=False):.1f}%). Full table: calibration.csv.",
        "",
        "## Files",
        "",
        "- catalog.csv: accelerators with sources; roofline_grid.csv: every chip x workload x phase point",
        "- calibration.csv: predicted vs measured; figures/*.png",
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
                               f"Serving cost, bf16, {SERVE_INPUT} in / {SERVE_OUTPUT} out, cheapest tensor-parallel group, largest batch")
    decode = grid[(grid.phase == "decode") & (grid.precision == "bf16") & (grid.workload == "llama-2-70b")]
    decode = decode[decode.chip.isin(PLOT_CHIPS)]
    plots.throughput_vs_batch_chart(decode, figures / "decode_throughput_vs_batch.png",
                                    f"Llama-2-70B decode, bf16, context {SERVE_INPUT}: tokens/s per chip vs batch")
    (folder / "summary.md").write_text(_summary(catalog, grid, table))
