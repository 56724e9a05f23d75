"""Labs' multi-year compute commitments with clouds: take-or-pay contracts signed months ahead of delivery.

A lab that expects to grow books capacity before it needs it (the 2025 deals: OpenAI with Microsoft, Oracle,
CoreWeave; Anthropic with Google and Amazon, ../shared/reference/history_2025H2.md). A contract names a lab, a
cloud, a first month, a term, a volume of useful work (HEq, i.e. HEq-hours per hour) and a price (USD per HEq-hour)
fixed at signing. The cloud plans its fleet for the volume before delivery starts, so the contract becomes chip
orders months ahead; on delivery the lab takes its committed volume before the spot market opens and pays the
contract price for what is delivered.

The book keeps the contracts as a schedule: arrays of labs x clouds x months of committed HEq and of USD per hour,
so what falls due in a month, and what a cloud has sold forward, are array slices. Pure numpy; the decisions are the
agents' (agents/lab.py sizes a lab's new commitments, agents/hyperscaler.py plans capex for them).
"""

from __future__ import annotations

import numpy as np

from .pricing import HOURS_PER_MONTH


def commitment_to_sign(current_heq: float, growth_per_year: float, lead_months: int, share: float,
                       already_committed_heq: float) -> float:
    """HEq a lab commits now for delivery `lead_months` ahead: `share` of the useful work it expects to use then
    (what it uses now, `current_heq`, grown at its expected `growth_per_year`, a fraction) less what it has already
    committed for that month. Never negative; a growth below zero counts as none (a lab that expects to shrink
    plans for what it uses now)."""
    expected = max(current_heq, 0.0) * (1.0 + max(growth_per_year, 0.0)) ** (lead_months / 12.0)
    return max(0.0, share * expected - already_committed_heq)


def split_over_clouds(spend_by_cloud: np.ndarray, affinity: np.ndarray, open_to_contracts: np.ndarray) -> np.ndarray:
    """(H,) shares of a new commitment by cloud: as the lab split its spending last month (its revealed choice of
    clouds, `spend_by_cloud`, USD), or, before it has spent anything, by a softmax of its `affinity`, over the clouds
    `open_to_contracts` (bool). All zeros when no cloud is open."""
    spend = np.where(open_to_contracts, np.maximum(spend_by_cloud, 0.0), 0.0)
    if spend.sum() > 0:
        return spend / spend.sum()
    weights = np.where(open_to_contracts, np.exp(affinity - affinity.max()), 0.0)
    return weights / weights.sum() if weights.sum() > 0 else weights


def split_over_clouds_by_lab(spend: np.ndarray, affinity: np.ndarray, open_to_contracts: np.ndarray) -> np.ndarray:
    """(L, H) `split_over_clouds` of every lab at once (`spend`, `affinity`: (L, H)), to the bit: the spending split
    with each row's own sum (by_lab); a lab that spent nothing falls back to its own call (its affinity's softmax)."""
    kept = np.where(open_to_contracts[None, :], np.maximum(spend, 0.0), 0.0)
    total = np.array(by_lab(kept))
    shares = kept / np.where(total > 0, total, 1.0)[:, None]
    for lab in np.flatnonzero(total <= 0).tolist():
        shares[lab] = split_over_clouds(spend[lab], affinity[lab], open_to_contracts)
    return shares


def by_lab(x: np.ndarray) -> list[float]:
    """Row sums of an (L labs, H clouds) array, as Python floats: the same sum, to the bit, as each row's own
    `.sum()` (numpy's pairwise sum along a contiguous row), in one call instead of one per lab."""
    return np.ascontiguousarray(x).sum(axis=1).tolist()


def by_cloud(x: np.ndarray) -> list[float]:
    """Column sums of an (L labs, H clouds) array, as Python floats, the same to the bit as each column's own
    `.sum()`: the columns made rows first, since `x.sum(axis=0)` adds row after row instead of pairwise."""
    return np.ascontiguousarray(x.T).sum(axis=1).tolist()


class CommitmentBook:
    """Contracts between L labs and H clouds over the run, as a schedule by month (model month index)."""

    def __init__(self, n_labs: int, n_clouds: int, months: int) -> None:
        self.heq = np.zeros((n_labs, n_clouds, months))  # HEq committed for each month
        self.usd_per_hour = np.zeros((n_labs, n_clouds, months))  # USD per hour due for it (heq x contract price)
        self.signed_usd = 0.0  # USD of contract value signed since the start (over the whole term)
        self.signed_this_month = 0.0  # USD of contract value signed this month (the renting phase resets it)

    @property
    def months(self) -> int:
        return self.heq.shape[2]

    def sign(self, lab: int, shares: np.ndarray, heq: float, price: np.ndarray, start: int, term: int) -> None:
        """Book `heq` (HEq) for lab `lab` from month `start` for `term` months, split over clouds by `shares` (H,),
        each at its cloud's `price` (H,, USD per HEq-hour)."""
        self.sign_labs(np.array([lab]), np.array([heq]), shares[None, :], price, start, term)

    def sign_labs(self, labs: np.ndarray, heq: np.ndarray, shares: np.ndarray, price: np.ndarray, start: int,
                  term: int) -> None:
        """`sign` for several distinct labs at once (`labs`, (n,); `heq`, (n,) HEq; `shares`, (n, H)), the same as
        signing them one after the other in that order: each lab's contracts are its own rows, and the value signed
        is added lab by lab. Labs with nothing to book (heq <= 0) are skipped."""
        end = start + term
        booking = heq > 0
        if not booking.any() or term <= 0:
            return
        labs, heq, shares = labs[booking], heq[booking], shares[booking]
        if end > self.months:  # a run longer than planned: extend the schedule
            grow = ((0, 0), (0, 0), (0, end - self.months))
            self.heq, self.usd_per_hour = np.pad(self.heq, grow), np.pad(self.usd_per_hour, grow)
        volume = heq[:, None] * shares
        usd = volume * np.where(np.isfinite(price), price, 0.0)[None, :]
        self.heq[labs, :, start:end] += volume[:, :, None]
        self.usd_per_hour[labs, :, start:end] += usd[:, :, None]
        for per_hour in by_lab(usd):
            value = per_hour * HOURS_PER_MONTH * (end - start)
            self.signed_usd += value
            self.signed_this_month += value

    def restructure(self, lab: int, month: int, keep: float) -> None:
        """Lab `lab` could pay only `keep` (in [0, 1]) of what fell due: its contracts from `month` on are cut to that
        share, as a defaulted take-or-pay contract is terminated or renegotiated, so clouds stop planning for capacity
        the lab cannot pay for."""
        keep = min(max(keep, 0.0), 1.0)
        if keep < 1.0 and month < self.months:
            self.heq[lab, :, month:] *= keep
            self.usd_per_hour[lab, :, month:] *= keep

    def committed(self, month: int) -> np.ndarray:
        """(L, H) HEq committed for `month` (zeros past the horizon)."""
        if month >= self.months:
            return np.zeros(self.heq.shape[:2])
        return self.heq[:, :, month]

    def labs_committed(self, month: int) -> list[float]:
        """(L,) HEq each lab has committed for `month`, over all clouds (each row's own sum, to the bit)."""
        return by_lab(self.committed(month))

    def labs_committed_usd(self, month: int) -> list[float]:
        """(L,) USD a month each lab's contracts call for in `month`, over all clouds (0 past the horizon)."""
        if month >= self.months:
            return [0.0] * self.heq.shape[0]
        return [per_hour * HOURS_PER_MONTH for per_hour in by_lab(self.usd_per_hour[:, :, month])]

    def usd_a_month_ahead(self, month: int, months: int = 12) -> np.ndarray:
        """(L,) USD a month each lab's contracts call for, on average over the `months` after `month`."""
        return self.usd_per_hour[:, :, month + 1:month + 1 + months].sum(axis=(1, 2)) * HOURS_PER_MONTH / months

    def cloud_committed(self, month: int) -> np.ndarray:
        """(H,) HEq each cloud has sold forward for `month`."""
        return self.committed(month).sum(axis=0)

    def price(self, month: int) -> np.ndarray:
        """(L, H) USD per HEq-hour of each lab's contracts with each cloud for `month` (volume-weighted; 0 where
        nothing is committed)."""
        if month >= self.months:
            return np.zeros(self.heq.shape[:2])
        heq = self.heq[:, :, month]
        return np.divide(self.usd_per_hour[:, :, month], heq, out=np.zeros_like(heq), where=heq > 0)


def deliver(committed_hours: np.ndarray, supply_hours: np.ndarray, cash_cover: np.ndarray) -> np.ndarray:
    """(L, H) HEq-hours delivered on contracts this month: each cloud serves its contracts before the spot market,
    pro rata when its spare fleet (`supply_hours`, (H,)) cannot cover them all; a lab whose cash covers only a share
    of what it owes (`cash_cover`, (L,), in [0, 1]) takes only that share (it defaults on the rest)."""
    wanted = committed_hours * np.clip(cash_cover, 0.0, 1.0)[:, None]
    total = wanted.sum(axis=0)
    fill = np.divide(np.minimum(total, supply_hours), total, out=np.zeros_like(total), where=total > 0)
    return wanted * fill[None, :]
