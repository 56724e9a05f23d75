"""Fit a handful of behavioural parameters to the observed 2023 - 2025 path (method of simulated moments).

The moments are the `fit = true` observations of hardware_catalog/data/history.toml whose period ends inside the
fit window (`window_end`, YYYY-MM: history_fit.observations_before); later observations are held out, simulated
and reported beside the fitted ones but never fitted to. For a parameter vector
theta, the chip market is simulated over the fitting window for a fixed set of seeds (common random
numbers, so the objective is a deterministic function of theta) and each moment's seed-mean is compared
with its observation. The objective is the sum of squared distances to each observation (zero inside a
source's range; a point figure's target is the point itself), each distance a log distance measured in
units of the tolerance the fit table judges the observation by (a diagonal weighting: margins, known to
+-5 points, weigh as much as revenues known to +-25%).

Search: Nelder-Mead (scipy.optimize.minimize) on the parameters scaled to [0, 1] within their bounds. The
simulated objective is piecewise smooth at best (rationing, argmax choices and integer launch dates make
kinks), so a derivative-free simplex search is the fitting tool; bounds are enforced by clipping.
Fitted values are written to hardware_catalog/data/history_calibration.toml (with `--write`), from which
MarketConfig takes its defaults, with the window they were fitted to (`[fit] window_end`, which reports read to
tell fitted observations from held-out ones).

Before a search, `screen` asks what the model can reach at all: the moments at parameter sets of a Latin hypercube over
the whole box of bounds, each observation's share of sets in band, and the pairs of observations no set puts in band
together (`conflicts`): trade-offs of the model's structure that no refit closes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from hardware_catalog import Catalog, HistoryObservation, months_between
from hardware_catalog.records import FIT_WINDOW_END
from market.config import MarketConfig, VentureConfig
from market.model import ComputeMarket

from .errors import UsageError
from .history_fit import band, fit_table, observations_before, simulated_moment
from .parameter_uncertainty import Uncertainty, estimate
from .task_map import map_tasks


@dataclass(frozen=True)
class Parameter:
    """A fitted behavioural parameter: its MarketConfig field, bounds and why it is free."""

    name: str
    low: float
    high: float
    why: str


# At most a handful, shared across every moment (never one knob per target). Lower bounds are positive:
# the catalog loader accepts only positive fitted values, so a fit at a bound must still load. Demand has no
# calendar curve: the three adoption parameters (how much of AI's potential was in use at the start, how fast it
# diffuses, how fast the potential grows with cumulative training compute) replace the fitted boom (its scale,
# midpoint and width) and the labs' boom scale, so the count of fitted parameters is unchanged. The memory of
# packaging shares (allocation_memory) was fitted until 2026-12, when the stickiness of vendors' margins took its
# place (NVIDIA's margin rose from 64% to 76% over 2023, which the model reproduces only if prices adjust slowly);
# it is held at that fit's value. The stickiness went to its lower bound (0.03) in the fits to 2025-06 and 2025-12 and
# is held there since, its place taken by the packaging capacity of January 2023: once vendors commit supply ahead, the
# 2023 shortage (rentals at $4-8/h, 1.3M NVIDIA GPUs against the 2.2M an unconstrained market ships) turns on it.
# Labs' funding multiple was fitted until 2026-12 (to 37.5x revenue, against the 2-3x of the 2024-25 rounds); with
# compute commitments it is set from those rounds, and the share of expected use labs book ahead takes its place.
PARAMETERS = (
    Parameter("start_adoption", 0.01, 0.5, "share of AI's potential at the start that was in use in January 2023"),
    Parameter("adoption_speed", 0.02, 0.6, "logistic diffusion rate of AI adoption toward its potential, per month"),
    Parameter("capability_elasticity", 0.1, 3.0,
              "doublings of AI's potential per doubling of the industry's cumulative training compute"),
    Parameter("price_sensitivity", 0.5, 6.0, "buyers' logit weight on log cost per useful work"),
    Parameter("switching_cost", 0.5, 12.0, "utility lost per unit of software immaturity (lock-in)"),
    Parameter("lab_revenue_elasticity", 0.01, 2.0,
              "doublings of a lab's revenue per doubling of its cumulative compute"),
    Parameter("commitment_share", 0.05, 0.95,
              "share of the useful work a lab expects to use a year ahead that it books on multi-year contracts"),
    Parameter("demand_elasticity", 0.3, 2.0,
              "how much more useful work clouds' own AI demand takes as its market's cost falls"),
    Parameter("start_capacity_hbm_gb", 8e6, 3e7,
              "advanced-packaging/HBM capacity in January 2023 (HBM-GB a month), within the 0.8x - 3x range the units "
              "shipped allow"),
)


def window_months(start: str, end: str = FIT_WINDOW_END) -> int:
    """Months from `start` to `end` (the fit window's last month), inclusive."""
    return months_between(start, end) + 1


def chip_market_to(config: MarketConfig, end: str) -> MarketConfig:
    """`config` run from its start to `end` (YYYY-MM) with the venture side off: what a fit simulates (the venture side
    does not feed back into the chip market)."""
    return replace(config, months=window_months(config.start, end), venture=VentureConfig(enabled=False))


def simulate(config: MarketConfig, catalog: Catalog, seeds: Sequence[int]) -> list[tuple[pd.DataFrame, pd.DataFrame,
                                                                                         pd.DataFrame]]:
    """The chip market (venture side off: it does not feed back) over the window, per seed."""
    out = []
    for seed in seeds:
        model = ComputeMarket(config, catalog=catalog, rng=seed)
        model.run()
        out.append((model.model_table(), model.vendor_table(), model.chip_table()))
    return out


def tolerance(obs: HistoryObservation) -> float:
    """The log half-width of the band an observation is judged by (experiments/history_fit.band), at least that
    of a point figure of its kind (+-25%, or +-5 points for a margin): a source's narrow range (AMD's "> $5B",
    read as $5.0-5.5B) says where the figure is, not that the model should be held to it ten times harder."""
    low, high = band(obs)
    point_low, point_high = band(replace(obs, low=math.nan, high=math.nan))
    return max(math.log(high / low), math.log(point_high / point_low)) / 2.0


def distance(value: float, obs: HistoryObservation) -> float:
    """How far a simulated figure is from the observation, in units of the observation's tolerance: the log
    distance to the source's range (0 inside it) or to the point figure, over its `tolerance`. So a revenue 25%
    off and a margin 5 points off weigh the same; an unweighted log distance would count a margin 10 points off
    (~0.13 in logs) as less than a revenue 15% off. A large penalty if the figure is missing."""
    if not (math.isfinite(value) and value > 0):
        return 10.0
    scale = tolerance(obs)
    if math.isfinite(obs.low):
        target_low, target_high = obs.low, obs.high
    else:
        target_low = target_high = obs.value
    if value < target_low:
        return math.log(target_low / value) / scale
    if value > target_high:
        return math.log(value / target_high) / scale
    return 0.0


def seed_moments(config: MarketConfig, catalog: Catalog, moments: Sequence[HistoryObservation],
                 seeds: Sequence[int], workers: int = 1) -> np.ndarray:
    """The simulated figure of each moment, per seed: a (seeds x moments) array (NaN where a run does not cover one).
    With `workers` > 1 the seeds run side by side on the local worker pool (the same figures: each seed's run
    depends on its seed only)."""
    if workers > 1 and len(seeds) > 1:
        rows = map_tasks(seed_moments_task, [(config, catalog, moments, (seed,)) for seed in seeds], workers=workers)
        return np.vstack(rows)
    runs = simulate(config, catalog, seeds)
    return np.array([[simulated_moment(obs, *tables) for obs in moments] for tables in runs], dtype=float)


def seed_moments_task(task: tuple) -> np.ndarray:
    """`seed_moments` of one (config, catalog, moments, seeds) tuple: a task for experiments.task_map."""
    return seed_moments(*task)


def seed_means(figures: np.ndarray) -> np.ndarray:
    """Each moment's mean over the seeds of a (seeds x moments) `seed_moments` array (NaN where no seed covers it)."""
    means = []
    for sims in np.asarray(figures, dtype=float).T:
        finite = sims[np.isfinite(sims)]
        means.append(float(np.mean(finite)) if finite.size else math.nan)
    return np.array(means)


def objective_of(means: np.ndarray, moments: Sequence[HistoryObservation]) -> float:
    """The fit's objective at these seed-mean figures (`seed_means`): the sum of squared `distance`s."""
    return float(sum(distance(float(value), obs) ** 2 for value, obs in zip(means, moments, strict=True)))


def objective(values: dict[str, float], base: MarketConfig, catalog: Catalog, moments: Sequence[HistoryObservation],
              seeds: Sequence[int], workers: int = 1) -> float:
    return objective_of(seed_means(seed_moments(base.replace(**values), catalog, moments, seeds, workers)), moments)


@dataclass
class Fit:
    values: dict[str, float]
    objective: float
    start_objective: float
    evaluations: int
    table: pd.DataFrame
    window_end: str = FIT_WINDOW_END  # the last month of the observations fitted
    start: int = -1  # where the search started: -1 at the base config's values, i at calibrate's other_starts[i]


def fit_moments(catalog: Catalog, window_end: str) -> list[HistoryObservation]:
    """The observations a fit with its window ending at `window_end` uses: `fit = true` and ending by then."""
    return [o for o in observations_before(catalog.history, window_end) if o.fit]


def checked_moments(catalog: Catalog, window_end: str, start: str | None = None) -> list[HistoryObservation]:
    """The moments a fit window ending at `window_end` fits, after checking it can be fitted: it ends on or after the
    model's `start` (default: that of the catalog's fitted config) and holds an observation with fit = true; else
    a one-line UsageError, before anything is printed or simulated."""
    start = start or MarketConfig.build(catalog.fitted).start
    fitted = fit_moments(catalog, window_end)  # (a malformed window end stops here)
    if window_end < start:
        raise UsageError(f"fit window end {window_end}: before the model's start {start}")
    if not fitted:
        raise UsageError(f"fit window end {window_end}: no observation with fit = true ends by then "
                         f"({catalog.data_dir / 'history.toml'})")
    return fitted


def calibrate(catalog: Catalog, base: MarketConfig | None = None, seeds: Sequence[int] = (0, 1),
              max_evaluations: int = 120, parameters: Sequence[Parameter] = PARAMETERS,
              on_step: Callable[[int, float, dict], None] | None = None, window_end: str | None = None,
              workers: int = 1, other_starts: Sequence[dict[str, float]] = ()) -> Fit:
    """Nelder-Mead over the scaled parameters against the moments of the window ending at `window_end` (default: the
    window of the catalog's stored fit); returns the best values and the fit table at them, of every observation
    (those after the window held out). The search starts from `base`'s values, or from the best of `other_starts`
    (parameter values, e.g. a screen's best set) if its objective is lower; `Fit.start_objective` is the objective
    at `base`'s values. The search takes one point at a time; each point's seeds run on `workers` local
    processes."""
    from scipy.optimize import minimize

    window_end = window_end or catalog.fit_window_end
    start_config = base or MarketConfig.build(catalog.fitted)  # this catalog's last fit
    fitted = checked_moments(catalog, window_end, start_config.start)
    base = chip_market_to(start_config, window_end)
    lows = np.array([p.low for p in parameters])
    highs = np.array([p.high for p in parameters])

    def values_of(x: np.ndarray) -> dict[str, float]:
        clipped = np.clip(x, 0.0, 1.0)
        return {p.name: float(lo + c * (hi - lo)) for p, lo, hi, c in zip(parameters, lows, highs, clipped,
                                                                          strict=True)}

    cache: dict[tuple, float] = {}
    count = [0]

    def f(x: np.ndarray) -> float:
        key = tuple(np.round(np.clip(x, 0, 1), 6))
        if key not in cache:
            cache[key] = objective(values_of(np.array(key)), base, catalog, fitted, seeds, workers)
            count[0] += 1
            if on_step:
                on_step(count[0], cache[key], values_of(np.array(key)))
        return cache[key]

    def scaled(values) -> np.ndarray:
        return np.clip((np.array([values[p.name] for p in parameters]) - lows) / (highs - lows), 0.0, 1.0)

    x0 = scaled({p.name: base.get(p.name) for p in parameters})
    start_objective = f(x0)
    start = -1
    for i, other in enumerate(other_starts):  # each evaluated as the search evaluates its points
        if f(scaled(other)) < f(x0):
            x0, start = scaled(other), i
    result = minimize(f, x0, method="Nelder-Mead",
                      options={"maxfev": max_evaluations, "xatol": 1e-3, "fatol": 1e-4,
                               "initial_simplex": _simplex(x0)})
    best = values_of(result.x)
    # the table runs on to the last observation, so the held-out ones are simulated too (the months inside the window
    # are the same as in the fit's runs: nothing the agents decide depends on how long the run will be)
    last = max([window_end, *(o.period_end for o in catalog.history)])
    runs = simulate(base.replace(**best, months=window_months(base.start, last)), catalog, seeds)
    table = fit_table(catalog.history, runs, window_end)
    return Fit(best, float(result.fun), start_objective, count[0], table, window_end, start)


def fit_uncertainty(fit: Fit, catalog: Catalog, base: MarketConfig | None = None, seeds: Sequence[int] = (0, 1),
                    draws: int = 20, parameters: Sequence[Parameter] = PARAMETERS, workers: int = 1,
                    backend: str = "local", scheduler: str | None = None,
                    progress: Callable[[int, int], None] | None = None) -> Uncertainty:
    """Parameter sets consistent with the fit's moments (experiments.parameter_uncertainty): 2 x parameters extra
    simulations around `fit.values`, on `workers` processes (or a Dask cluster); `progress(done, total)`."""
    start_config = base or MarketConfig.build(catalog.fitted)
    window_end = fit.window_end
    moments = fit_moments(catalog, window_end)
    config = chip_market_to(start_config, window_end)
    tolerances = np.array([tolerance(o) for o in moments])
    lows = np.array([p.low for p in parameters])
    highs = np.array([p.high for p in parameters])

    def moments_at(sets: list[dict[str, float]]) -> list[np.ndarray]:
        tasks = [(config.replace(**values), catalog, moments, tuple(seeds)) for values in sets]
        return map_tasks(seed_moments_task, tasks, workers=workers, backend=backend, scheduler=scheduler,
                         progress=(lambda done: progress(done, len(tasks))) if progress else None)

    values = {p.name: fit.values[p.name] for p in parameters}
    return estimate(values, lows, highs, moments_at, moments, tolerances, draws)


@dataclass
class Screen:
    """What the model can reach at all: the fit's moments simulated at parameter sets spread over the whole box of
    bounds (`screen`), not only near the fit.

    `points`: one row per parameter set, its values (one column per parameter), its `objective` and `in_band` (how
    many fitted moments its seed means put in their band). `inside`: whether each set (row) puts each moment (a column
    per id) in band. `reach`: one row per fitted moment, `id`, `anywhere` (share of the points that put it in band),
    `near_best` (the same share among the tenth of the points with the lowest objective), `at_best` (in band at the
    point with the lowest objective), `verdict` (STRUCTURAL, TRADE_OFF or "reachable") and `conflicts`
    (`conflicts`)."""

    points: pd.DataFrame
    inside: pd.DataFrame
    reach: pd.DataFrame

    def best(self) -> tuple[dict[str, float], float]:
        """The screened values with the lowest objective, and that objective."""
        row = self.points.loc[self.points["objective"].idxmin()]
        names = [c for c in self.points.columns if c not in ("objective", "in_band")]
        return {name: float(row[name]) for name in names}, float(row["objective"])

    def joint_best(self) -> int:
        """The most fitted moments any one screened set puts in band together."""
        return int(self.points["in_band"].max())

    def trade_offs(self) -> list[str]:
        """The moments some screened sets put in band, but none of the tenth with the lowest objective: in band only
        at the cost of the others."""
        return self.reach.loc[self.reach["verdict"] == TRADE_OFF, "id"].tolist()

    def structural_misses(self) -> list[str]:
        """The moments no screened parameter set puts in band: evidence, the stronger the more sets were screened,
        that no refit within the bounds brings them in and that the model's structure must change."""
        return self.reach.loc[self.reach["verdict"] == STRUCTURAL, "id"].tolist()


STRUCTURAL = "structural: in band at no screened set"
TRADE_OFF = "trade-off: in band only away from the best sets"


def screen(catalog: Catalog, points: int, base: MarketConfig | None = None, seeds: Sequence[int] = (0, 1),
           parameters: Sequence[Parameter] = PARAMETERS, window_end: str | None = None, workers: int = 1,
           seed: int = 0, backend: str = "local", scheduler: str | None = None,
           progress: Callable[[int, int], None] | None = None) -> Screen:
    """The fit's moments at `points` parameter sets of a Latin hypercube over the parameters' bounds
    (scipy.stats.qmc, its own generator seeded with `seed`, so a screen is reproducible), each over `seeds`; the
    other parameters as in `base` (default: the catalog's last fit). The sets run on `workers` processes (or a Dask
    cluster); `progress(done, total)`."""
    from scipy.stats import qmc

    if points < 1:
        raise UsageError(f"screen: need at least one parameter set, got {points}")
    window_end = window_end or catalog.fit_window_end
    moments = fit_moments(catalog, window_end)
    config = chip_market_to(base or MarketConfig.build(catalog.fitted), window_end)
    lows = np.array([p.low for p in parameters])
    highs = np.array([p.high for p in parameters])
    unit = qmc.LatinHypercube(d=len(parameters), seed=np.random.default_rng(seed)).random(points)
    sets = [{p.name: float(v) for p, v in zip(parameters, lows + u * (highs - lows), strict=True)} for u in unit]
    tasks = [(config.replace(**values), catalog, moments, tuple(seeds)) for values in sets]
    figures = map_tasks(seed_moments_task, tasks, workers=workers, backend=backend, scheduler=scheduler,
                        progress=(lambda done: progress(done, len(tasks))) if progress else None)
    means = np.array([seed_means(f) for f in figures])  # (points, moments)
    bands = np.array([band(o) for o in moments])  # (moments, 2)
    inside = (means >= bands[:, 0]) & (means <= bands[:, 1])  # NaN compares False: not covered, not in band
    objectives = np.array([objective_of(row, moments) for row in means])
    table = pd.DataFrame(sets).assign(objective=objectives, in_band=inside.sum(axis=1))
    best = np.argsort(objectives, kind="stable")[:max(1, points // 10)]
    ids = [o.id for o in moments]
    anywhere, near_best = inside.mean(axis=0), inside[best].mean(axis=0)
    verdict = np.where(anywhere == 0, STRUCTURAL, np.where(near_best == 0, TRADE_OFF, "reachable"))
    reach = pd.DataFrame({"id": ids, "anywhere": anywhere, "near_best": near_best, "at_best": inside[best[0]],
                          "verdict": verdict, "conflicts": conflicts(inside, ids)})
    return Screen(table, pd.DataFrame(inside, columns=ids), reach)


CONFLICT_EXPECTED_SETS = 3.0  # a pair is a conflict when no set has both in band though unrelated rows would share 3


def conflicts(inside: np.ndarray, ids: Sequence[str]) -> list[tuple[str, ...]]:
    """For each moment (a column of `inside`, sets x moments, in band or not), the moments it is never in band
    together with although, were the two unrelated, at least CONFLICT_EXPECTED_SETS sets would put both in band
    (sets x share of one x share of the other): a trade-off the model's structure imposes, which no choice of the
    screened parameters escapes (the chance of seeing none of 3 expected joint hits by luck is about 5%)."""
    inside = np.asarray(inside, dtype=float)
    sets = inside.shape[0]
    together = inside.T @ inside  # (moments, moments) sets with both in band
    share = inside.mean(axis=0)
    expected = sets * np.outer(share, share)
    never = (together == 0) & (expected >= CONFLICT_EXPECTED_SETS)
    return [tuple(ids[j] for j in np.flatnonzero(row)) for row in never]


def format_reach(result: Screen) -> str:
    """Markdown: each fitted moment's share of screened parameter sets that put it in band, anywhere in the box and
    among the best tenth by objective, with a verdict; the moments in band nowhere are the structural misses."""
    lines = ["| observation | in band: share of all screened sets | share of the best tenth | at the best set | "
             "verdict | never in band together with |", "|---|---|---|---|---|---|"]
    for row in result.reach.sort_values(["anywhere", "near_best"], kind="stable").itertuples():
        lines.append(f"| {row.id} | {row.anywhere:.0%} | {row.near_best:.0%} | {'yes' if row.at_best else 'no'} | "
                     f"{row.verdict} | {', '.join(row.conflicts)} |")
    return "\n".join(lines)


def _simplex(x0: np.ndarray, step: float = 0.15) -> np.ndarray:
    """A starting simplex that moves each scaled parameter by `step` (towards the middle of its range)."""
    points = [x0]
    for i in range(len(x0)):
        point = x0.copy()
        point[i] = point[i] + step if point[i] + step <= 1.0 else point[i] - step
        points.append(point)
    return np.array(points)


def write_calibration(fit: Fit, path: Path, seeds: Sequence[int]) -> None:
    """Save the fitted values (and how they were found) as MarketConfig's defaults; read back by
    hardware_catalog.loader.load_history_calibration."""
    lines = [
        f"# Behavioural parameters fitted to the observed path from 2023 to {fit.window_end} by",
        "# `compute-market calibrate-history --write` (method of simulated moments, Nelder-Mead; see",
        "# experiments/calibrate_history.py). Configs built on this catalog take their defaults for these fields from "
        "here.",
        "# window_end: the last month of the observations fitted; reports mark later ones as held out.",
        "",
        "[fit]",
        f'method = "simulated moments, each distance in units of its tolerance, Nelder-Mead over {len(fit.values)} '
        'parameters"',
        f"seeds = {list(seeds)}",
        f'window_end = "{fit.window_end}"',
        f"objective = {fit.objective:.6g}",
        f"objective_at_start = {fit.start_objective:.6g}",
        f"evaluations = {fit.evaluations}",
        f'source_date = "{date.today():%Y-%m}"',
        "",
        "[values]",
    ]
    lines += [f"{name} = {value:.6g}" for name, value in fit.values.items()]
    Path(path).write_text("\n".join(lines) + "\n")


__all__ = ["PARAMETERS", "Fit", "calibrate", "fit_moments", "fit_uncertainty", "seed_moments", "write_calibration"]
