"""One seed: run the market model, compute its headline metrics, and refuse a run a numerical failure spoiled.

This is the code a seed worker runs (experiments.runner); experiments.market_report writes an ensemble's tables,
figures and summaries from these results. Listed in experiments.rundir.MODEL_SOURCES: it decides a run's numbers.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from market.config import SECTIONS, MarketConfig, VentureConfig
from market.model import ComputeMarket

from .errors import NumericalError
from .venture_analysis import venture_metrics

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

    def weighted(rows):
        return float((rows.gross_margin * rows.revenue).sum() / rows.revenue[rows.gross_margin.notna()].sum())

    inhouse = t[t.kind == "hyperscaler_inhouse"].groupby("month")["revenue_share"].sum()
    final = model_table[model_table.month >= model_table.month.max() - 11]
    return {
        "leader_revenue_share_y1": float(lead[lead.month < 12].revenue.sum() / t[t.month < 12].revenue.sum()),
        "leader_revenue_share_final": float(lead[lead.month >= cutoff].revenue.sum()
                                            / t[t.month >= cutoff].revenue.sum()),
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
    """Dotted names (section.X, venture.X) of numbers at least FAR_FROM_DEFAULT times above or below their defaults,
    the likely cause of a numerical failure."""
    defaults = MarketConfig()
    pairs = [(name, getattr(config, name), getattr(defaults, name)) for name in SECTIONS]
    pairs.append(("venture", config.venture, VentureConfig()))
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
