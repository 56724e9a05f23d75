"""Benchmark: ensemble throughput (seeds per minute) with 1 and 2 workers, local and Dask backends.

Each configuration runs the same short ensemble into a fresh directory (no reuse). Run it on an
otherwise idle machine; compare ratios within one run.

    .venv/bin/python tests/benchmarks/bench_ensemble.py [--seeds 4] [--months 60]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from experiments.config import load_experiment
from experiments.runner import run_experiment

BASELINE = Path(__file__).resolve().parents[2] / "experiments" / "configs" / "baseline.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--months", type=int, default=60)
    args = parser.parse_args()
    experiment = load_experiment(BASELINE)
    seeds = tuple(range(args.seeds))
    print(f"{args.seeds} seeds x {args.months} months of the baseline (chips + venture); 'seeds' is the ensemble's "
          f"runs (what more workers speed up), 'report' the tables and figures after them")
    print(f"{'backend':<8} {'workers':>7} {'total s':>8} {'seeds s':>8} {'report s':>9} {'seeds/min':>10} "
          f"{'seeds/min (runs only)':>22}")
    for backend in ("local", "dask"):
        for workers in (1, 2):
            folder = Path(tempfile.mkdtemp(prefix="bench-ensemble-"))
            last = [0.0]
            start = time.perf_counter()
            run_experiment(experiment, folder / "run", seeds=seeds, months=args.months, workers=workers,
                           backend=backend,
                           on_progress=lambda _done, _total, _elapsed, last=last: last.__setitem__(0,
                                                                                                   time.perf_counter()))
            seconds = time.perf_counter() - start
            runs = last[0] - start
            shutil.rmtree(folder)
            print(f"{backend:<8} {workers:>7} {seconds:8.1f} {runs:8.1f} {seconds - runs:9.1f} "
                  f"{60 * args.seeds / seconds:10.2f} "
                  f"{60 * args.seeds / runs:22.2f}")

if __name__ == "__main__":
    main()
