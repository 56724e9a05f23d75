"""Rolling-origin backtest: fit to the observations before an origin, forecast, score against what came after.

For each origin month (YYYY-MM) the history calibration (experiments.calibrate_history) is fitted with only the
observations whose period ends before the origin (`fit_end` = the month before it: the leakage guard is
history_fit.observations_before, the same filter the calibration's window uses), starting from the middle of the
parameters' bounds (the stored fit saw every observation, so starting there would leak); the fit's parameter
uncertainty (experiments.parameter_uncertainty) gives a sample of parameter sets; every draw is run with every seed
(the ensemble's members), and each observation ending from the origin to the horizon (and at most the window's end)
is scored:

- error: log(forecast median / observed), also shown as a percentage;
- coverage: whether the observed figure lies in the members' central 50% (25-75%) and 90% (5-95%) intervals;
- skill against two naive forecasts of the same series (same series and subject, the same fit flag where
  possible, known before the origin): the last value, and the log-linear trend of the last four quarters
  (the observations ending in the 12 months before the origin, at least two). Flows (stat "sum") are compared as
  monthly rates, so a quarter can forecast a year. Skill = 1 - sum(model log error^2) / sum(naive log error^2) over
  the observations both forecast: 1 is perfect, 0 as good as the naive forecast, below 0 worse.

Units: figures in the units of hardware_catalog/data/history.toml (USD, USD per hour, shares); months as YYYY-MM.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hardware_catalog import Catalog, HistoryObservation, add_months, months_between
from market.config import MarketConfig

from .calibrate_history import PARAMETERS, Fit, Parameter, calibrate, chip_market_to, fit_uncertainty, simulate
from .errors import UsageError
from .history_fit import observations_before, quarterly_panels, simulated_moment
from .parameter_uncertainty import Uncertainty
from .task_map import map_tasks

DEFAULT_ORIGINS = ("2024-06", "2024-12", "2025-06")
DEFAULT_HORIZON = 18  # months from the origin
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
# The series the closing summary leads with: (series, subject, name)
HEADLINE = (("vendor_revenue", "nvidia", "NVIDIA revenue"), ("capex", "big-four", "clouds' capex"),
            ("rental_price", "h100-sxm", "H100 rental price"))


@dataclass(frozen=True)
class Settings:
    """How each origin is fitted and forecast."""

    horizon: int = DEFAULT_HORIZON  # months from the origin scored
    window_end: str = "2025-12"  # the last month an observation may end in to be scored
    max_evaluations: int = 120  # of each origin's Nelder-Mead search
    draws: int = 10  # parameter sets per origin
    seeds: tuple[int, ...] = (0, 1)  # per evaluation of the fit, and per draw in the forecast
    workers: int = 1
    backend: str = "local"
    scheduler: str | None = None
    parameters: tuple[Parameter, ...] = PARAMETERS


@dataclass
class OriginResult:
    origin: str
    fit: Fit
    uncertainty: Uncertainty
    fitted: int  # moments the fit used
    scores: pd.DataFrame  # one row per scored observation
    panels: pd.DataFrame  # quarterly figures per member, for the fan chart
    seconds: float


# ------------------------------------------------------------------------------------------ which observations


def fit_end_of(origin: str) -> str:
    """The last month whose observations a forecast made at `origin` may know: the month before it."""
    return add_months(origin, -1)


def scored_observations(history: Sequence[HistoryObservation], origin: str, horizon: int,
                        window_end: str) -> list[HistoryObservation]:
    """The observations a forecast from `origin` is scored on: ending from the origin through `horizon` months
    on, and no later than `window_end`."""
    last = min(add_months(origin, horizon - 1), window_end)
    return [o for o in history if origin <= o.period_end <= last]


# ------------------------------------------------------------------------------------------ naive forecasts


def _months(obs: HistoryObservation) -> int:
    return months_between(obs.period_start, obs.period_end) + 1


def _midpoint(obs: HistoryObservation, origin: str) -> float:
    """The middle of an observation's period, in months from `origin` (the start of a month counts as its 0)."""
    return months_between(origin, obs.period_start) + _months(obs) / 2.0


def _rate(obs: HistoryObservation) -> float:
    """A flow as a monthly rate (stat "sum"); any other figure as it is."""
    return obs.value / _months(obs) if obs.stat == "sum" else obs.value


def _scaled(rate: float, target: HistoryObservation) -> float:
    return rate * _months(target) if target.stat == "sum" else rate


def naive_history(target: HistoryObservation, history: Sequence[HistoryObservation],
                  origin: str) -> list[HistoryObservation]:
    """The observations a naive forecast of `target` may use: same series, subject and stat, ending before `origin`;
    only those with the target's fit flag when there are any (a data-centre revenue is not forecast from the
    compute-only figure reported beside it)."""
    known = [o for o in observations_before(history, fit_end_of(origin))
             if (o.series, o.subject, o.stat) == (target.series, target.subject, target.stat)]
    alike = [o for o in known if o.fit == target.fit]
    return alike or known


def naive_last(target: HistoryObservation, history: Sequence[HistoryObservation], origin: str) -> float:
    """The last value known at `origin` (the latest-ending observation; the shortest period of those ending
    together), as the target's figure; NaN without one."""
    known = naive_history(target, history, origin)
    if not known:
        return math.nan
    last = max(known, key=lambda o: (o.period_end, -_months(o)))
    return _scaled(_rate(last), target)


def naive_trend(target: HistoryObservation, history: Sequence[HistoryObservation], origin: str) -> float:
    """The log-linear trend of the last four quarters: a least-squares line through the logs of the observations
    ending in the 12 months before `origin` (at least two, at different times), extended to the middle of the
    target's period; NaN when there are fewer."""
    recent = [o for o in naive_history(target, history, origin) if o.period_end >= add_months(origin, -12)]
    points = [(_midpoint(o, origin), _rate(o)) for o in recent if _rate(o) > 0]
    if len({x for x, _ in points}) < 2:
        return math.nan
    x, y = np.array(points).T
    slope, intercept = np.polyfit(x, np.log(y), 1)
    return _scaled(float(np.exp(intercept + slope * _midpoint(target, origin))), target)


# ------------------------------------------------------------------------------------------ scores


def log_error(forecast: float, observed: float) -> float:
    """log(forecast / observed); NaN unless both are positive."""
    return math.log(forecast / observed) if forecast > 0 and observed > 0 else math.nan


def score(obs: HistoryObservation, members: np.ndarray, last: float, trend: float, origin: str,
          seed_only: np.ndarray | None = None) -> dict:
    """One scored observation: the members' quantiles, the median's error, interval coverage and both naive
    forecasts with their errors; with `seed_only` (the fitted point's runs, one per seed), their 5-95% range too,
    to show how much the parameter draws widen the interval beyond seed noise."""
    finite = members[np.isfinite(members)]
    seeds = np.array([]) if seed_only is None else seed_only[np.isfinite(seed_only)]
    q = np.quantile(finite, QUANTILES) if finite.size else np.full(len(QUANTILES), math.nan)
    p05, p25, p50, p75, p95 = (float(v) for v in q)
    covered = bool(finite.size)
    return {
        "origin": origin, "id": obs.id, "series": obs.series, "subject": obs.subject,
        "period": f"{obs.period_start}..{obs.period_end}", "lead_months": months_between(origin, obs.period_end) + 1,
        "fit": obs.fit, "observed": obs.value, "p05": p05, "p25": p25, "median": p50, "p75": p75, "p95": p95,
        "members": int(finite.size), "log_error": log_error(p50, obs.value),
        "in_50": bool(p25 <= obs.value <= p75) if covered else math.nan,
        "in_90": bool(p05 <= obs.value <= p95) if covered else math.nan,
        "naive_last": last, "naive_last_log_error": log_error(last, obs.value),
        "naive_trend": trend, "naive_trend_log_error": log_error(trend, obs.value),
        "seed_only_p05": float(np.quantile(seeds, 0.05)) if seeds.size else math.nan,
        "seed_only_p95": float(np.quantile(seeds, 0.95)) if seeds.size else math.nan,
    }


def skill(model_errors: Sequence[float], naive_errors: Sequence[float]) -> float:
    """1 - sum(model^2) / sum(naive^2) over the pairs where both errors are finite; NaN without such a pair or when
    the naive forecast was exact."""
    m, n = np.asarray(model_errors, dtype=float), np.asarray(naive_errors, dtype=float)
    both = np.isfinite(m) & np.isfinite(n)
    denominator = float(np.sum(n[both] ** 2))
    if not both.any() or denominator == 0.0:
        return math.nan
    return 1.0 - float(np.sum(m[both] ** 2)) / denominator


def width_ratio(scores: pd.DataFrame) -> float:
    """The median over observations of the 90% interval's log width with parameter draws over its width from seed
    noise alone (the fitted point's seeds): how much parameter uncertainty widens the bands. NaN without both."""
    if "seed_only_p05" not in scores:
        return math.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        drawn = np.log(scores["p95"] / scores["p05"])
        seeds = np.log(scores["seed_only_p95"] / scores["seed_only_p05"])
        ratio = (drawn / seeds).replace([np.inf, -np.inf], np.nan).dropna()
    return float(ratio.median()) if len(ratio) else math.nan


def summarise(scores: pd.DataFrame, by: Sequence[str] = ("origin", "series", "subject")) -> pd.DataFrame:
    """Per group: observations scored, 50% and 90% coverage, median absolute error (as a share) and skill against
    both naive forecasts."""
    rows = []
    for key, group in scores.groupby(list(by), sort=False):
        g = group[group["members"] > 0]
        rows.append({
            **dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)),
            "scored": len(g),
            "coverage_50": float(g["in_50"].astype(float).mean()) if len(g) else math.nan,
            "coverage_90": float(g["in_90"].astype(float).mean()) if len(g) else math.nan,
            "median_abs_error": float(np.expm1(g["log_error"].abs()).median()) if len(g) else math.nan,
            "skill_vs_last": skill(g["log_error"], g["naive_last_log_error"]),
            "skill_vs_trend": skill(g["log_error"], g["naive_trend_log_error"]),
            "width_ratio_90": width_ratio(g),
        })
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------ the ensemble


def member_task(task: tuple) -> tuple[np.ndarray, pd.DataFrame]:
    """One member (a parameter draw with a seed): the simulated figure of each observation and the quarterly
    panels of the history chart."""
    config, catalog, observations, seed = task
    model_table, vendor_table, chip_table = simulate(config, catalog, [seed])[0]
    figures = np.array([simulated_moment(o, model_table, vendor_table, chip_table) for o in observations])
    return figures, quarterly_panels(model_table, vendor_table)


def neutral_start(config: MarketConfig, parameters: Sequence[Parameter]) -> MarketConfig:
    """`config` with the fitted parameters at the middle of their bounds: a start that knows no observation."""
    return config.replace(**{p.name: (p.low + p.high) / 2.0 for p in parameters})


def forecast_members(config: MarketConfig, draws: Sequence[dict[str, float]], seeds: Sequence[int], last_month: str,
                     catalog: Catalog, observations: Sequence[HistoryObservation], settings: Settings,
                     progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """Every draw with every seed (draw-major), run to `last_month`: a (members x observations) array and the
    members' quarterly panels (column `member`)."""
    base = chip_market_to(config, last_month)
    tasks = [(base.replace(**draw), catalog, tuple(observations), seed) for draw in draws for seed in seeds]
    results = map_tasks(member_task, tasks, workers=settings.workers, backend=settings.backend,
                        scheduler=settings.scheduler,
                        progress=(lambda done: progress(done, len(tasks))) if progress else None)
    figures = np.array([r[0] for r in results]).reshape(len(tasks), len(observations))
    panels = pd.concat([r[1].assign(member=i) for i, r in enumerate(results)], ignore_index=True)
    complete = panels["quarter_start"].map(lambda q: add_months(q, 2) <= last_month)  # a cut quarter would dip
    return figures, panels[complete].reset_index(drop=True)


# ------------------------------------------------------------------------------------------ one origin


@dataclass
class Progress:
    """Callbacks for the stages of one origin (each may be None)."""

    stage: Callable[[str], None] | None = None
    evaluation: Callable[[int, float], None] | None = None
    simulations: Callable[[int, int], None] | None = None


def fit_origin(config: MarketConfig, catalog: Catalog, origin: str, settings: Settings,
               progress: Progress | None = None) -> tuple[Fit, Uncertainty, int]:
    """Calibrate with only the observations ending before `origin`, from the middle of the bounds, and estimate the
    fit's parameter uncertainty. Returns the fit, the uncertainty and the number of moments fitted."""
    progress = progress or Progress()
    fit_end = fit_end_of(origin)
    start = neutral_start(config, settings.parameters)
    moments = [o for o in observations_before(catalog.history, fit_end) if o.fit]
    if not moments:
        raise UsageError(f"--origin {origin}: no observation with fit = true ends before it "
                         f"({catalog.data_dir / 'history.toml'}); choose a later origin")
    if progress.stage:
        progress.stage(f"fitting {len(settings.parameters)} parameters to {len(moments)} moments ending by {fit_end} "
                       f"(from the middle of their bounds), at most {settings.max_evaluations} evaluations")
    fit = calibrate(catalog, base=start, seeds=settings.seeds, max_evaluations=settings.max_evaluations,
                    parameters=settings.parameters, window_end=fit_end,
                    workers=settings.workers if settings.backend == "local" else 1,
                    on_step=(lambda n, value, _v: progress.evaluation(n, value)) if progress.evaluation else None)
    if progress.stage:
        progress.stage(f"objective {fit.start_objective:.4g} -> {fit.objective:.4g} after {fit.evaluations} "
                       f"evaluations; parameter uncertainty: {2 * len(settings.parameters) + 1} simulations")
    uncertainty = fit_uncertainty(fit, catalog, base=start, seeds=settings.seeds, draws=settings.draws,
                                  parameters=settings.parameters, workers=settings.workers, backend=settings.backend,
                                  scheduler=settings.scheduler, progress=progress.simulations)
    return fit, uncertainty, len(moments)


def backtest_origin(config: MarketConfig, catalog: Catalog, origin: str, settings: Settings,
                    progress: Progress | None = None) -> OriginResult:
    """Fit before `origin`, forecast with every draw and seed, score the observations after it."""
    import time

    clock = time.perf_counter()
    progress = progress or Progress()
    fit, uncertainty, fitted = fit_origin(config, catalog, origin, settings, progress)
    targets = [o for o in scored_observations(catalog.history, origin, settings.horizon, settings.window_end)
               if o.period_start >= config.start]  # a period that starts before the run can never be forecast
    last_month = min(add_months(origin, settings.horizon - 1), settings.window_end)
    shown = [o for o in catalog.history if o.period_end <= last_month]
    if progress.stage:
        progress.stage(f"forecast: the fitted point and {len(uncertainty.draws)} parameter draws x "
                       f"{len(settings.seeds)} seeds to {last_month}, scoring {len(targets)} observations")
    # the fitted point's own runs first (seed noise alone), then every draw's
    figures, panels = forecast_members(config, (fit.values, *uncertainty.draws), settings.seeds, last_month,
                                       catalog, shown, settings, progress.simulations)
    point = len(settings.seeds)
    panels = panels[panels["member"] >= point].reset_index(drop=True)
    index = {o.id: i for i, o in enumerate(shown)}
    rows = [score(o, figures[point:, index[o.id]], naive_last(o, catalog.history, origin),
                  naive_trend(o, catalog.history, origin), origin, figures[:point, index[o.id]]) for o in targets]
    columns = list(score(targets[0], np.array([1.0]), 1.0, 1.0, origin)) if targets else ["origin"]
    return OriginResult(origin, fit, uncertainty, fitted, pd.DataFrame(rows, columns=columns), panels,
                        time.perf_counter() - clock)


def check_origins(origins: Sequence[str], catalog: Catalog, config: MarketConfig, window_end: str) -> None:
    """Origins must be distinct, after the model's start, no later than the window's end, and have observations to
    fit before them (checked before any origin is computed)."""
    if len(set(origins)) != len(origins):
        raise UsageError(f"--origin: given twice ({', '.join(sorted(o for o in origins if origins.count(o) > 1))})")
    for origin in origins:
        if origin <= config.start:
            raise UsageError(f"--origin {origin}: must come after the model's start {config.start}")
        if origin > window_end:
            raise UsageError(f"--origin {origin}: after the window's end {window_end}: nothing would be scored")
        if not any(o.fit for o in observations_before(catalog.history, fit_end_of(origin))):
            raise UsageError(f"--origin {origin}: no observation with fit = true ends before it "
                             f"({catalog.data_dir / 'history.toml'}); choose a later origin")


__all__ = ["DEFAULT_HORIZON", "DEFAULT_ORIGINS", "HEADLINE", "OriginResult", "Settings", "backtest_origin",
           "fit_origin", "naive_last", "naive_trend", "score", "scored_observations", "skill", "summarise"]
