"""`compute-market calibrate-history`: fit the behavioural parameters to the observed path up to the end of a fit
window, and report every observation, those after the window held out (experiments.calibrate_history)."""

from __future__ import annotations

import argparse
import sys

from experiments.cli import _int_between, _seed_count, _workers, command_parser
from hardware_catalog.schema import year_month


def _year_month(text: str) -> str:
    """An argparse type: a month as YYYY-MM."""
    problem = year_month(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def register(sub) -> None:
    p = command_parser(sub, "calibrate-history",
                       help="fit the behavioural parameters to the observed path up to --window-end (simulated "
                            "moments); later observations are held out and reported")
    p.add_argument("--seeds", type=_seed_count, default=3, help="seeds per evaluation (common random numbers)")
    p.add_argument("--max-evals", type=_int_between(1, 100_000, "a positive number"), default=250,
                   help="most objective evaluations of the Nelder-Mead search")
    p.add_argument("--window-end", type=_year_month, default=None, metavar="YYYY-MM",
                   help="last month of the fit window: only observations ending on or before it are fitted, later "
                        "ones are held out (default: the window of the stored fit, [fit] window_end of "
                        "history_calibration.toml, 2025-06 if it records none)")
    p.add_argument("--draws", type=_int_between(0, 1000, "a whole number >= 0"), default=20,
                   help="parameter sets to draw from the fit's uncertainty (Gauss-Newton covariance of the simulated "
                        "moments, 2 x parameters extra simulations); 0: none")
    p.add_argument("--screen", type=_int_between(0, 100_000, "a whole number >= 0"), default=0, metavar="N",
                   help="first simulate N parameter sets spread over the whole box of bounds (a Latin hypercube): "
                        "report, for each fitted observation, the share of them that put it in band (those in band "
                        "at none are structural misses, which no refit can bring in), and start the search from the "
                        "best of them if it beats the current defaults; 0: no screen")
    p.add_argument("--workers", type=_workers, default=2,
                   help="worker processes: each evaluation's seeds, and the uncertainty's simulations, side by side")
    p.add_argument("--backend", choices=("local", "dask"), default="local",
                   help="local processes, or a Dask distributed cluster")
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (default: a local cluster)")
    p.add_argument("--write", action="store_true", help="save the fitted values and the window as the model's "
                   "defaults (hardware_catalog/data/history_calibration.toml) and the draws beside them "
                   "(history_calibration_draws.toml)")
    p.set_defaults(handler=run)


def run(args, catalog) -> int:
    import time

    from experiments.calibrate_history import (
        PARAMETERS,
        calibrate,
        checked_moments,
        fit_uncertainty,
        write_calibration,
    )
    from experiments.history_fit import format_fit_table, in_band_line
    from hardware_catalog.loader import HISTORY_CALIBRATION

    seeds = tuple(range(args.seeds))
    window_end = args.window_end or catalog.fit_window_end
    moments = checked_moments(catalog, window_end)  # a window that cannot be fitted is refused before the banner
    later = sum(o.period_end > window_end for o in catalog.history)
    print(f"fitting {len(PARAMETERS)} parameters ({', '.join(p.name for p in PARAMETERS)}) to {len(moments)} "
          f"moments ending by {window_end} ({later} later observations held out) over {len(seeds)} seeds, at most "
          f"{args.max_evals} evaluations", file=sys.stderr)
    clock = time.perf_counter()

    def progress(n: int, value: float, _values: dict) -> None:
        print(f"\r  evaluation {n}/{args.max_evals}: objective {value:.4g}, {time.perf_counter() - clock:.0f}s elapsed",
              end="", file=sys.stderr, flush=True)

    other_starts = []
    if args.screen:
        other_starts.append(_screen(args, catalog, seeds, window_end, moments))
        clock = time.perf_counter()
    fit = calibrate(catalog, seeds=seeds, max_evaluations=args.max_evals, on_step=progress, window_end=window_end,
                    workers=args.workers, other_starts=other_starts)
    print(file=sys.stderr)
    print(f"objective (sum of squared distances to the observations ending by {window_end}, in units of their "
          f"tolerance): {fit.start_objective:.4g} at the current defaults -> {fit.objective:.4g} after "
          f"{fit.evaluations} evaluations" + (", the search starting from the best screened set, where it was lower"
                                              if fit.start >= 0 else ""))
    for p in PARAMETERS:
        distance = min(abs(fit.values[p.name] - p.low), abs(fit.values[p.name] - p.high))
        edge = " (at a bound)" if distance < 1e-6 * (p.high - p.low) + 1e-12 else ""
        print(f"  {p.name:<32} {fit.values[p.name]:.4g}  [{p.low:g}, {p.high:g}]{edge}  {p.why}")
    covered = fit.table[fit.table["simulated"].notna()]
    print(format_fit_table(covered))
    print(f"{int(covered.in_band.sum())} of {len(covered)} observations in band. {in_band_line(covered, window_end)}")
    uncertainty = None
    if args.draws:
        from experiments.progress import print_progress

        print(f"parameter uncertainty: {2 * len(PARAMETERS) + 1} simulations around the fitted values",
              file=sys.stderr)
        clock = time.perf_counter()
        uncertainty = fit_uncertainty(fit, catalog, seeds=seeds, draws=args.draws, workers=args.workers,
                                      backend=args.backend, scheduler=args.scheduler,
                                      progress=lambda done, total: print_progress(done, total,
                                                                                  time.perf_counter() - clock,
                                                                                  "simulations"))
        print(f"standard errors (Gauss-Newton covariance, residual variances scaled by the misfit "
              f"{uncertainty.misfit_scale:.3g}; a parameter the moments do not pin keeps about its range / 3.5):")
        for name, se in uncertainty.standard_errors().items():
            print(f"  {name:<32} {fit.values[name]:.4g} +- {se:.3g}")
    if args.write:
        path = catalog.data_dir / HISTORY_CALIBRATION
        write_calibration(fit, path, seeds)
        print(f"wrote {path}", file=sys.stderr)
        if uncertainty is not None:
            from experiments.parameter_uncertainty import draws_path, write_draws

            write_draws(uncertainty, draws_path(catalog), window_end)
            print(f"wrote {draws_path(catalog)}", file=sys.stderr)
    return 0


def _screen(args, catalog, seeds, window_end, moments) -> dict[str, float]:
    """Run the screen (`--screen N`), print what it found, and return its best parameter set: the search starts there
    instead of at the current defaults if its objective is lower."""
    import time

    from experiments.calibrate_history import CONFLICT_EXPECTED_SETS, PARAMETERS, format_reach, screen
    from experiments.progress import print_progress

    print(f"screen: {args.screen} parameter sets over the bounds of the {len(PARAMETERS)} parameters", file=sys.stderr)
    clock = time.perf_counter()
    result = screen(catalog, args.screen, seeds=seeds, window_end=window_end, workers=args.workers,
                    backend=args.backend, scheduler=args.scheduler,
                    progress=lambda done, total: print_progress(done, total, time.perf_counter() - clock,
                                                                "parameter sets"))
    values, best = result.best()
    structural = result.structural_misses()
    trade_offs = result.trade_offs()
    print(f"screen of {args.screen} parameter sets (Latin hypercube over the bounds, {len(seeds)} seeds each): each "
          f"fitted observation's share of them in band")
    print(format_reach(result))
    print(f"In band at none of the {args.screen} sets: {len(structural)} of {len(moments)} fitted observations"
          + (f" ({', '.join(structural)}): no parameter values within the bounds are likely to bring them in (the "
             f"more sets screened, the stronger that evidence); the model's structure decides them" if structural
             else "")
          + f". In band only away from the best tenth of the sets (a trade-off with the others): {len(trade_offs)}. "
            f"Most in band together at one set: {result.joint_best()} of {len(moments)}. The last column names the "
            f"observations never in band together with each, though, were they unrelated, "
            f"{CONFLICT_EXPECTED_SETS:g} or more sets would put both in band: trade-offs of the model's structure. "
            f"The best screened set (objective {best:.4g}) is the search's start if it beats the current defaults.")
    return values
