"""Benchmark: the history calibration with parameter uncertainty, against its budget of 30 minutes on 2 cores.

Times (1) objective evaluations of the search (the window to --window-end, --seeds seeds each; Nelder-Mead takes one
point at a time, each point's seeds run on 1 and on 2 workers), (2) the uncertainty step (2 x parameters + 1
independent simulations) with 1 and 2 workers and, with --dask, on a local Dask cluster, and prints the projected
time of a full `calibrate-history` (--evaluations evaluations, ~400 for a fit from scratch, then the uncertainty step
on the fastest backend).

    .venv/bin/python tests/benchmarks/bench_calibration.py [--evaluations 400] [--sample 6] [--seeds 2]
        [--window-end 2025-12] [--dask]
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace

from experiments.calibrate_history import PARAMETERS, Fit, fit_moments, fit_uncertainty, objective, window_months
from hardware_catalog import load_catalog
from market.config import MarketConfig, VentureConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=400, help="evaluations of the search to project")
    parser.add_argument("--sample", type=int, default=6, help="evaluations timed")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--window-end", default=None)
    parser.add_argument("--dask", action="store_true", help="also time the uncertainty step on a local Dask cluster")
    args = parser.parse_args()
    catalog = load_catalog()
    window_end = args.window_end or catalog.fit_window_end
    seeds = tuple(range(args.seeds))
    config = MarketConfig.build(catalog.fitted)
    base = replace(config, months=window_months(config.start, window_end), venture=VentureConfig(enabled=False))
    moments = fit_moments(catalog, window_end)
    values = dict(catalog.fitted)
    print(f"window to {window_end} ({base.months} months), {len(moments)} moments, {args.seeds} seeds per evaluation, "
          f"{len(PARAMETERS)} parameters")
    per_evaluation = math.inf
    for workers in (1, 2):  # an evaluation's seeds one after another, then side by side
        start = time.perf_counter()
        for i in range(args.sample):  # nearby points, as the simplex visits them
            nudged = {name: value * (1.0 + 0.01 * i) for name, value in values.items()}
            objective(nudged, base, catalog, moments, seeds, workers)
        seconds = (time.perf_counter() - start) / args.sample
        per_evaluation = min(per_evaluation, seconds)
        print(f"search, {workers} worker(s): {seconds:.2f} s per evaluation -> {args.evaluations} evaluations "
              f"{seconds * args.evaluations / 60:.1f} min (Nelder-Mead takes one point at a time; its seeds in "
              f"parallel)")
    fit = Fit(values, 0.0, 0.0, 0, None, window_end)
    timings = {}
    for backend, workers in [("local", 1), ("local", 2)] + ([("dask", 2)] if args.dask else []):
        start = time.perf_counter()
        fit_uncertainty(fit, catalog, seeds=seeds, draws=20, workers=workers, backend=backend)
        timings[(backend, workers)] = time.perf_counter() - start
        print(f"uncertainty ({2 * len(PARAMETERS) + 1} simulations, 20 draws), {backend} x {workers} workers: "
              f"{timings[(backend, workers)]:.1f} s")
    best = min(timings.values())
    total = per_evaluation * args.evaluations + best
    print(f"calibration with uncertainty, projected: {total / 60:.1f} min (budget: 30 min on 2 cores) "
          f"{'within' if total <= 1800 else 'OVER'} budget")


if __name__ == "__main__":
    main()
