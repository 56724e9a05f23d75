"""Clearing orders against supply: rationing rules. Pure numpy."""

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
