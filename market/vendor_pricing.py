"""Vendors' margin choice: a best response over a grid of candidate margins. Pure numpy.

For each pricing vendor v and candidate margin m, its chips are priced c_k / (1 - m) while rivals keep
last month's prices. Buyers' expected spend S_h is split by the logit (market.choice), giving v's
revenue R_v(m) and the packaging units its orders would need. Expected profit is
    m x R_v(m) x min(1, capacity_v / units_v(m)),
i.e. gross profit on what can be delivered. The grid is evaluated for all vendors at once (arrays of
vendors x margins x buyers x chips). Margins therefore rise with share and switching costs (less
elastic demand) and with scarcity (capacity caps the volume), and fall under competition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .choice import logit_shares, utility


@dataclass(frozen=True)
class PricingProblem:
    """Last month's observations a vendor uses to price (K chips on offer, H buyers, V vendors)."""

    unit_cost: np.ndarray  # (K,) USD manufacturing cost per chip
    price: np.ndarray  # (K,) USD last posted prices (rivals keep them)
    owner: np.ndarray  # (K,) int vendor index of each chip
    capital_per_price: float  # USD per chip-hour per USD of chip price (capital recovery incl. overhead)
    running_cost: np.ndarray  # (K,) USD per chip-hour of power and hosting
    work: np.ndarray  # (H, K) useful work per chip-hour (HEq) for each buyer's mix
    maturity: np.ndarray  # (K,) software maturity of each chip's vendor
    available: np.ndarray  # (H, K) bool: can buyer h buy chip k
    spend: np.ndarray  # (H,) USD each buyer is expected to spend on chips
    capacity_units: np.ndarray  # (V,) packaging units each vendor can ship this month
    units_per_chip: np.ndarray  # (K,) packaging units one chip uses


def expected_outcome(problem: PricingProblem, prices, *, alpha: float, switching_cost: float):
    """Spend per chip (..., H, K) at `prices` (..., 1, K) with no shocks."""
    hourly = problem.capital_per_price * prices + problem.running_cost
    with np.errstate(divide="ignore", invalid="ignore"):
        cost_per_work = hourly / problem.work
    u = utility(cost_per_work, problem.maturity, problem.available, alpha=alpha, switching_cost=switching_cost)
    return logit_shares(u) * problem.spend[:, None]


def best_response_margins(problem: PricingProblem, grid, pricing_vendors, *, alpha: float, switching_cost: float):
    """The profit-maximising margin on `grid` for each vendor index in `pricing_vendors`.

    Returns (margins, expected_profit) arrays aligned with `pricing_vendors`.
    """
    grid = np.asarray(grid, dtype=float)
    vendors = np.asarray(pricing_vendors, dtype=int)
    own = problem.owner[None, :] == vendors[:, None]  # (V', K)
    candidate = problem.unit_cost[None, None, :] / (1.0 - grid[None, :, None])  # (1, G, K)
    prices = np.where(own[:, None, :], candidate, problem.price[None, None, :])  # (V', G, K)
    spend = expected_outcome(problem, prices[:, :, None, :], alpha=alpha, switching_cost=switching_cost)  # (V',G,H,K)
    own_spend = np.where(own[:, None, None, :], spend, 0.0).sum(axis=2)  # (V', G, K)
    revenue = own_spend.sum(axis=2)
    units = (own_spend / prices * problem.units_per_chip).sum(axis=2)
    capacity = problem.capacity_units[vendors][:, None]
    deliverable = np.minimum(1.0, np.divide(capacity, units, out=np.ones_like(units), where=units > 0))
    profit = grid[None, :] * revenue * deliverable
    best = np.argmax(profit, axis=1)
    return grid[best], profit[np.arange(len(vendors)), best]
