"""Clearing orders against supply: each chip's supply from its vendor's committed capacity, rationing
rules, and the month's two-round clearing (first orders, then unspent budgets spill to chips with supply
left). Pure numpy."""

from __future__ import annotations

import numpy as np

RULES = ("proportional", "largest_first")


def ration(orders, supply, rule: str = "proportional", priority=None):
    """Units of each order filled: orders (H, K) units, supply (K,) units.

    proportional: every order for an over-subscribed chip is filled by the same fraction.
    largest_first: buyers are served in descending `priority` (H,) (e.g. size or prepayment) until
    the chip runs out. Filled units never exceed orders or supply.
    """
    orders = np.asarray(orders, dtype=float)
    supply = np.asarray(supply, dtype=float)
    if rule == "proportional":
        demand = orders.sum(axis=0)
        fraction = np.minimum(1.0, np.divide(supply, demand, out=np.ones_like(supply), where=demand > 0))
        return orders * fraction[None, :]
    if rule == "largest_first":
        order = np.argsort(-np.asarray(priority, dtype=float), kind="stable")
        before = np.cumsum(orders[order], axis=0) - orders[order]  # units claimed by earlier buyers
        filled_sorted = np.clip(supply[None, :] - before, 0.0, orders[order])
        filled = np.empty_like(orders)
        filled[order] = filled_sorted
        return filled
    raise ValueError(f"unknown rationing rule '{rule}'; valid: {', '.join(RULES)}")


def supply_from_capacity(capacity_units, committed_units, owner, planned_units, units_per_chip, ordered, headroom,
                         in_production=None):
    """Chips each chip's vendor makes this month (K,). A vendor's committed supply (`committed_units`, packaging
    units (V,), booked `lead time` months ago) is made whether or not it sells: the floor. Above it the vendor makes
    to order (what was ordered plus `headroom`) up to what it may make this month (`capacity_units` (V,): its
    packaging allocation or its own capacity): the ceiling, as packaging is contracted ahead while wafers, HBM and
    substrates are committed a lead time ahead. Both are shared among the vendor's chips in production
    (`in_production`, bool (K,); all by default; old stock being sold off gets none) in proportion to its forecast
    of their orders (`planned_units`, packaging units), so that production cannot follow a sudden change in the mix
    within the month. With no commitments (no lead time) this is make to order within capacity."""
    vendors = len(capacity_units)
    making = np.ones(len(owner), dtype=bool) if in_production is None else np.asarray(in_production, dtype=bool)
    planned_units = np.where(making, planned_units, 0.0)
    vendor_planned = np.bincount(owner, weights=planned_units, minlength=vendors)[owner]
    chips_of_vendor = np.bincount(owner, weights=making.astype(float), minlength=vendors)[owner]
    mix = np.where(vendor_planned > 0, planned_units / np.where(vendor_planned > 0, vendor_planned, 1.0),
                   making / np.maximum(chips_of_vendor, 1.0))
    ceiling = capacity_units[owner] * mix / units_per_chip
    floor = np.minimum(committed_units, capacity_units)[owner] * mix / units_per_chip
    return np.maximum(floor, np.minimum(ceiling, ordered * (1.0 + headroom)))


def clear_two_rounds(orders, supply, spend, prices, available, respread, rule: str = "proportional"):
    """(R, K) chips filled: orders (R, K) against supply (K,), then one spill-over round in which each row's
    unspent budget (USD) is spread by `respread(open)` -> (R, K) shares over the chips it may buy that have
    supply left (`open`, bool (R, K)), and rationed against what is left."""
    filled = ration(orders, supply, rule, spend)
    left = supply - filled.sum(axis=0)
    unspent = spend - (filled * prices[None, :]).sum(axis=1)
    open_chips = available & (left[None, :] > 1e-9)
    spill = np.maximum(unspent, 0.0)[:, None] * respread(open_chips) / prices[None, :]
    return filled + ration(spill, left, rule, spend)


def clear_with_commitments(
    committed, chosen, supply, free_spend, prices, available, respread, rule: str = "proportional"
):
    """(R, K) chips filled when some orders are under capacity deals: `committed` (R, K) chips are filled
    first from `supply` (K,), then the freely `chosen` orders (R, K) clear in two rounds against what is left,
    with only the free budget (`free_spend`, USD (R,)) spilling over (a deal's money is for its chip)."""
    first = ration(committed, supply, rule, free_spend)
    rest = clear_two_rounds(chosen, supply - first.sum(axis=0), free_spend, prices, available, respread, rule)
    return first + rest
