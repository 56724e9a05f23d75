"""Startup: a company with latent quality that raises rounds from VC syndicates, rents inference
compute, grows (or not), and exits or dies. Its numbers live in the cohort arrays of the venture
phase (vectorised growth and burn); the agent holds its cap table and identity."""

from __future__ import annotations

import mesa

STAGES = ("seed", "series_a", "series_b", "series_c", "series_d", "growth")


class Startup(mesa.Agent):
    """One startup. `index` points into the cohort arrays; shares are counted in units of the founders' 10M."""

    FOUNDER_SHARES = 1.0e7

    def __init__(self, model: mesa.Model, index: int, quality: float, founded: int) -> None:
        super().__init__(model)
        self.index = index
        self.quality = quality  # latent, unobserved by investors
        self.founded = founded
        self.cap_table: dict[tuple[int, int], float] = {}  # (firm index, fund vintage) -> shares
        self.total_shares = self.FOUNDER_SHARES
        self.last_post_money = 0.0
        self.raised = 0.0
        self.rounds = 0
        self.status = "alive"  # alive | acquired | ipo | dead

    def issue(self, holder: tuple[int, int], amount: float, pre_money: float) -> float:
        """Sell new shares worth `amount` at `pre_money`; returns the shares issued."""
        price = pre_money / self.total_shares
        shares = amount / price
        self.cap_table[holder] = self.cap_table.get(holder, 0.0) + shares
        self.total_shares += shares
        return shares

    def close_round(self, pre_money: float, amount: float) -> None:
        self.last_post_money = pre_money + amount
        self.raised += amount
        self.rounds += 1

    def ownership(self, holder: tuple[int, int]) -> float:
        return self.cap_table.get(holder, 0.0) / self.total_shares

    def payout(self, value: float) -> dict[tuple[int, int], float]:
        """Split an exit value among investors pro rata to shares (founders keep the rest)."""
        return {holder: value * shares / self.total_shares for holder, shares in self.cap_table.items()}
