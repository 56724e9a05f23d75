"""Benchmark: months per second of the default market model, the per-phase time split, and the
functions that dominate (cProfile). Figures from one run on this machine; compare ratios, not absolutes.

    .venv/bin/python tests/benchmarks/bench_market.py [--months 120] [--seeds 3]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

import numpy as np

from market.config import MarketConfig
from market.model import ComputeMarket

PHASES = ("vendor_phase", "buyer_phase", "clearing_phase", "rental_phase", "ecosystem_phase", "_record_month")


def timed_run(months: int, seed: int) -> tuple[float, dict[str, float]]:
    model = ComputeMarket(MarketConfig(months=months), rng=seed)
    spent = dict.fromkeys(PHASES, 0.0)
    for name in PHASES:
        original = getattr(model, name)

        def wrapper(original=original, name=name):
            start = time.perf_counter()
            original()
            spent[name] += time.perf_counter() - start

        setattr(model, name, wrapper)
    start = time.perf_counter()
    model.run()
    return time.perf_counter() - start, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=120)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    ComputeMarket(MarketConfig(months=2), rng=0).run()  # warm imports and caches
    totals, splits = [], []
    for seed in range(args.seeds):
        seconds, spent = timed_run(args.months, seed)
        totals.append(seconds)
        splits.append(spent)
    seconds = float(np.median(totals))
    print(f"default population, {args.months} months, {args.seeds} seeds: median {seconds:.2f} s per run, "
          f"{args.months / seconds:.1f} months/s")
    total = sum(np.median([s[p] for s in splits]) for p in PHASES)
    for phase in PHASES:
        share = np.median([s[phase] for s in splits])
        print(f"  {phase:<16} {share:6.3f} s  {share / total:6.1%}")
    profile = cProfile.Profile()
    profile.enable()
    ComputeMarket(MarketConfig(months=args.months), rng=99).run()
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(8)
    print("top functions by own time (cProfile):")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip() and ("{" in line or ".py" in line))[:2500])


if __name__ == "__main__":
    main()
