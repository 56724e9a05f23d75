"""`compute-market run`: a config's seed ensemble into a run directory (the main job)."""

from __future__ import annotations

import json
from pathlib import Path

from experiments.cli import (
    _ensemble,
    _months,
    _print_metrics,
    _seed,
    _seed_count,
    _seeds,
    _workers,
    add_parameter_draws_option,
    command_parser,
)
from experiments.config import load_experiment


def register(sub) -> None:
    p = command_parser(sub, "run", help="run a config's seed ensemble into a run directory (the main job)")
    p.add_argument("config", type=Path, help="experiment config (TOML), e.g. experiments/configs/baseline.toml")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=_seed_count, help="number of seeds, counted from the config's first_seed "
                       "(default: the config's simulation.seeds)")
    seeds.add_argument("--seed", type=_seed, help="run this one seed only")
    p.add_argument("--months", type=_months, help="months to simulate from the config's start "
                   "(default: the config's simulation.months; at most 1200)")
    p.add_argument("--out", type=Path, help="run directory (default: results/<config name>, or results/<name>-2, -3, "
                   "... when that holds a different run)")
    p.add_argument("--force", action="store_true", help="replace a run directory of compute-market's that holds a "
                   "run of different inputs (never a folder it did not make)")
    p.add_argument("--workers", type=_workers, default=2, help="worker processes (seeds run in parallel)")
    p.add_argument("--backend", choices=("local", "dask"), default="local",
                   help="local processes, or a Dask distributed cluster")
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (default: a local cluster)")
    add_parameter_draws_option(p)
    p.set_defaults(handler=run)


def run(args, catalog) -> int:
    experiment = load_experiment(args.config, catalog)
    default = Path("results") / experiment.name if args.out is None else None
    run_dir = _ensemble(experiment, args.out, args, _seeds(args, experiment), default_out=default)
    from experiments.runner import read_stored

    _print_metrics(read_stored(run_dir / "summary.json", lambda p: json.loads(p.read_text())))
    print(f"wrote {run_dir / 'summary.md'}")
    return 0
