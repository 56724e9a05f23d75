"""The baseline market run: an ensemble of seeds, headline metrics with spread, tables and figures."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from hardware_catalog.records import FIT_WINDOW_END
from market.config import MarketConfig

from .history_fit import fit_table, format_fit_table, in_band_line, quarterly, quarterly_panels

# Running one seed and its headline metrics live in experiments.seed; these names stay importable from here.
from .seed import (  # noqa: F401
    BOOM_MONTHS,
    SeedResult,
    check_metrics,
    far_from_default,
    headline_metrics,
    inputs_to_check,
    power_clouds,
    power_metrics,
    run_seed,
    runtime_warnings,
)
from .venture_analysis import deal_cohort, judged_funds, powerlaw_fit


def summarise(results: Sequence[SeedResult]) -> dict[str, dict[str, float]]:
    """Mean and 5th/95th percentiles of each headline metric over seeds."""
    frame = pd.DataFrame([r.metrics for r in results])
    return {name: {"mean": float(col.mean()), "p05": float(col.quantile(0.05)), "p95": float(col.quantile(0.95))}
            for name, col in frame.items()}


def _concat(results, attribute: str) -> pd.DataFrame:
    return pd.concat([getattr(r, attribute).assign(seed=r.seed) for r in results], ignore_index=True)


def draw_figure(name: str, *args, **kwargs) -> None:
    """Draw one figure with experiments.plots.`name` (a job that a worker process can run)."""
    from . import plots  # here, not at the top: seed workers import this module and need no matplotlib (~0.5 s)

    getattr(plots, name)(*args, **kwargs)


def _ccdf_figure(multiples: pd.Series, path: Path, title: str) -> None:
    """The deal-multiples CCDF with its power-law fit (the fit, ~2.5 s on 8 seeds, runs with the drawing)."""
    draw_figure("multiples_ccdf_chart", multiples, powerlaw_fit(multiples.to_numpy()), path, title)


class _Figures:
    """Figure jobs: with a pool, each is sent to the workers as soon as its data is ready (so drawing overlaps the
    report's own work) and `wait` collects them; without one, each is drawn at once."""

    def __init__(self, pool=None) -> None:
        self.pool = pool
        self.pending = []

    def submit(self, function, *args, **kwargs) -> None:
        if self.pool is None:
            function(*args, **kwargs)
        else:
            self.pending.append(self.pool.apply_async(function, args, kwargs))

    def wait(self) -> None:
        for job in self.pending:
            job.get()
        self.pending = []


def write_market_files(results: Sequence[SeedResult], config: MarketConfig, folder: Path, observations=(),
                       pool=None, window_end: str = FIT_WINDOW_END, draws: int = 0) -> dict:
    """Write tables (Parquet), figures (PNG), summary.json and summary.md into an existing `folder`.

    `observations` (the catalog's history) are compared with the run where it covers their periods; those ending
    after `window_end` (the last month the catalog's history fit used) are marked held out. Figures are drawn on
    `pool` (worker processes) when one is given. `draws`: the parameter draws the seeds ran with (0: the fitted
    values), said in the summary and the history figure."""
    drawing = _Figures(pool)

    def figure(name, *args, **kwargs):
        drawing.submit(draw_figure, name, *args, **kwargs)

    figures = folder / "figures"
    figures.mkdir(exist_ok=True)
    funds = _concat(results, "funds") if results[0].deals is not None else None
    if funds is not None:
        _submit_venture_figures(results, funds, figures, drawing)  # first: the CCDF's fit is the longest job
    model_tables = _concat(results, "model_table")
    vendor_tables = _concat(results, "vendor_table")
    model_tables.to_parquet(folder / "model_monthly.parquet", index=False)
    vendor_tables.to_parquet(folder / "vendors_monthly.parquet", index=False)
    _concat(results, "ledger_monthly").to_parquet(folder / "ledger_monthly.parquet", index=False)
    has_chips = all(r.chip_table is not None for r in results)
    if has_chips:
        _concat(results, "chip_table").to_parquet(folder / "chips_monthly.parquet", index=False)
    quarterly(vendor_tables).to_parquet(folder / "vendors_quarterly.parquet", index=False)
    history = None
    if observations and has_chips:
        history = fit_table(observations, [(r.model_table, r.vendor_table, r.chip_table) for r in results], window_end)
        history.to_csv(folder / "history_fit.csv", index=False)
        panels = pd.concat([quarterly_panels(r.model_table, r.vendor_table).assign(seed=r.seed) for r in results])
        figure("history_fit_chart", panels, observations, window_end, figures / "history_fit.png",
               f"Observed 2023 - 2025 (points) and the model (fans: 50% and 90% of {_members(len(results), draws)});"
               f"\nshaded: fitting window (to {window_end}), after it: held out and forecast",
               members="parameter draws x seeds" if draws else "seeds")
    pd.DataFrame([{"seed": r.seed, **r.metrics} for r in results]).to_parquet(folder / "metrics_by_seed.parquet",
                                                                              index=False)
    (folder / "events.txt").write_text("\n".join(f"seed {r.seed}: {e}" for r in results for e in r.events) + "\n")
    metrics = summarise(results)
    summary = {"seeds": [r.seed for r in results], "months": config.months, "start": config.start, "metrics": metrics}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))

    merchants = sorted(vendor_tables[vendor_tables.kind != "hyperscaler_inhouse"].vendor.unique())
    figure("stacked_share_chart", vendor_tables, "revenue_share", figures / "revenue_share.png",
           "Revenue share by vendor (mean over seeds)")
    figure("vendor_band_chart", vendor_tables, "gross_margin", merchants, figures / "gross_margin.png",
           "Gross margin by merchant vendor (mean over seeds)", selling_only=True)
    figure("vendor_band_chart", vendor_tables, "maturity", sorted(vendor_tables.vendor.unique()),
           figures / "software_maturity.png", "Software ecosystem maturity (mean, 5-95% over seeds)")
    figure("series_band_chart", model_tables, ["hhi_revenue"], figures / "hhi.png", "Revenue HHI of chip vendors")
    figure("series_band_chart", model_tables, ["usd_per_million_tokens"], figures / "price_per_token.png",
           "USD per million Llama-3-70B output tokens on chips sold that month (rental-equivalent)", logy=True)
    figure("series_band_chart", model_tables, ["usd_per_exaflop_training"], figures / "price_per_training_flop.png",
           "USD per 1e18 training FLOP on chips sold that month (rental-equivalent)", logy=True)
    capex_cols = [c for c in model_tables.columns if c.startswith("capex_") and c != "capex_total"]
    figure("stacked_series_chart", model_tables, capex_cols, figures / "capex_by_hyperscaler.png",
           "Accelerator capex by hyperscaler, USD B per month (mean over seeds)")
    power_cols = [c for c in model_tables.columns if c.startswith("power_gw_")]
    if power_cols:
        figure("stacked_series_chart", model_tables, power_cols, figures / "power_by_cloud.png",
               "Data-centre power of the chips running, facility GW, by cloud (mean over seeds)", prefix="power_gw_")
    if funds is not None:
        _write_venture(results, funds, folder)
    drawing.wait()
    (folder / "summary.md").write_text(_summary_md(metrics, results, config, history, window_end, draws))
    return summary


def _write_venture(results: Sequence[SeedResult], funds: pd.DataFrame, folder: Path) -> None:
    """Write the deal, fund (`funds`, all seeds) and startup tables and yearly network edge lists."""
    _concat(results, "deals").to_parquet(folder / "deals.parquet", index=False)
    funds.to_parquet(folder / "funds.parquet", index=False)
    _concat(results, "startups").to_parquet(folder / "startups.parquet", index=False)
    _concat(results, "network").to_parquet(folder / "network_edges_yearly.parquet", index=False)


def _submit_venture_figures(results: Sequence[SeedResult], funds: pd.DataFrame, figures: Path, drawing) -> None:
    """Send the venture figures to `drawing` (a _Figures): the deal-multiples CCDF, the network, centrality vs TVPI."""
    first = results[0]
    cohort = deal_cohort(first.deals)
    drawing.submit(_ccdf_figure, cohort.multiple, figures / "deal_multiples_ccdf.png",
                   f"Deal multiples 6 years after the round (seed {first.seed})")
    last_year = first.network[first.network.year == first.network.year.max()] if len(first.network) else first.network
    drawing.submit(draw_figure, "network_chart", last_year, first.reputation, figures / "syndication_network.png",
                   f"Syndication network, final year, largest component (seed {first.seed}); size = reputation")
    drawing.submit(draw_figure, "centrality_returns_chart", judged_funds(funds),
                   figures / "centrality_vs_returns.png",
                   "Fund TVPI at 8 years vs firm centrality at vintage (all seeds)")


METRIC_NOTES = {
    "leader_revenue_share_y1": "leader's revenue share, first 12 months",
    "leader_revenue_share_final": "leader's revenue share, last 12 months",
    "leader_gross_margin_mean": "leader's gross margin, whole run (revenue-weighted)",
    "leader_gross_margin_boom": f"leader's gross margin, first {BOOM_MONTHS} months",
    "challenger_gross_margin_mean": "other merchant vendors' gross margin, whole run",
    "challenger_gross_margin_boom": f"other merchant vendors' gross margin, first {BOOM_MONTHS} months",
    "leader_revenue_minus_flops_share": "leader's revenue share minus its FLOP/s share (mean)",
    "inhouse_revenue_share_y1": "in-house (custom) silicon share of chip value, first 12 months",
    "inhouse_revenue_share_final": "in-house silicon share of chip value, last 12 months",
    "hhi_revenue_final": "Herfindahl index of vendor revenue, last 12 months",
    "usd_per_million_tokens_y1": "USD per million output tokens, first 12 months",
    "usd_per_million_tokens_final": "USD per million output tokens, last 12 months",
    "chip_revenue_y1_usd": "chip sales, first 12 months (USD)",
    "chip_revenue_final_usd": "chip sales, last 12 months (USD)",
    "deployed_power_gw_final": "facility GW of the chips running, last month",
    "power_short_share_final": "share of cloud-months short of site power, last 12 months",
    "deals": "VC rounds over the run",
    "deals_below_1x_share": "share of rounds returning < 1x, judged 6 years after the round",
    "deals_10x_plus_share": "share of rounds returning >= 10x, judged 6 years after the round",
    "top5pct_deal_return_share": "share of value returned by the top 5% of rounds (judged at 6 years)",
    "deals_judged": "rounds old enough (6 years) to judge",
    "powerlaw_alpha": "power-law exponent of deal multiples at 6 years (powerlaw package)",
    "powerlaw_xmin": "lower bound of the power-law tail",
    "powerlaw_ks": "KS distance of the power-law fit",
    "powerlaw_vs_lognormal_loglik_ratio": "normalised log-likelihood ratio, power law vs lognormal (> 0 favours power "
                                          "law)",
    "powerlaw_vs_lognormal_p": "p-value of that comparison",
    "powerlaw_vs_exponential_loglik_ratio": "normalised log-likelihood ratio, power law vs exponential",
    "powerlaw_vs_exponential_p": "p-value of that comparison",
    "powerlaw_tail_n": "rounds in the fitted tail",
    "syndicated_round_share": "share of rounds with two or more VC firms",
    "centrality_return_spearman": "rank correlation of firm centrality at vintage and fund TVPI at 8 years",
    "centrality_return_p": "permutation p-value of that correlation: share of 2000 shuffles of TVPI reaching it",
    "centrality_exit_spearman": "rank correlation of firm centrality at vintage and the share of the fund's "
                                "startups with an IPO or trade sale by 8 years",
    "centrality_exit_p": "permutation p-value of that correlation",
    "fund_tvpi_p75": "75th percentile TVPI of funds at 8 years (funds raised in the run)",
    "funds_above_2x_share": "share of funds with TVPI above 2x at 8 years",
    "funds_above_3x_share": "share of funds with TVPI above 3x at 8 years",
    "funds_judged": "funds raised in the run that reached 8 years",
    "fund_tvpi_10y_median": "median TVPI of funds at 10 years (NaN: no fund reached 10 years in the run)",
    "fund_called_share_24m_median": "median share of commitments called by a fund's 24th month",
    "quartile_persistence_top": "P(a firm's next fund is top-quartile in its vintage year at 5 years | this one "
                                "was)",
    "quartile_persistence_bottom": "P(a firm's next fund is top-quartile in its vintage year at 5 years | this one "
                                   "was bottom-quartile)",
    "deals_marked_share": "share of rounds still held at their last round's price 6 years after it (not realised)",
    "realised_deals_below_1x_share": "share of rounds realised by 6 years (exit or failure) returning < 1x",
    "realised_deals_10x_plus_share": "share of rounds realised by 6 years (exit or failure) returning >= 10x",
    "fund_tvpi_median": "median TVPI of funds at 8 years (funds raised in the run)",
    "funded_startups": "startups that raised at least one round",
    "exits": "startups acquired (any sale, acqui-hires included) or listed",
    "successful_exits": "startups listed or sold in a trade sale (not in distress, not acqui-hired)",
    "ipos": "startups listed",
}


UNDEFINED_NOTE = ("nan: undefined for this run, not a failure (e.g. quartile persistence before any VC firm has "
                  "raised a second fund, in runs shorter than venture.fund_cycle_months; rates of rounds or funds "
                  "when there are none). A numerical failure stops the run with an error instead.")


def _members(seeds: int, draws: int) -> str:
    return f"{seeds} runs: seeds with {min(draws, seeds)} parameter draws" if draws else f"{seeds} seeds"


def bands_note(draws: int) -> str:
    """What a run's 5-95% ranges and fans contain."""
    if draws:
        return (f"**What the bands contain:** seed s ran with parameter draw s mod {draws} of the history fit's "
                "uncertainty (history_calibration_draws.toml), so the 5-95% ranges and the history figure's 50% and "
                "90% fans hold parameter uncertainty and seed noise together (not the model's structural error).")
    return ("**What the bands contain:** seed noise only, at the fitted parameter values; `run --parameter-draws` "
            "adds the fit's parameter uncertainty (see README, How good are the forecasts).")


def short_run_note(months: int) -> str:
    """For a run too short for the metrics' windows to differ, a sentence saying which ones coincide or overlap
    ('first 12 months' and 'last 12 months'; the first BOOM_MONTHS against the whole run); '' otherwise."""
    notes = []
    if months <= 12:
        notes.append(f"the 'first 12 months' and 'last 12 months' metrics are the same {months} months")
    elif months < 24:
        notes.append(f"the 'first 12 months' and 'last 12 months' metrics share {24 - months} months")
    if months <= BOOM_MONTHS:
        notes.append(f"the 'first {BOOM_MONTHS} months' metrics cover the whole run, as the 'whole run' ones do")
    if not notes:
        return ""
    return f"**A {months}-month run:** " + "; ".join(notes) + ". Run more months for them to differ."


def _summary_md(metrics, results, config, history=None, window_end: str = FIT_WINDOW_END, draws: int = 0) -> str:
    lines = [
        "# compute-market run",
        "",
        f"{len(results)} seeds ({', '.join(str(r.seed) for r in results)}), {config.months} months from "
        f"{config.start}.",
        "All figures are emergent outputs of the agents' decisions (see README, Model). The 5% and 95% columns "
        "and the figures' bands are the spread over seeds: randomness only, not uncertainty in the parameters."
        + (f" **With {len(results)} seed(s) they are indicative only** (a 5-95% range needs 5 or more seeds; "
           "run with --seeds 8 for a report)." if len(results) < 5 else ""),
        "",
        bands_note(draws),
        "",
        "| metric | mean | 5% | 95% | meaning |",
        "|---|---|---|---|---|",
    ]
    for name, stats in metrics.items():
        lines.append(f"| {name} | {stats['mean']:.4g} | {stats['p05']:.4g} | {stats['p95']:.4g} | "
                     f"{METRIC_NOTES.get(name, '')} |")
    if any(math.isnan(stats["mean"]) for stats in metrics.values()):
        lines += ["", UNDEFINED_NOTE]
    windows = short_run_note(config.months)
    if windows:
        lines += ["", windows]
    if history is not None and history["simulated"].notna().any():
        covered = history[history["simulated"].notna()]
        lines += ["", "## History 2023 - 2025: observed vs the model", "",
                  f"{int(covered.in_band.sum())} of {len(covered)} observations the run covers are in band "
                  f"(the source's range; else +-5 points for a margin, +-25% for other point figures). "
                  f"Misses are reported, not hidden. The model's behavioural parameters were fitted to the "
                  f"observations ending by {window_end}; later ones are held out (never fitted to).", "",
                  in_band_line(covered, window_end), "",
                  "![History fit](figures/history_fit.png)", "", format_fit_table(covered), ""]
    lines += _power_md(results, window_end)
    lines += ["", "## Figures", ""]
    for name, caption in FIGURES:
        if name == "power_by_cloud.png" and not any(c.startswith("power_gw_") for c in results[0].model_table.columns):
            continue
        if name in MARKET_FIGURES or results[0].deals is not None:
            lines += [f"### {caption}", "", f"![{caption}](figures/{name})", ""]
    lines += [
        "## Files",
        "",
        "Tables (Parquet): model_monthly, vendors_monthly, ledger_monthly, deals, funds, startups,",
        "network_edges_yearly, metrics_by_seed; per-seed tables in seeds/; events.txt; manifest.json.",
        "`compute-market show RUN_DIR --csv DIR` exports every table as CSV.",
        "",
    ]
    return "\n".join(lines)


def _power_md(results, window_end: str = FIT_WINDOW_END) -> list[str]:
    """Per cloud: facility GW of the chips running at the end and months short of power (mean over seeds)."""
    clouds = power_clouds(results[0].model_table)
    if not clouds:
        return []
    lines = ["", "## Data-centre power", "",
             "A cloud is short of power in a month when chips it owns wait for site power or it prices power in its",
             "choice (market/power.py). Mean over seeds.", "",
             f"| cloud | GW running at the end | months short of power | of which after {window_end} |",
             "|---|---|---|---|"]
    for cloud in clouds:
        end = sum(float(r.model_table[f"power_gw_{cloud}"].iloc[-1]) for r in results) / len(results)
        short = [r.model_table[f"power_short_{cloud}"] for r in results]
        months = sum(float(s.sum()) for s in short) / len(results)
        later = sum(float(s[r.model_table.date > window_end].sum()) for s, r in zip(short, results,
                                                                                     strict=True)) / len(results)
        lines.append(f"| {cloud} | {end:.2f} | {months:.1f} | {later:.1f} |")
    return lines


FIGURES = (
    ("revenue_share.png", "Revenue share by vendor"),
    ("gross_margin.png", "Gross margin by merchant vendor"),
    ("software_maturity.png", "Software ecosystem maturity"),
    ("hhi.png", "Revenue HHI of chip vendors"),
    ("price_per_token.png", "USD per million output tokens"),
    ("price_per_training_flop.png", "USD per 1e18 training FLOP"),
    ("capex_by_hyperscaler.png", "Accelerator capex by hyperscaler"),
    ("power_by_cloud.png", "Data-centre power by cloud"),
    ("deal_multiples_ccdf.png", "Deal multiples (CCDF) and power-law fit"),
    ("syndication_network.png", "Syndication network"),
    ("centrality_vs_returns.png", "Fund TVPI vs firm centrality"),
)
MARKET_FIGURES = {name for name, _ in FIGURES[:8]}
