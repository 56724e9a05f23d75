"""Data-centre power (market/power.py and its use in the market): chips run only where there is site power, a
cloud whose sites are full prices power in its choice, and a power crunch lowers deployed GW and moves demand to
chips with more work per watt."""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from experiments.config import ConfigError, load_experiment
from hardware_catalog import load_catalog
from market import choice, power
from market.config import MarketConfig, fitted_config
from market.model import ComputeMarket

CATALOG = load_catalog()
CONFIG_DIR = Path(__file__).resolve().parents[1] / "experiments" / "configs"


def test_facility_watts_adds_the_server_and_the_building():
    tco = CATALOG.tco
    assert power.facility_watts(700.0, tco) == pytest.approx(700.0 * (1 + tco.host_power_fraction) * tco.pue)


def test_a_fleet_that_fits_runs_whole_and_one_that_does_not_runs_its_best_work_per_watt_first():
    units = np.array([10.0, 10.0, 10.0])
    watts = np.array([1000.0, 500.0, 2000.0])
    work = np.array([1.0, 1.0, 4.0])  # work per watt: 1e-3, 2e-3, 2e-3
    assert power.powered_units(units, watts, work, 1e9) is units
    on = power.powered_units(units, watts, work, 26_000.0)
    assert (on * watts).sum() == pytest.approx(26_000.0)
    np.testing.assert_allclose(on, [1.0, 10.0, 10.0])  # the two efficient types whole, the rest in what is left
    np.testing.assert_allclose(power.powered_units(units, watts, work, 0.0), 0.0)


def test_the_chips_a_site_runs_are_the_greedy_fill_by_work_per_watt_to_the_bit():
    rng = np.random.default_rng(7)
    for _ in range(20):
        n = int(rng.integers(2, 30))
        units = rng.uniform(0.0, 1e5, n)
        watts = rng.choice([0.0, 700.0, 1000.0, 1400.0], n)  # chips drawing nothing, and ties in work per watt
        work = rng.choice([0.5, 1.0, 2.0], n)
        capacity = float(rng.uniform(0.1, 0.9)) * float((units * watts).sum())
        # the greedy fill in plain Python floats: most work per watt first (ties in fleet order), each type getting
        # what is left of the site after the types before it, by the same operations in the same order
        per_watt = [w / p if p > 0 else np.inf for w, p in zip(work, watts, strict=True)]
        order = sorted(range(n), key=lambda i: -per_watt[i])
        expected, taken = [0.0] * n, 0.0
        for i in order:
            draw = float(units[i] * watts[i])
            taken += draw
            share = min(max(capacity - (taken - draw), 0.0), draw)
            expected[i] = share / float(watts[i]) if watts[i] > 0 else 0.0
        np.testing.assert_array_equal(power.powered_units(units, watts, work, capacity), expected)


def test_site_power_is_shared_in_proportion_to_orders_and_never_beyond_them():
    np.testing.assert_allclose(power.allocate_site_power([1.0, 3.0], 10.0), [1.0, 3.0])
    shared = power.allocate_site_power([1.0, 3.0], 2.0)
    np.testing.assert_allclose(shared, [0.5, 1.5])
    np.testing.assert_allclose(power.allocate_site_power([0.0, 0.0], 2.0), [0.0, 0.0])


def _two_chip_buyer():
    """A buyer splitting $1M over two chips by a logit: chip 0 cheap and power-hungry, chip 1 dearer and frugal."""
    prices = np.array([10_000.0, 20_000.0])
    watts = np.array([2000.0, 500.0])
    hourly = np.array([1.0, 1.2])  # USD per chip-hour before power

    def shares(price):  # (H=1,) USD per kWh -> (1, K)
        cost = hourly[None, :] + np.asarray(price)[:, None] * watts[None, :] / 1e3
        u = -3.0 * np.log(cost)
        return np.exp(u) / np.exp(u).sum(axis=1, keepdims=True)

    def needed(price):
        return power.power_bought(np.array([1e6]), shares(price), prices, watts)

    return shares, needed


def test_the_shadow_price_is_zero_with_room_and_just_enough_to_fit_without():
    shares, needed = _two_chip_buyer()
    roomy = needed(np.zeros(1)) * 2
    assert power.shadow_power_price(needed, roomy, np.array([10.0]))[0] == 0.0
    tight = needed(np.zeros(1)) * 0.7
    price = power.shadow_power_price(needed, tight, np.array([10.0]))
    assert price[0] > 0
    assert needed(price)[0] <= tight[0] * (1 + 1e-9)
    assert needed(price * 0.99)[0] > tight[0]  # the lowest such price
    assert shares(price)[0, 1] > shares(np.zeros(1))[0, 1]  # the frugal chip gains share
    # a constraint no price can meet stops at the ceiling (the buyer then spends less: ComputeMarket._fit_power)
    assert power.shadow_power_price(needed, np.array([1.0]), np.array([0.5]))[0] == 0.5


def _run(config: MarketConfig, seed: int = 0, months: int = 60):
    """Run month by month, checking that no cloud runs more chips than its sites power; returns the model and, over
    the months in which some cloud paid a shadow price for power, work per watt of what the short clouds chose, the
    same with power unpriced, and (W per USD of each short cloud's choice, the same unpriced)."""
    model = ComputeMarket(replace(config, months=months), catalog=CATALOG, rng=seed)
    priced, unpriced = [], []
    watts_priced, watts_plain = [], []
    for _ in range(months):
        model.step()
        orders, book = model.last_month.orders, model.last_month.book
        for h in model.hyperscalers:
            running = model.fleets.running(h, book.rates, book.inference_share)[0]
            draw = sum(u * model.fleets.facility_w(c) for u, c in zip(running, h.fleet, strict=True))
            assert draw <= h.site_w * (1 + 1e-9), (model.date, h.hyperscaler_id)
        if orders.power_price is not None:
            short = orders.power_price > 0
            plain = choice.logit_shares(model.buying.utilities(book, book.available, orders.shocks))
            for shares, out, watts in ((orders.shares, priced, watts_priced), (plain, unpriced, watts_plain)):
                chips = shares[short] / book.prices[None, :]  # chips bought per USD
                out.append(float((chips * book.work[short]).sum() / (chips * book.facility_w[None, :]).sum()))
                watts.extend((chips * book.facility_w[None, :]).sum(axis=1))  # W per USD, each short cloud and purpose
    return model, np.array(priced), np.array(unpriced), (np.array(watts_priced), np.array(watts_plain))


@pytest.mark.slow
def test_halving_site_power_lowers_deployed_gw_and_short_clouds_choose_fewer_watts_per_dollar():
    base, base_priced, _, _ = _run(fitted_config())
    crunch, priced, unpriced, (watts_priced, watts_plain) = _run(fitted_config(power_crunch_start="2025-07",
                                                                              power_crunch_scale=0.5))
    base_table, crunch_table = base.model_table(), crunch.model_table()
    assert crunch_table.deployed_power_gw.iloc[-1] < 0.9 * base_table.deployed_power_gw.iloc[-1]
    assert crunch_table.site_power_gw.iloc[-1] < base_table.site_power_gw.iloc[-1]
    # power is scarce in more months: some cloud prices it in its choice. (Not "more clouds short": the baseline's
    # growth leaves some clouds with chips waiting for power too, and under a crunch clouds that price power buy
    # fewer chips they cannot run. Since the adoption engine (issue 24) the baseline already prices power in most
    # months of the window, so the crunch adds a quarter more, where it once added half.)
    assert len(priced) > len(base_priced)
    # a cloud that prices its power envelope buys chips that need fewer watts per dollar in every month, and over
    # the crunch chips that do more work per watt. (Not in every month: a shadow price favours chips whose power is
    # a small share of their hourly cost, and since the 2026-12 refit that is, in two of 15 months, a pricier chip
    # with slightly less work per watt: at worst 2% less.)
    assert len(priced) >= 6
    assert (watts_priced < watts_plain).all()
    assert priced.mean() > unpriced.mean()
    assert (priced > unpriced).mean() > 0.75
    # before the crunch starts the two runs are the same
    before = base_table.date < "2025-07"
    np.testing.assert_array_equal(base_table[before].chip_revenue, crunch_table[before].chip_revenue)


def test_without_the_power_model_sites_are_not_reported_and_nothing_waits():
    model, priced, _, _ = _run(fitted_config(power_enabled=False), months=24)
    assert len(priced) == 0
    table = model.model_table()
    assert table.site_power_gw.isna().all()
    assert (table.chips_waiting_for_power == 0).all()
    assert (table.deployed_power_gw > 0).all()


def test_sites_come_on_line_a_lead_time_after_they_are_allotted():
    model = ComputeMarket(fitted_config(months=3), catalog=CATALOG, rng=0)
    h = model.hyperscalers[0]
    lead = model.config.power.site_lead_time_months
    assert len(h.site_pipeline) == lead  # construction under way at the start
    h.site_pipeline = deque([0.0] * lead)
    h.site_orders_w = 5e6
    h.energise_sites()
    h.build_sites(5e6, lead)
    assert h.site_orders_w == 0.0
    arrivals = []
    for _ in range(lead):
        before = h.site_w
        h.energise_sites()
        arrivals.append(h.site_w - before)
    assert arrivals == [0.0] * (lead - 1) + [5e6]


def test_the_power_crunch_scenario_validates_and_bad_values_are_one_line_errors(tmp_path):
    exp = load_experiment(CONFIG_DIR / "power_crunch.toml")
    assert exp.market.policy.power_crunch_scale == 0.5 and exp.market.policy.power_crunch_start == "2025-07"
    bad = tmp_path / "bad.toml"
    bad.write_text(f'extends = "{CONFIG_DIR / "baseline.toml"}"\n[policy]\npower_crunch_scale = -1\n')
    with pytest.raises(ConfigError, match=r"bad.toml: policy.power_crunch_scale: must be > 0"):
        load_experiment(bad)
    bad.write_text(f'extends = "{CONFIG_DIR / "baseline.toml"}"\n[market]\nsite_lead_time_months = 1.5\n')
    with pytest.raises(ConfigError, match=r"market.site_lead_time_months: must be a whole number"):
        load_experiment(bad)


def test_pricing_several_bisection_steps_per_call_gives_the_same_price_to_the_bit():
    prices = np.array([20000.0, 10000.0])
    watts = np.array([[2000.0, 500.0], [1500.0, 900.0], [700.0, 650.0]])  # three clouds, two chips each
    hourly = np.array([1.0, 1.2])
    calls = []

    def needed(price):  # (..., H) USD per kWh -> (..., H) W
        calls.append(np.shape(price))
        cost = hourly + np.asarray(price)[..., None] * watts / 1e3
        u = np.exp(-3.0 * np.log(cost))
        return power.power_bought(np.full(3, 1e6), u / u.sum(axis=-1, keepdims=True), prices, watts[0])

    free = needed(np.zeros(3)) * np.array([0.7, 2.0, 0.9])  # the first and last clouds are short
    calls.clear()
    one_by_one = power.shadow_power_price(needed, free, np.full(3, 10.0))
    sequential_calls = len(calls)
    for levels in (2, 5, 7):
        calls.clear()
        assert np.array_equal(power.shadow_power_price(needed, free, np.full(3, 10.0), levels_per_call=levels),
                              one_by_one)
    assert one_by_one[1] == 0.0 and one_by_one[0] > 0 and one_by_one[2] > 0
    assert sequential_calls == 41
    assert calls[1] == (2**7 - 1, 3) and calls[-1] == (2**5 - 1, 3)
    assert len(calls) == 1 + 6  # the check at price 0, then 40 steps: 5 calls of 7 and one of 5


@pytest.mark.parametrize("seed", range(8))
def test_bracketing_the_price_first_gives_the_bisections_price_to_the_bit(seed):
    """Seeds 0-3: chips' work in proportion to their price, so the draw falls as power costs more and the steps the
    bracket decides are right; 4-7: work at random, where the draw may rise with the price somewhere and the check
    of those steps must catch it."""
    rng = np.random.default_rng(seed)
    clouds, chips = 6, 5
    prices = rng.uniform(5e3, 4e4, chips)
    watts = rng.uniform(300.0, 2500.0, chips)
    hourly = rng.uniform(0.5, 3.0, (clouds, chips))
    work = prices / 1e4 * rng.uniform(0.8, 1.2, (clouds, chips)) if seed < 4 else rng.uniform(0.3, 3.0, (clouds, chips))
    spend = rng.uniform(1e5, 1e7, clouds)
    calls = []

    def needed(price):  # (..., H) USD per kWh -> (..., H) W: a logit over USD per unit of work
        calls.append(not np.any(price))  # a bisection (re)starts at price 0
        cost = (hourly + np.asarray(price)[..., None] * watts / 1e3) / work
        u = np.exp(-3.0 * np.log(cost))
        return power.power_bought(spend, u / u.sum(axis=-1, keepdims=True), prices, watts)

    at_zero, at_most = needed(np.zeros(clouds)), needed(np.full(clouds, 1e4))
    # clouds short of power with room at some price, one with room to spare, one that never fits
    between = np.minimum(at_most, at_zero) + rng.uniform(0.05, 0.95, clouds) * np.abs(at_zero - at_most)
    free = np.concatenate([between[:-2], [1.5 * at_zero[-2], 0.5 * min(at_most[-1], at_zero[-1])]])
    ceiling = np.full(clouds, 1e4)
    plain = power.shadow_power_price(needed, free, ceiling, levels_per_call=5)
    for steps in (1, 4, 8, 20):
        calls.clear()
        assert np.array_equal(power.shadow_power_price(needed, free, ceiling, levels_per_call=5, secant_steps=steps),
                              plain)
        if seed < 4:  # the steps taken from the bracket were right: no bisection run again in full
            assert sum(calls) == 1
    assert plain[-2] == 0.0 and plain[-1] == 1e4 and ((plain[:-2] > 0) & (plain[:-2] < 1e4)).any()


def test_a_draw_that_rises_with_the_price_somewhere_is_caught_and_bisected_in_full():
    calls = []

    def needed(price):  # W: falls through the free power at 5 USD/kWh, with a dip below it around 3.1 USD/kWh
        calls.append(not np.any(price))
        price = np.asarray(price, dtype=float)
        return np.where((price > 3.0) & (price < 3.2), 0.5, 2.0 - price / 5.0)

    free, ceiling = np.array([1.0]), np.array([100.0])
    plain = power.shadow_power_price(needed, free, ceiling, levels_per_call=5)
    assert 3.0 < plain[0] < 3.2  # the bisection's path lands in the dip (at 100 / 32)
    calls.clear()
    assert np.array_equal(power.shadow_power_price(needed, free, ceiling, levels_per_call=5, secant_steps=8), plain)
    assert sum(calls) == 2  # the bracket put the root at 5; the check of its steps found 3.125 fits; bisected again
