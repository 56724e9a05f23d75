"""Benchmark: months per second of the whole economy against steps per second of Mesa's BoltzmannWealth, and how
the cost grows with the venture side's population.

In one process, alternating run by run (so both see the same machine load), it times
- Mesa's BoltzmannWealth example (mesa.examples; 1,000 agents on a 32 x 32 grid, about one agent per cell as in
  Mesa's own benchmark configurations; 100 steps),
- the baseline (fitted config, chip market and venture side),
- the chip market alone (the venture side switched off: `VentureConfig(enabled=False)`),
and prints the medians and their ratios to BoltzmannWealth. Then it runs the baseline with the startups per month,
the VC firms and the LP pool all multiplied by 2, 4 and 10 and prints the run's and the venture phase's cost
against the 1x run (linear growth: cost ratio / scale <= 1). Last, in fresh interpreters, the peak resident memory
of a 1x and a 10x run (VmHWM of /proc/self/status, Linux: the process's high-water mark, imports included).
Times exclude building the models (for both sides) and are the process's CPU time (time.process_time), which
other programs on a shared machine disturb far less than wall time; `--wall` times wall-clock instead. Absolute
figures still depend on the machine: read the ratios.

    .venv/bin/python tests/benchmarks/bench_scale.py [--months 120] [--repeats 3] [--scales 2,4,10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from mesa.examples.basic.boltzmann_wealth_model.model import BoltzmannScenario, BoltzmannWealth

from market.config import VentureConfig, fitted_config
from market.model import ComputeMarket

ROOT = Path(__file__).resolve().parents[2]
clock = time.process_time  # CPU seconds of this process (main() switches to wall time with --wall)
BOLTZMANN_AGENTS, BOLTZMANN_SIDE, BOLTZMANN_STEPS = 1000, 32, 100


def boltzmann_steps_per_second(seed: int) -> float:
    model = BoltzmannWealth(BoltzmannScenario(n=BOLTZMANN_AGENTS, width=BOLTZMANN_SIDE, height=BOLTZMANN_SIDE,
                                              rng=seed))
    start = clock()
    for _ in range(BOLTZMANN_STEPS):
        model.step()
    return BOLTZMANN_STEPS / (clock() - start)


def scaled_venture(scale: float, enabled: bool = True) -> VentureConfig:
    """The default venture side with startups per month, firms and the LP pool multiplied by `scale`."""
    base = VentureConfig()
    return replace(base, enabled=enabled, firms=int(round(base.firms * scale)),
                   startups_per_month=base.startups_per_month * scale,
                   lp_pool_usd_per_year=base.lp_pool_usd_per_year * scale)


def timed_run(months: int, seed: int, venture: VentureConfig) -> tuple[float, float]:
    """(seconds of the whole run, seconds in the venture phase) for one run, the model's construction excluded."""
    model = ComputeMarket(fitted_config(months=months, venture=venture), rng=seed)
    spent = 0.0
    original = model.venture_phase

    def timed():
        nonlocal spent
        start = clock()
        original()
        spent += clock() - start

    model.venture_phase = timed
    start = clock()
    model.run()
    return clock() - start, spent


# VmHWM (the process's own high-water mark of resident memory; ru_maxrss would carry the parent's over exec)
MEMORY_PROBE = """
import sys
sys.path.insert(0, sys.argv[3])
from bench_scale import scaled_venture
from market.config import fitted_config
from market.model import ComputeMarket
ComputeMarket(fitted_config(months=int(sys.argv[1]), venture=scaled_venture(float(sys.argv[2]))), rng=0).run()
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def peak_memory_mb(months: int, scale: float) -> float:
    """Peak resident memory (MB) of a fresh interpreter that runs one baseline at `scale`."""
    done = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(months), str(scale), str(Path(__file__).parent)],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1]) / 1024.0  # VmHWM is in kB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats of each timed run")
    parser.add_argument("--scales", default="2,4,10", help="venture populations to time, as multiples of 1x")
    parser.add_argument("--wall", action="store_true", help="time wall-clock seconds instead of CPU seconds")
    args = parser.parse_args()
    global clock
    clock = time.perf_counter if args.wall else time.process_time
    scales = [float(s) for s in args.scales.split(",")]
    ComputeMarket(fitted_config(months=2), rng=0).run()  # warm imports and caches
    boltzmann_steps_per_second(0)
    one, off = scaled_venture(1.0), scaled_venture(1.0, enabled=False)
    rates: dict[str, list[float]] = {"boltzmann": [], "baseline": [], "venture off": []}
    ventures = []
    for seed in range(args.repeats):
        rates["boltzmann"].append(boltzmann_steps_per_second(seed))
        seconds, venture = timed_run(args.months, seed, one)
        rates["baseline"].append(args.months / seconds)
        ventures.append(venture)
        rates["boltzmann"].append(boltzmann_steps_per_second(seed + 100))
        rates["venture off"].append(args.months / timed_run(args.months, seed, off)[0])
    bw = statistics.median(rates["boltzmann"])
    print(f"{'wall-clock' if args.wall else 'CPU'} time; medians of {args.repeats} runs of {args.months} months "
          f"(alternating with BoltzmannWealth, "
          f"{BOLTZMANN_AGENTS} agents, {BOLTZMANN_STEPS} steps, {2 * args.repeats} runs)")
    print(f"{'run':<22} {'per second':>11} {'x BoltzmannWealth':>18}")
    print(f"{'BoltzmannWealth steps':<22} {bw:>11.1f} {1.0:>18.2f}")
    for name in ("baseline", "venture off"):
        rate = statistics.median(rates[name])
        print(f"{name + ' months':<22} {rate:>11.1f} {rate / bw:>18.2f}")
    total_1x = args.months / statistics.median(rates["baseline"])
    venture_1x = statistics.median(ventures)
    print(f"scaling (startups per month, firms and LP pool x scale), seed 0, {args.months} months; "
          f"1x: median run {total_1x:.2f} s, venture phase {venture_1x:.2f} s")
    print(f"{'scale':>5} {'run s':>7} {'run / 1x':>9} {'/ scale':>8} {'venture s':>10} {'venture / 1x':>13} "
          f"{'/ scale':>8}")
    for scale in scales:
        seconds, venture = timed_run(args.months, 0, scaled_venture(scale))
        print(f"{scale:>5g} {seconds:>7.2f} {seconds / total_1x:>9.2f} {seconds / total_1x / scale:>8.2f} "
              f"{venture:>10.2f} {venture / venture_1x:>13.2f} {venture / venture_1x / scale:>8.2f}")
    top = max(scales)
    print(f"peak resident memory (fresh interpreter, {args.months} months): 1x {peak_memory_mb(args.months, 1.0):.0f} "
          f"MB, {top:g}x {peak_memory_mb(args.months, top):.0f} MB")


if __name__ == "__main__":
    main()
