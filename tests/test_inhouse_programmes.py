"""In-house silicon programmes start on need and capability and are paid for (market/inhouse.py; issue 24 item 5)."""

from __future__ import annotations

import dataclasses
from collections import deque

import numpy as np
import pytest

from market import inhouse
from market.config import MarketConfig, VentureConfig, fitted_config
from market.model import ComputeMarket


def config(months: int, **values) -> MarketConfig:
    return fitted_config(months=months, venture=VentureConfig(enabled=False), **values)


@pytest.fixture(scope="module")
def market():
    """A model 18 months in, before any cloud has decided on a programme (read it; tests change copies of state)."""
    model = ComputeMarket(config(18), rng=0)
    model.run(18)
    assert not any("starts an in-house" in e for e in model.events)
    return model


def with_bill(model, cloud_id: str, usd_per_year: float, growth_per_year: float = 0.0):
    """The cloud, its last 12 months of chip spend replaced by a bill of `usd_per_year` growing at `growth_per_year`
    (all with NVIDIA)."""
    cloud = next(h for h in model.hyperscalers if h.hyperscaler_id == cloud_id)
    monthly = usd_per_year / 12 * (1 + growth_per_year) ** ((np.arange(12) - 11) / 12)
    cloud.vendor_spend = deque(({"nvidia": float(x)} for x in monthly), maxlen=12)
    return cloud


def appraise(model, cloud, **inhouse_values):
    saved = model.config
    model.config = dataclasses.replace(saved, inhouse=dataclasses.replace(saved.inhouse, **inhouse_values))
    try:
        return inhouse.ProgrammeDesk(model).appraise(cloud)
    finally:
        model.config = saved


def with_merchant_margin(model, margin: float):
    """Last month's offer book with every merchant chip priced at `margin` (in-house chips as they were)."""
    book = model.last_month.book
    prices = np.array([c.manufacturing_cost_usd / (1 - margin) if s.prices_strategically else p
                       for c, s, p in zip(book.chips, book.sellers, book.prices, strict=True)])
    return dataclasses.replace(model.last_month, book=dataclasses.replace(book, prices=prices))


def test_programme_value_grows_with_the_bill_and_the_cost_with_the_design_cost():
    terms = dict(cadence_months=18.0, delay_months=30, life_years=5.0, discount_rate=0.08)
    small, cost = inhouse.programme_value(1e9, 0.0, 0.01, design_cost=1e9, **terms)
    large, same_cost = inhouse.programme_value(100e9, 0.0, 0.01, design_cost=1e9, **terms)
    assert large == pytest.approx(100 * small) and same_cost == pytest.approx(cost)
    _, dearer = inhouse.programme_value(100e9, 0.0, 0.01, design_cost=3e9, **terms)
    assert dearer == pytest.approx(3 * cost)
    # undiscounted, no growth: 5 years of a $12B bill at 1% saved, and 90 months of design at $1B per 18 months
    saving, cost = inhouse.programme_value(12e9, 0.0, 0.01, design_cost=1e9, **{**terms, "discount_rate": 0.0})
    assert saving == pytest.approx(0.01 * 12e9 * 5) and cost == pytest.approx(1e9 * 90 / 18)
    growing, _ = inhouse.programme_value(12e9, 0.5, 0.01, design_cost=1e9, **terms)
    assert growing > 3 * inhouse.programme_value(12e9, 0.0, 0.01, design_cost=1e9, **terms)[0]


def test_saving_share_rises_with_the_merchants_price_and_falls_with_immaturity():
    offers = np.array([0.0, -1.0, -np.inf])
    cheap_own, dear_own = 0.0, -3.0
    assert inhouse.saving_share(offers, cheap_own, 4.0) > inhouse.saving_share(offers, dear_own, 4.0) > 0
    assert inhouse.saving_share(offers - 2.0, dear_own, 4.0) > inhouse.saving_share(offers, dear_own, 4.0)
    # adding its own chip never raises its cost: exp(-logsumexp / alpha) can only fall
    assert inhouse.saving_share(offers, -50.0, 4.0) == pytest.approx(0.0, abs=1e-12)


def test_a_cloud_with_a_small_bill_never_starts_one(market):
    cloud = with_bill(market, "microsoft", 2e9, growth_per_year=0.6)
    appraisal = appraise(market, cloud)
    assert appraisal.saving_share > 0 and 1e9 < appraisal.spend_per_year <= 2e9
    assert not appraisal.worth_it and not cloud.wants_inhouse_programme(appraisal)
    # even with merchants at an 85% margin
    saved = market.last_month
    market.last_month = with_merchant_margin(market, 0.85)
    try:
        assert not appraise(market, cloud).worth_it
    finally:
        market.last_month = saved


def test_a_large_bill_at_a_high_merchant_margin_starts_one_and_a_lower_margin_or_dearer_design_does_not(market):
    cloud = with_bill(market, "meta", 60e9, growth_per_year=0.3)
    saved = market.last_month
    try:
        market.last_month = with_merchant_margin(market, 0.85)
        high = appraise(market, cloud)
        assert high.worth_it and cloud.wants_inhouse_programme(high)
        assert not appraise(market, cloud, design_cost_usd_per_generation=20e9).worth_it
        market.last_month = with_merchant_margin(market, 0.5)
        low = appraise(market, cloud)
        assert low.saving_share < high.saving_share and not low.worth_it
    finally:
        market.last_month = saved
    # a mature stack would save far more than an immature one: the switching cost on its own work
    assert high.margin_only_share > 10 * high.saving_share


def test_a_cloud_that_cannot_design_chips_never_starts_one(market):
    cloud = with_bill(market, "oracle", 500e9, growth_per_year=0.6)
    assert appraise(market, cloud).worth_it  # the economics would pay...
    assert not cloud.may_start_programme and not cloud.wants_inhouse_programme(appraise(market, cloud))  # ...but


def run_with_payments(months: int, **values):
    """Run a model month by month, checking around each month's programme step that every design payment leaves
    the paying cloud's cash exactly and is recorded; returns the model and the payments by cloud and month."""
    model = ComputeMarket(config(months, **values), rng=0)
    payments: dict[str, list[float]] = {h.hyperscaler_id: [] for h in model.hyperscalers}
    step = inhouse.advance_programmes

    def checked(m):
        before = {h.hyperscaler_id: (h.cash, h.design_spend_total) for h in m.hyperscalers}
        step(m)
        for h in m.hyperscalers:
            cash, total = before[h.hyperscaler_id]
            paid = h.design_spend_total - total
            assert cash - h.cash == pytest.approx(paid, rel=1e-12, abs=1e-3)
            assert paid == 0 or paid == pytest.approx(h.design_spend)
            payments[h.hyperscaler_id].append(paid)

    inhouse.advance_programmes = checked
    try:
        model.run(months)
    finally:
        inhouse.advance_programmes = step
    return model, payments


def test_design_spend_leaves_the_clouds_cash_and_is_recorded():
    model, payments = run_with_payments(48)
    starts = {e.split()[1]: e for e in model.events if "starts an in-house silicon programme" in e}
    assert starts, "no programme started in four years: nothing to check"
    cost = model.config.inhouse.design_cost_usd_per_generation
    for h in model.hyperscalers:
        paid = np.array(payments[h.hyperscaler_id])
        assert paid.sum() == pytest.approx(h.design_spend_total)
        if h.hyperscaler_id in ("google", "aws"):  # programmes held from the start pay every month
            cadence = model.vendors[h.inhouse_vendor].cadence_months
            assert paid == pytest.approx(np.full(48, cost / cadence))
        elif h.hyperscaler_id in starts:  # from the month it decides, at the programme's cadence
            start = int(np.argmax(paid > 0))
            assert paid[:start].sum() == 0 and paid[start:] == pytest.approx(cost / inhouse.INHOUSE_CADENCE_MONTHS)
            assert h.programme_ready_month == start + model.config.inhouse.inhouse_delay_months
        else:
            assert h.design_spend_total == 0.0
    # the money goes to no agent in the model: the vendors' books balance against the trade ledger alone
    ledger = model.ledger.frame()
    assert model.vendor_table()["revenue"].sum() == pytest.approx(ledger["amount"].sum())


def test_a_dearer_design_delays_or_prevents_programmes():
    def starts(**values):
        model = ComputeMarket(config(120, **values), rng=0)
        model.run(120)
        return {e.split()[1]: e.split(":")[0] for e in model.events if "starts an in-house silicon programme" in e}

    base = starts()
    dear = starts(design_cost_usd_per_generation=3e9)
    assert base, "no programme starts at the default design cost"
    for cloud, month in base.items():
        assert cloud not in dear or dear[cloud] > month
    assert len(dear) < len(base) or any(dear[c] > base[c] for c in dear)


def test_the_programme_chip_priced_with_the_months_chips_gets_the_rates_it_gets_alone(market):
    date, chip, maturity, train, serve = market.extra_rates  # the selling phase priced it with last month's chips
    assert chip.id == "programme-1" and date < market.date
    market.month -= 1  # the month it was priced in: the serving mix moves month by month
    try:
        alone = tuple(float(rate[0]) for rate in market.chip_rates([chip], [maturity])[:2])
    finally:
        market.month += 1
    assert train > 0 and serve > 0
    assert (train, serve) == alone
