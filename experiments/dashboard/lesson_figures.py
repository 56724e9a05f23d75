"""The numbers the lessons quote, recomputed from the model (never typed by hand).

A lesson writes a figure as a placeholder, `{l3_revenue_2024_shortage}`; the page shows the value stored in
experiments/lessons/figures.toml, which this module writes:

    python -m experiments.dashboard.lesson_figures           # recompute, print quoted vs recomputed
    python -m experiments.dashboard.lesson_figures --write   # ... and store the recomputed values

Each figure is the mean over SEEDS of one measure of one dashboard run (a preset plus levers, exactly what a
student can set on the page), so a model change is picked up by rerunning the script; tests/test_lessons.py
recomputes them and fails if the stored text no longer matches. Measures are pure functions of a run's tables
(calendar years are month windows from the run's start, January 2023).
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.dashboard import session

FIGURES_FILE = Path(__file__).resolve().parent.parent / "lessons" / "figures.toml"
SEEDS = (0, 1)
FIRST_YEAR = 2023  # the presets start in January 2023
PLACEHOLDER = re.compile(r"\{([a-z0-9_]+)\}")


def window(year: int) -> tuple[int, int]:
    """Month indices [first, last) of a calendar year."""
    first = 12 * (year - FIRST_YEAR)
    return first, first + 12


@dataclass(frozen=True)
class Run:
    """What a measure reads: the monthly series, the vendor rows and (venture runs only) the deal and fund tables."""

    monthly: pd.DataFrame
    vendors: pd.DataFrame
    deals: pd.DataFrame | None = None
    funds: pd.DataFrame | None = None


# ------------------------------------------------------------------------------------------ measures

def margin(vendor: str, year: int, column: str = "gross_margin") -> Callable[[Run], float]:
    """Revenue-weighted gross margin of `vendor` over a calendar year (booked by default; 'margin_posted' for the
    margin it priced at). A fraction."""
    first, last = window(year)

    def measure(run: Run) -> float:
        rows = run.vendors[(run.vendors.vendor == vendor) & run.vendors.month.between(first, last - 1)]
        sold = rows.revenue.sum()
        return float((rows.revenue * rows[column]).sum() / sold) if sold > 0 else float("nan")
    return measure


def yearly(column: str, year: int, how: Callable = np.nanmean, scale: float = 1.0) -> Callable[[Run], float]:
    """A monthly series over a calendar year, reduced by `how` (mean by default; np.nansum for flows), x scale."""
    first, last = window(year)

    def measure(run: Run) -> float:
        values = run.monthly[column].to_numpy(dtype=float)[first:last]
        return float(how(values)) * scale if len(values) else float("nan")
    return measure


def chip_revenue_b(year: int) -> Callable[[Run], float]:
    """Total chip revenue over a calendar year, USD billion."""
    return yearly("chip_revenue", year, np.nansum, 1e-9)


def writedowns_b(vendor: str, year: int) -> Callable[[Run], float]:
    """A vendor's write-downs over a calendar year, USD billion."""
    first, last = window(year)

    def measure(run: Run) -> float:
        rows = run.vendors[(run.vendors.vendor == vendor) & run.vendors.month.between(first, last - 1)]
        return float(rows.writedown.sum()) * 1e-9
    return measure


def lowest_monthly_margin(vendor: str, year: int) -> Callable[[Run], float]:
    """A vendor's lowest booked monthly gross margin in a calendar year."""
    first, last = window(year)

    def measure(run: Run) -> float:
        rows = run.vendors[(run.vendors.vendor == vendor) & run.vendors.month.between(first, last - 1)]
        return float(np.nanmin(rows.gross_margin.to_numpy(dtype=float)))
    return measure


def difference(a: Callable[[Run], float], b: Callable[[Run], float]) -> Callable[[Run], float]:
    return lambda run: a(run) - b(run)


def ratio_pct(a: Callable[[Run], float], b: Callable[[Run], float]) -> Callable[[Run], float]:
    """100 x (a / b - 1): a's change against b, in per cent (both measured on the same run)."""
    return lambda run: 100.0 * (a(run) / b(run) - 1.0)


def deal_share(below: float | None = None, at_least: float | None = None) -> Callable[[Run], float]:
    """Share of the deal cohort with a multiple below `below` (or at least `at_least`), in per cent."""
    def measure(run: Run) -> float:
        from experiments.venture_analysis import deal_cohort
        multiples = deal_cohort(run.deals).multiple.to_numpy()
        hit = multiples < below if below is not None else multiples >= at_least
        return 100.0 * float(hit.mean())
    return measure


def top_deals_value_pct(run: Run) -> float:
    """Share of the deal cohort's value held by its best 5% of deals, in per cent."""
    from experiments.venture_analysis import deal_cohort, top_return_share
    return 100.0 * top_return_share(deal_cohort(run.deals), 0.05)


def centrality_returns(run: Run) -> float:
    """Spearman correlation between a firm's centrality at a fund's vintage and the fund's TVPI."""
    from experiments.venture_analysis import centrality_return_spearman
    return centrality_return_spearman(run.funds)


# ------------------------------------------------------------------------------------------ runs

@functools.cache
def run_tables(settings: session.Settings, venture: bool = False) -> Run:
    """The tables of one whole dashboard run (chip-market runs without the venture side: the chip market is the
    same, tests/test_dashboard.py checks it)."""
    model = session.DashboardMarket(settings, venture=venture)
    for _ in range(settings.months):
        model.step()
    if venture:
        return Run(model.model_table(), model.vendor_table(), model.venture.deal_table(), model.venture.fund_table())
    return Run(model.model_table(), model.vendor_table())


@dataclass(frozen=True)
class LessonFigure:
    """One number a lesson quotes: `measure` on the run of `levers` (Settings fields: preset, months, levers),
    averaged over SEEDS, written with `fmt` (a format string)."""

    name: str
    measure: Callable[[Run], float]
    fmt: str
    levers: dict = field(default_factory=dict)
    venture: bool = False

    def compute(self) -> float:
        values = [self.measure(run_tables(session.Settings(seed=seed, **self.levers), self.venture))
                  for seed in SEEDS]
        return float(np.mean(values))

    def text(self) -> str:
        """The figure written with `fmt`; a value that rounds to zero is written as zero, not as "-0.00"."""
        return written(self.fmt, self.compute())


def written(fmt: str, value: float) -> str:
    """`value` formatted with `fmt`, without the sign of a value that rounds to zero ("-0.00" -> "0.00")."""
    text = fmt.format(value)
    zero = fmt.format(0.0)
    return zero if text.replace("-", "", 1) == zero else text


TWO_YEARS = {"months": 24}
THREE_YEARS = {"months": 36}
TEN_YEARS = {"months": 120}
SHORTAGE_2Y = {**TWO_YEARS, "preset": "hbm_shortage"}
SHORTAGE_3Y = {**THREE_YEARS, "preset": "hbm_shortage"}
OPEN_STACK = {**TEN_YEARS, "preset": "open_software_stack"}
SHOCK = {"preset": "demand_shock", "months": 60}
SHOCK_TO_ORDER = {**SHOCK, "lead_time": "0"}
SHOCK_AHEAD = {**SHOCK, "lead_time": "6"}

FIGURES = (
    # lesson 1: lock-in and scarcity
    LessonFigure("l1_nvidia_margin_2024", margin("nvidia", 2024), "{:.2f}", TWO_YEARS),
    LessonFigure("l1_nvidia_margin_2024_lockin0", margin("nvidia", 2024), "{:.2f}", {**TWO_YEARS, "lock_in": 0.0}),
    LessonFigure("l1_nvidia_margin_2024_lockin2", margin("nvidia", 2024), "{:.2f}", {**TWO_YEARS, "lock_in": 2.0}),
    LessonFigure("l1_nvidia_margin_2025", margin("nvidia", 2025), "{:.2f}", THREE_YEARS),
    LessonFigure("l1_nvidia_margin_2025_lockin2", margin("nvidia", 2025), "{:.2f}", {**THREE_YEARS, "lock_in": 2.0}),
    LessonFigure("l1_nvidia_share_2024", yearly("revenue_share_nvidia", 2024), "{:.2f}", TWO_YEARS),
    LessonFigure("l1_nvidia_share_2024_lockin0", yearly("revenue_share_nvidia", 2024), "{:.2f}",
                 {**TWO_YEARS, "lock_in": 0.0}),
    LessonFigure("l1_rental_2024", yearly("rental_price_heq_hour", 2024), "${:.2f}", TWO_YEARS),
    LessonFigure("l1_rental_2024_lockin0", yearly("rental_price_heq_hour", 2024), "${:.2f}",
                 {**TWO_YEARS, "lock_in": 0.0}),
    LessonFigure("l1_fill_2024", yearly("rental_fill_rate", 2024, scale=100.0), "{:.0f}%", TWO_YEARS),
    LessonFigure("l1_fill_2024_lockin0", yearly("rental_fill_rate", 2024, scale=100.0), "{:.0f}%",
                 {**TWO_YEARS, "lock_in": 0.0}),
    LessonFigure("l1_backlog_2024", yearly("backlog_units", 2024, scale=1e-3), "{:,.0f} thousand", TWO_YEARS),
    LessonFigure("l1_backlog_2024_lockin0", yearly("backlog_units", 2024, scale=1e-3), "{:,.0f} thousand",
                 {**TWO_YEARS, "lock_in": 0.0}),
    LessonFigure("l1_revenue_2024", chip_revenue_b(2024), "${:.0f}B", TWO_YEARS),
    LessonFigure("l1_revenue_2024_lockin0", chip_revenue_b(2024), "${:.0f}B", {**TWO_YEARS, "lock_in": 0.0}),
    LessonFigure("l1_amd_margin_2024", margin("amd", 2024), "{:.2f}", TWO_YEARS),
    LessonFigure("l1_amd_margin_2024_capacity2", margin("amd", 2024), "{:.2f}", {**TWO_YEARS, "capacity": 2.0}),
    LessonFigure("l1_amd_margin_2025", margin("amd", 2025), "{:.2f}", THREE_YEARS),
    LessonFigure("l1_amd_margin_2025_capacity2", margin("amd", 2025), "{:.2f}", {**THREE_YEARS, "capacity": 2.0}),
    LessonFigure("l1_nvidia_margin_2024_capacity2", margin("nvidia", 2024), "{:.2f}", {**TWO_YEARS, "capacity": 2.0}),
    LessonFigure("l1_margin_gap_2024", difference(margin("nvidia", 2024), margin("amd", 2024)), "{:.2f}", TWO_YEARS),
    LessonFigure("l1_nvidia_share_2032", yearly("revenue_share_nvidia", 2032), "{:.2f}", TEN_YEARS),
    LessonFigure("l1_nvidia_margin_2032", margin("nvidia", 2032), "{:.2f}", TEN_YEARS),
    # lesson 2: an open software stack
    LessonFigure("l2_nvidia_share_2032", yearly("revenue_share_nvidia", 2032), "{:.2f}", TEN_YEARS),
    LessonFigure("l2_nvidia_share_2032_open", yearly("revenue_share_nvidia", 2032), "{:.2f}",
                 OPEN_STACK),
    LessonFigure("l2_nvidia_margin_2032", margin("nvidia", 2032), "{:.2f}", TEN_YEARS),
    LessonFigure("l2_nvidia_margin_2032_open", margin("nvidia", 2032), "{:.2f}",
                 OPEN_STACK),
    LessonFigure("l2_amd_margin_2032", margin("amd", 2032), "{:.2f}", TEN_YEARS),
    LessonFigure("l2_amd_margin_2032_open", margin("amd", 2032), "{:.2f}", OPEN_STACK),
    LessonFigure("l2_amd_share_2032", yearly("revenue_share_amd", 2032), "{:.2f}", TEN_YEARS),
    LessonFigure("l2_amd_share_2032_open", yearly("revenue_share_amd", 2032), "{:.2f}", OPEN_STACK),
    # lesson 3: an HBM shortage
    LessonFigure("l3_amd_margin_2024", margin("amd", 2024), "{:.2f}", TWO_YEARS),
    LessonFigure("l3_amd_margin_2024_shortage", margin("amd", 2024), "{:.2f}", SHORTAGE_2Y),
    LessonFigure("l3_amd_margin_2025", margin("amd", 2025), "{:.2f}", THREE_YEARS),
    LessonFigure("l3_amd_margin_2025_shortage", margin("amd", 2025), "{:.2f}", SHORTAGE_3Y),
    LessonFigure("l3_nvidia_margin_2024", margin("nvidia", 2024), "{:.2f}", TWO_YEARS),
    LessonFigure("l3_nvidia_margin_2024_shortage", margin("nvidia", 2024), "{:.2f}",
                 SHORTAGE_2Y),
    LessonFigure("l3_revenue_2024", chip_revenue_b(2024), "${:.0f}B", TWO_YEARS),
    LessonFigure("l3_revenue_2024_shortage", chip_revenue_b(2024), "${:.0f}B", SHORTAGE_2Y),
    LessonFigure("l3_rental_2024", yearly("rental_price_heq_hour", 2024), "${:.2f}", TWO_YEARS),
    LessonFigure("l3_rental_2024_shortage", yearly("rental_price_heq_hour", 2024), "${:.2f}",
                 SHORTAGE_2Y),
    # lesson 4: export controls
    LessonFigure("l4_revenue_2024", chip_revenue_b(2024), "${:.0f}B", TWO_YEARS),
    LessonFigure("l4_revenue_2024_controls", chip_revenue_b(2024), "${:.0f}B",
                 {**TWO_YEARS, "preset": "export_controls"}),
    LessonFigure("l4_china_capex_2024", yearly("capex_china-cloud", 2024, np.nansum, 1e-9), "${:.1f}B", TWO_YEARS),
    LessonFigure("l4_china_capex_2024_controls", yearly("capex_china-cloud", 2024, np.nansum, 1e-9), "${:.1f}B",
                 {**TWO_YEARS, "preset": "export_controls"}),
    LessonFigure("l4_power_2032", yearly("installed_power_gw", 2032, lambda v: v[-1]), "{:.1f} GW", TEN_YEARS),
    LessonFigure("l4_power_2032_controls", yearly("installed_power_gw", 2032, lambda v: v[-1]), "{:.1f} GW",
                 {**TEN_YEARS, "preset": "export_controls"}),
    LessonFigure("l4_nvidia_share_2032", yearly("revenue_share_nvidia", 2032), "{:.2f}", TEN_YEARS),
    LessonFigure("l4_nvidia_share_2032_controls", yearly("revenue_share_nvidia", 2032), "{:.2f}",
                 {**TEN_YEARS, "preset": "export_controls"}),
    # lesson 5: venture returns (full runs with the venture side)
    LessonFigure("l5_below_1x", deal_share(below=1.0), "{:.0f}%", TEN_YEARS, venture=True),
    LessonFigure("l5_10x_plus", deal_share(at_least=10.0), "{:.0f}%", TEN_YEARS, venture=True),
    LessonFigure("l5_top5_value", top_deals_value_pct, "{:.0f}%", TEN_YEARS, venture=True),
    LessonFigure("l5_spearman_loop_on", centrality_returns, "{:.2f}", TEN_YEARS, venture=True),
    LessonFigure("l5_spearman_loop_off", centrality_returns, "{:.2f}", {**TEN_YEARS, "vc_loop": "off"}, venture=True),
    # lesson 6: a demand shock as the preset has it, made to order (lead time 0) and with supply committed six
    # months ahead (lead time 6)
    LessonFigure("l6_revenue_2026", chip_revenue_b(2026), "${:.0f}B", SHOCK),
    LessonFigure("l6_revenue_2027", chip_revenue_b(2027), "${:.0f}B", SHOCK),
    LessonFigure("l6_revenue_2027_baseline", chip_revenue_b(2027), "${:.0f}B", {"months": 60}),
    LessonFigure("l6_booked_2027", margin("nvidia", 2027), "{:.2f}", SHOCK_TO_ORDER),
    LessonFigure("l6_posted_2027", margin("nvidia", 2027, "margin_posted"), "{:.2f}", SHOCK_TO_ORDER),
    LessonFigure("l6_writedown_2027", writedowns_b("nvidia", 2027), "${:.1f}B", SHOCK_TO_ORDER),
    LessonFigure("l6_booked_2027_ahead", margin("nvidia", 2027), "{:.2f}", SHOCK_AHEAD),
    LessonFigure("l6_posted_2027_ahead", margin("nvidia", 2027, "margin_posted"), "{:.2f}", SHOCK_AHEAD),
    LessonFigure("l6_writedown_2027_ahead", writedowns_b("nvidia", 2027), "${:.1f}B", SHOCK_AHEAD),
    LessonFigure("l6_lowest_2027_ahead", lowest_monthly_margin("nvidia", 2027), "{:.2f}", SHOCK_AHEAD),
    LessonFigure("l6_revenue_2027_ahead", chip_revenue_b(2027), "${:.0f}B", SHOCK_AHEAD),
)
BY_NAME = {f.name: f for f in FIGURES}


# ------------------------------------------------------------------------------------------ stored values

def stored() -> dict[str, str]:
    """The quoted texts, by name, as figures.toml holds them."""
    with FIGURES_FILE.open("rb") as handle:
        return {name: str(value) for name, value in tomllib.load(handle).get("figures", {}).items()}


def fill(text: str, values: dict[str, str] | None = None) -> str:
    """A lesson's Markdown with its placeholders replaced by the stored figures; an unknown name is an error
    naming it (a lesson must not show a raw placeholder)."""
    values = stored() if values is None else values

    def one(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"{FIGURES_FILE}: no figure named {name!r} (used in a lesson); run "
                           "'python -m experiments.dashboard.lesson_figures --write'")
        return values[name]
    return PLACEHOLDER.sub(one, text)


def placeholders(text: str) -> list[str]:
    return PLACEHOLDER.findall(text)


def write(values: dict[str, str]) -> None:
    lines = ["# The numbers the lessons quote, written by `python -m experiments.dashboard.lesson_figures --write`",
             f"# (each the mean over seeds {', '.join(map(str, SEEDS))} of a dashboard run; see lesson_figures.py for",
             "# the run and the measure of each). Do not edit by hand: rerun the script after a model change.",
             "", "[figures]"]
    lines += [f'{name} = "{values[name]}"' for name in sorted(values)]
    tmp = FIGURES_FILE.with_suffix(".toml.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(FIGURES_FILE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="store the recomputed figures in figures.toml")
    args = parser.parse_args(argv)
    quoted = stored() if FIGURES_FILE.exists() else {}
    now = {}
    changed = 0
    for figure in FIGURES:
        now[figure.name] = figure.text()
        same = quoted.get(figure.name) == now[figure.name]
        changed += not same
        print(f"{figure.name:36s} {quoted.get(figure.name, '-'):>16s} {now[figure.name]:>16s}{'' if same else '  *'}")
    print(f"{changed} of {len(FIGURES)} figures differ from figures.toml (marked *)")
    if args.write:
        write(now)
        print(f"wrote {FIGURES_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
