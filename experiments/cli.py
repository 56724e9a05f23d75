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
from experiments.config import ConfigError, load_experiment, resolved_values, with_value
from experiments.runner import BackendUnavailable
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


def _ensemble_options(p: argparse.ArgumentParser, out: Path) -> None:
    """Options shared by the commands that run several ensembles."""
    p.add_argument("--out", type=Path, default=out)
    p.add_argument("--seeds", type=_positive_int)
    p.add_argument("--months", type=_positive_int)
    p.add_argument("--workers", type=_positive_int, default=2)


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

    p = sub.add_parser("run", help="run a config's seed ensemble into a run directory (the main job)")
    p.add_argument("config", type=Path)
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=_positive_int, help="number of seeds (first_seed ...)")
    seeds.add_argument("--seed", type=_non_negative_int, help="one seed")
    p.add_argument("--months", type=_positive_int)
    p.add_argument("--out", type=Path, help="run directory (default: results/<config name>)")
    p.add_argument("--workers", type=_positive_int, default=2)
    p.add_argument("--backend", choices=("local", "dask"), default="local")
    p.add_argument("--scheduler", help="Dask scheduler address (default: a local cluster)")

    p = sub.add_parser("compare", help="run scenarios with the same seeds; differences from the first, with 90% intervals")
    p.add_argument("configs", type=Path, nargs="+")
    _ensemble_options(p, Path("results/compare"))

    p = sub.add_parser("sweep", help="a grid over config values, one row per point")
    p.add_argument("config", type=Path)
    p.add_argument("--set", dest="sets", action="append", required=True, metavar="PATH=V1,V2,...")
    _ensemble_options(p, Path("results/sweep"))

    p = sub.add_parser("report", help="regenerate figures and summaries of a run directory from its tables")
    p.add_argument("run_dir", type=Path)

    p = sub.add_parser("validate", help="check a config and print its resolved values")
    p.add_argument("config", type=Path)

    p = sub.add_parser("hardware-report", help="catalog, roofline grid, costs per token and calibration with figures")
    p.add_argument("--out", type=Path, default=Path("results/hardware"), help="output folder (replaced atomically)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        catalog = load_catalog(args.catalog_dir)
        handler = {"catalog": cmd_catalog, "roofline": cmd_roofline, "calibration": cmd_calibration,
                   "hardware-report": cmd_hardware_report, "run": cmd_run, "compare": cmd_compare,
                   "sweep": cmd_sweep, "report": cmd_report, "validate": cmd_validate}[args.command]
        return handler(args, catalog)
    except (UsageError, CatalogError, UnknownIdError, UnsupportedPrecisionError, ConfigError, BackendUnavailable) as exc:
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


def _print_metrics(summary: dict) -> None:
    from experiments.market_report import METRIC_NOTES

    print(f"{'metric':<36} {'mean':>10} {'5%':>10} {'95%':>10}")
    for name, stats in summary["metrics"].items():
        print(f"{name:<36} {stats['mean']:10.4g} {stats['p05']:10.4g} {stats['p95']:10.4g}  {METRIC_NOTES.get(name, '')}")


def _seeds(args, experiment) -> tuple[int, ...]:
    if getattr(args, "seed", None) is not None:
        return (args.seed,)
    if args.seeds:
        return tuple(range(experiment.seeds[0], experiment.seeds[0] + args.seeds))
    return experiment.seeds


def _ensemble(experiment, out, args, seeds) -> Path:
    from experiments.market_report import print_progress
    from experiments.runner import run_experiment

    print(f"{experiment.name}: {len(seeds)} seeds x {args.months or experiment.market.months} months, "
          f"{args.workers} workers, {getattr(args, 'backend', 'local')} backend -> {out}", file=sys.stderr)
    return run_experiment(experiment, out, seeds=seeds, months=args.months, workers=args.workers,
                          backend=getattr(args, "backend", "local"), scheduler=getattr(args, "scheduler", None),
                          command=" ".join(sys.argv), on_progress=print_progress)


def cmd_run(args, catalog) -> int:
    experiment = load_experiment(args.config, catalog)
    out = args.out or Path("results") / experiment.name
    run_dir = _ensemble(experiment, out, args, _seeds(args, experiment))
    _print_metrics(json.loads((run_dir / "summary.json").read_text()))
    print(f"wrote {run_dir / 'summary.md'}")
    return 0


def cmd_compare(args, catalog) -> int:
    from experiments.compare import compare_runs, comparison_figure

    experiments = [load_experiment(path, catalog) for path in args.configs]  # validate all before running any
    names = [e.name for e in experiments]
    if len(set(names)) != len(names):
        raise UsageError(f"configs need distinct file names, got {', '.join(names)}")
    seeds = _seeds(args, experiments[0])
    dirs = [_ensemble(e, args.out / e.name, args, seeds) for e in experiments]
    table = compare_runs(dirs)
    table.to_csv(args.out / "comparison.csv", index=False)
    comparison_figure(dirs, args.out / "comparison.png")
    print(f"differences from {names[0]} (mean over {len(seeds)} paired seeds, bootstrap 90% interval):")
    for row in table.itertuples():
        flag = "*" if row.excludes_zero else " "
        print(f"{row.scenario:<22} {row.metric:<38} {row.difference:+11.4g}  [{row.p05:+.4g}, {row.p95:+.4g}] {flag}")
    print(f"* interval excludes zero. wrote {args.out / 'comparison.csv'} and comparison.png")
    return 0


def _parse_set(text: str) -> tuple[str, list]:
    import tomllib

    path, sep, values = text.partition("=")
    if not sep or not path or not values:
        raise UsageError(f"--set takes PATH=V1,V2,..., got '{text}'")
    parsed = []
    for raw in values.split(","):
        try:
            parsed.append(tomllib.loads(f"v = {raw.strip()}")["v"])  # TOML literals: numbers, booleans, "strings"
        except tomllib.TOMLDecodeError:
            parsed.append(raw.strip())
    return path.strip(), parsed


def cmd_sweep(args, catalog) -> int:
    import itertools

    import pandas as pd

    experiment = load_experiment(args.config, catalog)
    grid = [_parse_set(text) for text in args.sets]
    points = []
    for values in itertools.product(*(vals for _, vals in grid)):
        point = experiment
        for (path, _), value in zip(grid, values, strict=True):
            point = with_value(point, path, value)  # validated like the file itself
        points.append((dict(zip([p for p, _ in grid], values, strict=True)), point))
    seeds = _seeds(args, experiment)
    rows = []
    for i, (values, point) in enumerate(points):
        run_dir = _ensemble(point, args.out / f"point-{i:03d}", args, seeds)
        summary = json.loads((run_dir / "summary.json").read_text())
        rows.append({**values, **{name: stats["mean"] for name, stats in summary["metrics"].items()}})
    table = pd.DataFrame(rows)
    table.to_csv(args.out / "sweep.csv", index=False)
    print(table.to_string(index=False, max_cols=12))
    print(f"wrote {args.out / 'sweep.csv'}")
    return 0


def cmd_report(args, catalog) -> int:
    from experiments.runner import report

    if not (args.run_dir / "manifest.json").exists():
        raise UsageError(f"{args.run_dir}: not a complete run directory (no manifest.json)")
    summary = report(args.run_dir)
    _print_metrics(summary)
    print(f"rewrote figures and summaries in {args.run_dir}")
    return 0


def cmd_validate(args, catalog) -> int:
    experiment = load_experiment(args.config, catalog)
    print(json.dumps(resolved_values(experiment), indent=2, default=str))
    print(f"{args.config}: valid", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
