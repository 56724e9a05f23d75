"""Packaging/HBM capacity growth: the sourced schedule, then investment that follows unfilled orders. Pure."""

from __future__ import annotations

MAX_INVESTMENT_GROWTH = 0.08  # at most +8% a month from investment on top of the base rate


def next_capacity(capacity: float, date: str, order_units: float, config) -> float:
    """Industry packaging capacity (HBM-GB equivalents a month) after the month `date` (YYYY-MM).

    Growth follows `config.capacity_growth_by_year` by calendar year (yearly rates spread evenly over the
    months). From the schedule's last (repeating) year on, suppliers also invest when orders exceed
    capacity: extra monthly growth = capacity_investment_response x excess / 12, capped at
    MAX_INVESTMENT_GROWTH, where excess = orders / capacity - 1 (packaging units).
    """
    year = int(date[:4])
    monthly = (1.0 + config.capacity_growth_in(year)) ** (1.0 / 12.0) - 1.0
    if year - config.capacity_growth_first_year >= len(config.capacity_growth_by_year) - 1:
        excess = max(0.0, order_units / capacity - 1.0)
        monthly += min(MAX_INVESTMENT_GROWTH, config.capacity_investment_response * excess / 12.0)
    return capacity * (1.0 + monthly)
