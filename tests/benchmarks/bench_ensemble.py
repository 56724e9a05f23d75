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
    print(f"{args.seeds} seeds x {args.months} months of the baseline (chips + venture)")
    print(f"{'backend':<8} {'workers':>7} {'seconds':>8} {'seeds/min':>10}")
    for backend in ("local", "dask"):
        for workers in (1, 2):
            folder = Path(tempfile.mkdtemp(prefix="bench-ensemble-"))
            start = time.perf_counter()
            run_experiment(experiment, folder / "run", seeds=seeds, months=args.months, workers=workers, backend=backend)
            seconds = time.perf_counter() - start
            shutil.rmtree(folder)
            print(f"{backend:<8} {workers:>7} {seconds:8.1f} {60 * args.seeds / seconds:10.2f}")


if __name__ == "__main__":
    main()
