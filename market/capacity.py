"""Packaging/HBM capacity growth: the sourced schedule, then investment that follows unfilled orders. Pure."""

from __future__ import annotations

import numpy as np

MAX_INVESTMENT_GROWTH = 0.08  # at most +8% a month from investment on top of the base rate
# at most -2% a month when orders fall short of capacity: lines are idled and moved to other products (est: packaging
# and HBM lines serve other chips; a year of idle orders takes a quarter of the capacity out)
MAX_DISINVESTMENT = 0.02


def normalise_allocations(vendors) -> None:
    """Scale the packaging allocations of the vendors in the shared pool (each vendor's own method) so that they sum
    to one. A vendor with its own supply (`in_shared_pool` False: a domestic vendor) is left out."""
    vendors = [v for v in vendors if v.in_shared_pool]
    total = sum(v.allocation for v in vendors)
    for v in vendors:
        v.normalise_allocation(total)


def own_capacity_units(by_year, date: str, supply) -> float:
    """Packaging units a month of a vendor's own supply (outside the shared pool) in the month `date` (YYYY-MM): a
    twelfth of its calendar year's units (`by_year`: (year, units a year) pairs, one a year, oldest first; the
    regional catalog's [[capacity]] rows); none before its first year; after its last, that year's units grown by
    `supply.domestic_capacity_growth` a year. Times `supply.domestic_capacity_scale` (a scenario lever)."""
    if not by_year:
        return 0.0
    year = int(date[:4])
    first, last = by_year[0][0], by_year[-1][0]
    if year < first:
        return 0.0
    if year <= last:
        units = by_year[year - first][1]
    else:
        units = by_year[-1][1] * (1.0 + supply.domestic_capacity_growth) ** (year - last)
    return units / 12.0 * supply.domestic_capacity_scale


def next_capacity(capacity: float, date: str, order_units: float, supply) -> float:
    """Industry packaging capacity (HBM-GB equivalents a month) after the month `date` (YYYY-MM).

    Growth follows `supply.capacity_growth_by_year` (`supply`: the config's [supply] section) by calendar year
    (yearly rates spread evenly over the months). From the schedule's last (repeating) year on, suppliers respond
    to orders: they invest when orders exceed capacity, extra monthly growth = capacity_investment_response x
    excess / 12, capped at MAX_INVESTMENT_GROWTH, where excess = orders / capacity - 1 (packaging units); and
    when orders fall short of capacity they idle lines at the same response, at most MAX_DISINVESTMENT a month,
    so capacity follows a fall in orders instead of only ratcheting up.
    """
    year = int(date[:4])
    monthly = (1.0 + supply.capacity_growth_in(year)) ** (1.0 / 12.0) - 1.0
    if year - supply.capacity_growth_first_year >= len(supply.capacity_growth_by_year) - 1:
        excess = order_units / capacity - 1.0
        response = supply.capacity_investment_response * excess / 12.0
        monthly += min(MAX_INVESTMENT_GROWTH, max(-MAX_DISINVESTMENT - monthly, response))
    return capacity * (1.0 + monthly)


def next_allocations(allocation, orders, holding, memory: float):
    """Packaging shares after a month (arrays over vendors, summing to 1).

    A vendor's share follows its share of orders with memory m: a_t+1 = m a_t + (1 - m) x order share. A
    vendor with a launch booked (`holding`: nothing on sale yet, its first chip due within the booking
    horizon) keeps its share: packaging is contracted ahead of a launch, not won month by month from
    orders it cannot yet receive; the others share the rest by their orders. With no orders, nothing moves.
    """
    allocation = np.asarray(allocation, dtype=float)
    orders = np.where(holding, 0.0, np.asarray(orders, dtype=float))
    if orders.sum() <= 0:
        return allocation / allocation.sum()
    free = 1.0 - allocation[holding].sum()
    target = np.where(holding, allocation, free * orders / orders.sum())
    out = memory * allocation + (1.0 - memory) * target
    return out / out.sum()
