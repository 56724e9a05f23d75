"""The market's pure pieces: logit choice, best-response pricing, rationing."""

from __future__ import annotations

import numpy as np
import pytest

from market import choice, clearing, rental, vendor_pricing


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


def full_logit_profit(problem, grid, vendors, *, alpha, switching_cost):
    """Expected profit (V', G) by the definition: every chip's logit share at every candidate margin."""
    own = problem.owner[None, :] == np.asarray(vendors)[:, None]
    prices = np.where(own[:, None, :], problem.unit_cost / (1.0 - grid[None, :, None]), problem.price)
    spend = vendor_pricing.expected_outcome(problem, prices[:, :, None, :], alpha=alpha, switching_cost=switching_cost)
    own_spend = np.where(own[:, None, None, :], spend, 0.0).sum(axis=2)
    units = (own_spend / prices * problem.units_per_chip).sum(axis=2)
    capacity = problem.capacity_units[np.asarray(vendors)][:, None]
    deliverable = np.minimum(1.0, np.divide(capacity, units, out=np.ones_like(units), where=units > 0))
    return grid * own_spend.sum(axis=2) * deliverable


def test_best_response_splitting_rivals_out_of_the_logit_matches_the_full_logit():
    """The best response prices only the vendor's own chips along the grid; its profits must be the full logit's.
    Random markets with per-buyer running costs, switching costs, chips some buyers cannot buy and a vendor with
    nothing on offer."""
    rng = np.random.default_rng(7)
    for _ in range(20):
        k, h = 9, 6
        cost = rng.uniform(1e3, 2e4, k)
        problem = vendor_pricing.PricingProblem(
            unit_cost=cost, price=cost / rng.uniform(0.2, 0.6, k), owner=rng.integers(0, 3, k),
            capital_per_price=0.4 * 0.25 / 8766, running_cost=rng.uniform(0.1, 0.5, (h, k)),
            work=rng.uniform(0.2, 3.0, (h, k)), maturity=rng.uniform(0.3, 1.0, k), available=rng.random((h, k)) > 0.2,
            spend=rng.uniform(1e8, 1e9, h), capacity_units=rng.uniform(1e5, 1e8, 4), units_per_chip=rng.uniform(40, 200,
                                                                                                                k),
        )
        switching = np.where(rng.random((h, k)) > 0.5, 3.0, 0.0)
        vendors = [0, 1, 2, 3]  # vendor 3 has no chips
        margins, profit = vendor_pricing.best_response_margins(problem, GRID, vendors, alpha=3.0,
                                                               switching_cost=switching)
        reference = full_logit_profit(problem, GRID, vendors, alpha=3.0, switching_cost=switching)
        assert margins.tolist() == GRID[reference.argmax(axis=1)].tolist()
        assert profit == pytest.approx(reference.max(axis=1), rel=1e-12, abs=1e-6)


def test_capacity_follows_the_yearly_schedule_then_invests_against_unfilled_orders():
    from market.capacity import MAX_INVESTMENT_GROWTH, next_capacity
    from market.config import MarketConfig

    config = MarketConfig()  # growth by year 2023, 2024, 2025 and on: +100%, +140%, +80%, +20%
    capacity = 1.0
    for month in range(1, 13):
        capacity = next_capacity(capacity, f"2024-{month:02d}", order_units=1e9, supply=config.supply)
    assert capacity == pytest.approx(2.4)  # a scheduled year ignores orders
    base = next_capacity(1.0, "2026-03", order_units=1.0, supply=config.supply)
    assert base == pytest.approx(1.2 ** (1 / 12))
    short = next_capacity(1.0, "2026-03", order_units=1.5, supply=config.supply)
    assert short == pytest.approx(base + config.supply.capacity_investment_response * 0.5 / 12)
    most = next_capacity(1.0, "2026-03", order_units=1e6, supply=config.supply)
    assert most == pytest.approx(base + MAX_INVESTMENT_GROWTH)


# --- the clearing and rental kernels (market/clearing.py, market/rental.py) -----------------------------------

def test_supply_from_capacity_makes_to_order_between_the_commitment_and_the_allocation():
    capacity_units = np.array([100.0, 30.0])  # two vendors' allocations
    owner = np.array([0, 0, 1])
    planned_units = np.array([60.0, 20.0, 0.0])  # vendor 1 has no forecast yet: an even split
    units_per_chip = np.array([10.0, 5.0, 3.0])
    # no commitments: make to order (plus headroom) within the allocation, shared by the forecast mix
    to_order = clearing.supply_from_capacity(capacity_units, np.zeros(2), owner, planned_units, units_per_chip,
                                             np.array([2.0, 0.0, 1.0]), 0.05)
    assert to_order == pytest.approx([2.1, 0.0, 1.05])
    ceiling = clearing.supply_from_capacity(capacity_units, np.zeros(2), owner, planned_units, units_per_chip,
                                            np.array([1e6, 1e6, 1e6]), 0.05)
    assert ceiling == pytest.approx([100 * 0.75 / 10, 100 * 0.25 / 5, 30 / 3])
    # commitments are made whether or not they sell (vendor 0's 40 units, shared 3:1), never above the allocation
    floor = clearing.supply_from_capacity(capacity_units, np.array([40.0, 50.0]), owner, planned_units,
                                          units_per_chip, np.array([2.0, 0.0, 20.0]), 0.05)
    assert floor == pytest.approx([40 * 0.75 / 10, 40 * 0.25 / 5, 30 / 3])


def test_two_round_clearing_never_exceeds_supply_or_budgets():
    rng = np.random.default_rng(3)
    spend = rng.uniform(1e6, 1e8, size=4)
    prices = rng.uniform(1e4, 4e4, size=5)
    shares = choice.logit_shares(rng.normal(size=(4, 5)))
    orders = spend[:, None] * shares / prices[None, :]
    supply = orders.sum(axis=0) * rng.uniform(0.2, 1.5, size=5)
    available = np.ones((4, 5), dtype=bool)
    for rule in ("proportional", "largest_first"):
        filled = clearing.clear_two_rounds(orders, supply, spend, prices, available,
                                           lambda open_: choice.logit_shares(np.where(open_, 0.0, -np.inf)), rule)
        assert (filled >= -1e-9).all()
        assert (filled.sum(axis=0) <= supply * (1 + 1e-9)).all()
        assert ((filled * prices).sum(axis=1) <= spend * (1 + 1e-9)).all()
        assert (filled >= clearing.ration(orders, supply, rule, spend) - 1e-9).all()  # the spill only adds


def test_rent_pays_for_what_is_rented_within_supply_and_budgets():
    rng = np.random.default_rng(5)
    budgets = rng.uniform(1e6, 1e8, size=6)
    price = np.array([2.0, np.inf, 3.5])  # the second cloud offers nothing
    supply = np.array([1e6, 0.0, 5e7])
    wanted, got, paid = rental.rent(budgets, rng.normal(size=(6, 3)), np.zeros((6, 3)), price, supply, 3.0)
    assert (wanted[:, 1] == 0).all() and (got[:, 1] == 0).all()
    assert (got.sum(axis=0) <= supply * (1 + 1e-9)).all() and (got <= wanted * (1 + 1e-9)).all()
    assert paid[:, [0, 2]] == pytest.approx(got[:, [0, 2]] * price[[0, 2]])
    assert (paid.sum(axis=1) <= budgets * (1 + 1e-9)).all()


def test_a_clouds_rentals_are_shared_over_its_chips_by_the_work_they_do():
    units, work = np.array([100.0, 50.0, 0.0]), np.array([100.0, 125.0, 0.0])  # HEq per type: 1.0 and 2.5 per chip
    hours, usd = rental.rented_by_chip(4500.0, (3.0,), units, work, work.sum())
    assert usd.sum() == pytest.approx(3.0 * 4500.0)  # all it earned, nothing made up
    assert (hours * work / np.where(units > 0, units, 1)).sum() == pytest.approx(4500.0)  # HEq-hours add up
    # an hour of a chip that does 2.5x rents for 2.5x
    assert usd[1] / hours[1] == pytest.approx(2.5 * usd[0] / hours[0])
    assert hours[2] == usd[2] == 0.0
    for nothing in (rental.rented_by_chip(0.0, (3.0,), units, work, work.sum()),
                    rental.rented_by_chip(10.0, (np.inf,), units, work, 225.0)):
        assert not nothing[0].any() and not nothing[1].any()


def test_rented_by_chip_at_several_prices_is_each_prices_own_answer():
    units, work = np.array([100.0, 50.0, 0.0]), np.array([100.0, 125.0, 0.0])
    for rented, prices in ((4500.0, (3.1, 2.7)), (4500.0, (3.1, np.inf)), (0.0, (3.1, 2.7)), (10.0, (np.inf, 2.0))):
        hours, *usd = rental.rented_by_chip(rented, prices, units, work, work.sum())
        assert np.array_equal(hours, rental.rented_by_chip(rented, prices[:1], units, work, work.sum())[0])
        for price, at_price in zip(prices, usd, strict=True):
            assert np.array_equal(at_price, rental.rented_by_chip(rented, (price,), units, work, work.sum())[1])


def test_the_renting_phases_lab_and_cloud_sums_keep_each_rows_and_columns_own_bits():
    from market.phases.renting import by_cloud, by_lab

    rng = np.random.default_rng(11)
    for shape in ((26, 8), (7, 3), (40, 13), (1, 1)):
        x = rng.lognormal(0.0, 3.0, size=shape) * rng.choice([1.0, -1.0, 1e-9], size=shape)
        assert by_lab(x) == [float(x[i].sum()) for i in range(shape[0])]
        assert by_cloud(x) == [float(x[:, j].sum()) for j in range(shape[1])]
    # (numpy's x.sum(axis=0) adds row by row, so for some such arrays its column sums differ from each column's own
    # .sum() in the last bits: the reason for by_cloud)


def test_cloud_offer_rents_only_spare_compute_above_cost():
    from hardware_catalog import load_catalog
    from market import pricing

    tco = load_catalog().tco
    units, paid, tdp = np.array([1000.0]), np.array([25000.0]), np.array([700.0])
    supply, price, running = rental.cloud_offer(units, paid, tdp, 1000.0, 400.0, True, tco)
    assert supply == pytest.approx(600.0 * pricing.HOURS_PER_MONTH)
    cost_per_heq = pricing.hourly_cost(paid, tdp, tco).total[0]
    assert price > cost_per_heq and running > 0
    none = rental.cloud_offer(units, paid, tdp, 1000.0, 1200.0, True, tco)
    assert none[0] == 0.0 and none[1] == np.inf
    assert rental.cloud_offer(units, paid, tdp, 1000.0, 0.0, False, tco)[0] == 0.0


def test_rental_premium_rises_with_excess_demand_and_falls_back_to_cost_plus():
    premium = 1.0
    path = []
    # HEq-hours labs want at the posted price, against 1.0 offered
    for wanted in (2.0, 2.0, 2.0, 1.0, 0.5, 0.5, 0.5, 0.5):
        premium = rental.scarcity_premium(premium, wanted, 1.0, 0.5)
        path.append(premium)
    assert path[0] == pytest.approx(2.0**0.5) and path[2] == pytest.approx(2.0**1.5)
    assert path[3] == pytest.approx(path[2])  # demand met at this price: hold
    assert path[4] == pytest.approx(2.0) and path[5] == pytest.approx(2.0**0.5)  # a glut takes it back down...
    assert path[6] == pytest.approx(1.0) and path[7] == 1.0  # ...never below cost-plus
    assert rental.scarcity_premium(1.7, 3.0, 0.0, 0.5) == 1.7  # offers nothing: nothing to learn
    assert rental.scarcity_premium(1.7, 0.0, 1.0, 0.5) == 1.0
    assert rental.scarcity_premium(1.0, 5.0, 1.0, 0.0) == 1.0  # adjustment 0: cost-plus pricing


def test_a_booked_launch_keeps_its_packaging_share_while_others_follow_orders():
    from market.capacity import next_allocations

    allocation = np.array([0.6, 0.3, 0.1])
    orders = np.array([80.0, 20.0, 0.0])  # vendor 2 has nothing on sale yet
    free = next_allocations(allocation, orders, np.array([False, False, False]), 0.85)
    booked = next_allocations(allocation, orders, np.array([False, False, True]), 0.85)
    assert free.sum() == pytest.approx(1.0) and booked.sum() == pytest.approx(1.0)
    assert free[2] == pytest.approx(0.085)  # without a booking its share decays with its (zero) orders
    assert booked[2] == pytest.approx(0.1)  # with one it holds
    assert booked[:2] == pytest.approx(0.85 * allocation[:2] + 0.15 * 0.9 * orders[:2] / 100.0)
    assert next_allocations(allocation, np.zeros(3), np.array([False] * 3), 0.85) == pytest.approx(allocation)


def test_labs_rent_less_from_a_cloud_whose_chips_need_a_port():
    budgets = np.full(4, 1e7)
    price = np.array([2.0, 2.0])
    supply = np.array([1e9, 1e9])
    no_shocks = np.zeros((4, 2))
    same, _, _ = rental.rent(budgets, no_shocks, no_shocks, price, supply, 3.0, np.array([0.95, 0.95]), 8.0)
    assert same[:, 0] == pytest.approx(same[:, 1])
    ported, _, paid = rental.rent(budgets, no_shocks, no_shocks, price, supply, 3.0, np.array([0.95, 0.6]), 8.0)
    assert ported[:, 1].sum() < 0.1 * ported[:, 0].sum()  # exp(-8 x 0.35) ~ 0.06 of the other's weight
    assert paid.sum(axis=1) == pytest.approx(budgets)  # the budget moves, it is not lost


@pytest.mark.parametrize(("field", "value"), [("rental_price_adjustment", 1.5), ("rental_price_adjustment", -0.1),
                                              ("launch_booking_months", -1)])
def test_the_new_market_fields_refuse_values_outside_their_range(field, value):
    from market.config import MarketConfig

    with pytest.raises(ValueError, match=f"'{field}'"):
        MarketConfig.build(**{field: value})
