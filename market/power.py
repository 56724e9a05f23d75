"""Data-centre power: what a chip draws at the meter, which chips a site can run, the shadow price of power for
a buyer whose sites are full, and how the industry's new site power is shared among clouds. Pure numpy.

Units: power in W at the facility meter (chip TDP x (1 + host power) x PUE) unless a name says kW, MW or GW;
money in USD; the shadow price of power in USD per facility kWh.
"""

from __future__ import annotations

import math

import numpy as np


def facility_watts(tdp_w, tco):
    """W at the facility meter per chip: TDP x (1 + host power: CPUs, memory, NICs, fans) x PUE."""
    return np.asarray(tdp_w, dtype=float) * (1.0 + tco.host_power_fraction) * tco.pue


def powered_units(units, watts, work, capacity_w: float) -> np.ndarray:
    """(K,) chips of each type a site of `capacity_w` (W) can run: a cloud whose fleet draws more than its sites
    supply powers the chips with the most useful work per watt first (`work`, HEq per chip-hour, and `watts`, W per
    chip, both (K,), finite); the rest wait for power. All of them run when the fleet fits (`units` returned as
    given)."""
    units = np.asarray(units, dtype=float)
    draw = units * np.asarray(watts, dtype=float)
    if draw.sum() <= capacity_w:
        return units
    # it runs for every cloud short of power several times a month on ~20 chip types, too few for numpy's per-call
    # cost to pay: a greedy fill in Python floats, most work per watt first (a stable sort: ties in fleet order),
    # each type getting what is left of the site after the W taken by the types before it (a running sum, as
    # np.cumsum adds, less the type's own draw)
    watts = [float(w) for w in watts]
    per_watt = [float(w) / p if p > 0 else math.inf for w, p in zip(work, watts, strict=True)]
    site = max(capacity_w, 0.0)
    draws = draw.tolist()
    powered = [0.0] * len(draws)
    taken = 0.0
    for i in sorted(range(len(draws)), key=lambda i: -per_watt[i]):
        taken += draws[i]
        share = min(max(site - (taken - draws[i]), 0.0), draws[i])
        powered[i] = share / watts[i] if watts[i] > 0 else 0.0
    return np.array(powered)


def power_bought(spend, shares, prices, watts) -> np.ndarray:
    """(R,) W drawn by what each buyer row buys: spend (R,) USD split by `shares` (R, K) at `prices` (K,) USD per
    chip, each chip drawing `watts` (K,) W. `shares` may carry leading axes, (..., R, K) -> (..., R)."""
    return np.asarray(spend, dtype=float) * (np.asarray(shares) * (watts / prices)).sum(axis=-1)


def shadow_power_price(power_needed, free_w, ceiling, iterations: int = 40, levels_per_call: int = 1,
                       secant_steps: int = 0) -> np.ndarray:
    """(H,) the shadow price of power (USD per facility kWh) for each cloud: 0 where what it plans to buy fits the
    power it has free, else the lowest price at which, costing each chip's power envelope at that price, the
    logit moves its budget to chips that fit (bisection), capped at `ceiling` (H,), beyond which a watt would
    cost more than the best chip earns with it.

    power_needed(prices) -> (H,) W that cloud h's planned purchases draw when power costs `prices` (H,); it must
    fall as a cloud's price rises (chips with more work per watt gain shares). free_w: (H,) W free at its sites.

    With `levels_per_call` = d > 1, power_needed must also take prices of shape (N, H) (and return (N, H), each
    row as it would return for that row alone): each call then prices the 2^d - 1 midpoints of the next d steps of
    every cloud's bisection at once (the same midpoints, computed the same way), and the walk down them picks the
    bisection's path, so the price is the same to the bit with a d-th of the calls.

    With `secant_steps` = n > 0 (power_needed taking (N, H) prices), n calls at one price per cloud first close in on
    the price (`_bracket`, regula falsi): a price where the purchases do not fit and one where they do. Where
    power_needed falls with the price, a bisection midpoint at or below the first cannot fit and one at or above the
    second fits: those steps are taken without a call, and only the midpoints between the two are priced (d levels a
    call). One last call prices every midpoint taken without a call; if any is not what was assumed (power_needed
    rose with the price somewhere), the bisection is run again in full. Either way the same steps, so the same price,
    to the bit; the fewer, smaller calls when the purchases' draw falls with the price, as it mostly does.
    """
    free_w = np.asarray(free_w, dtype=float)
    ceiling = np.asarray(ceiling, dtype=float)
    price = np.zeros_like(free_w)
    excess = power_needed(price) - free_w
    short = excess > 0
    if not short.any():
        return price
    low, high = np.zeros_like(free_w), np.where(short, ceiling, 0.0)
    too_low, enough = np.full_like(free_w, -np.inf), np.full_like(free_w, np.inf)
    if secant_steps > 0:
        too_low, enough = _bracket(power_needed, free_w, short, excess, ceiling, secant_steps)
    assumed: list[tuple[np.ndarray, np.ndarray]] = []  # (midpoints, whether they fit) of the steps taken unpriced
    done = 0
    while done < iterations:
        middle = 0.5 * (low + high)
        if np.all(~short | (middle <= too_low) | (middle >= enough)):  # every cloud's step known from the bracket
            fits = middle >= enough
            assumed.append((middle, fits))
            high = np.where(short & fits, middle, high)
            low = np.where(short & ~fits, middle, low)
            done += 1
            continue
        depth = min(levels_per_call, iterations - done)
        if depth == 1:
            fits = power_needed(middle) <= free_w
            high = np.where(short & fits, middle, high)
            low = np.where(short & ~fits, middle, low)
        else:
            low, high = _bisect_levels(power_needed, free_w, short, low, high, depth)
        done += depth
    if assumed:
        middles, fits = (np.stack(parts) for parts in zip(*assumed, strict=True))
        if np.any(short & ((power_needed(middles) <= free_w) != fits)):
            return shadow_power_price(power_needed, free_w, ceiling, iterations, levels_per_call)
    return np.where(short, high, 0.0)


def _bracket(power_needed, free_w, short, excess_at_zero, ceiling, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(H,) (a price at which each short cloud's purchases do not fit, one at which they fit), closed in on by
    `steps` calls of regula falsi with the Illinois rule (the end that stays has its excess halved, so both ends
    move). A cloud whose purchases do not fit even at `ceiling` gets (ceiling, inf): every midpoint fails."""
    a, fa = np.zeros_like(free_w), excess_at_zero
    b = ceiling.copy()
    fb = power_needed(b) - free_w
    never = short & (fb > 0)
    active = short & ~never
    side = np.zeros(free_w.shape, dtype=int)  # the end the last step moved: -1 low, +1 high
    for _ in range(steps):
        with np.errstate(divide="ignore", invalid="ignore"):
            c = b - fb * (b - a) / (fb - fa)
        c = np.where(active, np.where(np.isfinite(c) & (c > a) & (c < b), c, 0.5 * (a + b)), 0.0)
        fc = power_needed(c) - free_w
        fails, fits = active & (fc > 0), active & ~(fc > 0)
        fb = np.where(fails & (side == -1), 0.5 * fb, fb)  # Illinois: the same end moves twice running
        fa = np.where(fits & (side == 1), 0.5 * fa, fa)
        a, fa = np.where(fails, c, a), np.where(fails, fc, fa)
        b, fb = np.where(fits, c, b), np.where(fits, fc, fb)
        side = np.where(fails, -1, np.where(fits, 1, side))
    return np.where(never, ceiling, np.where(active, a, -np.inf)), np.where(active, b, np.inf)


def _bisect_levels(power_needed, free_w, short, low, high, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """`depth` bisection steps from (low, high) (H,) with one call of `power_needed`: the tree of every midpoint
    the steps could visit (node i's children: 2i + 1 where the price fits, so high moves to it; 2i + 2 where not),
    priced at once, then each cloud's path down it."""
    # level by level (level j: nodes 2^j - 1 .. 2^(j+1) - 2, in order): a node's children take (low, middle) and
    # (middle, high), so interleaving the level's lows and middles (highs) gives the next level's lows (highs)
    lows, highs, levels = low[None, :], high[None, :], []
    for _ in range(depth):
        middles = 0.5 * (lows + highs)
        levels.append(middles)
        lows, highs = _interleave(lows, middles), _interleave(middles, highs)
    middles = np.concatenate(levels)
    fits_all = power_needed(middles) <= free_w[None, :]
    clouds = np.arange(low.size)
    node = np.zeros(low.size, dtype=int)
    for _ in range(depth):
        middle, fits = middles[node, clouds], fits_all[node, clouds]
        high = np.where(short & fits, middle, high)
        low = np.where(short & ~fits, middle, low)
        node = np.where(fits, 2 * node + 1, 2 * node + 2)
    return low, high


def _interleave(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Rows of `first` and `second` (both (n, H)) alternating: (2n, H)."""
    out = np.empty((2 * first.shape[0], first.shape[1]))
    out[0::2], out[1::2] = first, second
    return out


def allocate_site_power(orders_w, supply_w: float) -> np.ndarray:
    """(H,) W of new site power each cloud gets this month: the industry's new site power (`supply_w`: grid
    connections and construction it can bring on) shared in proportion to clouds' open orders (`orders_w`, (H,)),
    never more than a cloud ordered."""
    orders_w = np.asarray(orders_w, dtype=float)
    total = orders_w.sum()
    if total <= supply_w or total <= 0:
        return orders_w.copy()
    return orders_w * (supply_w / total)
