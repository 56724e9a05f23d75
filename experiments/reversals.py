"""Why a scenario's effect changes sign between windows, read from the run tables (issue 24: a page that reports a
reversal names its mechanism from the runs, not from a guess).

A headline reverses when, among the time windows (during, one year after, three years after, the last year), at least
one significant effect is positive and one negative (significant: the Benjamini-Hochberg mark of the comparison). For
each window with a significant effect, the paired difference scenario - base of chip spending is split two ways, from
the tables every run folder stores:
- by vendor (`vendors_monthly.parquet`: revenue), which says whose sales moved (a shift between vendors, or one
  vendor's sales moving in time);
- by buyer (`ledger_monthly.parquet`: amount), which says whose purchases moved;
each as a mean over the paired seeds, in USD a year. The largest contributors of each window are named, with the
leader's revenue share and the vendors' software maturity in that window beside them, so a reader sees, say, that
three years after a shock the extra revenue is AMD's, bought by the clouds that delayed their purchases, while
NVIDIA's share is lower.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .effect_windows import months_from

TIME_WINDOWS = ("during", "one year after", "three years after", "last year")
TOP = 2  # contributors named per window and split


def reversed_headlines(rows: pd.DataFrame) -> dict[str, list]:
    """{headline label: [rows of its significant time windows]} for the headlines of one scenario's window table
    (effects_by_window.csv rows) whose significant effects have both signs."""
    out: dict[str, list] = {}
    for label, group in rows.groupby("label", sort=False):
        marked = [r for r in group.itertuples() if r.window in TIME_WINDOWS and bool(r.significant_bh)
                  and math.isfinite(r.difference) and r.difference != 0]
        if any(r.difference > 0 for r in marked) and any(r.difference < 0 for r in marked):
            out[str(label)] = marked
    return out


def _read(folder: Path, name: str) -> pd.DataFrame:
    path = folder / name
    return pd.read_parquet(path) if path.exists() else pd.DataFrame()


def _in_window(table: pd.DataFrame, start: str, end: str, run_start: str) -> pd.DataFrame:
    first, last = months_from(run_start, start), months_from(run_start, end)
    return table[(table["month"] >= first) & (table["month"] <= last)]


def split(base: pd.DataFrame, scenario: pd.DataFrame, key: str, value: str, years: float) -> pd.Series:
    """Scenario - base of `value` summed by `key` over a window's rows, mean over the paired seeds, USD a year
    (`years`: the window's length), largest in size first."""
    def by_key(table):
        return table.groupby(["seed", key])[value].sum().unstack(fill_value=0.0)

    b, s = by_key(base), by_key(scenario)
    b, s = b.align(s, fill_value=0.0)
    seeds = b.index.intersection(s.index)
    diff = (s.loc[seeds] - b.loc[seeds]).mean(axis=0) / years
    return diff.reindex(diff.abs().sort_values(ascending=False).index)


def _named(diff: pd.Series) -> str:
    parts = [f"{name} {value / 1e9:+,.1f}" for name, value in diff.head(TOP).items() if abs(value) >= 0.05e9]
    return ", ".join(parts) if parts else "no contributor above $0.05B"


def explain(compare_dir: Path, scenario: str, rows: pd.DataFrame, base: str = "baseline") -> str:
    """Markdown lines on each reversed headline of `scenario` (its rows of effects_by_window.csv), from the run
    folders `compare_dir/<base>` and `compare_dir/<scenario>`; "" when nothing reverses."""
    reversed_ = reversed_headlines(rows)
    if not reversed_:
        return ""
    base_dir, scen_dir = compare_dir / base, compare_dir / scenario
    tables = {name: (_read(base_dir, name), _read(scen_dir, name))
              for name in ("vendors_monthly.parquet", "ledger_monthly.parquet")}
    vb, vs = tables["vendors_monthly.parquet"]
    lb, ls = tables["ledger_monthly.parquet"]
    if vb.empty or vs.empty:
        return ""
    run_start = str(vb.loc[vb["month"] == 0, "date"].iloc[0])
    summary = "; ".join(
        f"{label} ({', '.join(('+' if r.difference > 0 else '-') + ' ' + r.window for r in marked)})"
        for label, marked in reversed_.items())
    lines = ["", f"**Why signs reverse.** Significant effects change sign for: {summary}. What moved in each of those "
             "windows, scenario - baseline from the run tables (chip revenue by vendor and chip purchases by buyer, "
             "USD billion a year, mean over the paired seeds; NVIDIA's revenue share and the named vendors' software "
             "maturity in the scenario, the baseline's in brackets):", ""]
    windows = {}
    for marked in reversed_.values():
        for row in marked:
            windows.setdefault(row.window, (str(row.window_start), str(row.window_end)))
    for window in TIME_WINDOWS:
        if window not in windows:
            continue
        start, end = windows[window]
        years = max(months_from(start, end) + 1, 1) / 12.0
        wb, ws = _in_window(vb, start, end, run_start), _in_window(vs, start, end, run_start)
        by_vendor = split(wb, ws, "vendor", "revenue", years)
        text = f"{window} ({start}..{end}): by vendor {_named(by_vendor)}"
        if not lb.empty and not ls.empty:
            by_buyer = split(_in_window(lb, start, end, run_start), _in_window(ls, start, end, run_start),
                             "buyer", "amount", years)
            text += f"; by buyer {_named(by_buyer)}"
        share = _share(ws, "nvidia"), _share(wb, "nvidia")
        if all(math.isfinite(x) for x in share):
            text += f"; NVIDIA's share {share[0]:.2f} ({share[1]:.2f})"
        top = [v for v in by_vendor.index[:TOP] if v in set(ws["vendor"])]
        maturity = [f"{v} {_fmt(_mean(ws, v, 'maturity'))} ({_fmt(_mean(wb, v, 'maturity'))})" for v in top
                    if "maturity" in ws]
        if maturity:
            text += "; maturity " + ", ".join(maturity)
        lines.append(f"- {text}.")
    return "\n".join(lines)


def _fmt(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "not on sale"


def _share(table: pd.DataFrame, vendor: str) -> float:
    total = float(table["revenue"].sum())
    return float(table.loc[table["vendor"] == vendor, "revenue"].sum()) / total if total > 0 else float("nan")


def _mean(table: pd.DataFrame, vendor: str, column: str) -> float:
    values = table.loc[table["vendor"] == vendor, column]
    return float(values.mean()) if len(values) else float("nan")
