"""The baseline market run: an ensemble of seeds, headline metrics with spread, tables and figures."""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hardware_catalog.records import HISTORY_END
from market.config import MarketConfig, VentureConfig
from market.model import ComputeMarket

from .errors import NumericalError
from .history_fit import fit_table, format_fit_table, quarterly, quarterly_panels
from .venture_analysis import deal_cohort, powerlaw_fit, venture_metrics

BOOM_MONTHS = 36  # the first three years (2023-2025 in the default run): the AI capex boom


@dataclass
class SeedResult:
    seed: int
    model_table: pd.DataFrame
    vendor_table: pd.DataFrame
    ledger_monthly: pd.DataFrame
    events: list[str]
    metrics: dict[str, float]
    seconds: float
    deals: pd.DataFrame | None = None
    funds: pd.DataFrame | None = None
    startups: pd.DataFrame | None = None
    network: pd.DataFrame | None = None  # yearly edge lists
    reputation: dict | None = None
    chip_table: pd.DataFrame | None = None  # per month and chip: price, units, revenue


def headline_metrics(model_table: pd.DataFrame, vendor_table: pd.DataFrame) -> dict[str, float]:
    """Headline figures of one run. The leader is the vendor with the largest revenue share in the first
    12 months; "final" is the last 12 months; challengers are the other merchant vendors."""
    t = vendor_table
    first = t[t.month < 12].groupby("vendor")["revenue"].sum()
    leader = first.idxmax()
    cutoff = t.month.max() - 11
    lead = t[t.vendor == leader]
    merchant = t[(t.kind != "hyperscaler_inhouse") & (t.vendor != leader)]
    weighted = lambda rows: float((rows.gross_margin * rows.revenue).sum() / rows.revenue[rows.gross_margin.notna()].sum())  # noqa: E731
    inhouse = t[t.kind == "hyperscaler_inhouse"].groupby("month")["revenue_share"].sum()
    final = model_table[model_table.month >= model_table.month.max() - 11]
    return {
        "leader_revenue_share_y1": float(lead[lead.month < 12].revenue.sum() / t[t.month < 12].revenue.sum()),
        "leader_revenue_share_final": float(lead[lead.month >= cutoff].revenue.sum() / t[t.month >= cutoff].revenue.sum()),
        "leader_gross_margin_mean": weighted(lead),
        "leader_gross_margin_boom": weighted(lead[lead.month < BOOM_MONTHS]),
        "challenger_gross_margin_mean": weighted(merchant),
        "challenger_gross_margin_boom": weighted(merchant[merchant.month < BOOM_MONTHS]),
        "leader_revenue_minus_flops_share": float((lead.revenue_share - lead.flops_share).mean()),
        "inhouse_revenue_share_y1": float(inhouse.loc[inhouse.index < 12].mean()),
        "inhouse_revenue_share_final": float(inhouse.loc[inhouse.index >= cutoff].mean()),
        "hhi_revenue_final": float(final.hhi_revenue.mean()),
        "usd_per_million_tokens_y1": float(model_table[model_table.month < 12].usd_per_million_tokens.mean()),
        "usd_per_million_tokens_final": float(final.usd_per_million_tokens.mean()),
        "chip_revenue_y1_usd": float(model_table[model_table.month < 12].chip_revenue.sum()),
        "chip_revenue_final_usd": float(final.chip_revenue.sum()),
        **power_metrics(model_table),
    }


def power_clouds(model_table: pd.DataFrame) -> list[str]:
    """The clouds a run reports data-centre power for ([] for a run made before the power model, or with it off)."""
    clouds = [c.removeprefix("power_short_") for c in model_table.columns
              if c.startswith("power_short_") and c != "power_short_clouds"]
    return clouds if clouds and not model_table.site_power_gw.isna().all() else []


def power_metrics(model_table: pd.DataFrame) -> dict[str, float]:
    """Facility GW of the chips running at the end, and the share of cloud-months short of power in the last 12
    months (NaN for a run made before the power model, or with it off)."""
    short = [f"power_short_{cloud}" for cloud in power_clouds(model_table)]
    if not short:
        return {"deployed_power_gw_final": float("nan"), "power_short_share_final": float("nan")}
    final = model_table[model_table.month >= model_table.month.max() - 11]
    return {"deployed_power_gw_final": float(model_table.deployed_power_gw.iloc[-1]),
            "power_short_share_final": float(final[short].to_numpy().mean())}


def run_seed(config: MarketConfig, seed: int, catalog=None) -> SeedResult:
    """Run one seed and compute its headline metrics. numpy's RuntimeWarnings (overflow, 0/0, ...) are caught,
    never printed raw: a run with one and a NaN metric, or with an infinite metric, raises NumericalError; a run
    with one but finite metrics keeps a line naming it in its events (events.txt). Python's own overflow
    (OverflowError, math domain errors) raises NumericalError too."""
    with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", invalid="warn", divide="warn"):
        warnings.simplefilter("always", RuntimeWarning)
        try:
            result = _run_seed(config, seed, catalog)
        except (OverflowError, ZeroDivisionError, FloatingPointError) as exc:
            raise NumericalError(f"seed {seed}: the model's arithmetic failed ({exc}); "
                                 f"{inputs_to_check(config)}") from None
    _reissue_other_warnings(caught)
    failures = runtime_warnings(caught)
    check_metrics(result.metrics, seed, failures, config)
    if failures:
        result.events.append(f"numerical warnings (metrics finite): {'; '.join(failures)}")
    return result


def _run_seed(config: MarketConfig, seed: int, catalog=None) -> SeedResult:
    start = time.perf_counter()
    model = ComputeMarket(config, catalog=catalog, rng=seed)
    model.run()
    model_table = model.model_table()
    vendor_table = model.vendor_table()
    ledger = model.ledger.frame()
    monthly = ledger.groupby(["month", "buyer", "seller"], as_index=False)[["units", "amount"]].sum()
    metrics = headline_metrics(model_table, vendor_table)
    result = SeedResult(seed, model_table, vendor_table, monthly, list(model.events), metrics, 0.0,
                        chip_table=model.chip_table())
    if model.venture is not None:
        v = model.venture
        result.deals, result.funds, result.startups = v.deal_table(), v.fund_table(), v.startup_table()
        result.network = pd.concat(v.snapshots, ignore_index=True) if v.snapshots else pd.DataFrame()
        result.reputation = {f.firm_index: f.reputation for f in v.firms}
        metrics.update(venture_metrics(result.deals, result.funds, result.startups))
    result.seconds = time.perf_counter() - start
    return result


def runtime_warnings(caught: Sequence[warnings.WarningMessage]) -> list[str]:
    """The distinct messages of the RuntimeWarnings in `caught`: numpy's floating-point ones ("overflow encountered
    in exp", "invalid value encountered in divide") and its statistics on empty data ("Mean of empty slice")."""
    return sorted({str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)})


def _reissue_other_warnings(caught: Sequence[warnings.WarningMessage]) -> None:
    """Show the caught warnings that are not RuntimeWarnings as they would have been shown."""
    for w in caught:
        if not issubclass(w.category, RuntimeWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def check_metrics(metrics: dict[str, float], seed: int, failures: Sequence[str], config: MarketConfig) -> None:
    """Refuse a seed whose metrics a numerical failure spoiled: an infinite metric, or a NaN one in a run that
    raised floating-point warnings (`failures`). A NaN without them is an undefined metric (METRIC_NOTES says
    when: e.g. no fund has a successor in a run shorter than venture.fund_cycle_months), kept as NaN."""
    for name, value in metrics.items():
        if math.isinf(value) or (math.isnan(value) and failures):
            cause = f" ({'; '.join(failures)})" if failures else ""
            shown = "NaN" if math.isnan(value) else str(value)
            raise NumericalError(f"seed {seed}: metric {name} is {shown} after a numerical failure{cause}, not a "
                                 f"result; {inputs_to_check(config)}")


FAR_FROM_DEFAULT = 100.0  # a value this many times its default (or its default divided by this) is "extreme"


def far_from_default(config: MarketConfig) -> list[str]:
    """Dotted names (market.X, venture.X) of numbers at least FAR_FROM_DEFAULT times above or below their defaults,
    the likely cause of a numerical failure."""
    pairs = [("market", config, MarketConfig()), ("venture", config.venture, VentureConfig())]
    names = []
    for table, values, defaults in pairs:
        for field in dataclasses.fields(values):
            value, default = getattr(values, field.name), getattr(defaults, field.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value == default:
                continue
            ratio = abs(value) / abs(default) if default else abs(value)
            if ratio >= FAR_FROM_DEFAULT or ratio <= 1 / FAR_FROM_DEFAULT:
                names.append(f"{table}.{field.name}")
    return names


def inputs_to_check(config: MarketConfig) -> str:
    """Which config values to look at after a numerical failure, in words."""
    extreme = far_from_default(config)
    if extreme:
        return f"check these inputs, far from their defaults: {', '.join(extreme)}"
    return "check the config's largest and smallest values (and any [hardware] or [[labs]] overrides)"


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
                       pool=None) -> dict:
    """Write tables (Parquet), figures (PNG), summary.json and summary.md into an existing `folder`.

    `observations` (the catalog's history) are compared with the run where it covers their periods. Figures are
    drawn on `pool` (worker processes) when one is given."""
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
        history = fit_table(observations, [(r.model_table, r.vendor_table, r.chip_table) for r in results])
        history.to_csv(folder / "history_fit.csv", index=False)
        panels = pd.concat([quarterly_panels(r.model_table, r.vendor_table).assign(seed=r.seed) for r in results])
        figure("history_fit_chart", panels, observations, HISTORY_END, figures / "history_fit.png",
               f"Observed 2023 - mid-2025 (points) and the model (bands, {len(results)} seeds); "
               f"shaded: fitting window, after it: forecast")
    pd.DataFrame([{"seed": r.seed, **r.metrics} for r in results]).to_parquet(folder / "metrics_by_seed.parquet", index=False)
    (folder / "events.txt").write_text("\n".join(f"seed {r.seed}: {e}" for r in results for e in r.events) + "\n")
    metrics = summarise(results)
    summary = {"seeds": [r.seed for r in results], "months": config.months, "start": config.start, "metrics": metrics}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))

    merchants = sorted(vendor_tables[vendor_tables.kind != "hyperscaler_inhouse"].vendor.unique())
    figure("stacked_share_chart", vendor_tables, "revenue_share", figures / "revenue_share.png",
           "Revenue share by vendor (mean over seeds)")
    figure("vendor_band_chart", vendor_tables, "gross_margin", merchants, figures / "gross_margin.png",
           "Gross margin by merchant vendor (mean, 5-95% over seeds)")
    figure("vendor_band_chart", vendor_tables, "maturity", sorted(vendor_tables.vendor.unique()),
           figures / "software_maturity.png", "Software ecosystem maturity (mean, 5-95% over seeds)")
    figure("series_band_chart", model_tables, ["hhi_revenue"], figures / "hhi.png", "Revenue HHI of chip vendors")
    figure("series_band_chart", model_tables, ["usd_per_million_tokens"], figures / "price_per_token.png",
           "USD per million Llama-3-70B output tokens on chips sold that month (rental-equivalent)", logy=True)
    figure("series_band_chart", model_tables, ["usd_per_exaflop_training"], figures / "price_per_training_flop.png",
           "USD per 1e18 training FLOP on chips sold that month (rental-equivalent)", logy=True)
    capex_cols = [c for c in model_tables.columns if c.startswith("capex_") and c != "capex_total"]
    figure("stacked_series_chart", model_tables, capex_cols, figures / "capex_by_hyperscaler.png",
           "Accelerator capex by hyperscaler, USD per month (mean over seeds)")
    power_cols = [c for c in model_tables.columns if c.startswith("power_gw_")]
    if power_cols:
        figure("stacked_series_chart", model_tables, power_cols, figures / "power_by_cloud.png",
               "Data-centre power of the chips running, facility GW, by cloud (mean over seeds)", prefix="power_gw_")
    if funds is not None:
        _write_venture(results, funds, folder)
    drawing.wait()
    (folder / "summary.md").write_text(_summary_md(metrics, results, config, history))
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
                   f"Deal multiples, rounds of the first 6 years (seed {first.seed})")
    last_year = first.network[first.network.year == first.network.year.max()] if len(first.network) else first.network
    drawing.submit(draw_figure, "network_chart", last_year, first.reputation, figures / "syndication_network.png",
                   f"Syndication network, final year, largest component (seed {first.seed}); size = reputation")
    drawing.submit(draw_figure, "centrality_returns_chart", funds[(funds.vintage <= 48) & (funds.called > 0)],
                   figures / "centrality_vs_returns.png",
                   "Fund TVPI vs firm centrality at vintage (funds of the first 4 years, all seeds)")


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
    "deals_below_1x_share": "share of rounds (first 6 years) returning < 1x",
    "deals_10x_plus_share": "share of rounds (first 6 years) returning >= 10x",
    "top5pct_deal_return_share": "share of value returned by the top 5% of rounds",
    "powerlaw_alpha": "power-law exponent of deal multiples (powerlaw package)",
    "powerlaw_xmin": "lower bound of the power-law tail",
    "powerlaw_ks": "KS distance of the power-law fit",
    "powerlaw_vs_lognormal_loglik_ratio": "normalised log-likelihood ratio, power law vs lognormal (> 0 favours power law)",
    "powerlaw_vs_lognormal_p": "p-value of that comparison",
    "powerlaw_vs_exponential_loglik_ratio": "normalised log-likelihood ratio, power law vs exponential",
    "powerlaw_vs_exponential_p": "p-value of that comparison",
    "powerlaw_tail_n": "rounds in the fitted tail",
    "syndicated_round_share": "share of rounds with two or more VC firms",
    "centrality_return_spearman": "rank correlation of firm centrality at vintage and fund TVPI (funds of years 1-4)",
    "centrality_return_p": "permutation p-value of that correlation: share of 2000 shuffles of TVPI reaching it",
    "fund_tvpi_p75": "75th percentile TVPI of funds of years 1-4",
    "funds_above_2x_share": "share of funds of years 1-4 with TVPI above 2x",
    "funds_above_3x_share": "share of funds of years 1-4 with TVPI above 3x",
    "quartile_persistence_top": "P(a firm's next fund is top-quartile in its vintage year | this one was)",
    "quartile_persistence_bottom": "P(a firm's next fund is top-quartile in its vintage year | this one was bottom-quartile)",
    "deals_marked_share": "share of rounds (first 6 years) still held at their last round's price (not realised)",
    "realised_deals_below_1x_share": "share of realised rounds (exit or failure, first 6 years) returning < 1x",
    "realised_deals_10x_plus_share": "share of realised rounds (exit or failure, first 6 years) returning >= 10x",
    "fund_tvpi_median": "median TVPI of funds of years 1-4",
    "funded_startups": "startups that raised at least one round",
    "exits": "startups acquired or listed",
    "ipos": "startups listed",
}


UNDEFINED_NOTE = ("nan: undefined for this run, not a failure (e.g. quartile persistence before any VC firm has "
                  "raised a second fund, in runs shorter than venture.fund_cycle_months; rates of rounds or funds "
                  "when there are none). A numerical failure stops the run with an error instead.")


def _summary_md(metrics, results, config, history=None) -> str:
    lines = [
        "# compute-market run",
        "",
        f"{len(results)} seeds ({', '.join(str(r.seed) for r in results)}), {config.months} months from {config.start}.",
        "All figures are emergent outputs of the agents' decisions (see README, Model).",
        "",
        "| metric | mean | 5% | 95% | meaning |",
        "|---|---|---|---|---|",
    ]
    for name, stats in metrics.items():
        lines.append(f"| {name} | {stats['mean']:.4g} | {stats['p05']:.4g} | {stats['p95']:.4g} | {METRIC_NOTES.get(name, '')} |")
    if any(math.isnan(stats["mean"]) for stats in metrics.values()):
        lines += ["", UNDEFINED_NOTE]
    if history is not None and history["simulated"].notna().any():
        covered = history[history["simulated"].notna()]
        lines += ["", "## History 2023 - mid-2025: observed vs the model", "",
                  f"{int(covered.in_band.sum())} of {len(covered)} observations the run covers are in band "
                  f"(the source's range; else +-5 points for a margin, +-25% for other point figures). "
                  f"Misses are reported, not hidden.", "",
                  "![History fit](figures/history_fit.png)", "", format_fit_table(covered), ""]
    lines += _power_md(results)
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


def _power_md(results) -> list[str]:
    """Per cloud: facility GW of the chips running at the end and months short of power (mean over seeds)."""
    clouds = power_clouds(results[0].model_table)
    if not clouds:
        return []
    lines = ["", "## Data-centre power", "",
             "A cloud is short of power in a month when chips it owns wait for site power or it prices power in its",
             "choice (market/power.py). Mean over seeds.", "",
             "| cloud | GW running at the end | months short of power | of which after mid-2025 |", "|---|---|---|---|"]
    for cloud in clouds:
        end = sum(float(r.model_table[f"power_gw_{cloud}"].iloc[-1]) for r in results) / len(results)
        short = [r.model_table[f"power_short_{cloud}"] for r in results]
        months = sum(float(s.sum()) for s in short) / len(results)
        later = sum(float(s[r.model_table.date > HISTORY_END].sum()) for s, r in zip(short, results, strict=True)) / len(results)
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
