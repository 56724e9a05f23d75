"""Pricing identities: margins, TCO components, cost per unit of work."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hardware_catalog import load_catalog
from market import pricing

TCO = load_catalog().tco


def test_price_is_cost_over_one_minus_margin_and_margin_inverts_it():
    cost = np.array([3320.0, 7000.0, 1200.0])
    margin = np.array([0.75, 0.5, 0.0])
    price = pricing.vendor_price(cost, margin)
    assert price == pytest.approx([13280.0, 14000.0, 1200.0])
    assert pricing.gross_margin(price, cost) == pytest.approx(margin)


def test_margin_of_one_is_rejected():
    with pytest.raises(ValueError, match="below 1"):
        pricing.vendor_price(100.0, 1.0)


def test_capital_recovery_matches_annuity_and_zero_rate():
    assert pricing.capital_recovery_factor(0.0, 5.0) == pytest.approx(0.2)
    # 8% over 5 years: 0.08 / (1 - 1.08^-5) = 0.250456
    assert pricing.capital_recovery_factor(0.08, 5.0) == pytest.approx(0.2504565, rel=1e-6)


def test_tco_components_add_up():
    cost = pricing.hourly_cost(27500.0, 700.0, TCO)
    capex = 27500.0 * (1 + TCO.system_overhead_fraction)
    capital = capex * pricing.capital_recovery_factor(TCO.cost_of_capital,
                                                      TCO.depreciation_years) / pricing.HOURS_PER_YEAR
    kw = 0.7 * (1 + TCO.host_power_fraction)
    power = kw * TCO.pue * TCO.usd_per_kwh
    hosting = kw * TCO.hosting_usd_per_kw_month / pricing.HOURS_PER_MONTH
    assert cost.capital == pytest.approx(capital)
    assert cost.power == pytest.approx(power)
    assert cost.hosting == pytest.approx(hosting)
    assert cost.total == pytest.approx(capital + power + hosting)
    # over the depreciation life, capital charges repay capex at least (more with interest)
    assert cost.capital * pricing.HOURS_PER_YEAR * TCO.depreciation_years >= capex


def test_the_capital_charge_follows_the_tcos_cost_of_capital_and_life_each_call():
    # hourly_cost computes a (rate, years) annuity once and keeps it: a different TCO must get its own
    for rate, years in ((0.08, 5.0), (0.12, 4.0), (0.0, 6.0), (0.08, 5.0)):
        tco = dataclasses.replace(TCO, cost_of_capital=rate, depreciation_years=years)
        expected = 1e4 * (1 + tco.system_overhead_fraction) * pricing.capital_recovery_factor(rate, years)
        assert pricing.hourly_cost(1e4, 700.0, tco).capital == expected / pricing.HOURS_PER_YEAR


def test_rental_price_applies_utilisation_and_markup():
    assert pricing.rental_price(1.0, TCO, markup=0.0) == pytest.approx(1.0 / TCO.utilisation)
    assert pricing.rental_price(1.0, TCO, markup=1.0) == pytest.approx(2.0 / TCO.utilisation)


def test_default_h100_rental_price_is_in_the_published_neocloud_range():
    """Calibration target of the TCO defaults: H100 neocloud $2.99-4.25/GPU-hour (2024-25, [EPP])."""
    price = pricing.rental_price(pricing.hourly_cost(27500.0, 700.0, TCO).total, TCO)
    assert 2.5 <= price <= 4.5


def test_cost_per_unit_of_work():
    # 8 chips at $2/h producing 1,000 tokens/s: $16/h / 3.6M tokens/h = $4.444 per million
    assert pricing.usd_per_million_tokens(2.0, 8, 1000.0) == pytest.approx(16.0 / 3.6)
    # $3.6/h at 1e15 FLOP/s: $0.001/s buys 1e15 FLOP -> $1 per 1e18 FLOP
    assert pricing.usd_per_exaflop(3.6, 1e15) == pytest.approx(1.0)


def test_a_vendor_short_of_supply_raises_its_price_faster_but_cuts_it_no_faster():
    """After a month with unfilled orders a vendor closes `scarce_adjustment` of the gap to a higher best response;
    toward a lower one, or with its orders filled, it moves at its ordinary stickiness."""
    from market.config import MarketConfig, VentureConfig
    from market.model import ComputeMarket

    model = ComputeMarket(MarketConfig(months=1, venture=VentureConfig(enabled=False)))
    vendor = model.vendors["nvidia"]

    def moved(short: bool, start: float, best: float) -> float:
        vendor.margin, vendor.short_last_month = start, short
        vendor.adopt_margin(best, 0.03, None, 0.12)
        return vendor.margin - start

    assert moved(True, 0.6, 0.8) == pytest.approx(0.12 * 0.2)
    assert moved(False, 0.6, 0.8) == pytest.approx(0.03 * 0.2)
    assert moved(True, 0.8, 0.6) == pytest.approx(-0.03 * 0.2)
    vendor.backlog_units = 5.0
    vendor.reset_month()
    assert vendor.short_last_month and vendor.backlog_units == 0.0
