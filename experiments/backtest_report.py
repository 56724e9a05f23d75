"""The backtest's folder: backtest.csv (one row per origin and scored observation), summary.md and a fan chart per
origin (figures/origin-YYYY-MM.png). Written by `compute-market backtest` into a run-safe folder (rundir)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .backtest import HEADLINE, OriginResult, Settings, fit_end_of, summarise
from .history_fit import format_figure


def _share(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.0%}"


def _skill(value: float) -> str:
    """A skill score, with its sign: below zero means the naive forecast was closer."""
    return "n/a" if not math.isfinite(value) else f"{value:+.2f}"


def _error(log_error: float) -> str:
    return "n/a" if not math.isfinite(log_error) else f"{math.expm1(log_error):+.0%}"


def headline_table(scores: pd.DataFrame) -> str:
    """Markdown: per origin and headline series, observations scored, 90% coverage and skill vs both naive
    forecasts."""
    per = summarise(scores) if len(scores) else pd.DataFrame()
    lines = ["| origin | series | scored | in 90% interval | in 50% interval | skill vs last value | skill vs trend |",
             "|---|---|---|---|---|---|---|"]
    for origin in dict.fromkeys(scores["origin"]) if len(scores) else ():
        for series, subject, name in HEADLINE:
            row = per[(per["origin"] == origin) & (per["series"] == series) & (per["subject"] == subject)]
            if row.empty:
                lines.append(f"| {origin} | {name} | 0 | n/a | n/a | n/a | n/a |")
                continue
            r = row.iloc[0]
            lines.append(f"| {origin} | {name} | {r.scored} | {_share(r.coverage_90)} | {_share(r.coverage_50)} | "
                         f"{_skill(r.skill_vs_last)} | {_skill(r.skill_vs_trend)} |")
    return "\n".join(lines)


def origin_table(result: OriginResult) -> str:
    """Markdown: every scored observation of one origin."""
    lines = ["| observation | period | lead (months) | observed | forecast median [50%] [90%] | error | in 50% | "
             "in 90% | last value (error) | trend (error) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result.scores.itertuples():
        def mark(flag) -> str:
            return "n/a" if not isinstance(flag, bool) else ("yes" if flag else "no")

        lines.append(
            f"| {r.id} | {r.period} | {r.lead_months} | {format_figure(r.observed)} | {format_figure(r.median)} "
            f"[{format_figure(r.p25)}, {format_figure(r.p75)}] [{format_figure(r.p05)}, {format_figure(r.p95)}] | "
            f"{_error(r.log_error)} | {mark(r.in_50)} | {mark(r.in_90)} | {format_figure(r.naive_last)} "
            f"({_error(r.naive_last_log_error)}) | {format_figure(r.naive_trend)} "
            f"({_error(r.naive_trend_log_error)}) |")
    return "\n".join(lines)


def summary_markdown(results: Sequence[OriginResult], settings: Settings, command: str) -> str:
    scores = pd.concat([r.scores for r in results], ignore_index=True)
    overall = summarise(scores, by=("origin",)) if len(scores) else pd.DataFrame()
    members = settings.draws * len(settings.seeds)
    lines = [
        "# Rolling-origin backtest",
        "",
        f"`{command}`",
        "",
        f"Per origin: the history calibration fitted only to the observations ending before it (at most "
        f"{settings.max_evaluations} Nelder-Mead evaluations from the middle of the parameters' bounds, "
        f"{len(settings.seeds)} seeds per evaluation), then {settings.draws} parameter draws from the fit's "
        f"covariance x {len(settings.seeds)} seeds = {members} runs (and the fitted point's own {len(settings.seeds)} "
        f"seeds, to measure seed noise alone). Scored: every observation ending from the "
        f"origin through {settings.horizon} months on, and by {settings.window_end}.",
        "",
        "**What the bands contain.** The 50% and 90% intervals are the central 50% (25-75%) and 90% (5-95%) of the "
        "runs: parameter uncertainty (draws consistent with the observations before the origin) and seed noise "
        "together. They do not contain the model's structural error, nor the observations' own error, so a well "
        "calibrated model would hold about 90% of outcomes in its 90% intervals; fewer means the bands are too "
        "narrow (or the forecast biased).",
        "",
        "**Skill** = 1 - sum of squared log errors of the forecast median / those of a naive forecast, over the "
        "observations both forecast: 1 is perfect, 0 no better than the naive forecast, **below 0 worse than it**. "
        "Naive forecasts: the last value known before the origin; the log-linear trend of the observations ending "
        "in the 12 months before it (n/a where fewer than two). Flows are compared as monthly rates.",
        "",
        "## Headline series",
        "",
        headline_table(scores),
        "",
        "## All scored observations, per origin",
        "",
        "| origin | scored | in 90% interval | in 50% interval | median abs error | skill vs last value | "
        "skill vs trend | 90% width: draws / seeds only |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in overall.itertuples():
        ratio = "n/a" if not math.isfinite(r.width_ratio_90) else f"{r.width_ratio_90:.1f}x"
        lines.append(f"| {r.origin} | {r.scored} | {_share(r.coverage_90)} | {_share(r.coverage_50)} | "
                     f"{_share(r.median_abs_error)} | {_skill(r.skill_vs_last)} | {_skill(r.skill_vs_trend)} | "
                     f"{ratio} |")
    lines += ["", "The last column: the median over observations of the 90% interval's width (in logs) with the "
              "parameter draws, over its width from the fitted point's seeds alone: how much the calibrated "
              "uncertainty widens the bands beyond seed noise."]
    for result in results:
        se = result.uncertainty.standard_errors()
        lines += [
            "",
            f"## Origin {result.origin}",
            "",
            f"Fitted to {result.fitted} moments ending by {fit_end_of(result.origin)}: objective "
            f"{result.fit.start_objective:.4g} at the start -> {result.fit.objective:.4g} after "
            f"{result.fit.evaluations} evaluations; residual variances scaled by the misfit "
            f"{result.uncertainty.misfit_scale:.3g}. {result.seconds / 60:.1f} min. "
            f"Figure: figures/origin-{result.origin}.png.",
            "",
            "| parameter | fitted | standard error |",
            "|---|---|---|",
            *(f"| {name} | {result.fit.values[name]:.4g} | {se[name]:.3g} |" for name in se),
            "",
            origin_table(result) if len(result.scores) else "No observation ends in this origin's horizon.",
        ]
    return "\n".join(lines) + "\n"


def write_backtest(folder: Path, results: Sequence[OriginResult], settings: Settings, catalog, command: str) -> None:
    """backtest.csv, summary.md and figures/origin-YYYY-MM.png into `folder` (a fresh staging folder)."""
    from .plots import history_fit_chart

    scores = pd.concat([r.scores for r in results], ignore_index=True)
    scores.to_csv(folder / "backtest.csv", index=False)
    (folder / "summary.md").write_text(summary_markdown(results, settings, command))
    figures = folder / "figures"
    figures.mkdir()
    for result in results:
        last = result.panels["quarter_start"].max()
        shown = [o for o in catalog.history if o.period_end <= max(last, settings.window_end)]
        history_fit_chart(result.panels, shown, fit_end_of(result.origin), figures / f"origin-{result.origin}.png",
                          f"Backtest from {result.origin}: fitted to the observations ending by "
                          f"{fit_end_of(result.origin)} (shaded; filled points),\nforecast after it (hollow points: "
                          f"not seen by the fit); fans: 50% and 90% of {settings.draws} parameter draws x "
                          f"{len(settings.seeds)} seeds",
                          members="parameter draws x seeds")
