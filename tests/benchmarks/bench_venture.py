"""Benchmark: months per second with the venture side on, and how the venture phase's cost grows
when the numbers of startups and VC firms (and the LP pool) are scaled together from 1x to 8x.
Linear growth means the time ratio tracks the scale factor. Timings from one run on this machine.

    .venv/bin/python tests/benchmarks/bench_venture.py [--months 60] [--scales 1,2,4,8]
"""

from __future__ import annotations

import argparse
import time

from market.config import VentureConfig, fitted_config
from market.model import ComputeMarket


def venture_seconds(scale: int, months: int, seed: int = 0) -> tuple[float, float, int]:
    base = VentureConfig()
    venture = VentureConfig(firms=base.firms * scale, startups_per_month=base.startups_per_month * scale,
                            lp_pool_usd_per_year=base.lp_pool_usd_per_year * scale)
    model = ComputeMarket(fitted_config(months=months, venture=venture), rng=seed)
    spent = 0.0
    original = model.venture_phase

    def timed():
        nonlocal spent
        start = time.perf_counter()
        original()
        spent += time.perf_counter() - start

    model.venture_phase = timed
    start = time.perf_counter()
    model.run()
    return time.perf_counter() - start, spent, len(model.venture.startups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument("--scales", default="1,2,4,8")
    args = parser.parse_args()
    scales = [int(s) for s in args.scales.split(",")]
    ComputeMarket(fitted_config(months=2), rng=0).run()  # warm up imports
    total, venture, startups = venture_seconds(1, 120)
    print(f"default population, 120 months, venture on: {total:.2f} s ({120 / total:.1f} months/s); "
          f"venture phase {venture:.2f} s; {startups} startups founded")
    print(f"scaling over {args.months} months (firms, startups/month and LP pool x scale):")
    print(f"{'scale':>5} {'startups':>9} {'venture s':>10} {'ratio':>7} {'ratio/scale':>12}")
    first = None
    for scale in scales:
        _, venture, startups = venture_seconds(scale, args.months)
        first = first or venture
        print(f"{scale:>5} {startups:>9} {venture:>10.2f} {venture / first:>7.2f} {venture / first / scale:>12.2f}")


if __name__ == "__main__":
    main()
