"""`compute-market sensitivity`: global sensitivity analysis (experiments.sensitivity): Morris screening or
Sobol indices of the headline metrics over a parameter set."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from experiments.cli import FLAG_OF_SET, _cap_workers, _ensemble_options, _int_between, command_parser, seed_range
from experiments.config import load_experiment
from experiments.errors import UsageError


def register(sub) -> None:
    p = command_parser(sub, "sensitivity",
                       help="global sensitivity analysis: Morris screening or Sobol indices (SALib) of the headline "
                            "metrics over a parameter set")
    p.add_argument("config", type=Path, help="the config whose parameters are varied")
    p.add_argument("--method", choices=("morris", "sobol"), default="morris",
                   help="morris: elementary-effects screening (mu*, sigma); sobol: variance shares (S1, ST)")
    p.add_argument("--param", dest="params", action="append", metavar="PATH=LOW:HIGH",
                   help="a config key and its range, e.g. choice.switching_cost=4:12 (repeat; default: the set in "
                        "experiments/sensitivity_parameters.toml)")
    p.add_argument("--trajectories", type=_int_between(2, 10_000, "a number of trajectories >= 2"), default=10,
                   help="Morris trajectories (points = trajectories x (parameters + 1))")
    p.add_argument("--samples", type=_int_between(2, 1_000_000, "a power of two >= 2"), default=64,
                   help="Sobol base samples, a power of two (points = samples x (parameters + 2))")
    _ensemble_options(p, Path("results/sensitivity"), "the analysis (indices.csv, points.csv, figures, summary.md) "
                      "and its stored points (resumable)")
    p.add_argument("--force", action="store_true", help="discard a stored analysis of different inputs in --out")
    p.set_defaults(handler=run)


def run(args, catalog) -> int:
    from experiments import sensitivity
    from experiments.progress import print_progress
    from experiments.runner import effective_config, run_inputs

    started = time.monotonic()
    experiment = load_experiment(args.config, catalog)
    if args.params:
        parameters = tuple(sensitivity.parse_param(p) for p in args.params)
    else:
        parameters = sensitivity.load_parameters()
    paths = [p.path for p in parameters]
    if len(set(paths)) != len(paths):
        raise UsageError("--param: each config key may be given once")
    sensitivity.check_paths(experiment, parameters)  # the seed keys are refused here, with their own advice
    _check_param_conflicts(paths, args)
    if args.method == "sobol" and args.samples & (args.samples - 1):
        raise UsageError(f"--samples: Sobol needs a power of two, got {args.samples}")
    if args.backend == "dask":
        from experiments.runner import _require_dask

        _require_dask()
    seeds = seed_range(experiment.seeds[0], args.seeds or 2)
    config = effective_config(experiment, args.months)
    size = args.trajectories if args.method == "morris" else args.samples
    context = run_inputs(experiment, config, seeds, experiment.catalog())["hash"]
    record = sensitivity.design_record(args.method, parameters, size, seeds, config.months, context)
    out = sensitivity.open_folder(args.out, record, args.force)
    X = sensitivity.design(args.method, parameters, size)
    evaluate = sensitivity.ModelEvaluation(experiment, tuple(paths), args.months)
    resumed = sum(sensitivity.stored_point(out, i, sensitivity.point_key(row, seeds, context)) is not None
                  for i, row in enumerate(X))
    _cap_workers(args, (len(X) - resumed) * len(seeds), "point-seed run(s)")
    print(f"sensitivity ({args.method}): {len(parameters)} parameters, {len(X)} points x {len(seeds)} seeds x "
          f"{config.months} months, {args.workers} workers, {args.backend} backend -> {out}"
          + (f" ({resumed} points already stored)" if resumed else ""), file=sys.stderr)
    outputs = sensitivity.run_points(X, seeds, evaluate, out, context, workers=args.workers, backend=args.backend,
                                     scheduler=args.scheduler,
                                     on_progress=lambda d, t, e: print_progress(d, t, e, what="points"))
    indices, runtime = sensitivity.write_results(args.method, parameters, X, outputs, len(seeds), config.months,
                                                 started, resumed, str(args.config), out)
    for metric, names in sensitivity.top_parameters(args.method, indices).items():
        print(f"{metric:<32} most sensitive to: {', '.join(names)}")
    print(f"wrote {out / 'summary.md'} ({runtime / 60:.1f} min)")
    return 0


def _check_param_conflicts(paths: list[str], args) -> None:
    """A --param that a flag also sets (--months, --seeds) would label points with values they did not run with."""
    for path in paths:
        flag = FLAG_OF_SET.get(path)
        if flag and getattr(args, flag.removeprefix("--")) is not None:
            raise UsageError(f"--param {path} and {flag} both set the same thing (every point would run {flag} "
                             f"{getattr(args, flag.removeprefix('--'))}); use one of them")
