"""Lab: an AI lab that rents compute, turns it into capability and capability into revenue and funding."""

from __future__ import annotations

import math

import mesa


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
        self.adoption = 1.0  # market adoption index since the start

    @property
    def capability(self) -> float:
        """Log-like in cumulative compute: log2(1 + compute / reference)."""
        if not self.compute_reference:
            return 0.0
        return math.log2(1.0 + self.compute_total / self.compute_reference)

    def compute_budget(self, runway_months: float) -> float:
        """USD to spend on compute this month: cash over the planned runway plus most of revenue."""
        return max(0.0, min(self.cash, self.cash / runway_months + 0.5 * self.revenue))

    def receive_compute(self, heq_hours: float, cost: float) -> None:
        self.compute_month = heq_hours
        self.compute_spend = cost
        self.compute_total += heq_hours
        self.cash -= cost
        if self.compute_reference is None and heq_hours > 0:
            self.compute_reference = 12.0 * heq_hours

    def update_business(self, date: str, demand, finance, rng, demand_factor: float = 1.0) -> None:
        """Revenue follows capability and market adoption (scaled in a demand shock); funding comes
        when cash runs low. `demand` and `finance` are the config's [demand] and [lab_finance] sections
        (market/config.py); money in USD a month."""
        self.adoption *= 1.0 + demand.boom_growth(finance.lab_boom_scale, finance.lab_adoption_growth_end, date)
        self.revenue = (self.revenue0 * self.adoption * demand_factor
                        * 2.0 ** (finance.lab_revenue_elasticity * self.capability))
        self.cash += self.revenue
        self.funding_raised = 0.0
        monthly_need = max(self.compute_spend, 1.0)
        if self.cash < 6.0 * monthly_need and rng.random() < 0.3:
            raised = max(self.revenue * 12.0 * finance.lab_funding_multiple, 10.0 * monthly_need)
            self.cash += raised
            self.funding_raised = raised
            self.rounds += 1
