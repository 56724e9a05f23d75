"""Supply with commitments: committed supply that cannot be sold becomes a write-down, so booked gross margin
falls below the margin the vendor priced at; posted margins are missing while a vendor has nothing to sell.

Each mechanism test compares means over seeds against a run that differs in one lever only.
"""

from __future__ import annotations

import dataclasses
import math
from functools import cache

import numpy as np
import pytest

from hardware_catalog import load_catalog
from market.config import VentureConfig, fitted_config
from market.model import ComputeMarket

CATALOG = load_catalog()
SEEDS = (1, 2, 3)
MONTHS = 30  # 2023-01 .. 2025-06
# The cut comes in July 2024, when vendors' committed supply covers their orders. (A cut in a packaging shortage,
# when vendors have a backlog, first clears the backlog and leaves less unsold:
# test_a_cut_in_a_shortage_clears_the_backlog_before_it_leaves_stock.)
SHOCK = {"demand_shock_start": "2024-07", "demand_shock_months": 6, "demand_shock_scale": 0.5}
SHOCK_QUARTER = ("2024-07", "2024-09")


@cache
def run(seed: int, **overrides) -> ComputeMarket:
    config = fitted_config(months=MONTHS, venture=VentureConfig(enabled=False), **overrides)
    model = ComputeMarket(config, catalog=CATALOG, rng=seed)
    model.run()
    return model


def quarter_margins(model: ComputeMarket, vendor: str = "nvidia",
                    window: tuple[str, str] = SHOCK_QUARTER) -> tuple[float, float]:
    """(booked, posted) gross margin of `vendor` over `window` (the shock quarter unless given): revenue-weighted
    booked margin (revenue - cost of sales - write-downs) / revenue, and the mean posted margin."""
    vt = model.vendor_table()
    q = vt[(vt.vendor == vendor) & (vt.date >= window[0]) & (vt.date <= window[1])]
    booked = float((q.gross_margin * q.revenue).sum() / q.revenue.sum())
    return booked, float(q.margin_posted.mean())


def writedowns(model: ComputeMarket, vendor: str, start: str, end: str) -> float:
    vt = model.vendor_table()
    rows = vt[(vt.vendor == vendor) & (vt.date >= start) & (vt.date <= end)]
    return float(rows.writedown.sum())


@pytest.mark.slow
def test_a_demand_cut_with_committed_supply_is_written_down_so_booked_margin_falls_more_than_posted():
    lead = {"supply_lead_time_months": 6}
    base = np.array([quarter_margins(run(s, **lead)) for s in SEEDS])
    shock = np.array([quarter_margins(run(s, **lead, **SHOCK)) for s in SEEDS])
    booked_drop, posted_drop = (base - shock).mean(axis=0)
    assert booked_drop >= 0.08, f"booked margin fell only {booked_drop:.3f}"
    assert posted_drop < booked_drop - 0.04, f"posted fell {posted_drop:.3f}, booked {booked_drop:.3f}"
    assert np.mean([writedowns(run(s, **lead, **SHOCK), "nvidia", *SHOCK_QUARTER) for s in SEEDS]) > 0


def test_make_to_order_writes_down_little_and_books_the_posted_margin():
    """Without a lead time only the small safety stock can be left over: the shock quarter's write-down is a
    fraction of the one with committed supply, and in months without one the booked margin is the posted one."""
    made_to_order = np.mean([writedowns(run(s, supply_lead_time_months=0, **SHOCK), "nvidia",
                                        *SHOCK_QUARTER) for s in SEEDS])
    committed = np.mean([writedowns(run(s, supply_lead_time_months=6, **SHOCK), "nvidia",
                                    *SHOCK_QUARTER) for s in SEEDS])
    assert committed > 1e8 and made_to_order < 0.2 * committed, (made_to_order, committed)
    for s in SEEDS:
        vt = run(s, supply_lead_time_months=0, **SHOCK).vendor_table()
        quiet = vt[(vt.vendor == "nvidia") & (vt.revenue > 0) & (vt.writedown == 0)]
        assert len(quiet) > 12
        np.testing.assert_allclose(quiet.gross_margin, quiet.margin_posted, rtol=1e-9)


@pytest.mark.slow
def test_longer_lead_times_deepen_the_fall_in_booked_margin():
    """The shock quarter's booked margin, against the same lead time without the shock, falls further the
    earlier supply had to be committed (0: made to order, 3 and 6 months)."""
    def drop(lead: int) -> float:
        base = np.mean([quarter_margins(run(s, supply_lead_time_months=lead))[0] for s in SEEDS])
        return base - np.mean([quarter_margins(run(s, supply_lead_time_months=lead, **SHOCK))[0] for s in SEEDS])

    drops = {lead: drop(lead) for lead in (0, 3, 6)}
    assert drops[0] < drops[3] < drops[6], drops
    assert drops[6] > drops[0] + 0.08, drops


@pytest.mark.slow
def test_an_export_rule_turns_its_vendors_committed_supply_into_a_write_down():
    """A rule that takes H100-class chips (>= 900 dense TFLOP/s) off every buyer's list from January 2024 leaves
    NVIDIA with the supply it committed for them: a write-down with a lead time, next to none made to order. (Every
    cloud is placed in the controlled region: a rule never binds buyers in its own vendors' region.)"""
    abroad = tuple(dataclasses.replace(spec, region="cn") for spec in fitted_config().hyperscalers)
    rule = {"export_control_regions": ("cn",), "export_control_start": "2024-01", "export_control_min_tflops": 900.0,
            "hyperscalers": abroad}
    window = ("2024-01", "2024-06")

    def charged(lead: int, **extra) -> float:
        return float(np.mean([writedowns(run(s, supply_lead_time_months=lead, **extra), "nvidia",
                                         *window) for s in SEEDS]))

    assert charged(6, **rule) > charged(6) + 1e9
    assert charged(0, **rule) < 0.1 * charged(6, **rule)


def test_a_vendor_with_nothing_on_sale_posts_no_margin():
    """AMD's first data-centre chip in the catalog (MI300X) is released 2023-12: before then it prices nothing."""
    vt = run(1).vendor_table()
    amd = vt[vt.vendor == "amd"].set_index("date")
    assert amd.loc["2023-01":"2023-11", "margin_posted"].isna().all()
    assert amd.loc["2023-01":"2023-11", "gross_margin"].isna().all()
    assert amd.loc["2024-01":, "margin_posted"].notna().all()


def test_vendors_start_at_their_sourced_margin_and_one_with_nothing_on_sale_keeps_its_launch_margin():
    """NVIDIA starts at the margin it guided for Feb-Apr 2023 (vendors.toml) and moves from there; AMD, with no
    chip on sale before 2023-12, does not chase the empty grid's bottom: it launches at the catalog margin of the
    chip it launches first (MI300X), not of a part shipped or announced later (MI355X, MI455X)."""
    catalog = load_catalog()
    model = ComputeMarket(fitted_config(months=1, venture=VentureConfig(enabled=False)), catalog=catalog, rng=0)
    assert model.vendors["nvidia"].margin == catalog.vendors["nvidia"].start_gross_margin
    mi300x = next(c for c in model.vendors["amd"].chips if c.id == "mi300x")
    assert mi300x is model.vendors["amd"].chips[0]
    launch_margin = 1.0 - mi300x.manufacturing_cost_usd / mi300x.launch_price_usd
    assert model.vendors["amd"].margin == pytest.approx(launch_margin)
    mi455x = next(c for c in model.vendors["amd"].chips if c.id == "mi455x")
    assert model.vendors["amd"].margin != pytest.approx(1.0 - mi455x.manufacturing_cost_usd / mi455x.launch_price_usd)
    model = run(1)
    assert model.vendors["nvidia"].margin != catalog.vendors["nvidia"].start_gross_margin
    vt = model.vendor_table()
    amd = vt[vt.vendor == "amd"].set_index("date")
    first_priced = amd["margin_posted"].first_valid_index()
    assert first_priced == "2023-12"
    # its first posted margin is one step from the launch margin, not from the grid's floor
    step = model.config.pricing.margin_adjustment
    assert abs(amd.loc[first_priced, "margin_posted"] - launch_margin) <= step * 1.0 + 1e-12


def test_booked_margin_equals_revenue_less_cost_and_write_downs():
    model = run(2, supply_lead_time_months=6, **SHOCK)
    vt = model.vendor_table()
    nv = vt[(vt.vendor == "nvidia") & (vt.revenue > 0)]
    ledger = model.ledger.frame()
    for _, row in nv.iterrows():
        month = ledger[(ledger.seller == "nvidia") & (ledger.month == row.month)]
        assert float((month.units * month.unit_price).sum()) == pytest.approx(row.revenue, rel=1e-9)
    every_month = vt[vt.vendor == "nvidia"].sort_values("month")  # the reserve moves in months without sales too
    assert math.isfinite(float(every_month.writedown.sum()))
    reserve_path = every_month.reserve.to_numpy()
    np.testing.assert_allclose(np.diff(reserve_path), every_month.writedown.to_numpy()[1:], rtol=1e-9, atol=1.0)


def test_stock_of_chips_taken_off_sale_does_not_starve_new_supply():
    """A vendor orders supply net of the stock it can still sell. Counting chips it no longer offers (reserved
    against in full) as stock on hand cut its orders to nothing and left it with a backlog and no sales."""
    config = fitted_config(months=60, venture=VentureConfig(enabled=False), supply_lead_time_months=6)
    model = ComputeMarket(config, catalog=CATALOG, rng=1)
    model.run()
    vt = model.vendor_table()
    selling = vt[vt.vendor.isin(["nvidia", "amd"]) & vt.margin_posted.notna()]
    assert (selling.units_made > 0).all(), selling.loc[selling.units_made <= 0, ["vendor", "date", "inventory"]]


def test_a_cut_in_a_shortage_clears_the_backlog_before_it_leaves_stock():
    """Vendors make at least what they committed and, above it, to order up to their packaging allocation, so a
    backlog builds only when the allocation binds. With packaging cut to 0.3 of the baseline's, NVIDIA runs a backlog
    of about a month's output in early 2024 (none in the baseline); a demand cut then first takes orders that could not
    have been filled anyway, so it leaves less unsold and booked margin falls less (about 0.76 against 1.09 at the
    2026-12 calibration) than the same cut with packaging to spare."""
    early = {"demand_shock_start": "2024-01", "demand_shock_months": 6, "demand_shock_scale": 0.5}
    quarter = ("2024-01", "2024-03")

    def backlog(model):
        vt = model.vendor_table()
        rows = vt[(vt.vendor == "nvidia") & (vt.date >= quarter[0]) & (vt.date <= quarter[1])]
        return float(rows.backlog_units.mean())

    def booked_drop(**supply):
        return np.mean([quarter_margins(run(s, **supply), window=quarter)[0]
                        - quarter_margins(run(s, **supply, **early), window=quarter)[0] for s in SEEDS])

    short = {"supply_lead_time_months": 6, "capacity_scale": 0.3}
    spare = {"supply_lead_time_months": 6}
    assert np.mean([backlog(run(s, **short)) for s in SEEDS]) > 0
    assert np.mean([backlog(run(s, **short, **early)) for s in SEEDS]) < np.mean([backlog(run(s, **short))
                                                                                  for s in SEEDS])
    short_drop, spare_drop = booked_drop(**short), booked_drop(**spare)
    assert short_drop < spare_drop - 0.03, (short_drop, spare_drop)
