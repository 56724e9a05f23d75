"""The regional catalog in the market ([policy] regional_catalog): export SKUs and the domestic vendor are offered
only with the switch on, only to the controlled region, and the domestic vendor makes chips from capacity of its
own, outside the shared packaging pool. Each run here is a short one (a few seconds)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from hardware_catalog import load_catalog
from market.capacity import own_capacity_units
from market.config import SupplyConfig, VentureConfig, fitted_config
from market.model import ComputeMarket
from market.phases.buying import PURPOSES

CATALOG = load_catalog()
REGIONAL = set(CATALOG.regional.accelerators)
EXPORT_SKUS = {c.id for c in CATALOG.regional.export_skus()}
CONTROLS = {"export_control_regions": ("cn",), "export_control_min_tflops": 300.0, "export_control_start": ""}


@cache
def run(start: str = "2023-01", months: int = 18, seed: int = 0, **overrides) -> ComputeMarket:
    """A short run, checking after every month that a domestic vendor's supply stays within its own capacity."""
    config = fitted_config(start=start, months=months, venture=VentureConfig(enabled=False), **overrides)
    model = ComputeMarket(config, catalog=CATALOG, rng=seed)
    model.checked_months = 0
    for _ in range(months):
        date = model.date
        model.step()
        supply_within_own_capacity(model, date)
        model.checked_months += 1
    return model


def supply_within_own_capacity(model: ComputeMarket, date: str) -> None:
    """In the month just run (`date`), each vendor with capacity of its own received and made no more packaging
    units than that capacity."""
    book, fills = model.last_month.book, model.last_month.fills
    made_units = np.bincount(book.owner, weights=fills.made * book.units_per_chip, minlength=len(model.vendors))
    for position, v in enumerate(model.vendors.values()):
        if v.in_shared_pool:
            continue
        limit = own_capacity_units(v.own_capacity, date, model.config.supply)
        assert v.capacity_units == pytest.approx(limit)
        assert book.capacity_units[position] <= limit * (1 + 1e-9)
        assert made_units[position] <= limit * (1 + 1e-9) + 1e-6, (date, v.vendor_id, made_units[position])


def rows_of(model: ComputeMarket, cloud: str) -> list[int]:
    i = [h.hyperscaler_id for h in model.hyperscalers].index(cloud)
    return [i * len(PURPOSES) + p for p in range(len(PURPOSES))]


def bought(model: ComputeMarket) -> dict[tuple[str, str], float]:
    """Chips bought over the run, by (buyer, chip id)."""
    ledger = model.ledger.frame()
    return ledger.groupby(["buyer", "item"]).units.sum().to_dict()


# --- the switch off: nothing regional -----------------------------------------------------------------------------

@pytest.mark.parametrize("controls", [{}, CONTROLS])
def test_with_the_switch_off_nothing_regional_is_offered(controls):
    model = run(months=20, **controls)  # to 2024-08: the H20's and the 910B's months, controls on or off
    assert "huawei" not in model.vendors and "huawei" not in model.potential_vendor_ids
    assert all(not v.export_line and v.in_shared_pool for v in model.vendors.values())
    assert REGIONAL.isdisjoint(model.chip_index)
    assert REGIONAL.isdisjoint(model.ledger.frame().item)


# --- the switch on, with controls ---------------------------------------------------------------------------------

def test_the_controlled_region_can_buy_compliant_parts_and_huawei_and_no_one_else_can():
    model = run(start="2024-06", months=6, regional_catalog=True, **CONTROLS)
    book = model.last_month.book
    ids = [c.id for c in book.chips]
    assert {"h20", "ascend-910b"} <= set(ids)
    assert not {"h800", "a800"} & set(ids)  # named by the 2023-10 rule: off sale
    china = rows_of(model, "china-cloud")
    others = [r for r in range(book.available.shape[0]) if r not in china]
    for cid in ("h20", "ascend-910b"):
        j = ids.index(cid)
        assert book.available[china, j].all(), cid
        assert not book.available[others, j].any(), cid
    for cid in ("h100-sxm", "h200", "b200", "mi300x"):  # over the line: barred to the controlled region only
        if cid in ids:
            j = ids.index(cid)
            assert not book.available[china, j].any() and book.available[others, j].all(), cid
    trades = bought(model)
    assert trades.get(("china-cloud", "h20"), 0.0) > 0 and trades.get(("china-cloud", "ascend-910b"), 0.0) > 0
    regional_buyers = {buyer for (buyer, item) in trades if item in REGIONAL}
    assert regional_buyers == {"china-cloud"}


def test_export_skus_follow_their_rules_month_by_month():
    model = run(months=30, regional_catalog=True, **CONTROLS)  # 2023-01 .. 2025-06
    chips = model.chip_table()
    on_sale = chips.groupby("chip").date.agg(["min", "max"])
    assert on_sale.loc["a800", "max"] == on_sale.loc["h800", "max"] == "2023-09"  # compliant until 2023-10
    assert on_sale.loc["h800", "min"] == "2023-03"
    assert (on_sale.loc["h20", "min"], on_sale.loc["h20", "max"]) == ("2024-04", "2025-03")
    assert (on_sale.loc["mi308x", "min"], on_sale.loc["mi308x", "max"]) == ("2025-01", "2025-03")
    assert on_sale.loc["ascend-910b", "min"] == "2023-08" and on_sale.loc["ascend-910b", "max"] == "2025-06"
    assert on_sale.loc["ascend-910c", "min"] == "2025-05"
    # the export line is not a generation: NVIDIA's two newest generations stay on sale next to it
    # (an older part may still be sold off from stock: ChipVendor.run_out_parts)
    nvidia = set(chips[(chips.vendor == "nvidia") & (chips.date == "2024-06")].chip)
    assert {"h200", "h100-sxm", "h20"} <= nvidia
    h100 = CATALOG.accelerator("h100-sxm").release
    for older in nvidia - {"h200", "h100-sxm", "h20"}:
        assert CATALOG.accelerator(older).release < h100, older


def test_without_controls_the_export_line_is_not_offered_and_huawei_sells_only_at_home():
    model = run(months=24, regional_catalog=True)
    offered = set(model.chip_table().chip)
    assert EXPORT_SKUS.isdisjoint(offered)
    assert "ascend-910b" in offered
    trades = bought(model)
    assert {buyer for (buyer, item) in trades if item in REGIONAL} <= {"china-cloud"}
    assert trades.get(("china-cloud", "h100-sxm"), 0.0) > 0  # nothing barred


def test_before_huawei_ships_the_switch_alone_changes_nothing():
    # Huawei ships from 2023-08; until then the market is the baseline's, month for month
    base, regional = run(months=7), run(months=7, regional_catalog=True)
    table = regional.model_table()
    assert {"revenue_share_huawei", "gross_margin_huawei"} <= set(table.columns)
    assert base.model_table().equals(table[base.model_table().columns])


# --- the domestic vendor's own supply -----------------------------------------------------------------------------

@pytest.mark.parametrize("lead_time", [0, 6])
def test_huawei_supply_stays_within_its_own_capacity_outside_the_pool(lead_time):
    model = run(months=36, regional_catalog=True, supply_lead_time_months=lead_time, **CONTROLS)
    assert model.checked_months == 36  # supply_within_own_capacity held every month
    huawei = model.vendors["huawei"]
    assert not huawei.in_shared_pool and huawei.allocation == 0.0
    assert huawei.made_total > 0
    pool = [v.allocation for v in model.vendors.values() if v.in_shared_pool]
    assert sum(pool) == pytest.approx(1.0)
    # its yearly output is bounded by the sourced capacity (packaging units a year)
    vt = model.vendor_table()
    made = vt[vt.vendor == "huawei"].assign(year=lambda t: t.date.str[:4]).groupby("year").units_made.sum()
    capacity = dict(model.vendors["huawei"].own_capacity)
    assert made["2024"] * 64 <= capacity[2024] * (1 + 1e-9)


@pytest.mark.parametrize("lead_time", [0, 6])
def test_units_are_conserved_with_the_regional_catalog(lead_time):
    model = run(months=36, regional_catalog=True, supply_lead_time_months=lead_time, **CONTROLS)
    sold = model.ledger.frame().groupby("seller").units.sum()
    for v in model.vendors.values():
        held = sum(v.inventory.values())
        assert v.made_total == pytest.approx(v.sold_total + held, rel=1e-9, abs=1e-6), v.vendor_id
        assert sold.get(v.vendor_id, 0.0) == pytest.approx(v.sold_total, rel=1e-9, abs=1e-6), v.vendor_id
    assert model.vendors["huawei"].sold_total > 0 and "h20" in set(model.ledger.frame().item)


def test_own_capacity_by_year():
    rows = ((2024, 12.0e6), (2025, 24.0e6))
    supply = SupplyConfig(domestic_capacity_growth=0.5, domestic_capacity_scale=2.0)
    assert own_capacity_units(rows, "2023-12", supply) == 0.0
    assert own_capacity_units(rows, "2024-01", supply) == pytest.approx(2.0e6)
    assert own_capacity_units(rows, "2025-12", supply) == pytest.approx(4.0e6)
    assert own_capacity_units(rows, "2027-06", supply) == pytest.approx(24.0e6 * 1.5**2 / 12 * 2.0)
    assert own_capacity_units((), "2027-06", supply) == 0.0


def test_huawei_capacity_rows_are_sourced():
    rows = CATALOG.regional.capacity["huawei"]
    assert [r.year for r in rows] == [2023, 2024, 2025, 2026]
    for r in rows:
        assert r.source.strip() and r.source_date
    assert rows[1].chips == 200_000 and rows[1].hbm_gb_per_chip == 64 and not rows[1].estimate  # FT 2025-02
