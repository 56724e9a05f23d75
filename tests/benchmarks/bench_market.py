"""Benchmark: months per second of the full baseline (market and venture side), the per-phase time split, the
functions that dominate (cProfile), and, with --against REV, the same run timed on another git revision in the
same session (old versus new, alternating, so that both see the same machine load). Compare ratios, not absolutes.

    .venv/bin/python tests/benchmarks/bench_market.py [--months 120] [--seeds 3] [--against REV]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from market.config import fitted_config
from market.model import ComputeMarket

ROOT = Path(__file__).resolve().parents[2]
PHASES = ("selling", "buying", "trading", "renting", "ecosystem", "venture_phase", "record")
# Times one full baseline run of `months` months for `seed` in whatever code is on sys.path; prints seconds.
TIMER = """
import sys, time
from market.config import fitted_config
from market.model import ComputeMarket
months, seed = int(sys.argv[1]), int(sys.argv[2])
ComputeMarket(fitted_config(months=2), rng=0).run()
start = time.perf_counter()
ComputeMarket(fitted_config(months=months), rng=seed).run()
print(time.perf_counter() - start)
"""


def timed_run(months: int, seed: int) -> tuple[float, dict[str, float]]:
    model = ComputeMarket(fitted_config(months=months), rng=seed)
    spent = dict.fromkeys(PHASES, 0.0)
    for name in PHASES:
        owner = model.recorder if name == "record" else model  # the month's records are the recorder's
        original = getattr(owner, name)

        def wrapper(*args, original=original, name=name):
            start = time.perf_counter()
            result = original(*args)
            spent[name] += time.perf_counter() - start
            return result

        setattr(owner, name, wrapper)
    start = time.perf_counter()
    model.run()
    return time.perf_counter() - start, spent


def seconds_in(source: Path, months: int, seed: int) -> float:
    """One baseline run's wall time with the code in `source` (a fresh interpreter, imports excluded)."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    done = subprocess.run([sys.executable, "-c", TIMER, str(months), str(seed)], cwd=source, env=env,
                          capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def compare_with(revision: str, months: int, seeds: int) -> None:
    """Time the baseline at `revision` (a git worktree) and at this checkout, alternating seed by seed."""
    commit = subprocess.run(["git", "rev-parse", "--short", revision], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        old = Path(scratch) / commit
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(old), commit], cwd=ROOT, check=True)
        try:
            times = {"old": [], "new": []}
            for seed in range(seeds):
                times["old"].append(seconds_in(old, months, seed))
                times["new"].append(seconds_in(ROOT, months, seed))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=True)
    old_rate = months / float(np.median(times["old"]))
    new_rate = months / float(np.median(times["new"]))
    print(f"old ({commit}): {old_rate:.1f} months/s; new (this checkout): {new_rate:.1f} months/s; "
          f"new / old = {new_rate / old_rate:.2f}x (medians of {seeds} seeds, {months} months, alternating)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=120)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--against", metavar="REV", help="a git revision to time the same baseline on, for a ratio")
    args = parser.parse_args()
    ComputeMarket(fitted_config(months=2), rng=0).run()  # warm imports and caches
    totals, splits = [], []
    for seed in range(args.seeds):
        seconds, spent = timed_run(args.months, seed)
        totals.append(seconds)
        splits.append(spent)
    seconds = float(np.median(totals))
    print(f"full baseline (market and venture), {args.months} months, {args.seeds} seeds: median {seconds:.2f} s "
          f"per run, {args.months / seconds:.1f} months/s")
    total = sum(np.median([s[p] for s in splits]) for p in PHASES)
    for phase in PHASES:
        share = np.median([s[phase] for s in splits])
        print(f"  {phase:<16} {share:6.3f} s  {share / total:6.1%}")
    profile = cProfile.Profile()
    profile.enable()
    ComputeMarket(fitted_config(months=args.months), rng=99).run()
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(8)
    print("top functions by own time (cProfile):")
    lines = [line for line in out.getvalue().splitlines() if line.strip() and ("{" in line or ".py" in line)]
    print("\n".join(lines)[:2500])
    if args.against:
        compare_with(args.against, args.months, args.seeds)


if __name__ == "__main__":
    main()
