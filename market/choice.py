"""Buyers' discrete choice among chips: a logit over USD per unit of useful work. Pure numpy.

Utility of chip k for buyer h: U_hk = -alpha log(x_hk) - switching_cost (1 - maturity_k) + shock_hk,
where x_hk is the hourly cost of owning chip k (capital recovery at its price + power + hosting)
divided by its useful work per hour on h's workload mix (in H100-equivalents, HEq). Unavailable
chips have utility -inf. Shares are expenditure shares of the buyer's budget.
"""

from __future__ import annotations

import numpy as np


def work_rate(train_rate, infer_rate, inference_share):
    """Useful work per chip-hour in H100-equivalents for a mix with `inference_share` of inference.

    train_rate, infer_rate: throughput relative to the reference H100 (shape (..., K)); inference_share
    broadcasts over buyers (shape (H, 1)).
    """
    return (1.0 - inference_share) * train_rate + inference_share * infer_rate


def cost_per_work(price, work, *, capital_per_price, running_cost):
    """USD per unit of useful work (USD per HEq-hour) of a chip bought at `price` (USD).

    Its hourly cost of ownership, capital recovery `capital_per_price` (USD per chip-hour per USD of price) x price
    plus power and hosting `running_cost` (USD per chip-hour), divided by its useful work `work` (HEq per
    chip-hour). Arrays broadcast; +inf or nan where a chip does no useful work (no warning).
    """
    hourly = capital_per_price * price + running_cost
    with np.errstate(divide="ignore", invalid="ignore"):
        return hourly / work


def utility(cost_per_work, maturity, available, *, alpha: float, switching_cost: float, shocks=0.0, affinity=None):
    """Logit utility; -inf where a chip is not available to a buyer or does no useful work.

    `affinity`: an optional additive taste term (e.g. labs' affinity for a cloud, market/rental.py), added before
    the shocks.
    """
    usable = available & (cost_per_work > 0) & np.isfinite(cost_per_work)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = -alpha * np.log(cost_per_work) - switching_cost * (1.0 - maturity)
        if affinity is not None:
            u = u + affinity
        u = u + shocks
    return np.where(usable, u, -np.inf)


def logit_shares(u, axis: int = -1):
    """Softmax of `u` along `axis`; rows with no finite utility get all-zero shares."""
    top = np.max(u, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    weights = np.exp(u - top)
    total = np.sum(weights, axis=axis, keepdims=True)
    return np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)


def price_index(u, alpha: float, axis: int = -1):
    """Effective USD per useful work of a buyer's whole choice set: exp(-logsumexp(U) / alpha).

    Falls when any option gets cheaper (or better); +inf when nothing is available.
    """
    top = np.max(u, axis=axis)
    safe = np.where(np.isfinite(top), top, 0.0)
    logsum = safe + np.log(np.sum(np.exp(u - np.expand_dims(safe, axis)), axis=axis))
    return np.where(np.isfinite(top), np.exp(-logsum / alpha), np.inf)
