"""Labs' multi-year compute commitments (market/commitments.py): the book, delivery, the labs' and clouds' decisions,
and what they do in the market."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hardware_catalog import load_catalog
from market.commitments import (
    CommitmentBook,
    commitment_to_sign,
    deliver,
    split_over_clouds,
    split_over_clouds_by_lab,
)
from market.config import CloudConfig, DemandConfig, MarketConfig, VentureConfig
from market.model import ComputeMarket
from market.pricing import HOURS_PER_MONTH


def test_a_lab_books_a_share_of_its_expected_growth_less_what_it_has_booked():
    # 100 HEq now, doubling a year, 12 months ahead: expects 200; books 60% = 120, less 50 already booked
    assert commitment_to_sign(100.0, 1.0, 12, 0.6, 50.0) == pytest.approx(70.0)
    assert commitment_to_sign(100.0, 1.0, 6, 0.6, 0.0) == pytest.approx(0.6 * 100.0 * 2.0 ** 0.5)
    # a lab that expects to shrink, or has booked enough, signs nothing
    assert commitment_to_sign(100.0, -0.5, 12, 0.6, 0.0) == pytest.approx(60.0)
    assert commitment_to_sign(100.0, 0.0, 12, 0.6, 80.0) == 0.0


def test_the_book_schedules_volume_and_money_over_the_term_and_grows_past_its_horizon():
    book = CommitmentBook(2, 3, months=10)
    book.sign(1, np.array([0.5, 0.5, 0.0]), 40.0, np.array([2.0, 3.0, np.inf]), start=4, term=12)
    assert book.months == 16
    assert book.labs_committed(3)[1] == 0.0 and book.labs_committed(4)[1] == pytest.approx(40.0)
    assert book.labs_committed(15)[1] == pytest.approx(40.0) and book.labs_committed(16)[1] == 0.0
    np.testing.assert_allclose(book.cloud_committed(8), [20.0, 20.0, 0.0])
    np.testing.assert_allclose(book.price(8)[1], [2.0, 3.0, 0.0])
    assert book.signed_usd == pytest.approx((20.0 * 2.0 + 20.0 * 3.0) * HOURS_PER_MONTH * 12)
    assert book.labs_committed(8)[0] == 0.0
    assert book.labs_committed_usd(8)[1] == pytest.approx((20.0 * 2.0 + 20.0 * 3.0) * HOURS_PER_MONTH)
    assert book.labs_committed_usd(3)[1] == 0.0 and book.labs_committed_usd(99)[1] == 0.0
    # from month 9 the next 12 months hold 6 contract months (10-15) of the 12
    np.testing.assert_allclose(book.usd_a_month_ahead(9), [0.0, 100.0 * HOURS_PER_MONTH * 6 / 12])


def test_a_new_contract_follows_last_months_spending_or_else_affinity_and_only_open_clouds():
    open_to = np.array([True, True, False])
    np.testing.assert_allclose(split_over_clouds(np.array([3.0, 1.0, 5.0]), np.zeros(3), open_to), [0.75, 0.25, 0.0])
    by_affinity = split_over_clouds(np.zeros(3), np.array([1.0, 0.0, 9.0]), open_to)
    assert by_affinity[2] == 0.0 and by_affinity[0] > by_affinity[1] and by_affinity.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(split_over_clouds(np.ones(3), np.zeros(3), np.zeros(3, bool)), 0.0)


def test_every_labs_split_and_booking_at_once_are_each_labs_own_to_the_bit():
    rng = np.random.default_rng(5)
    labs, clouds = 26, 8
    spend = rng.lognormal(20.0, 2.0, size=(labs, clouds)) * rng.choice([1.0, 0.0, -1.0], size=(labs, clouds))
    spend[3] = 0.0  # a lab that spent nothing splits by its affinity
    affinity = rng.normal(size=(labs, clouds))
    open_to = np.array([True] * 6 + [False, True])
    shares = split_over_clouds_by_lab(spend, affinity, open_to)
    for lab in range(labs):
        assert np.array_equal(shares[lab], split_over_clouds(spend[lab], affinity[lab], open_to))
    heq = rng.lognormal(10.0, 1.0, size=labs) * (rng.random(labs) < 0.7)
    price = np.where(open_to, rng.lognormal(0.5, 0.3, size=clouds), np.inf)
    one_by_one, at_once = CommitmentBook(labs, clouds, months=20), CommitmentBook(labs, clouds, months=20)
    for book in (one_by_one, at_once):
        book.sign(2, shares[2], 5.0, price, start=1, term=6)  # contracts signed before
    for lab in range(labs):
        if heq[lab] > 0:
            one_by_one.sign(lab, shares[lab], float(heq[lab]), price, start=4, term=24)
    at_once.sign_labs(np.arange(labs), heq, shares, price, start=4, term=24)
    assert np.array_equal(one_by_one.heq, at_once.heq) and np.array_equal(one_by_one.usd_per_hour, at_once.usd_per_hour)
    assert (one_by_one.signed_usd, one_by_one.signed_this_month) == (at_once.signed_usd, at_once.signed_this_month)
    for month in (0, 4, 27, 40):  # before, during and past the (extended) horizon
        assert at_once.labs_committed(month) == [float(at_once.committed(month)[lab].sum()) for lab in range(labs)]
        assert at_once.labs_committed_usd(month) == [
            float(at_once.usd_per_hour[lab, :, month].sum()) * HOURS_PER_MONTH if month < at_once.months else 0.0
            for lab in range(labs)]


def test_delivery_is_pro_rata_when_a_cloud_is_short_and_a_lab_without_cash_takes_less():
    committed = np.array([[60.0, 10.0], [40.0, 0.0]])
    got = deliver(committed, np.array([50.0, 100.0]), np.array([1.0, 1.0]))
    np.testing.assert_allclose(got, [[30.0, 10.0], [20.0, 0.0]])
    got = deliver(committed, np.array([1e9, 1e9]), np.array([0.5, 1.0]))
    np.testing.assert_allclose(got, [[30.0, 5.0], [40.0, 0.0]])


def test_a_lab_that_defaults_has_its_later_contracts_cut_to_what_it_paid():
    book = CommitmentBook(2, 2, months=12)
    for lab in (0, 1):
        book.sign(lab, np.array([0.5, 0.5]), 10.0, np.array([2.0, 4.0]), start=0, term=12)
    book.restructure(0, 5, 0.4)
    assert book.labs_committed(4)[0] == pytest.approx(10.0)  # what fell due before stays as it was
    assert book.labs_committed(5)[0] == pytest.approx(4.0) and book.labs_committed(11)[0] == pytest.approx(4.0)
    np.testing.assert_allclose(book.price(7)[0], [2.0, 4.0])  # the price holds; the volume is cut
    assert book.labs_committed_usd(7)[0] == pytest.approx(0.4 * book.labs_committed_usd(7)[1])
    assert book.labs_committed(11)[1] == pytest.approx(10.0)  # other labs' contracts are untouched
    book.restructure(1, 5, 1.0)
    assert book.labs_committed(11)[1] == pytest.approx(10.0)


def test_a_cloud_orders_for_a_contract_before_it_is_delivered():
    def planned(contracted):
        from agents.hyperscaler import Hyperscaler

        model = ComputeMarket(MarketConfig(months=1, venture=VentureConfig(enabled=False)))
        h = next(x for x in model.hyperscalers if not x.bankrupt)
        assert isinstance(h, Hyperscaler)
        h.cash, h.planned_capex = 1e12, 0.0
        total, internal = h.plan_capex(1e5, 2e4, 1.0, 1.0, DemandConfig(), CloudConfig(), 1.0, contracted)
        return total, internal

    base, internal_base = planned(0.0)
    more, internal_more = planned(5e4)
    assert more > base
    assert internal_more < internal_base  # the contracted work is bought for rental, not for its own work


def _run(share: float, months: int = 30, seed: int = 0) -> ComputeMarket:
    catalog = load_catalog()
    cfg = MarketConfig.build(catalog.fitted, months=months, commitment_share=share)
    model = ComputeMarket(dataclasses.replace(cfg, venture=VentureConfig(enabled=False)), catalog=catalog, rng=seed)
    model.run()
    return model


@pytest.fixture(scope="module")
def with_and_without():
    return _run(0.6), _run(0.0)


def test_with_commitments_off_no_contract_is_signed(with_and_without):
    _, off = with_and_without
    assert off.commitments.signed_usd == 0.0 and not off.commitments.heq.any()


def test_what_labs_pay_on_contracts_clouds_receive(with_and_without):
    on, _ = with_and_without
    assert on.commitments.signed_usd > 0
    # every month, the labs' compute spend (spot and contracts) equals the clouds' rental revenue
    labs_paid = sum(lab.compute_spend for lab in on.labs)
    clouds_got = sum(h.rental_revenue for h in on.hyperscalers)
    assert labs_paid == pytest.approx(clouds_got, rel=1e-9)


def test_labs_that_book_ahead_run_more_compute_once_their_contracts_deliver(with_and_without):
    on, off = with_and_without
    frontier_on = sum(lab.compute_month for lab in on.labs if lab.frontier)
    frontier_off = sum(lab.compute_month for lab in off.labs if lab.frontier)
    assert frontier_on > 1.2 * frontier_off


class AlwaysRaise:
    def random(self):
        return 0.0


def growing_lab(model, name: str, revenue: float, growth_per_year: float):
    """A lab whose revenue grew at `growth_per_year` (a fraction) over the last year, now at `revenue` a month."""
    from agents.lab import Lab

    lab = Lab(model, name, True, cash=0.0, revenue=revenue, affinity=np.zeros(len(model.hyperscalers)))
    for month in range(12):  # the twelve months before this one
        lab.record_revenue(revenue * (1.0 + growth_per_year) ** ((month - 12) / 12.0))
    return lab


def test_a_labs_growth_is_measured_from_its_high_water_mark_so_a_rebound_is_not_growth():
    """A lab whose revenue halves for a year and comes back expects no growth from the rebound (nor books or raises
    on it); a lab whose revenue has only risen expects the same growth as from 12 months ago; a lab that passes its
    old high grows by what it added above it."""
    from agents.lab import Lab
    from market.config import LabFinanceConfig

    model = ComputeMarket(MarketConfig(months=1, venture=VentureConfig(enabled=False)))
    finance = LabFinanceConfig(lab_funding_multiple=2.5, funding_growth_reference=2.0, commitment_growth_cap=3.0)
    steady = growing_lab(model, "steady", 2e8, 1.0)
    steady.record_revenue(2e8)
    assert steady.expected_growth(3.0) == pytest.approx(1.0)  # 1e8 a year ago, 2e8 now: as from 12 months ago
    slump = Lab(model, "slump", True, cash=0.0, revenue=1e8, affinity=np.zeros(len(model.hyperscalers)))
    for revenue in [1e8] * 3 + [5e7] * 12:  # a year at half its revenue...
        slump.record_revenue(revenue)
    slump.record_revenue(1e8)  # ...and back: 12 months ago it earned half, but it had earned this before
    assert slump.revenue_history[0] == pytest.approx(5e7)  # the plain 12-month ratio would read +100%
    assert slump.expected_growth(3.0) == 0.0
    assert slump.round_multiple(finance) == 0.0  # investors give it no round on the rebound, nor does it book on one
    slump.record_revenue(1.5e8)  # half again above its old high, within the months it keeps
    assert slump.expected_growth(3.0) == pytest.approx(1.5 ** (12 / 12) - 1.0)


def test_a_labs_round_is_at_most_a_multiple_of_its_revenue_and_no_more_than_its_runway_needs():
    from agents.lab import OTHER_COSTS_SHARE
    from market.config import LabFinanceConfig

    model = ComputeMarket(MarketConfig(months=1, venture=VentureConfig(enabled=False)))
    finance = LabFinanceConfig(lab_funding_multiple=2.5, lab_runway_months=18.0, lab_adoption_elasticity=1.0,
                               lab_revenue_elasticity=0.0, funding_growth_reference=2.0)
    # a lab growing 3x a year whose contracts call for far more than its revenue: investors cap the round at 2.5x
    # annual revenue
    lab = growing_lab(model, "t", 1e8, 2.0)
    lab.committed_usd_ahead = 1e10
    lab.update_business(1.0, finance, AlwaysRaise())
    assert lab.funding_raised == pytest.approx(2.5 * 12 * 1e8)
    assert lab.cash == pytest.approx(lab.funding_raised + 1e8 * (1.0 - OTHER_COSTS_SHARE))
    # at half the reference growth, half the multiple; a lab that does not grow raises nothing
    lab = growing_lab(model, "h", 1e8, 1.0)
    lab.committed_usd_ahead = 1e10
    lab.update_business(1.0, finance, AlwaysRaise())
    assert lab.funding_raised == pytest.approx(0.5 * 2.5 * 12 * 1e8, rel=1e-3)
    lab = growing_lab(model, "flat", 1e8, 0.0)
    lab.committed_usd_ahead = 1e10
    lab.update_business(1.0, finance, AlwaysRaise())
    assert lab.funding_raised == 0.0
    # a lab that needs little raises only up to its runway of spending
    lab = growing_lab(model, "u", 1e6, 2.0)
    lab.compute_spend = 1e6
    lab.update_business(1.0, finance, AlwaysRaise())
    assert lab.funding_raised == pytest.approx(18.0 * 1e6 - 1e6 * (1.0 - OTHER_COSTS_SHARE))
    assert lab.funding_raised < 2.5 * 12 * 1e6


def test_a_lab_books_no_more_than_it_could_pay_when_the_contract_starts():
    """What it could pay then: the share of its revenue it spends on compute, at its expected growth, plus its cash
    and the round investors would give it (the multiple its growth earns: the same as the round it would raise),
    spread over its runway."""
    from agents.lab import REVENUE_SPENT_ON_COMPUTE, Lab
    from market.config import LabFinanceConfig

    model = ComputeMarket(MarketConfig(months=1, venture=VentureConfig(enabled=False)))
    finance = LabFinanceConfig(lab_funding_multiple=2.5, lab_runway_months=18.0, commitment_share=1.0,
                               commitment_lead_months=12, commitment_growth_cap=3.0, funding_growth_reference=2.0)
    price = 2.0  # USD per HEq-hour: 1M HEq cost $1.46B a month, far beyond what $100M a month of revenue supports
    # growing 3x a year (at the reference growth or faster: the full multiple): its revenue a year on is 3e8
    lab = growing_lab(model, "g", 1e8, 2.0)
    lab.record_revenue(1e8)
    lab.compute_month = 1e6 * HOURS_PER_MONTH  # 1M HEq
    affordable = REVENUE_SPENT_ON_COMPUTE * 3e8 + 2.5 * 12 * 1e8 / 18.0
    booked = lab.plan_commitment(0.0, 0.0, price, finance)
    assert booked * price * HOURS_PER_MONTH == pytest.approx(affordable)
    # what it has booked for that month already counts against the same limit
    assert lab.plan_commitment(0.0, affordable, price, finance) == 0.0
    # a cheap enough contract is limited by what it expects to use instead: 1M HEq grown 3x, the growth cap 4x
    assert lab.plan_commitment(0.0, 0.0, 0.01, finance) == pytest.approx(3e6)
    # a lab that does not grow counts on no round (investors would give it none): its revenue and cash only
    flat = Lab(model, "t", True, cash=9e8, revenue=1e8, affinity=np.zeros(len(model.hyperscalers)))
    for _ in range(2):
        flat.record_revenue(1e8)
    flat.compute_month = 1e6 * HOURS_PER_MONTH
    booked = flat.plan_commitment(0.0, 0.0, price, finance)
    assert booked * price * HOURS_PER_MONTH == pytest.approx(REVENUE_SPENT_ON_COMPUTE * 1e8 + 9e8 / 18.0)


def test_a_lab_raises_only_for_the_contracted_compute_its_clouds_deliver():
    """A lab whose clouds deliver half of what its contracts call for (short of power or chips) raises for half: it
    pays for what is delivered, so it does not pile up cash for compute it cannot get."""
    from market.config import LabFinanceConfig

    model = ComputeMarket(MarketConfig(months=1, venture=VentureConfig(enabled=False)))
    finance = LabFinanceConfig(lab_funding_multiple=2.5, lab_runway_months=18.0, lab_adoption_elasticity=1.0,
                               lab_revenue_elasticity=0.0, funding_growth_reference=2.0)
    raised = {}
    for fill in (1.0, 0.5):
        lab = growing_lab(model, f"fill-{fill}", 1e8, 2.0)
        lab.committed_usd_ahead = 1e8  # USD a month its contracts call for
        lab.record_contract_fill(due_hours=1e6, delivered_hours=1e6 * fill)
        assert lab.contract_fill == pytest.approx(fill)
        lab.update_business(1.0, finance, AlwaysRaise())
        raised[fill] = lab.funding_raised
    cash_from_revenue = 1e8 * 0.5  # the half of its revenue not spent on other costs
    assert raised[1.0] == pytest.approx(18.0 * 1e8 - cash_from_revenue)
    assert raised[0.5] == pytest.approx(18.0 * 0.5e8 - cash_from_revenue)
