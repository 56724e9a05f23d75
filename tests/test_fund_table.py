"""The fund table (agents/fund_table.py): every fund's money as numpy columns, fees charged to all funds at once,
first-cheque room read for all firms at once; and the two venture mechanisms that read it (pacing by deal flow, exits
at public comps)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.fund_table import FundTable
from market import deal_flow
from market.config import fitted_config
from market.model import ComputeMarket
from market.venture_terms import TERMS


def test_fees_follow_the_terms_and_never_exceed_what_is_uncalled():
    table = FundTable(capacity=1)  # grows as funds are added
    young = table.add(firm=0, vintage=0, committed=120.0, fee_budget=30.0)
    spent = table.add(firm=1, vintage=0, committed=120.0, fee_budget=30.0)
    old = table.add(firm=2, vintage=-120, committed=120.0, fee_budget=30.0)  # past its 10-year life
    table.invested_new[spent] = 119.9  # all but 0.1 USD invested: its fee is cut to what is uncalled
    for month in range(60):
        table.charge_fees(month, 0.02, 0.015, investment_period=48, life=120)
    # 2% a year of commitments for 48 months, then 1.5% a year of invested capital (nothing invested: no fee)
    assert table.fees[young] == pytest.approx(48 * 120.0 * 0.02 / 12)
    assert table.fees[spent] == pytest.approx(0.1) and table.uncalled()[spent] == pytest.approx(0.0)
    assert table.fees[old] == 0.0
    flows = table.fee_flows(young)
    assert [m for m, _ in flows] == list(range(48)) and math.fsum(-a for _, a in flows) == pytest.approx(9.6)
    assert table.all_fee_flows()[young] == flows and old not in table.all_fee_flows()
    table.invested_follow_on[young] = 60.0
    table.charge_fees(60, 0.02, 0.015, investment_period=48, life=120)
    assert table.fee_flows(young)[-1] == (60, pytest.approx(-60.0 * 0.015 / 12))


def test_a_batch_of_cheques_is_called_from_each_fund_and_logged_for_its_cash_flows():
    table = FundTable(capacity=2)
    a = table.add(firm=0, vintage=0, committed=100.0, fee_budget=10.0)
    b = table.add(firm=1, vintage=0, committed=100.0, fee_budget=10.0)
    table.invest(3, np.array([a, b, a]), np.array([5.0, 7.0, 2.0]), np.array([False, False, True]))
    table.invest(5, np.array([b]), np.array([1.0]), np.array([True]))
    assert (table.invested_new[a], table.invested_follow_on[a]) == (5.0, 2.0)
    assert (table.invested_new[b], table.invested_follow_on[b]) == (7.0, 1.0)
    # one fund's calls, in the order booked, are its entries of all funds' calls
    assert table.investment_flows(a) == [(3, -5.0), (3, -2.0)] == table.all_investment_flows()[a]
    assert table.investment_flows(b) == [(3, -7.0), (5, -1.0)] == table.all_investment_flows()[b]
    with pytest.raises(ValueError, match="cannot invest"):
        table.invest(6, np.array([a]), np.array([200.0]), np.array([False]))


def test_the_first_cheque_room_of_all_firms_at_once_is_each_funds_budget_less_what_it_put_in_within_its_money():
    model = ComputeMarket(fitted_config(months=40), rng=2)
    v = model.venture
    cfg = v.config
    checked = 0
    for month in range(40):
        model.step()
        if month % 3:
            continue
        capacity, _ = v._first_cheque_room(model.month)
        for firm, room in zip(v.firms, capacity.tolist(), strict=True):
            fund = firm.current
            if fund is None or not firm.alive or model.month - fund.vintage >= cfg.investment_period_months:
                assert room == 0.0
                continue
            # the fund's own figures, through its properties and the firm's budget helper
            expected = min(firm.first_cheque_budget(fund, cfg) - fund.invested_new,
                           fund.uncalled - max(0.0, fund.fee_budget() - fund.fees))
            assert room == max(0.0, expected)
            checked += expected > 0
    assert checked > 100


def test_a_fund_behind_its_pace_sees_more_deals_and_its_bar_stays_its_own():
    ia, pace = np.array([0.0, 0.0, 0.5]), np.array([-0.25, 0.25, 0.0])
    weight = deal_flow.weights(ia, 6.0, pace, 2.0)
    assert weight[0] > 1.0 > weight[1] and weight[0] * weight[1] == pytest.approx(1.0)  # exp(+-0.5)
    assert weight[2] == pytest.approx(4.0)
    np.testing.assert_array_equal(deal_flow.weights(ia, 6.0, pace, 0.0), 1.0 + 6.0 * ia)
    assert TERMS.fund.pacing_bar_slope == 0.0 and TERMS.fund.pacing_flow_slope > 0


def test_exits_are_valued_at_public_comps_whose_peak_is_below_private_prices():
    v = ComputeMarket(fitted_config(months=2), rng=0).venture
    base = v.config.revenue_multiple
    assert v.multiple(5.0) == pytest.approx(3.0 * base)  # private rounds: up to 3x
    assert v.exit_multiple(5.0) == pytest.approx(TERMS.exits.public_comps_peak_ratio * base)
    assert v.exit_multiple(0.2) == v.multiple(0.2) == pytest.approx(1.2 * base)  # below the peak: the same
