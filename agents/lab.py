"""Lab: an AI lab that rents compute, turns it into capability and capability into revenue and funding."""

from __future__ import annotations

import math
from collections import deque

import mesa

from market.adoption import saturated
from market.commitments import commitment_to_sign
from market.pricing import HOURS_PER_MONTH

# A lab's spending and fundraising rules (estimates, not fitted; the funding multiple is, in [lab_finance]):
REVENUE_SPENT_ON_COMPUTE = 0.5  # share of this month's revenue a lab puts into compute besides its cash runway
# ...and the share that goes to everything else (staff, sales, data, facilities): est from press reports of OpenAI's
# 2024 accounts (~$3.7B revenue, ~$5B loss, compute the largest cost, staff and other costs ~$2B); so revenue pays
# for running the business and compute, and a lab's cash comes from its raises, which it burns over its runway
OTHER_COSTS_SHARE = 0.5
FUNDRAISE_BELOW_MONTHS = 6.0  # a lab seeks money when its cash covers fewer months of compute spend than this...
FUNDRAISE_CHANCE = 0.3  # ...and closes a round in a given month with this probability (rounds take months)
# investors size a round by the lab's revenue (at most a multiple of it), not by what the lab wants to spend: a lab
# cannot raise its way into contracts its business does not support; nor does it raise more than its runway needs
# capability = log2(1 + cumulative compute / a year of its first month's compute): doubling the compute a lab has
# used adds one unit of capability (est: log-linear returns to training compute, as scaling laws report)
CAPABILITY_REFERENCE_MONTHS = 12.0


class Lab(mesa.Agent):
    """Money in USD (flows per month), compute in H100-equivalent hours (HEq-hours)."""

    def __init__(self, model: mesa.Model, name: str, frontier: bool, cash: float, revenue: float, affinity):
        super().__init__(model)
        self.name = name
        self.frontier = frontier
        self.cash = cash
        self.revenue0 = revenue
        self.revenue = revenue
        self.affinity = affinity  # (H,) preference for each hyperscaler (relationships, credits)
        self.compute_total = 0.0  # cumulative HEq-hours
        self.compute_reference = None  # HEq-hours that double capability (set on the first month)
        self.compute_spend = 0.0
        self.compute_month = 0.0
        self.funding_raised = 0.0
        self.rounds = 0
        self.revenue_history: deque[float] = deque(maxlen=13)  # USD a month, the last 13 months (this one last)
        # the highest monthly revenue it had reached by each of those months (USD a month, this one last)
        self.revenue_peaks: deque[float] = deque(maxlen=13)
        self.committed_usd_ahead = 0.0  # USD a month its contracts call for over the coming year (on average)
        self.contract_fill = 1.0  # share of what its contracts called for last month that its clouds delivered

    @property
    def capability(self) -> float:
        """Log-like in cumulative compute: log2(1 + compute / reference)."""
        if not self.compute_reference:
            return 0.0
        return math.log2(1.0 + self.compute_total / self.compute_reference)

    def compute_budget(self, runway_months: float) -> float:
        """USD to spend on compute this month: cash over the planned runway plus most of revenue."""
        return max(0.0, min(self.cash, self.cash / runway_months + REVENUE_SPENT_ON_COMPUTE * self.revenue))

    def expected_growth(self, cap: float) -> float:
        """Its expected growth a year (a fraction, in [0, cap]): its revenue's growth over the last 12 months, or
        over the months it has, annualised, measured from the highest revenue it had reached 12 months ago (a
        high-water mark). A lab whose revenue only climbs back to where it was before a slump is not growing: the
        rebound is not read as growth to book contracts and raise money on (which would build for a boom that is
        not there). A lab whose revenue has only risen expects the same growth either way."""
        history = self.revenue_history
        if len(history) < 2 or self.revenue_peaks[0] <= 0:
            return 0.0
        growth = (history[-1] / self.revenue_peaks[0]) ** (12.0 / (len(history) - 1)) - 1.0
        return min(max(growth, 0.0), cap)

    def record_revenue(self, revenue: float) -> None:
        """This month's revenue (USD a month), kept with its high-water mark for `expected_growth`."""
        self.revenue = revenue
        self.revenue_history.append(revenue)
        self.revenue_peaks.append(max(self.revenue_peaks[-1], revenue) if self.revenue_peaks else revenue)

    def plan_commitment(self, already_committed_heq: float, already_committed_usd: float, price: float,
                        finance) -> float:
        """HEq of useful work to book now for delivery `commitment_lead_months` ahead (market/commitments.py):
        a share of what it expects to use then, at its expected growth, less what it has booked for that month
        (`already_committed_heq`, costing `already_committed_usd` a month), and no more than it could pay then at
        `price` (USD per HEq-hour): the share of its expected revenue it spends on compute plus its cash and the
        largest round investors would give it, spread over its runway. `finance`: the config's [lab_finance]."""
        if finance.commitment_share <= 0 or not price > 0:
            return 0.0
        growth = self.expected_growth(finance.commitment_growth_cap)
        wanted = commitment_to_sign(self.compute_month / HOURS_PER_MONTH, growth, finance.commitment_lead_months,
                                    finance.commitment_share, already_committed_heq)
        revenue_then = self.revenue * (1.0 + growth) ** (finance.commitment_lead_months / 12.0)
        fundable = max(self.cash, 0.0) + self.revenue * 12.0 * self.round_multiple(finance)
        affordable = REVENUE_SPENT_ON_COMPUTE * revenue_then + fundable / finance.lab_runway_months
        headroom = max(0.0, affordable - already_committed_usd) / (price * HOURS_PER_MONTH)
        return min(wanted, headroom)

    def round_multiple(self, finance) -> float:
        """The most investors would put in now, as a multiple of its annualised revenue: the config's
        `lab_funding_multiple` at `funding_growth_reference` growth or faster, scaled down with its expected growth
        below that (0 for a lab that does not grow). The same multiple sizes the round it raises
        (`update_business`) and the round it counts on when it books contracts (`plan_commitment`). `finance`: the
        config's [lab_finance]."""
        return finance.lab_funding_multiple * min(
            1.0, self.expected_growth(finance.commitment_growth_cap) / finance.funding_growth_reference)

    def cash_cover(self, due: float) -> float:
        """Share of this month's contract payments (`due`, USD) its cash covers (1 when it covers them all)."""
        if due <= 0:
            return 1.0
        return min(1.0, max(self.cash, 0.0) / due)

    def record_contract_fill(self, due_hours: float, delivered_hours: float) -> None:
        """What its contracts called for this month that it could pay for (`due_hours`, HEq-hours) and what its clouds
        delivered of it."""
        self.contract_fill = min(1.0, delivered_hours / due_hours) if due_hours > 0 else 1.0

    def receive_compute(self, heq_hours: float, cost: float) -> None:
        self.compute_month = heq_hours
        self.compute_spend = cost
        self.compute_total += heq_hours
        self.cash -= cost
        if self.compute_reference is None and heq_hours > 0:
            self.compute_reference = CAPABILITY_REFERENCE_MONTHS * heq_hours

    def update_business(self, adoption_index: float, finance, rng, demand_factor: float = 1.0,
                        index_cap: float = math.inf) -> None:
        """Revenue follows the economy's adoption of AI (`adoption_index`, 1 at the start) and the lab's own
        capability (scaled in a demand shock), and is bounded as adoption is: its growth over the start cannot pass
        the multiple AI's economic potential allows (`index_cap`, market/adoption.Adoption.index_cap); funding comes
        when cash runs low. `finance` is the config's [lab_finance] section (market/config.py); money in USD a
        month."""
        over_start = (adoption_index ** finance.lab_adoption_elasticity
                      * 2.0 ** (finance.lab_revenue_elasticity * self.capability))  # revenue / its start's
        self.record_revenue(self.revenue0 * saturated(over_start, index_cap) * demand_factor)
        self.cash += self.revenue * (1.0 - OTHER_COSTS_SHARE)
        self.funding_raised = 0.0
        # it raises against what it spends and what its contracts will call for, as far as they are being delivered
        # (a take-or-pay contract is paid for what is delivered: a lab whose clouds are short of power or chips does
        # not raise for compute it cannot get)
        monthly_need = max(self.compute_spend, self.committed_usd_ahead * self.contract_fill, 1.0)
        if self.cash < FUNDRAISE_BELOW_MONTHS * monthly_need and rng.random() < FUNDRAISE_CHANCE:
            # investors put in at most a multiple of its revenue, which scales with its growth (a lab that does not
            # grow raises nothing); it raises no more than its runway of spending
            raised = min(self.revenue * 12.0 * self.round_multiple(finance),
                         max(finance.lab_runway_months * monthly_need - self.cash, 0.0))
            self.cash += raised
            self.funding_raised = raised
            self.rounds += 1
