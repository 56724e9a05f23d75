"""The `compute-market` command line.

Subcommands: catalog, roofline, calibration, baseline. Bad input (unknown ids, unsupported
precision, invalid catalog files) prints one line `compute-market: error: ...` and exits 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from hardware_catalog import (
    PRECISIONS,
    CatalogError,
    UnknownIdError,
    UnsupportedPrecisionError,
    load_catalog,
)
from market import calibration, roofline
from market.evaluation import evaluate_grid

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the user: reported on one line, exit 2."""


def _ids(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _batch(text: str) -> int | str:
    return text if text == "max" else _int_at_least(1, "a positive integer or 'max'")(text)


def _int_at_least(minimum: int, words: str):
    """An argparse type: a whole number >= `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be {words}, got '{text}'")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_non_negative_int = _int_at_least(0, "a whole number >= 0")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="compute-market", description="Agent-based simulation of the AI compute economy.")
    parser.add_argument("--catalog-dir", type=Path, default=None, help="read catalog TOML files from this folder")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("catalog", help="table of accelerators in the hardware catalog")
    p.add_argument("--json", action="store_true", help="print the records as JSON")

    p = sub.add_parser("roofline", help="throughput, latency, bound and cost of a workload on a chip")
    p.add_argument("--chip", required=True, help="chip id (comma-separate several for --plot)")
    p.add_argument("--model", required=True, help="workload id (comma-separate several for --plot)")
    p.add_argument("--phase", choices=roofline.PHASES, help="required unless --plot is given")
    p.add_argument("--batch", type=_batch, default=1, help="sequences per step, or 'max' (largest that fits)")
    p.add_argument("--precision", choices=PRECISIONS, default="bf16")
    p.add_argument("--tensor-parallel", type=_positive_int, default=None, help="chips in the group (default: smallest that fits)")
    p.add_argument("--input-tokens", type=_non_negative_int, default=128, help="prompt tokens (decode: context already cached)")
    p.add_argument("--output-tokens", type=_positive_int, default=128, help="generated tokens per request (serve)")
    p.add_argument("--json", action="store_true", help="print one JSON object per chip")
    p.add_argument("--plot", type=Path, default=None, help="write a roofline chart (PNG) of the chips and models")

    p = sub.add_parser("calibration", help="roofline predictions vs published measurements")
    p.add_argument("--fit", action="store_true", help="re-fit the efficiency factors before reporting")
    p.add_argument("--write", action="store_true", help="with --fit: save them as the catalog defaults")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("baseline", help="the main job: the baseline market ensemble plus the hardware report")
    p.add_argument("--out", type=Path, default=Path("results/baseline"), help="output folder (replaced atomically)")
    p.add_argument("--seeds", type=_positive_int, default=8, help="number of seeds (0 .. N-1)")
    p.add_argument("--months", type=_positive_int, default=120)
    p.add_argument("--workers", type=_positive_int, default=2, help="worker processes")

    p = sub.add_parser("hardware-report", help="catalog, roofline grid, costs per token and calibration with figures")
    p.add_argument("--out", type=Path, default=Path("results/hardware"), help="output folder (replaced atomically)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        catalog = load_catalog(args.catalog_dir)
        handler = {"catalog": cmd_catalog, "roofline": cmd_roofline, "calibration": cmd_calibration,
                   "baseline": cmd_baseline, "hardware-report": cmd_hardware_report}[args.command]
        return handler(args, catalog)
    except (UsageError, CatalogError, UnknownIdError, UnsupportedPrecisionError) as exc:
        print(f"compute-market: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


# ------------------------------------------------------------------------------------------


def _clean(value):
    """JSON-safe: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def cmd_catalog(args, catalog) -> int:
    if args.json:
        records = [{k: _clean(v) for k, v in chip.__dict__.items()} for chip in catalog.accelerators.values()]
        print(json.dumps(records, indent=2))
        return 0
    frame = catalog.accelerators_frame()
    header = f"{'id':<11} {'vendor':<7} {'release':<8} {'bf16':>7} {'fp8':>7} {'HBM GB':>7} {'TB/s':>6} {'link GB/s':>9} {'TDP W':>6} {'cost $':>7} {'price $':>8}"
    print(header)
    print("-" * len(header))
    for row in frame.itertuples():
        fp8 = f"{row.tflops_fp8:7.0f}" if math.isfinite(row.tflops_fp8) else f"{'-':>7}"
        print(
            f"{row.id:<11} {row.vendor:<7} {row.release:<8} {row.tflops_bf16:7.0f} {fp8} {row.hbm_gb:7.4g} "
            f"{row.hbm_tbps:6.3g} {row.interconnect_gbps:9.0f} {row.tdp_w:6.0f} "
            f"{row.manufacturing_cost_usd:6.0f}{'*' if row.manufacturing_cost_estimate else ' '} "
            f"{row.launch_price_usd:7.0f}{'*' if row.launch_price_estimate else ' '}"
        )
    print("\nTFLOP/s dense. * = estimate. Sources: hardware_catalog/data/accelerators.toml (or --json).")
    return 0


def roofline_points(args, catalog) -> list[dict]:
    """One result record per requested chip for the single workload of `args`."""
    chips = [catalog.accelerator(cid) for cid in _ids(args.chip)]
    models = [catalog.workload(mid) for mid in _ids(args.model)]
    if len(models) != 1:
        raise UsageError("--model takes one id unless --plot is given")
    roofline.check_precision(chips, args.precision)
    if args.batch == "max" and args.phase == "train":
        raise UsageError("--batch max applies to inference phases (prefill, decode, serve), not train")
    batches = None if args.batch == "max" else [args.batch]
    grid = evaluate_grid(
        catalog,
        chips,
        models,
        args.phase,
        batches=batches,
        precision=args.precision,
        group=args.tensor_parallel,
        input_tokens=args.input_tokens,
        output_tokens=args.output_tokens,
    )
    r = grid.result
    records = []
    for i, chip in enumerate(chips):
        at = (i, 0, 0)
        records.append(
            {
                "chip": chip.id,
                "model": models[0].id,
                "phase": args.phase,
                "precision": args.precision,
                "input_tokens": args.input_tokens,
                "output_tokens": args.output_tokens,
                "feasible": bool(r.feasible[at]),
                "infeasible_reason": roofline.INFEASIBLE_REASONS[int(r.infeasible_reason[at])] or None,
                "batch": _clean(float(r.batch[at])),
                "chips": _clean(float(r.chips[at])),
                "tokens_per_second": _clean(float(r.tokens_per_second[at])),
                "tokens_per_second_per_chip": _clean(float(r.tokens_per_second_per_chip[at])),
                "latency_ms": _clean(float(r.latency_s[at]) * 1e3),
                "bound": r.bound_name(at) if r.feasible[at] else None,
                "compute_ms": _clean(float(r.compute_s[at]) * 1e3),
                "memory_ms": _clean(float(r.memory_s[at]) * 1e3),
                "interconnect_ms": _clean(float(r.interconnect_s[at]) * 1e3),
                "price_per_chip_hour": _clean(float(grid.price_per_chip_hour[i, 0, 0])),
                "usd_per_million_tokens": _clean(float(grid.usd_per_million_tokens[at])),
            }
        )
        for key in ("batch", "chips"):
            if records[-1][key] is not None:
                records[-1][key] = int(records[-1][key])
    return records


LATENCY_MEANING = {
    "train": "per optimiser step of the batch on the chips",
    "prefill": "time to first token",
    "decode": "per output token",
    "serve": "whole request",
}
THROUGHPUT_MEANING = {"train": "trained", "prefill": "prompt", "decode": "output", "serve": "output"}


def _print_point(rec: dict) -> None:
    phase = rec["phase"]
    context = {
        "decode": f"context {rec['input_tokens']} tokens",
        "prefill": f"prompt {rec['input_tokens']} tokens",
        "serve": f"{rec['input_tokens']} in / {rec['output_tokens']} out tokens",
        "train": "",
    }[phase]
    print(f"{rec['chip']}  {rec['model']}  {phase}  {rec['precision']}  {context}")
    if not rec["feasible"]:
        print(f"  infeasible: {rec['infeasible_reason']}")
        return
    kind = THROUGHPUT_MEANING[phase]
    print(f"  batch:        {rec['batch']} sequences")
    print(f"  chips:        {rec['chips']}")
    print(f"  throughput:   {rec['tokens_per_second']:,.1f} {kind} tokens/s (group), "
          f"{rec['tokens_per_second_per_chip']:,.1f} per chip")
    print(f"  latency:      {rec['latency_ms']:,.2f} ms ({LATENCY_MEANING[phase]})")
    print(f"  bound:        {rec['bound']} (compute {rec['compute_ms']:,.2f} ms, memory {rec['memory_ms']:,.2f} ms, "
          f"interconnect {rec['interconnect_ms']:,.2f} ms)")
    print(f"  rental price: ${rec['price_per_chip_hour']:.2f} per chip-hour (catalog price, default TCO)")
    print(f"  cost:         ${rec['usd_per_million_tokens']:,.3f} per million {kind} tokens")


def cmd_roofline(args, catalog) -> int:
    if args.phase is None and args.plot is None:
        raise UsageError("--phase is required unless --plot is given")
    if args.plot is not None:
        from experiments.plots import roofline_chart

        chips = [catalog.accelerator(cid) for cid in _ids(args.chip)]
        models = [catalog.workload(mid) for mid in _ids(args.model)]
        roofline.check_precision(chips, args.precision)
        if args.plot.suffix.lower() != ".png":
            raise UsageError(f"--plot: file must end in .png, got '{args.plot}'")
        phases = (args.phase,) if args.phase else None
        batches = (1, 16, 256) if args.batch in (1, "max") else (args.batch,)
        path = roofline_chart(catalog, chips, models, args.plot, precision=args.precision, phases=phases,
                              batches=batches, input_tokens=args.input_tokens, output_tokens=args.output_tokens)
        print(f"wrote {path}", file=sys.stderr)
        if args.phase is None:
            return 0
    records = roofline_points(args, catalog)
    if args.json:
        print(json.dumps(records[0] if len(records) == 1 else records, indent=2))
    else:
        for rec in records:
            _print_point(rec)
    return 0


def cmd_calibration(args, catalog) -> int:
    efficiency = catalog.efficiency
    if args.write and not args.fit:
        raise UsageError("--write needs --fit")
    if args.fit:
        efficiency, rms = calibration.fit_efficiency(catalog)
        print(f"fitted efficiency (RMS log error {rms:.3f})", file=sys.stderr)
        if args.write:
            path = catalog.data_dir / "efficiency.toml"
            calibration.write_efficiency(efficiency, path)
            print(f"wrote {path}", file=sys.stderr)
    table = calibration.calibration_table(catalog, efficiency)
    if args.json:
        payload = {
            "efficiency": {name: getattr(efficiency, name) for name in (*calibration.FITTED, "usable_memory_fraction")},
            "median_abs_pct_error_fitted": calibration.median_abs_pct_error(table),
            "median_abs_pct_error_all": calibration.median_abs_pct_error(table, fitted_only=False),
            "cases": [{k: _clean(v) for k, v in row.items()} for row in table.to_dict(orient="records")],
        }
        print(json.dumps(payload, indent=2))
    else:
        print(calibration.format_table(table, efficiency))
    return 0


def cmd_hardware_report(args, catalog) -> int:
    from experiments.hardware_report import write_hardware_report

    path = write_hardware_report(catalog, args.out)
    print(f"wrote {path}")
    return 0


def cmd_baseline(args, catalog) -> int:
    from experiments.hardware_report import write_hardware_files
    from experiments.market_report import METRIC_NOTES, print_progress, run_ensemble, write_market_files
    from experiments.output import atomic_directory
    from market.config import MarketConfig

    if args.catalog_dir is not None:
        raise UsageError("baseline uses the packaged catalog; --catalog-dir applies to catalog, roofline, calibration")
    config = MarketConfig(months=args.months)
    seeds = list(range(args.seeds))
    print(f"baseline market: {len(seeds)} seeds x {config.months} months, {args.workers} workers", file=sys.stderr)
    results = run_ensemble(config, seeds, workers=min(args.workers, len(seeds)), progress=print_progress)
    with atomic_directory(args.out) as tmp:
        summary = write_market_files(results, config, tmp)
        (tmp / "hardware").mkdir()
        write_hardware_files(catalog, tmp / "hardware")
    print(f"{'metric':<36} {'mean':>10} {'5%':>10} {'95%':>10}")
    for name, stats in summary["metrics"].items():
        print(f"{name:<36} {stats['mean']:10.4g} {stats['p05']:10.4g} {stats['p95']:10.4g}  {METRIC_NOTES.get(name, '')}")
    print(f"wrote {args.out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
