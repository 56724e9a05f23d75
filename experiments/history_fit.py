"""The baseline against the observed 2023 - 2025 path: simulated moments, fit table and figure.

Each observation of `hardware_catalog/data/history.toml` names a series, a subject, a period of calendar
months and how monthly values are summarised over it. `simulated_moment` computes the same quantity from
one seed's tables; `fit_table` gathers every observation with the simulated mean and 5-95% over seeds,
the error and whether the observation's band (the source's range; else +-5 points for a margin and +-25%
for other point figures) holds the mean.

The calibration fits only the observations inside its window (`observations_before` its last month); the
others are held out: `fit_table` marks them, and `in_band_line` counts fitted and held-out rows apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from hardware_catalog import HistoryObservation
from hardware_catalog.records import FIT_WINDOW_END
from hardware_catalog.schema import year_month
from market.performance import REFERENCE_CHIP

POINT_TOLERANCE = 0.25  # a point figure counts as reproduced within +-25% (the bar for revenue)
BIG_FOUR = ("microsoft", "google", "aws", "meta")
# Broadcom's AI revenue is its custom-accelerator business (Google's TPUs, Meta's MTIA) plus AI networking;
# AWS designs Trainium with Marvell/Alchip and Microsoft Maia with GUC, so their chips are not in it.
BROADCOM_DESIGNED = ("google", "meta-silicon")


def observations_before(observations: Sequence[HistoryObservation], end: str) -> tuple[HistoryObservation, ...]:
    """The observations whose period ends on or before the month `end` (YYYY-MM), in their order: what a fit whose
    window closes at `end` may use (and what a forecast made from the month after `end` could have known of the
    observed path). The rest are held out. A malformed `end` raises ValueError."""
    problem = year_month(end) if isinstance(end, str) else f"must be YYYY-MM, got {end!r}"
    if problem:
        raise ValueError(f"fit window end: {problem}")
    return tuple(o for o in observations if o.period_end <= end)


def custom_silicon(vendor_table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the in-house chips that Broadcom's AI revenue stands for (BROADCOM_DESIGNED)."""
    return vendor_table[vendor_table["vendor"].isin(BROADCOM_DESIGNED)]


def _margin_weights(table: pd.DataFrame, margin: str) -> pd.DataFrame:
    """`table` with `<margin>_booked` (revenue x margin) and `<margin>_priced` (revenue of the months the margin
    is defined): summed over any grouping, their ratio is the revenue-weighted margin, and a vendor with no
    margin (an in-house supplier) stays without one instead of showing 0."""
    defined = table[margin].notna()
    return table.assign(**{f"{margin}_booked": (table["revenue"] * table[margin]).where(defined, 0.0),
                           f"{margin}_priced": table["revenue"].where(defined, 0.0)})


def booked_margin(vendor_rows: pd.DataFrame) -> float:
    """Revenue-weighted booked gross margin over `vendor_rows` (months of a vendor), counting only the months a
    margin is defined; NaN if none is."""
    rows = _margin_weights(vendor_rows, "gross_margin")
    priced = rows["gross_margin_priced"].sum()
    return float(rows["gross_margin_booked"].sum() / priced) if priced > 0 else math.nan


def big_four_capex(model_table: pd.DataFrame) -> pd.Series:
    """The four largest US clouds' accelerator capex (USD) by month, indexed by date (YYYY-MM)."""
    columns = [f"capex_{c}" for c in BIG_FOUR if f"capex_{c}" in model_table]
    return model_table.set_index("date")[columns].sum(axis=1)


def _in_period(table: pd.DataFrame, obs: HistoryObservation) -> pd.DataFrame:
    return table[(table["date"] >= obs.period_start) & (table["date"] <= obs.period_end)]


def _covers(table: pd.DataFrame, obs: HistoryObservation) -> bool:
    """Whether the run covers the whole period (a period that starts before the run cannot be compared)."""
    dates = table["date"]
    return len(dates) > 0 and dates.min() <= obs.period_start and dates.max() >= obs.period_end


def simulated_moment(obs: HistoryObservation, model_table: pd.DataFrame, vendor_table: pd.DataFrame,
                     chip_table: pd.DataFrame) -> float:
    """The model's figure for `obs` from one seed's monthly tables (NaN where the run does not cover it)."""
    if not _covers(model_table, obs):
        return math.nan
    series = obs.series
    if series in ("vendor_revenue", "vendor_units", "vendor_gross_margin", "installed_power_gw"):
        rows = _in_period(vendor_table[vendor_table["vendor"] == obs.subject], obs)
        if series == "vendor_revenue":
            return float(rows["revenue"].sum())
        if series == "vendor_units":
            return float(rows["units"].sum())
        if series == "installed_power_gw":
            return float(rows["installed_power_gw"].iloc[-1]) if len(rows) else math.nan
        return booked_margin(rows)
    if series == "custom_revenue":
        rows = _in_period(custom_silicon(vendor_table), obs)
        return float(rows["revenue"].sum())
    if series in ("capex", "capex_growth"):
        spend = big_four_capex(model_table)
        now = spend[(spend.index >= obs.period_start) & (spend.index <= obs.period_end)].sum()
        if series == "capex":
            return float(now)
        start = f"{int(obs.period_start[:4]) - 1}{obs.period_start[4:]}"
        end = f"{int(obs.period_end[:4]) - 1}{obs.period_end[4:]}"
        before = spend[(spend.index >= start) & (spend.index <= end)]
        if len(before) < 12 and obs.period_end[5:] == "12":
            return math.nan
        return float(now / before.sum() - 1.0) if before.sum() > 0 else math.nan
    if series == "chip_price":
        rows = _in_period(chip_table[chip_table["chip"] == obs.subject], obs)
        units = rows["units"].sum()
        if units > 0:
            return float(rows["revenue"].sum() / units)
        return float(rows["price"].mean()) if len(rows) else math.nan
    if series == "rental_price":  # what an hour of the chip rented for, at the clouds that rented it out
        if obs.subject == REFERENCE_CHIP:
            return float(_in_period(model_table, obs)["rental_price_h100_hour"].mean())
        return float(_in_period(chip_table[chip_table["chip"] == obs.subject], obs)["rental_price_hour"].mean())
    if series == "lab_revenue_annualised":
        rows = _in_period(model_table, obs)
        return float(rows["frontier_lab_revenue"].iloc[-1] * 12.0) if len(rows) else math.nan
    if series == "lab_power_gw":
        rows = _in_period(model_table, obs)
        return float(rows["frontier_lab_power_gw"].iloc[-1]) if len(rows) else math.nan
    raise ValueError(f"history observation '{obs.id}': no simulated moment for series '{series}'")


MARGIN_TOLERANCE = 0.05  # a gross margin counts as reproduced within +-5 points


def band(obs: HistoryObservation) -> tuple[float, float]:
    """The range a simulated figure should fall in: the source's own range, else +-5 points for a margin
    and +-25% for any other point figure."""
    if math.isfinite(obs.low) and math.isfinite(obs.high):
        return obs.low, obs.high
    if obs.series == "vendor_gross_margin":
        return obs.value - MARGIN_TOLERANCE, obs.value + MARGIN_TOLERANCE
    return obs.value * (1 - POINT_TOLERANCE), obs.value * (1 + POINT_TOLERANCE)


def fit_table(observations: Sequence[HistoryObservation], seeds: Sequence[tuple[pd.DataFrame, pd.DataFrame,
                                                                                pd.DataFrame]],
              window_end: str = FIT_WINDOW_END) -> pd.DataFrame:
    """One row per observation: observed, simulated mean and 5-95% over seeds, log error, in band or not (the mean),
    `seeds_in_band` (the share of the seeds whose own figure is in band: a verdict that holds for a few seeds only is
    marginal) and `held_out` for those after the fit window (ending after `window_end`)."""
    inside = {o.id for o in observations_before(observations, window_end)}
    rows = []
    for obs in observations:
        values = np.array([simulated_moment(obs, *tables) for tables in seeds], dtype=float)
        finite = values[np.isfinite(values)]
        mean = float(finite.mean()) if finite.size else math.nan
        low, high = band(obs)
        rows.append({
            "id": obs.id, "series": obs.series, "subject": obs.subject,
                     "period": f"{obs.period_start}..{obs.period_end}",
            "observed": obs.value, "low": low, "high": high, "simulated": mean,
            "p05": float(np.quantile(finite, 0.05)) if finite.size else math.nan,
            "p95": float(np.quantile(finite, 0.95)) if finite.size else math.nan,
            "log_error": math.log(mean / obs.value) if mean > 0 else math.nan,
            "in_band": bool(low <= mean <= high) if math.isfinite(mean) else False,
            "seeds_in_band": float(((finite >= low) & (finite <= high)).mean()) if finite.size else math.nan,
            "fit": obs.fit, "held_out": obs.id not in inside, "tag": obs.tag, "source": obs.source,
            "note": obs.note,
        })
    return pd.DataFrame(rows)


# What an observation is to the fit: a moment inside the window, context (fit = false: reported only), or held out.
ROLES = {(True, False): "fitted", (False, False): "context", (True, True): "held out",
         (False, True): "held out (context)"}


def role(fit: bool, held_out: bool) -> str:
    return ROLES[(bool(fit), bool(held_out))]


SERIES_UNITS = {  # the unit of each history series, as the fit table shows it
    "vendor_revenue": "USD over the period", "custom_revenue": "USD over the period", "capex": "USD over the period",
    "capex_growth": "growth on a year before (fraction)", "chip_price": "USD per chip",
    "vendor_gross_margin": "gross margin (fraction)", "rental_price": "USD per hour",
    "lab_revenue_annualised": "USD per year", "lab_power_gw": "GW", "installed_power_gw": "GW",
    "vendor_units": "chips over the period",
}


def format_fit_table(table: pd.DataFrame) -> str:
    """Markdown: every observation with its unit, observed, the band it is judged against (the source's range, else
    +-5 points for a margin, +-25% for another point figure), simulated (mean over seeds, 5-95% over seeds), the
    error of the mean against the observation, a verdict (the mean inside the band or not), the share of seeds whose
    own figure is in band, and its role (fitted, context, held out)."""
    lines = ["| observation | period | unit | observed | band | simulated mean [5%, 95% over seeds] "
             "| error of the mean | verdict | seeds in band | role |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in table.itertuples():
        error = f"{math.expm1(row.log_error):+.0%}" if math.isfinite(row.log_error) else "n/a"
        verdict = "in band" if row.in_band else ("not covered" if not math.isfinite(row.simulated) else "MISS")
        unit = SERIES_UNITS.get(getattr(row, "series", ""), "")
        share = getattr(row, "seeds_in_band", math.nan)
        seeds_in_band = f"{share:.0%}" if math.isfinite(share) else "n/a"
        lines.append(f"| {row.id} | {row.period} | {unit} | {format_figure(row.observed)} | "
                     f"[{format_figure(row.low)}, {format_figure(row.high)}] | {format_figure(row.simulated)} "
                     f"[{format_figure(row.p05)}, {format_figure(row.p95)}] | {error} | {verdict} | "
                     f"{seeds_in_band} | {role(row.fit, row.held_out)} |")
    return "\n".join(lines)


def covered_roles(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The rows of a `fit_table` the run covers, and the role (ROLES) of each."""
    covered = table[table["simulated"].notna()]
    return covered, pd.Series([role(f, h) for f, h in zip(covered["fit"], covered["held_out"], strict=True)],
                              index=covered.index, dtype=object)


def in_band_counts(table: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Per role (ROLES), (observations in band, observations the run covers) of a `fit_table`."""
    covered, roles = covered_roles(table)
    return {name: (int(covered["in_band"][roles == name].sum()), int((roles == name).sum())) for name in ROLES.values()}


def in_band_line(table: pd.DataFrame, window_end: str) -> str:
    """One sentence: the in-band share of the fitted observations and of the held-out ones, apart (context rows,
    fit = false, counted on their own), and how many fitted ones every seed puts in band and how many only some
    seeds do (the count's own uncertainty); observations the run does not cover are left out."""
    counts = in_band_counts(table)

    def share(name: str) -> str:
        hits, rows = counts[name]
        return f"{hits} of {rows}" + (f" ({hits / rows:.0%})" if rows else "")

    return (f"In band: fitted observations (ending by {window_end}) {share('fitted')}; held out (ending after "
            f"{window_end}) {share('held out')}; context rows (fit = false, reported only) {share('context')} in the "
            f"window and {share('held out (context)')} after it.{seed_spread(table)}")


def seed_spread(table: pd.DataFrame) -> str:
    """' Fitted observations in band for every seed: k; for some seeds only: m.' from a fit table's
    `seeds_in_band` ('' for a table without it or without fitted rows)."""
    if "seeds_in_band" not in table:
        return ""
    covered, roles = covered_roles(table)
    shares = covered.loc[roles == "fitted", "seeds_in_band"].dropna()
    if shares.empty:
        return ""
    return (f" Fitted observations in band for every seed: {int((shares == 1.0).sum())}; for some seeds only: "
            f"{int(((shares > 0) & (shares < 1)).sum())}.")


def format_figure(value: float) -> str:
    """A figure for a table: $B for billions, M for millions, thousands separated, else 3 significant digits."""
    if not math.isfinite(value):
        return "n/a"
    if abs(value) >= 1e9:
        return f"${value / 1e9:.1f}B"
    if abs(value) >= 1e6:
        return f"{value / 1e6:.2f}M"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def quarterly(vendor_table: pd.DataFrame) -> pd.DataFrame:
    """Revenue, units, write-downs and booked/posted margin per vendor and calendar quarter (margins are
    revenue-weighted, and missing for vendors that price nothing, such as in-house suppliers)."""
    quarter_number = (vendor_table["date"].str[5:7].astype(int) - 1) // 3 + 1
    t = vendor_table.assign(quarter=vendor_table["date"].str[:4] + "-Q" + quarter_number.astype(str))
    t = _margin_weights(_margin_weights(t, "gross_margin"), "margin_posted")
    parts = ["gross_margin_booked", "gross_margin_priced", "margin_posted_booked", "margin_posted_priced"]
    g = t.groupby(["quarter", "vendor"], as_index=False).agg(revenue=("revenue", "sum"), units=("units", "sum"),
                                                             writedown=("writedown", "sum"),
                                                             **{c: (c, "sum") for c in parts})
    with np.errstate(invalid="ignore", divide="ignore"):
        for margin in ("gross_margin", "margin_posted"):
            priced = g[f"{margin}_priced"]
            g[margin] = np.where(priced > 0, g[f"{margin}_booked"] / priced.where(priced > 0, 1.0), np.nan)
    return g.drop(columns=parts)


def quarterly_panels(model_table: pd.DataFrame, vendor_table: pd.DataFrame) -> pd.DataFrame:
    """One seed's calendar-quarter figures for the history chart (columns `series:subject`)."""
    def quarter_start(dates: pd.Series) -> pd.Series:
        month = (dates.str[5:7].astype(int) - 1) // 3 * 3 + 1
        return dates.str[:4] + "-" + month.map(lambda m: f"{m:02d}")

    v = _margin_weights(vendor_table.assign(quarter_start=quarter_start(vendor_table["date"])), "gross_margin")
    out = pd.DataFrame({"quarter_start": sorted(v["quarter_start"].unique())}).set_index("quarter_start")
    for vendor in ("nvidia", "amd"):
        rows = v[v["vendor"] == vendor].groupby("quarter_start")
        out[f"vendor_revenue:{vendor}"] = rows["revenue"].sum()
        if vendor == "nvidia":
            out["vendor_gross_margin:nvidia"] = (rows["gross_margin_booked"].sum()
                                                 / rows["gross_margin_priced"].sum().replace(0.0, np.nan))
    out["custom_revenue:custom"] = custom_silicon(v).groupby("quarter_start")["revenue"].sum()
    m = model_table.assign(quarter_start=quarter_start(model_table["date"]))
    columns = [f"capex_{c}" for c in BIG_FOUR if f"capex_{c}" in m]
    out["capex:big-four"] = m.groupby("quarter_start")[columns].sum().sum(axis=1)
    out["rental_price:h100-sxm"] = m.groupby("quarter_start")["rental_price_h100_hour"].mean()
    return out.fillna({"custom_revenue:custom": 0.0}).reset_index()
