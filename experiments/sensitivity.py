"""Global sensitivity analysis (`compute-market sensitivity`): which assumptions drive which outcomes.

The designs and indices are SALib's (Herman & Usher 2017, the established implementation): Morris elementary
effects for screening (mu*, sigma) and Saltelli's sampling with Sobol indices (S1, ST with confidence intervals)
for variance decomposition. Each design point is the config with the parameters set to the point's values, run
for a number of seeds; the headline metrics are averaged over seeds. Every point is stored on its own
(`points/point-NNNNN.json`, written atomically, carrying its values and seeds), so an interrupted analysis resumes
by computing only the points not yet stored. The evaluation of a point is a plain function, so a toy model with a
known answer runs through the same runner (tests).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import Interrupted, UsageError, require_range
from .rundir import atomic_write_text

PARAMETERS_PATH = Path(__file__).with_name("sensitivity_parameters.toml")
METHODS = ("morris", "sobol")
MORRIS_LEVELS = 4
DESIGN_SEED = 20240101  # SALib's design generator seed: the same command gives the same design
# The headline metrics reported (summary.json names); each is averaged over a point's seeds.
HEADLINE_METRICS = ("leader_revenue_share_final", "leader_gross_margin_boom", "inhouse_revenue_share_final",
                    "usd_per_million_tokens_final", "chip_revenue_final_usd", "deals_10x_plus_share",
                    "centrality_return_spearman", "fund_tvpi_median")


@dataclass(frozen=True)
class Parameter:
    path: str  # table.key of an experiment config
    low: float
    high: float
    why: str = ""


def parse_param(text: str) -> Parameter:
    """A `--param path=low:high` argument."""
    path, sep, span = text.partition("=")
    low, colon, high = span.partition(":")
    try:
        lo, hi = float(low), float(high)
    except ValueError:
        lo = hi = math.nan
    if not sep or not colon or "." not in path or not (math.isfinite(lo) and math.isfinite(hi)) or not lo < hi:
        raise UsageError(f"--param takes table.key=low:high with finite low < high, got '{text}'")
    return Parameter(path.strip(), lo, hi, "given on the command line")


def load_parameters(path: Path = PARAMETERS_PATH) -> tuple[Parameter, ...]:
    """The default parameter set, validated (a bad row is one line naming the file, the row and the field)."""
    try:
        rows = tomllib.loads(Path(path).read_text()).get("parameter", [])
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: cannot read ({exc})") from None
    out = []
    for i, row in enumerate(rows):
        where = f"{path}: parameter {row.get('path', i)!r}"
        if not isinstance(row.get("path"), str) or "." not in row["path"]:
            raise UsageError(f"{where}: field 'path': must be table.key")
        require_range(row, where)
        out.append(Parameter(row["path"], float(row["low"]), float(row["high"]), str(row.get("why", ""))))
    return tuple(out)


def problem(parameters: Sequence[Parameter]) -> dict[str, Any]:
    """SALib's problem definition."""
    return {"num_vars": len(parameters), "names": [p.path for p in parameters],
            "bounds": [[p.low, p.high] for p in parameters]}


def design(method: str, parameters: Sequence[Parameter], size: int) -> np.ndarray:
    """SALib's design: Morris with `size` trajectories, or Saltelli/Sobol with `size` base samples (a power of 2)."""
    if method == "morris":
        from SALib.sample import morris

        return morris.sample(problem(parameters), size, num_levels=MORRIS_LEVELS, seed=DESIGN_SEED)
    if method == "sobol":
        from SALib.sample import sobol

        return sobol.sample(problem(parameters), size, calc_second_order=False, seed=DESIGN_SEED)
    raise UsageError(f"--method: unknown method '{method}'; valid: {', '.join(METHODS)}")


def analyse(method: str, parameters: Sequence[Parameter], X: np.ndarray, outputs: pd.DataFrame) -> pd.DataFrame:
    """One row per (metric, parameter): Morris mu*, its confidence interval and sigma, or Sobol S1 and ST with
    theirs. A metric that is NaN at any point (undefined for some parameter values) is left out."""
    rows = []
    for metric in outputs.columns:
        y = outputs[metric].to_numpy(dtype=float)
        if not np.all(np.isfinite(y)):
            continue
        if method == "morris":
            from SALib.analyze import morris

            res = morris.analyze(problem(parameters), X, y, num_levels=MORRIS_LEVELS, seed=DESIGN_SEED)
            for i, p in enumerate(parameters):
                rows.append({"metric": metric, "parameter": p.path, "mu_star": float(res["mu_star"][i]),
                             "mu_star_conf": float(res["mu_star_conf"][i]), "sigma": float(res["sigma"][i]),
                             "mu": float(res["mu"][i])})
        else:
            from SALib.analyze import sobol

            res = sobol.analyze(problem(parameters), y, calc_second_order=False, seed=DESIGN_SEED)
            for i, p in enumerate(parameters):
                rows.append({"metric": metric, "parameter": p.path, "S1": float(res["S1"][i]),
                             "S1_conf": float(res["S1_conf"][i]), "ST": float(res["ST"][i]),
                             "ST_conf": float(res["ST_conf"][i])})
    return pd.DataFrame(rows)


def importance(method: str, indices: pd.DataFrame) -> str:
    """The column that ranks parameters: Morris mu* (scaled per metric by its largest) or Sobol ST."""
    return "mu_star" if method == "morris" else "ST"


def top_parameters(method: str, indices: pd.DataFrame, k: int = 3) -> dict[str, list[str]]:
    key = importance(method, indices)
    return {metric: list(group.sort_values(key, ascending=False)["parameter"].head(k))
            for metric, group in indices.groupby("metric", sort=False)}


# --------------------------------------------------------------------------------------------- the runner


def point_key(values: Sequence[float], seeds: Sequence[int], context: str) -> str:
    """Fingerprint of one point: its values, its seeds and the analysis context (config, code, metrics)."""
    text = json.dumps({"values": [float(v) for v in values], "seeds": list(seeds), "context": context}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def point_path(folder: Path, index: int) -> Path:
    return Path(folder) / "points" / f"point-{index:05d}.json"


def stored_point(folder: Path, index: int, key: str) -> dict | None:
    """The stored outputs of point `index` if present and computed for the same key; else None."""
    path = point_path(folder, index)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if data.get("key") == key else None


def run_points(X: np.ndarray, seeds: Sequence[int], evaluate: Callable[[Sequence[float], int], dict[str, float]],
               folder: Path, context: str, *, workers: int = 1, backend: str = "local", scheduler: str | None = None,
               on_progress: Callable[[int, int, float], None] | None = None) -> pd.DataFrame:
    """Evaluate every design point (rows of X) for every seed, storing each point as it completes; points already
    stored for the same values, seeds and context are read back instead of computed. Returns the per-point means
    (rows in design order) of the metrics `evaluate(values, seed)` returns."""
    (Path(folder) / "points").mkdir(parents=True, exist_ok=True)
    keys = [point_key(row, seeds, context) for row in X]
    results: dict[int, dict] = {}
    todo = []
    for i, key in enumerate(keys):
        stored = stored_point(folder, i, key)
        if stored is not None:
            results[i] = stored["means"]
        else:
            todo.append(i)
    started, total = time.monotonic(), len(X)
    done_before = len(results)

    def store(i: int, per_seed: list[dict[str, float]]) -> None:
        means = {m: float(np.mean([s[m] for s in per_seed])) for m in per_seed[0]}
        atomic_write_text(point_path(folder, i), json.dumps({"key": keys[i], "values": [float(v) for v in X[i]],
                                                             "seeds": list(seeds), "per_seed": per_seed,
                                                             "means": means}))
        results[i] = means
        if on_progress:
            on_progress(len(results) - done_before, len(todo), time.monotonic() - started)

    tasks = [(i, tuple(float(v) for v in X[i]), seed) for i in todo for seed in seeds]
    pending: dict[int, list] = {i: [] for i in todo}
    try:
        for i, _values, seed, metrics in _map(evaluate, tasks, workers, backend, scheduler):
            pending[i].append((seed, metrics))
            if len(pending[i]) == len(seeds):
                store(i, [m for _, m in sorted(pending.pop(i), key=lambda sm: sm[0])])
    except KeyboardInterrupt:
        raise Interrupted(f"sensitivity: interrupted; {len(results)} of {total} points are stored in {folder}: "
                          f"run the same command again to resume from there") from None
    return pd.DataFrame([results[i] for i in range(total)])


def _call(args):
    evaluate, i, values, seed = args
    return i, values, seed, evaluate(values, seed)


def _map(evaluate, tasks, workers: int, backend: str, scheduler: str | None):
    """(point index, values, seed, metrics) for every task, as they finish: in-process, on a persistent pool of
    local worker processes (one pool for the whole design), or on Dask (tasks submitted in batches)."""
    jobs = [(evaluate, i, values, seed) for i, values, seed in tasks]
    if backend == "dask":
        from distributed import as_completed

        from .runner import _dask_client

        client, cluster = _dask_client(scheduler, workers)
        try:
            futures = client.map(_call, jobs, pure=False)
            for future in as_completed(futures):
                yield future.result()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
        return
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield _call(job)
        return
    from .runner import discard_pool, worker_pool

    pool = worker_pool(workers)  # the process's persistent pool: its workers' imports are paid once
    try:
        yield from pool.imap_unordered(_call, jobs)
    except BaseException:
        discard_pool(workers)
        raise


# --------------------------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class ModelEvaluation:
    """Evaluate a design point on the market model: the experiment with each parameter set, one seed's
    headline metrics. Picklable, so worker processes can run it."""

    experiment: Any  # experiments.config.Experiment
    paths: tuple[str, ...]
    months: int | None
    metrics: tuple[str, ...] = HEADLINE_METRICS

    def config_for(self, values: Sequence[float]):
        from .config import with_value
        from .runner import effective_config

        experiment = self.experiment
        for path, value in zip(self.paths, values, strict=True):
            experiment = with_value(experiment, path, typed_value(path, value))
        return effective_config(experiment, self.months), experiment.catalog()

    def __call__(self, values: Sequence[float], seed: int) -> dict[str, float]:
        from .seed import run_seed

        config, catalog = self.config_for(values)
        metrics = run_seed(config, seed, catalog).metrics
        return {m: float(metrics.get(m, math.nan)) for m in self.metrics}


# Advice for keys that cannot be varied over a range (by the kind of value they hold).
NOT_CONTINUOUS = {
    bool: "a switch (true or false) cannot be varied continuously; compare both settings with "
          "'compute-market sweep CONFIG --set {path}=true,false'",
    str: "a text value (a date or an id) cannot be varied continuously; try its values with "
         "'compute-market sweep CONFIG --set {path}=...'",
    tuple: "a list cannot be varied continuously; try its values with 'compute-market sweep CONFIG --set {path}=...'",
}
SEED_KEYS = ("simulation.seeds", "simulation.first_seed")


@functools.cache
def field_type(path: str) -> type | None:
    """int or float: the type of the numeric config key `path`, which a design varies over a range. A key that
    cannot vary continuously (a switch, a date, an id, a list, a table of agents, the seeds) is a UsageError naming
    it; None for a key the config does not know (left to the config's own check, which lists the valid keys)."""
    import typing

    from market.config import SECTIONS, MarketConfig, VentureConfig

    from .config import MARKET_TOP, SECTION_OF, SHORTHAND

    table, _, key = path.partition(".")
    if table == "market" and key in SHORTHAND:  # the [market] shorthand names the field's section
        table = SECTION_OF[key]
    if path in SEED_KEYS:
        raise UsageError(f"--param {path}: the seeds are not a model parameter (each point runs the same seeds); "
                         f"vary them with --seeds")
    if table == "simulation":
        hint = {"months": int, "start": str}.get(key)
    elif table in SECTIONS:
        hint = typing.get_type_hints(SECTIONS[table]).get(key)
    elif table == "market" and key in MARKET_TOP:
        hint = typing.get_type_hints(MarketConfig).get(key)
    elif table == "venture":
        hint = typing.get_type_hints(VentureConfig).get(key)
    elif table in ("hardware", "vendors"):  # hardware.chips.ID.field, vendors.ID.field (numeric overrides)
        hint = int if key.endswith(".max_group") else float
    elif table in ("hyperscalers", "labs", "deals"):
        raise UsageError(f"--param {path}: [[{table}]] is an array of tables, which cannot be varied by --param; "
                         f"write one config per variant and use 'compute-market compare'")
    else:
        return None
    if hint is None:
        return None
    kind = typing.get_origin(hint) or hint
    if kind in NOT_CONTINUOUS:
        raise UsageError(f"--param {path}: {NOT_CONTINUOUS[kind].format(path=path)}")
    if kind not in (int, float):
        raise UsageError(f"--param {path}: not a single number, so it cannot be varied continuously; "
                         f"choose a numeric key (see 'compute-market validate CONFIG')")
    return kind


def typed_value(path: str, value: float):
    """`value` as the config key takes it: whole numbers for integer keys (rounded), else a float."""
    return round(value) if field_type(path) is int else float(value)


def values_run(parameters: Sequence[Parameter], X: np.ndarray) -> pd.DataFrame:
    """The design's values as each point ran them (integer keys rounded), one column per parameter."""
    return pd.DataFrame({p.path: [typed_value(p.path, v) for v in X[:, i]] for i, p in enumerate(parameters)})


def check_paths(experiment, parameters: Sequence[Parameter]) -> None:
    """Every parameter names a numeric config key, and both ends of its range validate (before computing)."""
    from .config import ConfigError, with_value

    for p in parameters:
        ends = [typed_value(p.path, value) for value in (p.low, p.high)]
        if ends[0] == ends[1]:
            raise UsageError(f"--param {p.path}={p.low:g}:{p.high:g}: a whole-number key, and the range rounds to the "
                             f"single value {ends[0]}; widen it")
        for value in ends:
            try:
                with_value(experiment, p.path, value, "--param")
            except ConfigError as exc:  # it names --param and the value, not the config file
                raise UsageError(str(exc)) from None


# --------------------------------------------------------------------------------------------- the report


def summary_markdown(method: str, parameters: Sequence[Parameter], indices: pd.DataFrame, points: int, seeds: int,
                     months: int, runtime_s: float, resumed: int, config: str) -> str:
    top = top_parameters(method, indices)
    key = importance(method, indices)
    lines = [
        f"# Sensitivity analysis ({method})",
        "",
        f"Config `{config}`, {len(parameters)} parameters, {points} design points x {seeds} seeds x {months} months; "
        f"runtime {runtime_s / 60:.1f} min" + (f" ({resumed} points read back from an earlier, interrupted "
                                               "run)." if resumed else "."),
        "Designs and indices are SALib's (" + ("Morris elementary effects: mu* ranks influence, sigma flags "
                                              "interactions and non-linearity" if method == "morris" else
                                              "Sobol indices from Saltelli sampling: S1 first-order, ST total") + ").",
        "",
        *integer_note(parameters),
        "## The three parameters each headline metric is most sensitive to",
        "",
    ]
    for metric, names in top.items():
        lines.append(f"- **{metric}**: " + ", ".join(f"`{n}`" for n in names))
    lines += ["", f"## Indices ({key})", "", "| metric | " + " | ".join(p.path for p in parameters) + " |",
              "|---|" + "---|" * len(parameters)]
    table = indices.pivot(index="metric", columns="parameter", values=key)
    for metric in top:
        lines.append(f"| {metric} | " + " | ".join(f"{table.loc[metric, p.path]:.3g}" for p in parameters) + " |")
    lines += ["", "## Parameters and ranges", "", "| parameter | low | high | why |", "|---|---|---|---|"]
    lines += [f"| `{p.path}` | {p.low:g} | {p.high:g} | {p.why} |" for p in parameters]
    return "\n".join(lines) + "\n"


def integer_note(parameters: Sequence[Parameter]) -> list[str]:
    """A sentence for the summary when some keys take whole numbers (their design values are rounded to run)."""
    names = [f"`{p.path}`" for p in parameters if field_type(p.path) is int]
    if not names:
        return []
    return [f"Integer keys ({', '.join(names)}) are rounded to whole numbers before each point runs; points.csv "
                "records the rounded values that ran, and the indices treat each design step as the step the design "
                "asked for (a step that rounds to no change shows as no effect).", ""]


def figures(method: str, indices: pd.DataFrame, folder: Path) -> list[str]:
    """Morris: a mu*-sigma panel per metric; both: a heatmap of parameters x metrics (mu* scaled by each metric's
    largest, or ST)."""
    from . import plots

    written = []
    if method == "morris":
        plots.morris_chart(indices, Path(folder) / "morris_mu_star_sigma.png")
        written.append("morris_mu_star_sigma.png")
    plots.sensitivity_heatmap(indices, importance(method, indices), Path(folder) / "sensitivity_heatmap.png")
    written.append("sensitivity_heatmap.png")
    return written


def design_record(method: str, parameters: Sequence[Parameter], size: int, seeds: Sequence[int], months: int,
                  context: str) -> dict[str, Any]:
    return {"method": method, "size": size, "seeds": list(seeds), "months": months, "context": context,
            "parameters": [dataclasses.asdict(p) for p in parameters]}


# ------------------------------------------------------------------------------------------ the analysis folder


def _stored_design(path: Path, out: Path, force: bool):
    """The design record stored in a sensitivity folder; a damaged one is refused, or with --force treated as a
    design of other inputs (its stored points are then discarded and recomputed)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        if not force:
            raise UsageError(f"--out {out}: its stored design.json is damaged (not readable JSON), so its stored "
                             "points cannot be matched to this analysis; use --force to discard them and recompute, "
                             "or choose another --out") from None
        return None


def open_folder(out: Path, record: dict, force: bool) -> Path:
    """Lock the analysis folder `out` (held until the command ends: nothing is replaced under another), check its
    stored design against `record` (a different one is refused, or with `force` its stored points are discarded),
    and store `record` as its design; returns the folder's absolute path."""
    from . import rundir

    out = rundir.lock_collection(out, "sensitivity")
    stored = (out / "design.json")
    if stored.exists():
        previous = _stored_design(stored, out, force)
        if previous != json.loads(json.dumps(record)):
            if not force:
                raise UsageError(f"--out {out}: holds a sensitivity analysis of different inputs (method, parameters, "
                                 f"seeds, months, config or code); use --force to replace it, or choose another --out")
            rundir.check_replaceable(out, "sensitivity", why="--force: ")
            rundir.discard_recorded(out)  # the old analysis's tables, figures and summary: none is left beside the new
            for old in (out / "points").glob("point-*.json"):
                old.unlink()
    rundir.prepare_collection(out, "sensitivity")
    rundir.atomic_write_text(stored, json.dumps(record, indent=1))
    rundir.seal(out, "sensitivity", None, ["design.json"])  # points/point-N.json are the kind's own layout
    return out


def write_results(method: str, parameters: Sequence[Parameter], X: np.ndarray, outputs: pd.DataFrame, seeds: int,
                  months: int, started: float, resumed: int, config: str, out: Path) -> tuple[pd.DataFrame, float]:
    """The indices of the analysis, written with its points, figures and summary.md into `out` (then sealed);
    returns the indices and the runtime in seconds since `started` (a time.monotonic() reading)."""
    from . import rundir

    indices = analyse(method, parameters, X, outputs)
    points = pd.concat([values_run(parameters, X), outputs], axis=1)  # the values run (integers rounded)
    rundir.atomic_write_text(out / "points.csv", points.to_csv(index=False))
    rundir.atomic_write_text(out / "indices.csv", indices.to_csv(index=False))
    written = figures(method, indices, out)
    runtime = time.monotonic() - started
    summary = summary_markdown(method, parameters, indices, len(X), seeds, months, runtime, resumed, config)
    rundir.atomic_write_text(out / "summary.md", summary)
    rundir.seal(out, "sensitivity", None, ["points.csv", "indices.csv", "summary.md", *written])
    return indices, runtime
