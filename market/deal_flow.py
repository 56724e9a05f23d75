"""A month's deal flow as arrays: which firms see each round sought this month and which of them offer to lead.
Pure numpy; the random draws are made by the caller (market/venture.py) in one block per month.

- `weights`: each firm's deal-flow weight (how likely it is drawn to see a round).

For S rounds sought and firms drawn D = 4 x k times per round (k = candidates per deal):
- `seen_by`: the firms drawn for a round (deal flow, with repeats), kept in draw order at their first draw if they
  can write a cheque of `min_share` of the round, at most k of them (S, D) booleans; `slot` gives each kept firm's
  place among them, 0 .. k - 1 (it picks its signal's draw).
- `signals`: each firm's noisy signal of the startup's log quality (whether it offers is the firm's decision,
  agents/venture_fund.VentureFund.offers).
"""

from __future__ import annotations

import numpy as np


def seen_by(draws: np.ndarray, capacity: np.ndarray, target: np.ndarray, min_share: float,
            candidates: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept (S, D) bool, slot (S, D) int): of each row of firm indices `draws` (S, D), the distinct firms, in draw
    order, whose first-cheque `capacity` (USD, indexed by firm) is at least `min_share` x the row's `target` (USD,
    (S,)), at most `candidates` of them; `slot` is a kept firm's rank among them (0-based; -1 elsewhere)."""
    # each (row, firm) pair's first draw: np.unique's first index of the pair's key, row x firms + firm
    first = np.zeros(draws.shape, dtype=bool)
    _, at = np.unique((np.arange(draws.shape[0])[:, None] * capacity.size + draws).ravel(), return_index=True)
    first.ravel()[at] = True
    kept = first & (capacity[draws] >= min_share * target[:, None])
    slot = np.cumsum(kept, axis=1) - 1
    kept &= slot < candidates
    return kept, np.where(kept, slot, -1)


def signals(slot: np.ndarray, log_quality: np.ndarray, normals: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """(S, D) each drawn firm's signal of the startup's log quality: the log quality (S,) plus a standard normal draw
    (`normals`, (S, k), the one of the firm's slot; slot 0's where it has none) x its signal noise (`noise` (S, D),
    s.d.)."""
    drawn = np.take_along_axis(normals, np.maximum(slot, 0), axis=1)
    return log_quality[:, None] + drawn * noise


def weights(information_advantage: np.ndarray, gain: float, pace_ahead: np.ndarray, pacing_slope: float) -> np.ndarray:
    """Each firm's deal-flow weight: (1 + `gain` x its information advantage) x exp(-`pacing_slope` x `pace_ahead`),
    the share of its fund's first-cheque budget used less the share of the investment period gone (a fund behind
    an even pace takes more first meetings, one ahead fewer; arrays over the same firms, weights > 0)."""
    return (1.0 + gain * information_advantage) * np.exp(-pacing_slope * pace_ahead)
