"""A scenario's effects by time window: while its levers act, one and three years after, in the run's last year and
discounted over the whole run. Each effect is the mean over seeds of the paired difference scenario - base of a
headline series, with a bootstrap 90% interval, a sign-flip p-value and a Benjamini-Hochberg q-value.

Read from what every run folder stores: its manifest (seeds, resolved config) and each seed's monthly model table
(`seeds/seed-NNNN/model.parquet`, one row per month with a `date` column, YYYY-MM). Months are counted from the
run's first month (month 0).

When the levers act ("during"), from the scenario's config compared with the base's:
- a lever with a length (demand shock, architecture shift, open software stack ramp, capacity deals): from its start
  for that many months; the "after" windows count from its end;
- a lever with only a start date (export controls, price cap, power crunch): the first START_ONLY_MONTHS months from
  its start; the "after" windows count from its start;
- several levers: from the earliest start to the latest end, the "after" windows from the latest of their counting
  points;
- a scenario that differs from its base by no dated lever (a different capacity, a subsidised buyer, a venture
  setting): it differs from the run's first month, which is treated as a start-only lever's start;
- a scenario that turns off a lever its base uses: the base's dates.
"One year after" is months 12-23 and "three years after" months 36-47 from that counting point.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hardware_catalog import add_months, months_between
from hardware_catalog.schema import year_month
from market.config import SECTIONS

from .compare import bootstrap_interval, mark_discoveries, sign_flip_p_value
from .errors import UsageError

# Discount rate of the whole-run sums: about the cost of capital of the large chip vendors and clouds the model
# follows (their weighted average cost of capital is roughly 8-10% a year), so a dollar of effect in a later year
# counts as those firms would count it when deciding today. Month t is weighted (1 + rate) ** (-t / 12).
DISCOUNT_RATE_PER_YEAR = 0.08
START_ONLY_MONTHS = 12  # "during" a lever that has only a start date: its first year
WINDOWS = ("during", "one year after", "three years after", "last year", "discounted")
WINDOW_COLUMNS = ("scenario", "series", "label", "window", "statistic", "window_start", "window_end", "months_in_run",
                  "status", "levers", "seeds", "base_mean", "scenario_mean", "difference", "p05", "p95", "relative",
                  "p_value")
SHORT_WINDOW_NAMES = {"during": "during", "one year after": "+1y", "three years after": "+3y",
                      "last year": "last yr", "discounted": "disc."}


@dataclass(frozen=True)
class Headline:
    """A headline series of the model table. A flow is an amount a month (USD a month): a window reports its yearly
    rate (USD a year) and the whole run its discounted sum (USD at the run's start). A level (a share, a price, GW)
    is averaged: a window reports its mean, the whole run its discount-weighted mean."""

    column: str
    label: str
    unit: str  # of one month's value
    flow: bool


HEADLINES = (
    Headline("chip_revenue", "total chip revenue", "USD a month", True),
    Headline("revenue_share_nvidia", "NVIDIA revenue share", "share of chip revenue", False),
    Headline("gross_margin_nvidia", "NVIDIA gross margin", "share of its revenue", False),
    Headline("capex_total", "clouds' chip capex", "USD a month", True),
    Headline("installed_power_gw", "power installed", "GW of accelerator TDP", False),
    Headline("rental_price_heq_hour", "rental price", "USD per H100-equivalent hour", False),
    Headline("usd_per_million_tokens", "price per million tokens", "USD per million tokens", False),
    Headline("vc_deployed", "VC deployed", "USD a month", True),
)


@dataclass(frozen=True)
class Lever:
    """A dated policy lever: the keys of the run's resolved market config that hold its start month (YYYY-MM;
    "" = the run's first month) and its length in months (None: it has only a start date), and every key that
    belongs to it (the scenario uses the lever when one of them differs from the base's)."""

    name: str
    start: str
    months: str | None
    keys: tuple[str, ...]


LEVERS = (
    Lever("demand shock", "demand_shock_start", "demand_shock_months",
          ("demand_shock_start", "demand_shock_months", "demand_shock_scale")),
    Lever("architecture shift", "serving_shift_start", "serving_shift_months",
          ("serving_shift_workload", "serving_shift_start", "serving_shift_months", "serving_shift_share")),
    Lever("open software stack", "open_stack_start", "open_stack_ramp_months",
          ("open_stack_floor", "open_stack_start", "open_stack_ramp_months")),
    Lever("export controls", "export_control_start", None,
          ("export_control_regions", "export_control_min_tflops", "export_control_start")),
    Lever("price cap", "price_cap_start", None, ("price_cap_vendor", "price_cap_margin", "price_cap_start")),
    Lever("power crunch", "power_crunch_start", None, ("power_crunch_start", "power_crunch_scale")),
)


@dataclass(frozen=True)
class ActivePeriod:
    """When a scenario's levers act, in months from the run's first month: `first` to `stop` (exclusive), and
    `after_from`, the month the "after" windows count from. `levers` says which levers, in words."""

    first: int
    stop: int
    after_from: int
    levers: str


@dataclass(frozen=True)
class Window:
    """Months `first` to `stop` (exclusive) from the run's first month; either may lie outside the run."""

    name: str
    first: int
    stop: int


def _checked(date) -> str:
    """`date` if it is a month YYYY-MM (hardware_catalog's rule), else ValueError (e.g. "2024-1" or "January")."""
    problem = year_month(date) if isinstance(date, str) else f"must be YYYY-MM, got {date!r}"
    if problem:
        raise ValueError(problem)
    return date


def months_from(start: str, date: str) -> int:
    """Whole months from `start` to `date` (both YYYY-MM, checked); negative when `date` is earlier."""
    return months_between(_checked(start), _checked(date))


def month_date(start: str, months: int) -> str:
    """The YYYY-MM date `months` months after `start` (checked)."""
    return add_months(_checked(start), months)


def _lever_spans(base: dict, scenario: dict, run_start: str, where: str) -> list[tuple[int, int, int, str]]:
    """(first, stop, after_from, words) of each dated lever or capacity deal the scenario sets differently from the
    base, in months from `run_start`. `where` names the manifest for errors."""
    spans = []
    for lever in LEVERS:
        if all(base.get(key) == scenario.get(key) for key in lever.keys):
            continue
        # the scenario's dates; a scenario that turns off a lever its base uses takes the base's
        start = scenario.get(lever.start) or base.get(lever.start) or run_start
        first = _month_of(start, run_start, f"{where}: field config.market.{lever.start}")
        if lever.months is None:
            spans.append((first, first + START_ONLY_MONTHS, first, f"{lever.name} from {start}"))
            continue
        length = scenario.get(lever.months, base.get(lever.months))
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise UsageError(f"{where}: field config.market.{lever.months}: must be a whole number of months >= 1, "
                             f"got {length!r}")
        spans.append((first, first + length, first + length, f"{lever.name} {start} + {length} months"))
    base_deals = base.get("capacity_deals") or []
    for i, deal in enumerate(scenario.get("capacity_deals") or []):
        if deal in base_deals:
            continue
        field = f"{where}: field config.market.capacity_deals[{i}]"
        if not isinstance(deal, dict) or not isinstance(deal.get("months"), int) or deal["months"] < 1:
            raise UsageError(f"{field}: needs a start (YYYY-MM) and months >= 1, got {deal!r}")
        first = _month_of(deal.get("start"), run_start, f"{field}.start")
        stop = first + deal["months"]
        spans.append((first, stop, stop, f"deal {deal.get('name', i)} {deal['start']} + {deal['months']} months"))
    return spans


def _month_of(date, run_start: str, where: str) -> int:
    try:
        return months_from(run_start, date)
    except ValueError:
        raise UsageError(f"{where}: must be a month YYYY-MM, got {date!r}") from None


def active_period(base: dict, scenario: dict, run_start: str, where: str = "scenario manifest") -> ActivePeriod:
    """When the scenario's levers act, from the base's and the scenario's resolved market configs (the manifest's
    config.market: dicts of key -> value), in months from `run_start` (YYYY-MM). See the module docstring for the
    rule; `where` names the scenario's manifest in errors."""
    spans = _lever_spans(base, scenario, run_start, where)
    if not spans:
        return ActivePeriod(0, START_ONLY_MONTHS, 0, f"no dated lever: differs from the run's start ({run_start})")
    return ActivePeriod(first=min(s[0] for s in spans), stop=max(s[1] for s in spans),
                        after_from=max(s[2] for s in spans), levers="; ".join(s[3] for s in spans))


def windows(period: ActivePeriod, run_months: int) -> list[Window]:
    """The five windows of a run of `run_months` months (in WINDOWS order), in months from its first month."""
    return [
        Window("during", period.first, period.stop),
        Window("one year after", period.after_from + 12, period.after_from + 24),
        Window("three years after", period.after_from + 36, period.after_from + 48),
        Window("last year", run_months - 12, run_months),
        Window("discounted", 0, run_months),
    ]


def coverage(window: Window, run_months: int) -> tuple[int, int, str]:
    """(first, stop) of the window's months inside a run of `run_months` months, and whether the run "reached"
    the whole window, "partly reached" it or "not reached" it at all (then first == stop)."""
    first, stop = max(window.first, 0), min(window.stop, run_months)
    if stop <= first:
        return first, first, "not reached"
    return first, stop, "reached" if (first, stop) == (window.first, window.stop) else "partly reached"


def discount_weights(months: int, rate: float = DISCOUNT_RATE_PER_YEAR) -> np.ndarray:
    """Weight of each month 0..months-1: (1 + rate) ** (-month / 12), `rate` a year."""
    return (1.0 + rate) ** (-np.arange(months) / 12.0)


def window_value(values: np.ndarray, first: int, stop: int, flow: bool) -> float:
    """One seed's value of a series in months [first, stop): the mean over its months with a value (NaN months
    left out), times 12 for a flow (USD a month -> USD a year). NaN when no month has a value."""
    part = np.asarray(values, dtype=float)[first:stop]
    part = part[np.isfinite(part)]
    if part.size == 0:
        return float("nan")
    return float(part.mean() * (12.0 if flow else 1.0))


def discounted_value(values: np.ndarray, flow: bool, rate: float = DISCOUNT_RATE_PER_YEAR) -> float:
    """One seed's value of a series over the whole run, month t weighted (1 + rate) ** (-t / 12): for a flow the
    discounted sum (USD a month -> USD at the run's first month), for a level the discount-weighted mean (a sum of
    shares or prices over months means nothing). Months without a value are left out; NaN when none has one."""
    values = np.asarray(values, dtype=float)
    weights = discount_weights(values.size, rate)
    known = np.isfinite(values)
    if not known.any():
        return float("nan")
    total = float(np.sum(values[known] * weights[known]))
    return total if flow else total / float(np.sum(weights[known]))


def statistic(headline: Headline, window: str, run_start: str, rate: float = DISCOUNT_RATE_PER_YEAR) -> str:
    """What a window's number is, with its unit, in words."""
    per_year = f"{rate:.0%}/yr"
    if window == "discounted":
        if headline.flow:
            return f"discounted sum at {per_year}, USD at {run_start}"
        return f"discount-weighted mean at {per_year}, {headline.unit}"
    return "mean, USD a year" if headline.flow else f"mean, {headline.unit}"


# ------------------------------------------------------------------------------------ run folders


def _read_manifest(folder: Path) -> tuple[list[int], dict]:
    """(seeds, resolved market config) of a run folder's manifest.json."""
    from .runner import read_stored

    path = folder / "manifest.json"
    manifest = read_stored(path, lambda p: json.loads(Path(p).read_text()))
    try:
        seeds = [int(s) for s in manifest["seeds"]]
    except (KeyError, TypeError, ValueError):
        raise UsageError(f"{path}: field 'seeds': missing or not a list of whole numbers") from None
    config = manifest.get("config") if isinstance(manifest, dict) else None
    market = config.get("market") if isinstance(config, dict) else None
    if not isinstance(market, dict):
        raise UsageError(f"{path}: field 'config.market': missing; re-run the command that made it with --force")
    # the resolved config holds its sections as tables ([policy], [supply], ...): the levers are read by field name
    flat = dict(market)
    for section in SECTIONS:
        if isinstance(market.get(section), dict):
            flat.update(market[section])
    return seeds, flat


def read_model_table(path: Path) -> pd.DataFrame:
    """One seed's monthly model table, checked: a `date` column (YYYY-MM) with one row per consecutive month."""
    from .runner import read_stored

    table = read_stored(path, pd.read_parquet)
    if "date" not in table.columns:
        raise UsageError(f"{path}: field 'date': missing; the run folder is older than this report or damaged")
    dates = table["date"].astype(str).tolist()
    try:
        expected = [month_date(dates[0], i) for i in range(len(dates))] if dates else []
    except ValueError:
        raise UsageError(f"{path}: field 'date': {dates[0]!r} is not a month YYYY-MM") from None
    if not dates or dates != expected:
        raise UsageError(f"{path}: field 'date': not one row per consecutive month (YYYY-MM)")
    return table.reset_index(drop=True)


def seed_tables(folder: Path, seeds: list[int]) -> dict[int, pd.DataFrame]:
    """The monthly model table of each of `seeds` stored in the run folder."""
    from .runner import SEED_TABLES, seed_dir

    return {s: read_model_table(seed_dir(folder / "seeds", s) / SEED_TABLES["model_table"]) for s in seeds}


def _span(tables: dict[int, pd.DataFrame], folder: Path) -> tuple[str, int]:
    """(first month, number of months) shared by every seed of a run folder."""
    spans = {(t["date"].iloc[0], len(t)) for t in tables.values()}
    if len(spans) != 1:
        raise UsageError(f"{folder}: its seeds cover different months ({', '.join(sorted(map(str, spans)))})")
    return spans.pop()


def window_effects(base_dir: Path, scenario_dir: Path) -> pd.DataFrame:
    """One row per (headline series, window) of one scenario against its base: the window's months, whether the run
    reached it, the base's and the scenario's means over paired seeds, the mean paired difference (scenario - base)
    with its bootstrap 90% interval (p05, p95) and its sign-flip p-value, and `relative` (the difference as a share
    of the base mean's size). Units are in `statistic`. No multiple-testing correction here (see effects_by_window).
    A window outside the run has status "not reached" and NaN numbers; a series neither run records has status
    "not recorded"."""
    base_dir, scenario_dir = Path(base_dir), Path(scenario_dir)
    base_seeds, base_market = _read_manifest(base_dir)
    scenario_seeds, scenario_market = _read_manifest(scenario_dir)
    seeds = sorted(set(base_seeds) & set(scenario_seeds))
    if not seeds:
        raise UsageError(f"{scenario_dir}: shares no seed with its base {base_dir} (seeds {scenario_seeds} vs "
                         f"{base_seeds}); compare runs made with the same seeds")
    base_tables, scenario_tables = seed_tables(base_dir, seeds), seed_tables(scenario_dir, seeds)
    (start, months), scenario_span = _span(base_tables, base_dir), _span(scenario_tables, scenario_dir)
    if scenario_span != (start, months):
        raise UsageError(f"{scenario_dir}: covers {scenario_span[1]} months from {scenario_span[0]} but its base "
                         f"{base_dir} covers {months} from {start}; compare runs of the same months")
    period = active_period(base_market, scenario_market, start, str(scenario_dir / "manifest.json"))
    rows = []
    for headline in HEADLINES:
        recorded = all(headline.column in t.columns for t in [*base_tables.values(), *scenario_tables.values()])
        for window in windows(period, months):
            first, stop, status = coverage(window, months)
            row = {"scenario": scenario_dir.name, "series": headline.column, "label": headline.label,
                   "window": window.name, "statistic": statistic(headline, window.name, start),
                   "window_start": month_date(start, window.first), "window_end": month_date(start, window.stop - 1),
                   "months_in_run": stop - first, "status": status if recorded else "not recorded",
                   "levers": period.levers, "seeds": len(seeds)}
            if recorded and status != "not reached":
                row.update(_paired_effect(base_tables, scenario_tables, seeds, headline, window.name, first, stop))
            rows.append(row)
    return pd.DataFrame(rows, columns=WINDOW_COLUMNS)


def _paired_effect(base_tables, scenario_tables, seeds, headline: Headline, window: str, first: int,
                   stop: int) -> dict[str, float]:
    """Means, mean paired difference, its interval, relative size and p-value of one series in one window."""
    def value(table: pd.DataFrame) -> float:
        series = table[headline.column].to_numpy(dtype=float)
        if window == "discounted":
            return discounted_value(series, headline.flow)
        return window_value(series, first, stop, headline.flow)

    base = np.array([value(base_tables[s]) for s in seeds])
    scenario = np.array([value(scenario_tables[s]) for s in seeds])
    diff = scenario - base
    known = np.isfinite(diff)
    lo, hi = bootstrap_interval(diff) if known.sum() > 1 else (float("nan"), float("nan"))
    difference = float(diff[known].mean()) if known.any() else float("nan")
    base_mean = float(base[known].mean()) if known.any() else float("nan")
    return {"base_mean": base_mean, "scenario_mean": float(scenario[known].mean()) if known.any() else float("nan"),
            "difference": difference, "p05": lo, "p95": hi,
            "relative": difference / abs(base_mean) if base_mean else float("nan"),
            "p_value": sign_flip_p_value(diff)}


def effects_by_window(base_dir: Path, scenario_dirs: list[Path], min_seeds: int = 5) -> pd.DataFrame:
    """The window table of every scenario against the base, with Benjamini-Hochberg q-values over the whole table
    (one family) and the star significant_bh (q < FDR_LEVEL with at least `min_seeds` paired seeds)."""
    tables = [window_effects(base_dir, folder) for folder in scenario_dirs]
    if not tables:
        return mark_discoveries(pd.DataFrame(columns=["scenario", "series", "window", "seeds", "p_value"]), min_seeds)
    return mark_discoveries(pd.concat(tables, ignore_index=True), min_seeds)


def scenario_effects(base_dir: Path, scenario_dir: Path, min_seeds: int = 5) -> pd.DataFrame:
    """The window table of one scenario run folder against its base run folder, corrected over its own rows: what a
    scenario's description page needs to state the sign of its headline effects by window (see sign_table)."""
    return effects_by_window(base_dir, [scenario_dir], min_seeds)


def sign_of(row) -> str:
    """"+" or "-" for a starred effect, "0" for one that is not, "." for a window not reached or not recorded."""
    if row.status in ("not reached", "not recorded") or not np.isfinite(row.difference):
        return "."
    if not row.significant_bh:
        return "0"
    return "+" if row.difference > 0 else "-"


def sign_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and headline series (rows, by label), the sign of the effect in each window (columns, WINDOWS
    order): see sign_of."""
    signs = table.assign(sign=[sign_of(row) for row in table.itertuples()])
    wide = signs.pivot(index=["scenario", "label"], columns="window", values="sign")
    rows = list(dict.fromkeys(zip(signs["scenario"], signs["label"], strict=True)))  # the table's own order
    return wide.reindex(index=pd.MultiIndex.from_tuples(rows, names=["scenario", "label"]),
                        columns=[w for w in WINDOWS if w in wide.columns])


def effects_figure(table: pd.DataFrame) -> bytes:
    """The small-multiples PNG of a window table (plots.window_effects_chart), titled with its rules."""
    from . import plots

    seeds = int(table["seeds"].max()) if len(table) else 0
    rule = table["star_rule"].iloc[0] if len(table) else ""
    title = (f"Effects by window: scenario - base, mean over {seeds} paired seeds, as % of the base's value in the "
             f"window\nlines: bootstrap 90% interval; * {rule.removeprefix('starred: ')}; during: while the levers "
             f"act; +1y, +3y: months 12-23, 36-47 after; disc.: whole run at {DISCOUNT_RATE_PER_YEAR:.0%}/yr")
    return plots.window_effects_chart(table, WINDOWS, SHORT_WINDOW_NAMES, title)
