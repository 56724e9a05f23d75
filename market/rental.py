"""The rental market: clouds offer the compute their own work leaves free at a price over its cost (raised while
labs want more than they offer), and labs split their compute budgets over the clouds by a logit on price and
their own affinity. Pure numpy.

Units: compute in H100-equivalent hours (HEq-hours) per month; prices in USD per HEq-hour.
"""

from __future__ import annotations

import numpy as np

from . import choice, clearing, pricing


def cloud_offer(units, paid, tdp_w, fleet_heq: float, internal_demand: float, rents: bool, tco):
    """(HEq-hours offered this month, USD per HEq-hour, USD of power and hosting this month) for one cloud.

    units, paid, tdp_w: its fleet per chip type (chips, USD paid per chip, W). It offers what its fleet does
    beyond its own demand (`internal_demand`, HEq) if it rents at all; the price is its full hourly cost per
    HEq (capital at what it paid, power, hosting) with the rental markup (market/pricing.py), +inf if it
    offers nothing.
    """
    hours = pricing.HOURS_PER_MONTH
    per_chip = pricing.hourly_cost(paid, tdp_w, tco)
    cost = float((per_chip.total * units).sum())  # USD per fleet-hour, capital included
    running = float(((per_chip.power + per_chip.hosting) * units).sum()) * hours
    supply = max(0.0, fleet_heq - internal_demand) * hours if rents else 0.0
    price = float(pricing.rental_price(cost / fleet_heq, tco)) if (supply > 0 and fleet_heq > 0) else np.inf
    return supply, price, running


def rent(budgets, affinity, shocks, price, supply, alpha: float, maturity=1.0, switching_cost: float = 0.0):
    """(wanted, got, paid), each (L labs, H clouds): HEq-hours wanted and rented, and USD paid.

    Lab l puts its budget (USD) on cloud h in proportion to
    exp(-alpha log price_h - switching_cost (1 - maturity_h) + affinity_lh + shock_lh), where maturity_h is the
    software maturity of the chips cloud h rents out (market/choice.py's lock-in, as for buyers of chips: a lab
    renting TPUs ports its code to their stack); clouds with no offer (price +inf) get nothing; over-subscribed
    clouds ration proportionally.
    """
    offered = np.isfinite(price)
    u = choice.utility(price, np.asarray(maturity, dtype=float), offered, alpha=alpha, switching_cost=switching_cost,
                       shocks=shocks, affinity=affinity)
    shares = choice.logit_shares(u)
    with np.errstate(invalid="ignore"):
        wanted = np.where(offered[None, :], budgets[:, None] * shares / price[None, :], 0.0)
    got = clearing.ration(wanted, supply, "proportional")
    paid = np.where(got > 0, got * np.where(offered, price, 0.0)[None, :], 0.0)
    return wanted, got, paid


def rented_by_chip(rented: float, prices, units, work, heq: float):
    """(chip-hours, then one USD array per price in `prices`) of each chip type in one cloud's rentals this month.

    `rented` (HEq-hours) is shared over the chip types running in its fleet in proportion to the work they do
    (`work`, HEq per type; `units`, chips running per type; `heq` = sum of work), so a type's chip-hours are
    rented x units / heq and its revenue at a price p (USD per HEq-hour) p x rented x work / heq. `prices`: a
    sequence of prices, the first the one the hours were rented at. Nothing is rented (zeros) unless `rented` and
    `heq` are positive and that first price is finite; a later price that is not finite values the hours at zero.
    """
    units = np.asarray(units, dtype=float)
    work = np.asarray(work, dtype=float)
    rents = not (rented <= 0 or heq <= 0)
    hours = rented * units / heq if rents and np.isfinite(prices[0]) else np.zeros_like(units)
    return hours, *(p * rented * work / heq if rents and np.isfinite(p) else np.zeros_like(work) for p in prices)


def scarcity_premium(premium: float, wanted: float, offered: float, adjustment: float) -> float:
    """Next month's multiplier on a cloud's cost-plus rental price (>= 1).

    Labs' budgets are fixed in USD, so the price that would clear a cloud whose offer (`offered`, HEq-hours)
    falls short of what labs wanted at this month's price (`wanted`) is about price x wanted / offered. The
    cloud moves a share `adjustment` of the way there in logs each month (prices are sticky), and back down
    as supply catches up, never below its cost-plus price (premium 1). A cloud that offered nothing keeps it.
    """
    if offered <= 0:
        return premium
    if wanted <= 0:
        return 1.0
    return max(1.0, premium * (wanted / offered) ** adjustment)
