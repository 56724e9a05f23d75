"""A month's rounds formed in batches: pure numpy over the rounds of one pass (market/venture.py runs the passes).

Arrays describe R rounds and the cheques offered in them, one flat entry per cheque (`round_of` gives its round,
0 .. R - 1, entries of a round in the order they are written). USD throughout.

- `invitation_lists`: the firms each lead invites, each at its first invitation, those that may join only.
- `syndicate_fill`: the co-investors that join each round in invitation order, until it is (nearly) full.
- `syndicates_in_turn`: the same for all the pass's rounds at once, each co-investor left with what the earlier
  rounds left it (`running_sums`: what a firm or fund took in earlier rounds, summed as a loop would).
- `within_capacity`: the rounds booked: in round order up to the first that no longer fits what the rounds before
  it took.
- `issued_shares`: the shares each cheque buys at the round's pre-money, cheque after cheque.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

CAPACITY_ROUNDING = 1e-6  # USD: a cheque that takes what is left may overshoot it by a rounding error of the sums


def segment_starts(round_of: np.ndarray, rounds: int) -> np.ndarray:
    """Index of each round's first entry in `round_of` (entries grouped by round in increasing order; a round
    without entries starts where the next does), (rounds + 1,) with the total count last."""
    return np.searchsorted(round_of, np.arange(rounds + 1))


def exclusive_cumsum(values: np.ndarray, round_of: np.ndarray, rounds: int) -> np.ndarray:
    """Sum of `values` over the earlier entries of the same round (entries grouped by round, in order)."""
    total = np.concatenate([[0.0], np.cumsum(values)])
    return total[:-1] - total[segment_starts(round_of, rounds)[round_of]]


def invitation_lists(groups: list[tuple[np.ndarray, np.ndarray]], blocked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(round, firm) of the firms invited, by round, each round's in invitation order: the `groups` of invitations in
    turn (each a (round, firm) pair of arrays, without repeats within a round, in invitation order within a round),
    a firm at its first invitation to a round and only if not `blocked` there ((R, F) bool: closed, or already in the
    round). `blocked` is updated (a firm invited is blocked from later invitations to the round)."""
    invited_round, invited_firm = [], []
    for round_of, firm in groups:
        new = ~blocked[round_of, firm]
        round_of, firm = round_of[new], firm[new]
        blocked[round_of, firm] = True
        invited_round.append(round_of), invited_firm.append(firm)
    round_of, firm = np.concatenate(invited_round), np.concatenate(invited_firm)
    order = np.argsort(round_of, kind="stable")  # by round; within a round, groups and places keep their order
    return round_of[order], firm[order]


def syndicate_fill(round_of: np.ndarray, offer: np.ndarray, joins: np.ndarray, remaining: np.ndarray,
                   full_below: np.ndarray, most: int, rounds: int) -> np.ndarray:
    """USD each invited firm puts in (0: it does not), candidates grouped by round in invitation order. A candidate
    that `joins` (its own diligence) and whose `offer` (its cheque before the round's room, USD) is worth its time
    puts in its offer, at most what is still open; a round stops taking cheques once what is open (`remaining` (R,)
    at the first candidate) is at most `full_below` (R,) or `most` co-investors have joined. The loop of one round
    at a time, as cumulative sums."""
    taking = joins & (offer > 0)
    offered = np.where(taking, offer, 0.0)
    open_before = remaining[round_of] - exclusive_cumsum(offered, round_of, rounds)
    joined_before = exclusive_cumsum(taking.astype(float), round_of, rounds)
    takes = taking & (open_before > full_below[round_of]) & (joined_before < most)
    return np.where(takes, np.minimum(offered, open_before), 0.0)


def running_sums(group: np.ndarray, round_of: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """For entries with at most one per (`group`, round), a function of their amounts (USD) giving each entry the USD
    its group (a firm, a fund) took in earlier rounds: a cumulative sum over the entries sorted by group and round,
    less its value at the group's first entry, in extended precision (so the sums are a loop's to well within
    CAPACITY_ROUNDING, whatever the other groups hold). The ordering is made once for many amounts."""
    order = np.lexsort((round_of, group))
    by_group = group[order]
    first = np.concatenate([[True], by_group[1:] != by_group[:-1]]) if order.size else np.zeros(0, dtype=bool)
    group_start = np.flatnonzero(first)[np.cumsum(first) - 1]  # each entry's group's first entry, in `order`

    def taken(amount: np.ndarray) -> np.ndarray:
        ordered = amount[order].astype(np.longdouble)
        earlier = np.cumsum(ordered) - ordered  # all entries before each one, in `order`
        before = np.empty(order.size)
        before[order] = earlier - earlier[group_start]
        return before
    return taken


def syndicates_in_turn(round_of: np.ndarray, firm: np.ndarray, joins: np.ndarray, offer: Callable, capacity: np.ndarray,
                       remaining: np.ndarray, full_below: np.ndarray, most: int, lead: np.ndarray,
                       lead_cheque: np.ndarray) -> np.ndarray:
    """USD each invited firm puts in (`syndicate_fill`), every round's syndicate formed as if the rounds before it had
    been booked first: a candidate's `offer` (a function of the first-cheque capacity it has left, USD) reads its
    `capacity` (USD, by firm) less its cheques in earlier rounds (its lead cheques, `lead_cheque` by round, and its
    co-investments). Solved by sweeps (each round's fill from the earlier rounds' fills of the sweep before) until
    nothing changes: a round's fill is final once every earlier round's is, so at most as many sweeps as rounds."""
    rounds = lead.size
    taken = running_sums(np.concatenate([lead, firm]), np.concatenate([np.arange(rounds), round_of]))
    cheque = np.zeros(round_of.size)
    for _ in range(rounds + 1):
        left = np.maximum(capacity[firm] - taken(np.concatenate([lead_cheque, cheque]))[rounds:], 0.0)
        filled = syndicate_fill(round_of, offer(left), joins, remaining, full_below, most, rounds)
        if np.array_equal(filled, cheque):
            break
        cheque = filled
    return cheque


def within_capacity(round_of: np.ndarray, resource: np.ndarray, use: np.ndarray, need: np.ndarray, limit: np.ndarray,
                    rounds: int) -> np.ndarray:
    """(R,) the rounds that fit, in round order up to the first that does not. Each cheque takes `use` (USD) of a
    resource (a firm's first-cheque capacity or a fund's follow-on room, `limit` indexed by resource) and needs
    `need` (USD, at least its use: a lead needs a fifth of the round left to offer) of what the earlier rounds left;
    a round fits if each of its cheques does. The sums are made cheque after cheque, as a loop over the rounds would;
    the first round always fits (each of its needs is within a limit). Up to the first round that does not fit,
    each round's cheques are what it would have been given had the rounds before it been booked first."""
    over = running_sums(resource, round_of)(use) + need > limit[resource] + CAPACITY_ROUNDING
    fits = np.ones(rounds, dtype=bool)
    fits[round_of[over]] = False
    return np.logical_and.accumulate(fits)


def issued_shares(round_of: np.ndarray, amount: np.ndarray, pre_money: np.ndarray,
                  total_shares: np.ndarray) -> np.ndarray:
    """Shares each cheque buys, cheques grouped by round in the order they are written: each at the round's
    `pre_money` (R,) over the startup's shares outstanding (`total_shares` (R,) before the round, grown by each
    earlier cheque's shares). Returns the shares; `total_shares` is updated in place."""
    position = np.arange(round_of.size) - segment_starts(round_of, total_shares.size)[round_of]
    shares = np.zeros(round_of.size)
    for k in range(int(position.max()) + 1 if position.size else 0):
        at = np.flatnonzero(position == k)
        rounds = round_of[at]
        price = pre_money[rounds] / total_shares[rounds]
        shares[at] = amount[at] / price
        total_shares[rounds] += shares[at]
    return shares
