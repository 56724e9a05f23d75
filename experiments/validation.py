"""The validation report (`compute-market validate-model`): which observed facts the baseline reproduces, by which
mechanism, and what happens to each fact when that mechanism is switched off.

Facts are data: the stylized facts of `experiments/validation_facts.toml` (every row of
../shared/reference/calibration_targets.md) and the observed 2023 - 2025 path of
hardware_catalog/data/history.toml (those after the stored fit's window marked held out). Each stylized fact
names a metric, a function below that computes the model's figure from a run's stored tables, one value per seed.
The baseline and one ensemble per ablation (ABLATIONS: the baseline config with one mechanism switched off) are run
with the ordinary run machinery, so a stored ensemble of the same config, seeds, catalog and code is reused rather
than recomputed.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hardware_catalog import Catalog
from hardware_catalog.records import FIT_WINDOW_END
from market.venture import REPUTATION_DISCOUNT_AT_TOP

from .errors import UsageError, require_range
from .history_fit import BIG_FOUR, band, big_four_capex, booked_margin, fit_table, format_figure, role
from .runner import read_stored
from .venture_analysis import coverage, deal_cohort, pooled_centrality_return_p_value, top_return_share

FACTS_PATH = Path(__file__).with_name("validation_facts.toml")
KINDS = ("outcome", "forecast", "input")
MERCHANT_KINDS = ("merchant_gpu", "merchant_accelerator", "startup")


@dataclass(frozen=True)
class Ablation:
    """One mechanism switched off: the config values that do it (table.key = value) and what it removes."""

    id: str
    label: str
    settings: tuple[tuple[str, object], ...]
    removes: str
    venture: bool = False  # a venture-side channel (its runs also feed the centrality-return decomposition)


ABLATIONS = (
    Ablation("lock-in", "lock-in off", (("choice.switching_cost", 0.0),),
             "buyers' (and labs') utility cost of a vendor's immature software: chips compete on cost per work alone"),
    Ablation("launch-booking", "launch booking off", (("supply.launch_booking_months", 0),),
             "packaging held for a merchant's first launch: shares follow orders only"),
    Ablation("scarcity-rent", "rental scarcity premium off", (("clouds.rental_price_adjustment", 0.0),),
             "clouds' rental price above cost-plus while labs want more than they offer"),
    Ablation("in-house", "in-house silicon off", (("inhouse.inhouse_enabled", False),),
             "hyperscalers' own chips (TPU, Trainium, ...): clouds buy merchant chips only"),
    Ablation("vc-loop", "VC reputation loop off", (("venture.reputation_loop", False),),
             "all four reputation channels at once (the master switch)", venture=True),
    Ablation("information-advantage", "information advantage off", (("venture.information_advantage", False),),
             "sharper signals and more deal flow for central, reputable firms", venture=True),
    Ablation("founder-sorting", "founders' sorting off", (("venture.founder_sorting", False),),
             "founders taking the most reputable lead among their offers", venture=True),
    Ablation("reputation-discount", "reputation discount off", (("venture.reputation_discount", False),),
             "reputable leads pricing rounds lower", venture=True),
    Ablation("value-added", "value added off", (("venture.value_added", False),),
             "reputable leads adding growth to the startups they lead", venture=True),
)
ABLATION_IDS = tuple(a.id for a in ABLATIONS)

# The mechanism and the ablations behind each observed series of history.toml (its rows carry no such fields).
HISTORY_MECHANISMS = {
    "vendor_revenue": (("buyers' demand (the AI boom, labs' revenue, elastic demand) split by the logit on cost per "
                        "work and software lock-in"), ("lock-in", "launch-booking", "in-house")),
    "vendor_gross_margin": ("vendors' profit-maximising margin against locked-in, budget-constrained buyers",
                            ("lock-in",)),
    "vendor_units": ("the same demand over prices set by the margin", ("lock-in", "in-house")),
    "custom_revenue": ("in-house programmes priced at cost plus the design partner's margin", ("in-house",)),
    "capex": ("clouds' capex from their own AI demand and rental demand", ("in-house",)),
    "capex_growth": ("clouds' capex from their own AI demand and rental demand", ("in-house",)),
    "chip_price": ("the vendor's margin over the chip's unit cost", ("lock-in",)),
    "rental_price": ("clouds' cost-plus rental price with a scarcity premium", ("scarcity-rent",)),
    "installed_power_gw": ("chips sold times their power draw", ("lock-in",)),
    "lab_revenue_annualised": ("labs' revenue from AI adoption (the boom)", ()),
    "lab_power_gw": ("labs' compute bought from clouds' rental offer", ("scarcity-rent",)),
}


HISTORY_GROUP = "history 2023 - 2025"
# The report's kind of a history row, by its role in the fit (history_fit.ROLES): fitted inside the window, reported
# only (fit = false), or after the window (held out: never fitted to).
HISTORY_KINDS = {"fitted": "outcome", "context": "outcome (not fitted)", "held out": "held out",
                 "held out (context)": "held out (not fitted)"}


@dataclass(frozen=True)
class Fact:
    id: str
    fact: str
    figure: str
    period: str
    source: str
    tag: str
    kind: str
    metric: str
    low: float
    high: float
    band_note: str
    mechanism: str
    ablations: tuple[str, ...]


@dataclass
class RunTables:
    """A run directory's stored tables, read on first use."""

    folder: Path
    _cache: dict

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._cache = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._cache:
            self._cache[name] = read_stored(self.folder / f"{name}.parquet", pd.read_parquet)
        return self._cache[name]

    @property
    def seeds(self) -> list[int]:
        return sorted(int(s) for s in self["metrics_by_seed"]["seed"])

    def per_seed(self, name: str) -> dict[int, pd.DataFrame]:
        table = self[name]
        return {s: table[table["seed"] == s] for s in self.seeds}


# --------------------------------------------------------------------------------------------- metrics

METRICS: dict[str, Callable[[RunTables, Catalog], pd.Series]] = {}


def metric(until: str = ""):
    """Register a metric; `until` (YYYY-MM) is the last month it needs: a run that stops earlier gets NaN (the
    report says "not covered") rather than a figure over part of the period."""
    def register(func: Callable[[RunTables, Catalog], pd.Series]) -> Callable[[RunTables, Catalog], pd.Series]:
        def covered(t: RunTables, catalog: Catalog) -> pd.Series:
            if until and t["model_monthly"]["date"].max() < until:
                return pd.Series(dict.fromkeys(t.seeds, math.nan), dtype=float)
            return func(t, catalog)
        covered.__name__, covered.__doc__ = func.__name__, func.__doc__
        METRICS[func.__name__] = covered
        return func
    return register


def _by_seed(tables: RunTables, name: str, f: Callable[[pd.DataFrame], float]) -> pd.Series:
    return pd.Series({s: float(f(t)) for s, t in tables.per_seed(name).items()}, dtype=float)


def _between(t: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    return t[(t["date"] >= start) & (t["date"] <= end)]


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


def _revenue_share(vendors: pd.DataFrame, start: str, end: str, vendor: str, kinds=None) -> float:
    rows = _between(vendors, start, end)
    if kinds is not None:
        rows = rows[rows["kind"].isin(kinds)]
    return _ratio(rows.loc[rows["vendor"] == vendor, "revenue"].sum(), rows["revenue"].sum())


def _share(table: pd.DataFrame, start: str, end: str, column: str, key: str, value: str) -> float:
    """Share of `column` summed over months start..end that belongs to rows whose `key` is `value`."""
    rows = _between(table, start, end)
    return _ratio(rows.loc[rows[key] == value, column].sum(), rows[column].sum())


def _booked_margin(vendors: pd.DataFrame, vendor: str, start: str, end: str) -> float:
    return booked_margin(_between(vendors[vendors["vendor"] == vendor], start, end))


def _asp(chips: pd.DataFrame, chip: str, start: str, end: str) -> float:
    rows = _between(chips[chips["chip"] == chip], start, end)
    return _ratio(rows["revenue"].sum(), rows["units"].sum())


def _big_four_capex(model: pd.DataFrame, year: str) -> float:
    spend = big_four_capex(model)
    return float(spend[spend.index.str[:4] == year].sum())


@metric("2023-12")
def nvidia_share_of_merchant_revenue_2023(t: RunTables, catalog: Catalog) -> pd.Series:
    """NVIDIA's share of merchant vendors' revenue in 2023 (GPUs and other merchant accelerators)."""
    return _by_seed(t, "vendors_monthly", lambda v: _revenue_share(v, "2023-01", "2023-12", "nvidia", MERCHANT_KINDS))


@metric("2024-12")
def nvidia_share_of_all_revenue_2024(t: RunTables, catalog: Catalog) -> pd.Series:
    """NVIDIA's share of all accelerator revenue in 2024 (in-house chips at cost plus their partner's margin)."""
    return _by_seed(t, "vendors_monthly", lambda v: _revenue_share(v, "2024-01", "2024-12", "nvidia"))


@metric("2025-12")
def nvidia_share_of_all_revenue_2025(t: RunTables, catalog: Catalog) -> pd.Series:
    return _by_seed(t, "vendors_monthly", lambda v: _revenue_share(v, "2025-01", "2025-12", "nvidia"))


@metric("2025-12")
def nvidia_share_change_2024_2025(t: RunTables, catalog: Catalog) -> pd.Series:
    return nvidia_share_of_all_revenue_2025(t, catalog) - nvidia_share_of_all_revenue_2024(t, catalog)


@metric("2026-12")
def inhouse_unit_share_2026(t: RunTables, catalog: Catalog) -> pd.Series:
    """In-house chips' share of accelerator units shipped in 2026."""
    return _by_seed(t, "vendors_monthly", lambda v: _share(v, "2026-01", "2026-12", "units", "kind",
                                                           "hyperscaler_inhouse"))


@metric("2025-12")
def nvidia_flops_share_q4_2025(t: RunTables, catalog: Catalog) -> pd.Series:
    """NVIDIA's share of bf16 FLOP/s shipped in October - December 2025."""
    return _by_seed(t, "vendors_monthly", lambda v: _share(v, "2025-10", "2025-12", "flops_shipped", "vendor",
                                                           "nvidia"))


def _margin_metric(name: str, vendor: str, start: str, end: str) -> None:
    """Register `name`: `vendor`'s revenue-weighted booked gross margin over start..end (YYYY-MM)."""
    def f(t: RunTables, catalog: Catalog) -> pd.Series:
        return _by_seed(t, "vendors_monthly", lambda v: _booked_margin(v, vendor, start, end))
    f.__name__, f.__doc__ = name, f"{vendor}'s booked gross margin, {start}..{end}."
    metric(end)(f)


for _args in (("nvidia_margin_fy24", "nvidia", "2023-02", "2024-01"), ("nvidia_margin_fy25", "nvidia", "2024-02",
                                                                       "2025-01"),
              ("nvidia_margin_fy26", "nvidia", "2025-02", "2026-01"), ("amd_margin_2024", "amd", "2024-01", "2024-12")):
    _margin_metric(*_args)


@metric("2024-12")
def amd_revenue_2024(t: RunTables, catalog: Catalog) -> pd.Series:
    return _by_seed(t, "vendors_monthly",
                    lambda v: _between(v[v["vendor"] == "amd"], "2024-01", "2024-12")["revenue"].sum())


@metric("2024-12")
def big_four_accelerator_capex_growth_2024(t: RunTables, catalog: Catalog) -> pd.Series:
    return _by_seed(t, "model_monthly", lambda m: _ratio(_big_four_capex(m, "2024"), _big_four_capex(m, "2023")) - 1.0)


@metric("2025-12")
def big_four_accelerator_capex_growth_2025(t: RunTables, catalog: Catalog) -> pd.Series:
    return _by_seed(t, "model_monthly", lambda m: _ratio(_big_four_capex(m, "2025"), _big_four_capex(m, "2024")) - 1.0)


@metric("2024-12")
def big_four_unit_share_2024(t: RunTables, catalog: Catalog) -> pd.Series:
    """The four largest US clouds' share of accelerator units bought in 2024 (from the trade ledger)."""
    def share(ledger: pd.DataFrame) -> float:
        start = _month_index(t, "2024-01")
        rows = ledger[(ledger["month"] >= start) & (ledger["month"] < start + 12)]
        return _ratio(rows.loc[rows["buyer"].isin(BIG_FOUR), "units"].sum(), rows["units"].sum())
    return _by_seed(t, "ledger_monthly", share)


def _month_index(t: RunTables, date: str) -> int:
    model = t["model_monthly"]
    rows = model.loc[model["date"] == date, "month"]
    return int(rows.iloc[0]) if len(rows) else 10**9


@metric("2025-12")
def nvidia_packaging_share_2025(t: RunTables, catalog: Catalog) -> pd.Series:
    return _by_seed(t, "vendors_monthly",
                    lambda v: _between(v[v["vendor"] == "nvidia"], "2025-01", "2025-12")["allocation"].mean())


@metric("2025-12")
def nvidia_hbm_share_2025(t: RunTables, catalog: Catalog) -> pd.Series:
    """NVIDIA's share of the HBM (GB) in accelerators sold in 2025. Chips the catalog does not hold (later
    generations a vendor's roadmap made during the run) count with the memory of their vendor's newest
    catalog chip, a lower bound."""
    hbm = {c.id: c.hbm_gb for c in catalog.accelerators.values()}
    newest = {}
    for c in sorted(catalog.accelerators.values(), key=lambda c: c.release):
        newest[c.vendor] = c.hbm_gb

    def share(chips: pd.DataFrame) -> float:
        rows = _between(chips, "2025-01", "2025-12")
        gb = rows["chip"].map(hbm).fillna(rows["vendor"].map(newest)).fillna(0.0) * rows["units"]
        return _ratio(gb[rows["vendor"] == "nvidia"].sum(), gb.sum())
    return _by_seed(t, "chips_monthly", share)


@metric("2024-12")
def h100_over_mi300x_price_2024(t: RunTables, catalog: Catalog) -> pd.Series:
    return _by_seed(t, "chips_monthly", lambda c: _ratio(_asp(c, "h100-sxm", "2024-01", "2024-12"),
                                                          _asp(c, "mi300x", "2024-01", "2024-12")))


@metric("2025-12")
def b200_price_over_h100_2025(t: RunTables, catalog: Catalog) -> pd.Series:
    return _by_seed(t, "chips_monthly", lambda c: _ratio(_asp(c, "b200", "2025-01", "2025-12"),
                                                         _asp(c, "h100-sxm", "2024-01", "2024-12")))


@metric()
def mi300x_over_h100_cost(t: RunTables, catalog: Catalog) -> pd.Series:
    """Catalog bill-of-materials cost of an MI300X over an H100's (an input)."""
    chips = catalog.accelerators
    ratio = chips["mi300x"].manufacturing_cost_usd / chips["h100-sxm"].manufacturing_cost_usd
    return pd.Series(dict.fromkeys(t.seeds, ratio), dtype=float)


@metric()
def reputation_discount_at_top(t: RunTables, catalog: Catalog) -> pd.Series:
    """The model's valuation discount for a lead with the top reputation (a parameter)."""
    return pd.Series(dict.fromkeys(t.seeds, REPUTATION_DISCOUNT_AT_TOP), dtype=float)


@metric("2024-12")
def hhi_revenue_2024(t: RunTables, catalog: Catalog) -> pd.Series:
    """Herfindahl index of vendors' 2024 revenue shares (all vendors, in-house included)."""
    def hhi(v: pd.DataFrame) -> float:
        revenue = _between(v, "2024-01", "2024-12").groupby("vendor")["revenue"].sum()
        return float(((revenue / revenue.sum()) ** 2).sum()) if revenue.sum() > 0 else math.nan
    return _by_seed(t, "vendors_monthly", hhi)


def _stored_metric(name: str) -> Callable[[RunTables, Catalog], pd.Series]:
    def f(t: RunTables, catalog: Catalog) -> pd.Series:
        return t["metrics_by_seed"].set_index("seed")[name].astype(float)
    f.__name__ = name
    f.__doc__ = f"The run's `{name}` (summary.json), per seed."
    return f


for _name in ("syndicated_round_share", "deals_below_1x_share", "deals_10x_plus_share", "powerlaw_alpha",
              "powerlaw_vs_lognormal_p", "centrality_return_spearman", "quartile_persistence_top", "fund_tvpi_median",
              "fund_tvpi_p75", "funds_above_2x_share", "centrality_exit_spearman", "fund_called_share_24m_median",
              "fund_tvpi_10y_median"):
    metric()(_stored_metric(_name))


@metric()
def top6pct_deal_return_share(t: RunTables, catalog: Catalog) -> pd.Series:
    return _by_seed(t, "deals", lambda d: top_return_share(deal_cohort(d), 0.06))


@metric()
def top10pct_deal_return_share(t: RunTables, catalog: Catalog) -> pd.Series:
    return _by_seed(t, "deals", lambda d: top_return_share(deal_cohort(d), 0.10))


# `sorting_over_influence` compares ablations, so it is computed by `decomposition`, not per run.
CROSS_RUN_METRICS = ("sorting_over_influence",)


# --------------------------------------------------------------------------------------------- facts


def load_facts(path: Path = FACTS_PATH) -> tuple[Fact, ...]:
    """The stylized facts (and the fund-return rows the file adds), validated: a bad row is a one-line UsageError
    naming the file, the row and the field."""
    try:
        doc = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: cannot read ({exc})") from None
    facts = []
    text_fields = ("id", "fact", "figure", "period", "source", "tag", "kind", "metric", "band_note", "mechanism")
    for i, row in enumerate(doc.get("fact", [])):
        where = f"{path}: fact {row.get('id', i)!r}"
        for name in text_fields:
            if not isinstance(row.get(name), str) or (name != "period" and not row[name].strip()):
                raise UsageError(f"{where}: field '{name}': missing or not a non-empty string")
        if row["kind"] not in KINDS:
            raise UsageError(f"{where}: field 'kind': '{row['kind']}' is not one of {', '.join(KINDS)}")
        if row["metric"] not in METRICS and row["metric"] not in CROSS_RUN_METRICS:
            raise UsageError(f"{where}: field 'metric': unknown metric '{row['metric']}'")
        require_range(row, where)
        ablations = row.get("ablations", [])
        unknown = [a for a in ablations if a not in ABLATION_IDS] if isinstance(ablations, list) else ["(not a list)"]
        if unknown:
            raise UsageError(f"{where}: field 'ablations': unknown {', '.join(map(str, unknown))}; "
                             f"valid: {', '.join(ABLATION_IDS)}")
        facts.append(Fact(**{n: row[n] for n in text_fields}, low=float(row["low"]), high=float(row["high"]),
                          ablations=tuple(ablations)))
    ids = [f.id for f in facts]
    duplicate = next((i for i in ids if ids.count(i) > 1), None)
    if duplicate:
        raise UsageError(f"{path}: fact '{duplicate}': field 'id': duplicate id")
    return tuple(facts)


# --------------------------------------------------------------------------------------------- evaluation


def _summary(values: pd.Series) -> dict[str, float]:
    finite = values.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return {"mean": math.nan, "p05": math.nan, "p95": math.nan}
    return {"mean": float(finite.mean()), "p05": float(np.quantile(finite, 0.05)), "p95": float(np.quantile(finite,
                                                                                                            0.95))}


def verdict(kind: str, mean: float, low: float, high: float) -> str:
    if math.isnan(mean):
        return "not covered"
    inside = low <= mean <= high
    if kind == "input":
        return "input (matches)" if inside else "input (differs)"
    return "pass" if inside else "MISS"


def fact_rows(runs: dict[str, RunTables], facts: tuple[Fact, ...], catalog: Catalog, variant: str = "baseline",
              decomposition: pd.DataFrame | None = None) -> list[dict]:
    """One row per stylized fact and per history observation for one variant's run."""
    tables = runs[variant]
    rows = []
    for fact in facts:
        if fact.metric in CROSS_RUN_METRICS:
            stats = _cross_run_metric(fact.metric,
                                      decomposition) if variant == "baseline" else _summary(pd.Series(dtype=float))
        else:
            stats = _summary(METRICS[fact.metric](tables, catalog))
        rows.append({"group": "stylized fact", "id": fact.id, "fact": fact.fact, "observed": fact.figure,
                     "period": fact.period, "source": f"{fact.source} [{fact.tag}]", "kind": fact.kind,
                     **stats, "low": fact.low, "high": fact.high, "band_note": fact.band_note,
                     "verdict": verdict(fact.kind, stats["mean"], fact.low, fact.high),
                     "mechanism": fact.mechanism, "ablations": list(fact.ablations)})
    per_seed = [(m, v, c) for m, v, c in zip(tables.per_seed("model_monthly").values(),
                                             tables.per_seed("vendors_monthly").values(),
                                             tables.per_seed("chips_monthly").values(), strict=True)]
    history = fit_table(catalog.history, per_seed, catalog.fit_window_end)
    for obs, row in zip(catalog.history, history.itertuples(), strict=True):
        mechanism, ablations = HISTORY_MECHANISMS.get(obs.series, ("", ()))
        low, high = band(obs)
        rows.append({"group": HISTORY_GROUP, "id": obs.id, "fact": f"{obs.series} {obs.subject}",
                     "observed": f"{obs.value:.4g}", "period": row.period, "source": f"{obs.source} [{obs.tag}]",
                     "kind": HISTORY_KINDS[role(obs.fit, row.held_out)], "mean": row.simulated, "p05": row.p05,
                     "p95": row.p95, "low": low, "high": high,
                     "band_note": obs.note, "verdict": verdict("outcome", row.simulated, low, high),
                     "mechanism": mechanism, "ablations": list(ablations)})
    return rows


def decomposition(runs: dict[str, RunTables], permutations: int = 2000) -> pd.DataFrame:
    """The centrality-return relationship with each venture channel off: mean Spearman over seeds (5-95%), the seeds
    where it is positive, the pooled permutation p-value of the mean (TVPIs shuffled within seeds), and the share
    of the baseline's correlation that switching the channel off removes."""
    rows = []
    variants = ["baseline", *(a.id for a in ABLATIONS if a.venture)]
    base = None
    for name in variants:
        funds = list(runs[name].per_seed("funds").values())
        by_seed = runs[name]["metrics_by_seed"].set_index("seed")
        spearman = by_seed["centrality_return_spearman"].astype(float)
        exit_spearman = by_seed["centrality_exit_spearman"].astype(float)
        _, p = pooled_centrality_return_p_value(funds, permutations)
        _, exit_p = pooled_centrality_return_p_value(funds, permutations, outcome="exit_rate_at_age")
        if name == "baseline":
            base = spearman
        removed = (base - spearman).mean() / base.mean() if base is not None and base.mean() != 0 else math.nan
        rows.append({"variant": name, **_summary(spearman), "seeds": int(spearman.notna().sum()),
                     "seeds_positive": int((spearman > 0).sum()), "pooled_p": p,
                     "exit_mean": _summary(exit_spearman)["mean"], "exit_p05": _summary(exit_spearman)["p05"],
                     "exit_p95": _summary(exit_spearman)["p95"], "exit_pooled_p": exit_p,
                     "share_removed": float(removed) if name != "baseline" else 0.0})
    return pd.DataFrame(rows)


def _cross_run_metric(name: str, decomposition_table: pd.DataFrame | None) -> dict[str, float]:
    if name == "sorting_over_influence" and decomposition_table is not None:
        # the share of the link that founders' sorting carries over the share value added carries; when value
        # added carries none (or less than none), the ratio is unbounded: reported as inf, a miss
        d = decomposition_table.set_index("variant")["share_removed"]
        sorting, influence = float(d.get("founder-sorting", math.nan)), float(d.get("value-added", math.nan))
        value = sorting / influence if influence > 0 else (math.inf if sorting > 0 else math.nan)
        return {"mean": value, "p05": math.nan, "p95": math.nan}
    return {"mean": math.nan, "p05": math.nan, "p95": math.nan}


def ablation_rows(base_rows: list[dict], runs: dict[str, RunTables], facts: tuple[Fact, ...],
                  catalog: Catalog) -> list[dict]:
    """For each ablation, the facts that depend on it: baseline vs ablated figure and verdict."""
    out = []
    for ablation in ABLATIONS:
        rows = {r["id"]: r for r in fact_rows(runs, facts, catalog, ablation.id)}
        for base in base_rows:
            if ablation.id not in base["ablations"] or base["id"] not in rows:
                continue
            ablated = rows[base["id"]]
            out.append({"ablation": ablation.id, "id": base["id"], "fact": base["fact"], "kind": base["kind"],
                        "baseline": base["mean"], "ablated": ablated["mean"], "ablated_p05": ablated["p05"],
                        "ablated_p95": ablated["p95"], "low": base["low"], "high": base["high"],
                        "baseline_verdict": base["verdict"], "ablated_verdict": ablated["verdict"]})
    return out


# --------------------------------------------------------------------------------------------- report


def _fmt(value: float) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return format_figure(value)


def summary_counts(rows: list[dict]) -> pd.DataFrame:
    """Pass / miss counts by group and kind (inputs and uncovered rows counted apart)."""
    table = pd.DataFrame(rows)
    out = table.groupby(["group", "kind"]).agg(rows=("id", "size"), passed=("verdict",
                                                                            lambda v: int((v == "pass").sum())),
                                               missed=("verdict", lambda v: int((v == "MISS").sum())))
    return out.reset_index()


def history_in_band(rows: list[dict], window_end: str) -> str:
    """The in-band share of the history rows, fitted and held out apart (rows the run does not cover left out)."""
    def share(kind: str) -> str:
        verdicts = [r["verdict"] for r in rows if r["group"] == HISTORY_GROUP and r["kind"] == kind]
        judged = [v for v in verdicts if v in ("pass", "MISS")]
        hits = judged.count("pass")
        return f"{hits} of {len(judged)}" + (f" ({hits / len(judged):.0%})" if judged else "")

    return (f"History observations in band: fitted (ending by {window_end}) {share(HISTORY_KINDS['fitted'])}; "
            f"held out (ending after {window_end}, never fitted to) {share(HISTORY_KINDS['held out'])}; rows not "
            f"fitted (fit = false) {share(HISTORY_KINDS['context'])} in the window and "
            f"{share(HISTORY_KINDS['held out (context)'])} after it.")


def markdown(rows: list[dict], ablations: list[dict], decomp: pd.DataFrame, seeds: list[int], runtime_s: float,
             reused: list[str], config: str, window_end: str = FIT_WINDOW_END, too_short: list[str] = ()) -> str:
    """The report; `too_short`: the age-based venture figures the run was too short to give (venture_analysis.
    coverage), said under the introduction."""
    counts = summary_counts(rows)
    lines = [
        "# Validation report",
        "",
        (f"Baseline config `{config}`, seeds {seeds[0]}-{seeds[-1]} ({len(seeds)}); {len(ABLATIONS)} ablations of it. "
         f"Runtime {runtime_s / 60:.1f} min" + (f" ({len(reused)} of {len(ABLATIONS) + 1} ensembles reused from "
                                                "earlier "
                                                  "runs of the same config, seeds, catalog and "
                                                  "code)." if reused else ".")),
        ("Model figures are means over seeds with the 5-95% range across seeds. A fact passes when the mean lies in "
         f"its band; `forecast` rows lie after the fitting window (to {window_end}) and were never fitted to; "
         f"`held out` history rows end after it (observed, but never fitted to); `input` rows are numbers the model "
         "is given, listed for completeness."),
        *([("Venture rounds and funds are judged at fixed ages (rounds at 6 years, funds at 8 and 10 years); the run "
            "is too short for some of them (rows that need them read `not covered`; the run's summary.json has "
            "NaN): " + "; ".join(too_short) + ".")]
          if too_short else []),
        "",
        "## Summary",
        "",
        "| group | kind | rows | pass | miss |",
        "|---|---|---|---|---|",
        *(f"| {r.group} | {r.kind} | {r.rows} | {r.passed} | {r.missed} |" for r in counts.itertuples()),
        "",
        history_in_band(rows, window_end),
        "",
        "## Facts",
        "",
        "| fact | observed | source | model mean [5%, 95%] | band | verdict | mechanism |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        kind = "" if r["kind"] == "outcome" else f" ({r['kind']})"
        lines.append(f"| {r['id']}: {r['fact']}{kind} | {r['observed']} ({r['period']}) | {r['source']} | "
                     f"{_fmt(r['mean'])} [{_fmt(r['p05'])}, {_fmt(r['p95'])}] | {_fmt(r['low'])}-{_fmt(r['high'])} | "
                     f"{r['verdict']} | {r['mechanism']} |")
    lines += ["", "## Each mechanism switched off", ""]
    for ablation in ABLATIONS:
        settings = ", ".join(f"`{k} = {json.dumps(v)}`" for k, v in ablation.settings)
        lines += [f"### {ablation.label} ({settings})", "", f"Removes {ablation.removes}.", "",
                  "| fact | baseline | ablated [5%, 95%] | band | verdict: baseline -> ablated |",
                  "|---|---|---|---|---|"]
        for r in (a for a in ablations if a["ablation"] == ablation.id):
            lines.append(f"| {r['id']} | {_fmt(r['baseline'])} | {_fmt(r['ablated'])} [{_fmt(r['ablated_p05'])}, "
                         f"{_fmt(r['ablated_p95'])}] | {_fmt(r['low'])}-{_fmt(r['high'])} | "
                         f"{r['baseline_verdict']} -> {r['ablated_verdict']} |")
        lines.append("")
    lines += [
        "## The centrality-return relationship, channel by channel",
        "",
        ("Spearman rank correlation of a firm's network centrality at a fund's vintage with the fund's TVPI at 8 years "
         "(funds raised in the run), and beside it with the share of the fund's startups that made a successful exit "
         "(IPO or trade sale) by then, the effect Hochberg, Ljungqvist & Lu (2007) measure. `pooled p`: one-sided "
         "permutation test of the mean over seeds, outcomes shuffled within each seed and vintage year (2000 "
         "permutations); a p-value above 0.05 means the correlation cannot be told from chance. `share removed`: the "
         "fall in the mean TVPI correlation when the channel is off, as a share of the baseline's (shares need not "
         "add up to 1: channels interact)."),
        "",
        "| variant | TVPI: Spearman mean [5%, 95%] | seeds positive | pooled p | share removed "
        "| exit rate: Spearman mean [5%, 95%] | pooled p |",
        "|---|---|---|---|---|---|---|",
        *(f"| {r.variant} | {r.mean:.3f} [{r.p05:.3f}, {r.p95:.3f}] | {r.seeds_positive} of {r.seeds} | "
          f"{r.pooled_p:.4f} | {r.share_removed:.0%} | {r.exit_mean:.3f} [{r.exit_p05:.3f}, {r.exit_p95:.3f}] | "
          f"{r.exit_pooled_p:.4f} |" for r in decomp.itertuples()),
        "",
    ]
    return "\n".join(lines)


def facts_figure(rows: list[dict], path: Path) -> Path:
    """Every outcome and forecast row: the model's mean and 5-95% over seeds, placed within its band (0 = the
    band's low end, 1 = its high end), so facts of any unit share one axis."""
    from . import plots

    shown = [r for r in rows if not r["kind"].startswith("input") and math.isfinite(r["mean"])]
    return plots.band_position_chart(shown, path)


def decomposition_figure(table: pd.DataFrame, path: Path) -> Path:
    from . import plots

    return plots.decomposition_chart(table, path)


# ------------------------------------------------------------------------------------------ the report's run


def variants(base) -> dict:
    """The experiments the report runs, by name: "baseline" (`base`), and per ablation `base` with the ablation's
    settings applied, named <base name>-<ablation id>."""
    import dataclasses

    from .config import with_value

    runs = {"baseline": base}
    for ablation in ABLATIONS:
        experiment = base
        for path, value in ablation.settings:
            experiment = with_value(experiment, path, value)
        runs[ablation.id] = dataclasses.replace(experiment, name=f"{base.name}-{ablation.id}")
    return runs


def reused_variants(out: Path, runs: dict, seeds, months: int | None) -> list[str]:
    """The variants whose folder in `out` already holds a complete run of the same inputs (reused, not rerun)."""
    from . import rundir
    from .runner import effective_config, run_inputs

    return [name for name, e in runs.items()
            if rundir.run_state(out / name, run_inputs(e, effective_config(e, months), seeds, e.catalog())) == "same"
            and (out / name / "manifest.json").exists()]


def write_report(out: Path, runs: dict[str, RunTables], facts: tuple[Fact, ...], catalog: Catalog, seeds,
                 started: float, reused: list[str], config: str) -> tuple[list[dict], float]:
    """Compute the facts, the ablation table and the decomposition of the variants' `runs`, write validation.md,
    validation.json and the figures into `out` and seal it; returns the fact rows and the runtime in seconds since
    `started` (a time.monotonic() reading)."""
    import time

    from . import rundir
    from .json_safe import clean_tree

    table = decomposition(runs)
    rows = fact_rows(runs, facts, catalog, "baseline", table)
    ablations = ablation_rows(rows, runs, facts, catalog)
    runtime = time.monotonic() - started
    months = int(runs["baseline"]["model_monthly"]["month"].max()) + 1
    text = markdown(rows, ablations, table, list(seeds), runtime, reused, config, catalog.fit_window_end,
                    coverage(months))
    rundir.atomic_write_text(out / "validation.md", text)
    payload = {"config": config, "seeds": list(seeds), "runtime_s": runtime, "reused": reused,
               "facts": rows, "ablations": ablations, "decomposition": table.to_dict(orient="records")}
    rundir.atomic_write_text(out / "validation.json", json.dumps(clean_tree(payload), indent=1))
    facts_figure(rows, out / "validation_facts.png")
    decomposition_figure(table, out / "validation_decomposition.png")
    rundir.seal(out, "validation", None, [*runs, "validation.md", "validation.json", "validation_facts.png",
                                          "validation_decomposition.png"])
    return rows, runtime
