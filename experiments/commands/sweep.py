"""`compute-market sweep`: a grid over config values, one row per point (experiments.sweep)."""

from __future__ import annotations

import os
from pathlib import Path

from experiments.cli import (
    FLAG_OF_SET,
    _cap_workers,
    _check_targets,
    _ensemble,
    _ensemble_options,
    _seeds,
    command_parser,
)
from experiments.config import load_experiment
from experiments.errors import UsageError


def register(sub) -> None:
    p = command_parser(sub, "sweep", help="a grid over config values, one row per point")
    p.add_argument("config", type=Path, help="the config the grid varies")
    p.add_argument("--set", dest="sets", action="append", required=True, metavar="PATH=V1,V2,...",
                   help="a config key and its values, e.g. choice.switching_cost=0,1.75,3.5 (repeat for a grid)")
    _ensemble_options(p, Path("results/sweep"), "one run directory per point (named by its inputs' hash) plus "
                      "sweep.csv")
    p.set_defaults(handler=run)


def run(args, catalog) -> int:
    from experiments import rundir, sweep

    experiment = load_experiment(args.config, catalog)
    grid = [sweep.parse_set(text) for text in args.sets]
    _check_set_conflicts(grid, args)
    out = Path(os.path.abspath(args.out))
    rundir.check_collection(out, "sweep")
    points = sweep.grid_points(experiment, grid, lambda point: _seeds(args, point), args.months, out)
    _check_targets([(point, folder, seeds) for _, point, seeds, folder in points], args)
    _cap_workers(args, max(len(seeds) for _, _, seeds, _ in points), "seed(s) per point")
    rundir.prepare_collection(out, "sweep")
    rows = [sweep.point_row(values, _ensemble(point, folder, args, seeds)) for values, point, seeds, folder in points]
    table = sweep.write_table(out, rows, [folder for *_, folder in points])
    print(table.drop(columns="run_dir").to_string(index=False, max_cols=12))
    print(f"wrote {out / 'sweep.csv'} (earlier points stay in {out} and are reused when asked for again)")
    return 0


def _check_set_conflicts(grid, args) -> None:
    paths = [path for path, _ in grid]
    for path in paths:
        if paths.count(path) > 1:
            raise UsageError(f"--set {path}: given more than once; list all its values in one --set")
        flag = FLAG_OF_SET.get(path)
        if flag and getattr(args, flag.removeprefix("--")) is not None:
            raise UsageError(f"--set {path} and {flag} both set the same thing; use one of them")
