"""`compute-market compare`: scenarios run with the same seeds; differences from the first, with 90% intervals,
Benjamini-Hochberg-corrected stars, and the headline effects by window (during the levers, one and three years
after, the last year, discounted over the run)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from experiments.cli import (
    _cap_workers,
    _check_targets,
    _ensemble,
    _ensemble_options,
    _seeds,
    add_parameter_draws_option,
    command_parser,
)
from experiments.config import load_experiment
from experiments.errors import UsageError

MIN_SEEDS_FOR_STARS = 5  # below this many paired seeds a bootstrap interval says little: no stars
COMPARE_FILES = ("comparison.csv", "comparison.png", "effects_by_window.csv", "effects_by_window.png")


def register(sub) -> None:
    p = command_parser(sub, "compare",
                       help="run scenarios with the same seeds; differences from the first, with 90%% intervals")
    p.add_argument("configs", type=Path, nargs="+", help="configs; the first is the base the others are compared with")
    _ensemble_options(p, Path("results/compare"), "one run directory per config plus comparison.csv/png and "
                      "effects_by_window.csv/png")
    p.add_argument("--force", action="store_true", help="replace scenario run directories that hold runs of "
                   "different inputs")
    add_parameter_draws_option(p)
    p.set_defaults(handler=run)


def run(args, catalog) -> int:
    import numpy as np

    from experiments import rundir
    from experiments.compare import (
        MATERIAL_CHANGE,
        compare_runs,
        comparison_figure,
        human,
        material,
        relative_change,
        unchanged_scenarios,
    )
    from experiments.effect_windows import effects_by_window, effects_figure

    experiments = [load_experiment(path, catalog) for path in args.configs]  # validate all before running any
    names = [e.name for e in experiments]
    if len(set(names)) != len(names):
        raise UsageError(f"configs need distinct file names, got {', '.join(names)}")
    _check_compare_names(names, args.configs)
    seeds = _seeds(args, experiments[0])
    out = Path(os.path.abspath(args.out))
    _check_not_inside_a_run(out)
    rundir.check_collection(out, "compare")
    _check_targets([(e, out / e.name, seeds) for e in experiments], args)
    _cap_workers(args, len(seeds), "seed(s) per scenario")
    rundir.prepare_collection(out, "compare")
    dirs = [_ensemble(e, out / e.name, args, seeds) for e in experiments]
    table = compare_runs(dirs, min_seeds_for_significance=MIN_SEEDS_FOR_STARS)
    windows = effects_by_window(dirs[0], dirs[1:], min_seeds=MIN_SEEDS_FOR_STARS)
    rundir.atomic_write_text(out / "comparison.csv", table.to_csv(index=False))
    comparison_figure(dirs, out / "comparison.png")
    rundir.atomic_write_text(out / "effects_by_window.csv", windows.to_csv(index=False))
    rundir.atomic_write_bytes(out / "effects_by_window.png", effects_figure(windows))
    rundir.seal(out, "compare", None, [*names, *COMPARE_FILES])
    print(f"differences from {names[0]} (mean over {len(seeds)} paired seeds; {names[0]}'s own level; the "
          "difference, as a share of that level, and its bootstrap 90% interval):")
    print(f"{'scenario':<22} {'metric':<38} {names[0] + ' level':>12} {'difference':>11} {'change':>8}  interval")
    for row in table.itertuples():
        flag = "*" if row.significant_bh and material(row.difference, row.base_mean) else " "
        change = relative_change(row.difference, row.base_mean)
        shown = f"{change:+.1%}" if np.isfinite(change) else "n/a"
        sign = "+" if row.difference > 0 else ""
        print(f"{row.scenario:<22} {row.metric:<38} {human(row.base_mean):>12} {sign + human(row.difference):>11} "
              f"{shown:>8}  [{human(row.p05)}, {human(row.p95)}] {flag}")
    few = len(seeds) < MIN_SEEDS_FOR_STARS
    if few:
        print(f"compute-market: warning: only {len(seeds)} paired seed(s): intervals from fewer than "
              f"{MIN_SEEDS_FOR_STARS} seeds are unreliable, so no difference is starred; use --seeds 8 or more",
              file=sys.stderr)
    elif len(table):
        print(f"* {table['star_rule'].iloc[0]} (sign-flip p-values, false discovery rate over the whole table), and "
              f"only differences of at least {MATERIAL_CHANGE:.0%} of the base level.")
    _warn_unchanged(unchanged_scenarios(dirs), experiments, args.months)
    _print_signs(windows, names[0], few)
    print(f"wrote {out / 'comparison.csv'}, comparison.png, effects_by_window.csv and effects_by_window.png")
    return 0


def _warn_unchanged(unchanged: list[str], experiments, months: int | None) -> None:
    """One warning line per scenario whose results equal the base's in every seed and metric: a lever that begins
    after the run's last month (or changes nothing) would otherwise show as a table of zeros."""
    from experiments.runner import effective_config
    from hardware_catalog import add_months

    base = experiments[0]
    for experiment in experiments[1:]:
        if experiment.name not in unchanged:
            continue
        config = effective_config(experiment, months)
        last = add_months(config.start, config.months - 1)
        print(f"compute-market: warning: {experiment.name}: its results are identical to {base.name}'s in every seed "
              f"and metric: its change may begin after the run's last month ({last}) or have no effect; check its "
              f"start dates, or run more --months", file=sys.stderr)


def _print_signs(windows, base: str, few_seeds: bool) -> None:
    """Per scenario, the sign of each headline effect by window (+/-: starred, 0: not, .: window not reached)."""
    from experiments.effect_windows import SHORT_WINDOW_NAMES, sign_table

    if windows.empty:
        return
    rule = (f"starred, never with fewer than {MIN_SEEDS_FOR_STARS} paired seeds" if few_seeds
            else windows["star_rule"].iloc[0].removeprefix("starred: "))
    print(f"\nheadline effects by window, sign of scenario - {base} (+/-: {rule}; 0: not starred; "
          ".: window not reached or series not recorded; see effects_by_window.csv):")
    signs = sign_table(windows)
    header = "".join(f"{SHORT_WINDOW_NAMES[w]:>9}" for w in signs.columns)
    for scenario, levers in windows.groupby("scenario", sort=False)["levers"].first().items():
        print(f"{scenario} (during: {levers})")
        print(f"  {'':<26}{header}")
        for label, row in signs.loc[scenario].iterrows():
            print(f"  {label:<26}" + "".join(f"{sign:>9}" for sign in row))


def _check_compare_names(names: list[str], paths: list[Path]) -> None:
    """Each config's name (its file name without .toml) becomes its run folder in --out: refuse names that would
    land on the comparison's own files, on another run's `.partial` twin, or on --out itself."""
    from experiments import rundir

    for name, path in zip(names, paths, strict=True):
        if name in COMPARE_FILES or name in (rundir.MARKER, rundir.LEGACY_LOCK) or name.endswith(rundir.LOCK_SUFFIX):
            why = f"the comparison writes its own {name} there"
        elif name.endswith(".partial"):
            why = "a folder ending in .partial is an interrupted run's twin"
        elif name in (".", "..") or name.startswith(".tmp-"):
            why = "that is not a folder name of its own"
        else:
            continue
        raise UsageError(f"{path}: compare runs each config into --out/<config name>, and the name '{name}' cannot be "
                         f"used ({why}); rename the config file")


def _check_not_inside_a_run(out: Path) -> None:
    """A comparison folder is not made inside a run folder (it would become files the run did not write)."""
    from experiments import rundir

    for parent in out.parents:
        marker = rundir.read_marker(parent)
        if marker is not None and marker["kind"] == "run":
            raise UsageError(f"--out {out}: is inside the compute-market run folder {parent}; choose a folder "
                             "outside it (e.g. results/compare)")
