"""`compute-market backtest`: rolling-origin backtest of the history calibration's forecasts (experiments.backtest):
per origin, fit to the observations before it, forecast with parameter draws x seeds, score what came after."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from experiments.cli import _int_between, _seed_count, _workers, command_parser
from experiments.commands.calibrate_history import _year_month
from experiments.config import BASELINE_CONFIG, load_experiment


def register(sub) -> None:
    from experiments.backtest import DEFAULT_HORIZON, DEFAULT_ORIGINS

    p = command_parser(sub, "backtest",
                       help="rolling-origin backtest: per origin, calibrate on the observations before it, forecast "
                            "with parameter draws x seeds, score the later observations against naive forecasts")
    p.add_argument("config", type=Path, nargs="?", default=BASELINE_CONFIG,
                   help="the config whose market is fitted and forecast (default: the packaged baseline)")
    p.add_argument("--origin", type=_year_month, action="append", metavar="YYYY-MM",
                   help=f"a forecast origin: fit to observations ending before it, score those from it on "
                        f"(repeatable; default: {', '.join(DEFAULT_ORIGINS)})")
    p.add_argument("--horizon", type=_int_between(1, 120, "a positive number of months"), default=DEFAULT_HORIZON,
                   help="months from each origin whose observations are scored")
    p.add_argument("--window-end", type=_year_month, default=None, metavar="YYYY-MM",
                   help="last month an observation may end in to be scored (default: the stored fit's window end)")
    p.add_argument("--max-evals", type=_int_between(1, 100_000, "a positive number"), default=120,
                   help="most objective evaluations of each origin's Nelder-Mead search (a full fit takes ~400)")
    p.add_argument("--draws", type=_int_between(1, 1000, "a positive number"), default=10,
                   help="parameter draws per origin (each run with every seed)")
    p.add_argument("--seeds", type=_seed_count, default=2, help="seeds per evaluation and per draw")
    p.add_argument("--workers", type=_workers, default=2, help="worker processes (draws and derivatives in parallel)")
    p.add_argument("--backend", choices=("local", "dask"), default="local",
                   help="local processes, or a Dask distributed cluster")
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (default: a local cluster)")
    p.add_argument("--out", type=Path, default=Path("results/backtest"),
                   help="folder for backtest.csv, summary.md and figures (made if absent; replaced only if it is a "
                        "backtest folder compute-market made; a folder it did not make is never written into)")
    p.set_defaults(handler=run)


def run(args, catalog) -> int:
    from experiments import rundir
    from experiments.backtest import DEFAULT_ORIGINS, Progress, Settings, backtest_origin, check_origins
    from experiments.backtest_report import headline_table, write_backtest
    from experiments.progress import end_progress_line, print_progress

    experiment = load_experiment(args.config, catalog)
    origins = tuple(args.origin or DEFAULT_ORIGINS)
    window_end = args.window_end or catalog.fit_window_end
    check_origins(origins, catalog, experiment.market, window_end)
    rundir.check_replaceable(Path(args.out).absolute(), "backtest")  # refuse a foreign folder before hours of work
    settings = Settings(horizon=args.horizon, window_end=window_end, max_evaluations=args.max_evals,
                        draws=args.draws, seeds=tuple(range(args.seeds)), workers=args.workers, backend=args.backend,
                        scheduler=args.scheduler)
    started = time.perf_counter()
    results = []
    clock = [time.perf_counter()]  # when the current stage began
    line_open = [False]  # an evaluation line is being rewritten in place
    for i, origin in enumerate(origins, start=1):

        def stage(text: str, origin=origin, i=i) -> None:
            end_progress_line()
            if line_open[0]:
                print(file=sys.stderr)
                line_open[0] = False
            clock[0] = time.perf_counter()
            print(f"backtest: origin {origin} ({i} of {len(origins)}): {text}", file=sys.stderr, flush=True)

        def evaluation(n: int, value: float) -> None:
            line_open[0] = True
            print(f"\r  evaluation {n}/{settings.max_evaluations}: objective {value:.4g}, "
                  f"{time.perf_counter() - clock[0]:.0f}s elapsed", end="", file=sys.stderr, flush=True)

        def simulations(done: int, total: int) -> None:
            print_progress(done, total, time.perf_counter() - clock[0], "simulations")

        results.append(backtest_origin(experiment.market, catalog, origin, settings,
                                       Progress(stage, evaluation, simulations)))
    end_progress_line()
    command = "compute-market backtest " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["backtest"] else "backtest"
    with rundir.atomic_directory(args.out, "backtest") as tmp:
        write_backtest(tmp, results, settings, catalog, command)
    scores = [r.scores for r in results]
    import pandas as pd

    print(headline_table(pd.concat(scores, ignore_index=True)))
    print(f"wrote {Path(args.out) / 'summary.md'} ({(time.perf_counter() - started) / 60:.1f} min)")
    return 0
