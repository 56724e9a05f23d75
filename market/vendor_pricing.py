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

from .choice import cost_per_work, logit_shares, utility


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


def _cost_per_work(problem: PricingProblem, prices):
    """USD per HEq-hour of each chip (H, K) at `prices` for each buyer's mix (market.choice.cost_per_work)."""
    return cost_per_work(prices, problem.work, capital_per_price=problem.capital_per_price,
                         running_cost=problem.running_cost)


def expected_outcome(problem: PricingProblem, prices, *, alpha: float, switching_cost: float):
    """Spend per chip (..., H, K) at `prices` (..., 1, K) with no shocks."""
    u = utility(_cost_per_work(problem, prices), problem.maturity, problem.available, alpha=alpha,
                switching_cost=switching_cost)
    return logit_shares(u) * problem.spend[:, None]


def best_response_margins(problem: PricingProblem, grid, pricing_vendors, *, alpha: float, switching_cost):
    """The profit-maximising margin on `grid` for each vendor index in `pricing_vendors`.

    Only a vendor's own chips change price along its grid, so each buyer's logit is split in two: its rivals' chips,
    whose sum of exponentiated utilities is computed once, and the vendor's own chips at each candidate margin
    (arrays of vendors x margins x buyers x the vendor's own chips, not x every chip). The shares are the full
    logit's (`expected_outcome`; tests/test_market_units.py checks the two agree). `switching_cost`: a scalar or
    (H, K), as for `choice.utility`.

    Returns (margins, expected_profit) arrays aligned with `pricing_vendors`.
    """
    grid = np.asarray(grid, dtype=float)
    vendors = np.asarray(pricing_vendors, dtype=int)
    rows = problem.work.shape[0]
    own = problem.owner[None, :] == vendors[:, None]  # (V', K)
    # each vendor's own chips as columns `slots` (V', W), padded where it has fewer than the widest line
    width = max(1, int(own.sum(axis=1).max(initial=0)))
    slots = np.zeros((len(vendors), width), dtype=int)
    valid = np.zeros((len(vendors), width), dtype=bool)
    for i, row in enumerate(own):
        chips = np.flatnonzero(row)
        slots[i, :chips.size], valid[i, :chips.size] = chips, True

    def by_slot(x):
        """A per-chip quantity (scalar, (K,) or (H, K)) at the vendors' own chips, shaped (V', 1, H or 1, W)."""
        x = np.asarray(x)
        if x.ndim == 0:
            return x
        if x.ndim == 1:
            return x[slots][:, None, None, :]
        return np.moveaxis(np.broadcast_to(x, (rows, x.shape[-1]))[:, slots], 0, 1)[:, None, :, :]

    # rivals at last month's prices, each vendor's own chips left out: their utilities' max and scaled sum (V', H)
    base = utility(_cost_per_work(problem, problem.price), problem.maturity, problem.available, alpha=alpha,
                   switching_cost=switching_cost)  # (H, K)
    rivals = np.where(own[:, None, :], -np.inf, base[None, :, :])  # (V', H, K)
    rival_top = rivals.max(axis=2)
    rival_top = np.where(np.isfinite(rival_top), rival_top, 0.0)
    rival_sum = np.exp(rivals - rival_top[..., None]).sum(axis=2)  # (V', H)
    # the vendor's own chips at each candidate margin
    prices = problem.unit_cost[slots][:, None, :] / (1.0 - grid[None, :, None])  # (V', G, W)
    own_cost = cost_per_work(prices[:, :, None, :], by_slot(problem.work), capital_per_price=problem.capital_per_price,
                             running_cost=by_slot(problem.running_cost))  # (V', G, H, W)
    u = utility(own_cost, by_slot(problem.maturity), by_slot(problem.available) & valid[:, None, None, :],
                alpha=alpha, switching_cost=by_slot(switching_cost))
    top = np.maximum(u.max(axis=3), np.where(rival_sum > 0, rival_top, -np.inf)[:, None, :])  # (V', G, H)
    top = np.where(np.isfinite(top), top, 0.0)
    weights = np.exp(u - top[..., None])
    rival_part = np.where(rival_sum[:, None, :] > 0, rival_sum[:, None, :] * np.exp(rival_top[:, None, :] - top), 0.0)
    total = rival_part + weights.sum(axis=3)
    shares = np.divide(weights, total[..., None], out=np.zeros_like(weights), where=total[..., None] > 0)
    own_spend = (shares * problem.spend[None, None, :, None]).sum(axis=2)  # (V', G, W)
    revenue = own_spend.sum(axis=2)
    units = np.where(valid[:, None, :], own_spend / prices * problem.units_per_chip[slots][:, None, :], 0.0).sum(axis=2)
    capacity = problem.capacity_units[vendors][:, None]
    deliverable = np.minimum(1.0, np.divide(capacity, units, out=np.ones_like(units), where=units > 0))
    profit = grid[None, :] * revenue * deliverable
    best = np.argmax(profit, axis=1)
    return grid[best], profit[np.arange(len(vendors)), best]
