"""The market's pure pieces: logit choice, best-response pricing, rationing."""

from __future__ import annotations

import numpy as np
import pytest

from market import choice, clearing, vendor_pricing


def test_logit_shares_sum_to_one_and_skip_unavailable():
    u = np.array([[0.0, 1.0, -np.inf], [-np.inf, -np.inf, -np.inf]])
    s = choice.logit_shares(u)
    assert s[0].sum() == pytest.approx(1.0) and s[0, 2] == 0.0
    assert s[1].sum() == 0.0  # nothing available: no spend


def test_price_index_falls_when_an_option_gets_cheaper():
    maturity = np.array([0.9, 0.5])
    available = np.array([[True, True]])
    u = choice.utility(np.array([[2.0, 2.0]]), maturity, available, alpha=3.0, switching_cost=2.0)
    cheaper = choice.utility(np.array([[2.0, 1.0]]), maturity, available, alpha=3.0, switching_cost=2.0)
    assert choice.price_index(cheaper, 3.0)[0] < choice.price_index(u, 3.0)[0]


def test_switching_cost_penalises_immature_software():
    u = choice.utility(np.array([[1.0, 1.0]]), np.array([0.95, 0.5]), np.array([[True, True]]), alpha=3.0,
                       switching_cost=3.0)
    s = choice.logit_shares(u)[0]
    assert s[0] > 0.75  # same cost per work, mature stack wins most of the spend


@pytest.mark.parametrize("rule", clearing.RULES)
def test_rationing_never_exceeds_orders_or_supply(rule):
    rng = np.random.default_rng(0)
    for _ in range(50):
        orders = rng.uniform(0, 10, size=(5, 4))
        supply = rng.uniform(0, 30, size=4)
        filled = clearing.ration(orders, supply, rule, priority=rng.uniform(size=5))
        assert np.all(filled <= orders + 1e-12) and np.all(filled >= 0)
        assert np.all(filled.sum(axis=0) <= supply + 1e-9)
        # no chip is left with both unfilled orders and unused supply
        short = orders.sum(axis=0) - filled.sum(axis=0)
        spare = supply - filled.sum(axis=0)
        assert np.all(np.minimum(short, spare) < 1e-9)


def test_largest_first_serves_the_priority_buyer_fully():
    filled = clearing.ration(np.array([[5.0], [5.0]]), np.array([6.0]), "largest_first", priority=np.array([1.0, 9.0]))
    assert filled[:, 0].tolist() == [1.0, 5.0]
    with pytest.raises(ValueError, match="unknown rationing rule"):
        clearing.ration(np.ones((1, 1)), np.ones(1), "lottery")


def two_vendor_problem(maturity=(0.95, 0.95), capacity=(1e9, 1e9), cost=(3000.0, 3000.0)):
    """Two vendors each selling one chip of identical hardware to three buyers."""
    return vendor_pricing.PricingProblem(
        unit_cost=np.array(cost), price=np.array(cost) / 0.3, owner=np.array([0, 1]),
        capital_per_price=0.4 * 0.25 / 8766, running_cost=np.array([0.2, 0.2]),
        work=np.ones((3, 2)), maturity=np.array(maturity), available=np.ones((3, 2), dtype=bool),
        spend=np.array([1e9, 5e8, 2e8]), capacity_units=np.array(capacity), units_per_chip=np.array([80.0, 80.0]),
    )


GRID = np.linspace(0.02, 0.95, 94)


def best(problem, switching_cost=3.0):
    margins, _ = vendor_pricing.best_response_margins(problem, GRID, [0, 1], alpha=3.0, switching_cost=switching_cost)
    return margins


def test_equal_hardware_with_immature_software_prices_lower():
    margins = best(two_vendor_problem(maturity=(0.95, 0.5)))
    assert margins[1] < margins[0] - 0.05


def test_scarcity_raises_the_best_response_margin():
    loose = best(two_vendor_problem())
    tight = best(two_vendor_problem(capacity=(3e6, 1e9)))  # vendor 0 can ship ~37k chips
    assert tight[0] > loose[0] + 0.05


def test_no_switching_cost_means_symmetric_competition():
    margins = best(two_vendor_problem(maturity=(0.95, 0.5)), switching_cost=0.0)
    assert margins[0] == pytest.approx(margins[1])


def test_capacity_follows_the_yearly_schedule_then_invests_against_unfilled_orders():
    from market.capacity import MAX_INVESTMENT_GROWTH, next_capacity
    from market.config import MarketConfig

    config = MarketConfig()  # growth by year 2023, 2024, 2025 and on: +100%, +140%, +80%, +20%
    capacity = 1.0
    for month in range(1, 13):
        capacity = next_capacity(capacity, f"2024-{month:02d}", order_units=1e9, config=config)
    assert capacity == pytest.approx(2.4)  # a scheduled year ignores orders
    base = next_capacity(1.0, "2026-03", order_units=1.0, config=config)
    assert base == pytest.approx(1.2 ** (1 / 12))
    short = next_capacity(1.0, "2026-03", order_units=1.5, config=config)
    assert short == pytest.approx(base + config.capacity_investment_response * 0.5 / 12)
    assert next_capacity(1.0, "2026-03", order_units=1e6, config=config) == pytest.approx(base + MAX_INVESTMENT_GROWTH)
