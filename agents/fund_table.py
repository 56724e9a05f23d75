"""FundTable: the money of every fund of every VC firm as numpy columns, one row per fund in the order raised.

USD throughout; months are model months. A fund's capital is called exactly when it is invested or charged as fees,
so for every row committed = called + uncalled and called = invested_new + invested_follow_on + fees. Management
fees are charged to all funds at once (`charge_fees`), each month's charges kept as a (rows, USD) pair so that a
fund's cash flows can be rebuilt for its IRR; the cheques a month's rounds call are booked at once (`invest`), each
batch kept the same way. Every update is elementwise (cheques of one fund added in the order written); no figure is
a sum over rows.
"""

from __future__ import annotations

import numpy as np

MONEY = ("committed", "invested_new", "invested_follow_on", "fees", "distributions", "fee_budget")


class FundTable:
    """Columns: `firm`, `vintage` (int); `committed`, `invested_new` (first cheques), `invested_follow_on`, `fees`,
    `distributions`, `fee_budget` (USD it may charge in fees over its life) (float, USD). Rows 0 .. size - 1."""

    def __init__(self, capacity: int = 256) -> None:
        self.size = 0
        self.firm = np.zeros(capacity, dtype=np.int64)
        self.vintage = np.zeros(capacity, dtype=np.int64)
        for name in MONEY:
            setattr(self, name, np.zeros(capacity))
        self.fee_log: list[tuple[int, np.ndarray, np.ndarray]] = []  # (month, rows charged, USD each)
        self.investment_log: list[tuple[int, np.ndarray, np.ndarray]] = []  # (month, rows called, -USD each)

    def add(self, firm: int, vintage: int, committed: float, fee_budget: float) -> int:
        """A new fund's row (its index): `committed` USD, `fee_budget` USD of fees over its life, nothing called."""
        if self.size == self.firm.size:  # full: double every column
            for name in ("firm", "vintage", *MONEY):
                column = getattr(self, name)
                setattr(self, name, np.concatenate([column, np.zeros_like(column)]))
        row = self.size
        self.firm[row], self.vintage[row] = firm, vintage
        self.committed[row], self.fee_budget[row] = committed, fee_budget
        self.size += 1
        return row

    def uncalled(self) -> np.ndarray:
        """USD each fund has not called: committed less invested and fees."""
        n = self.size
        return self.committed[:n] - (self.invested_new[:n] + self.invested_follow_on[:n] + self.fees[:n])

    def first_cheque_room(self, rows: np.ndarray, month: int, investment_period: int,
                          reserve_share: float) -> tuple[np.ndarray, np.ndarray]:
        """(capacity, pace ahead) of the funds `rows` in `month`, all at once. Capacity: USD a fund can still put into
        first cheques within its `investment_period` (months; else 0): its first-cheque budget ((committed less its
        fee budget) x (1 - `reserve_share`)) less what it has put in, at most what is uncalled less the fees to come.
        Pace ahead: the share of that budget used less the share of the investment period gone (0 outside it)."""
        committed, new, fee_budget, fees = (self.committed[rows], self.invested_new[rows], self.fee_budget[rows],
                                            self.fees[rows])
        age = month - self.vintage[rows]
        within = (age >= 0) & (age < investment_period)
        budget = (committed - fee_budget) * (1.0 - reserve_share)
        uncalled = committed - (new + self.invested_follow_on[rows] + fees)
        room = np.minimum(budget - new, uncalled - np.maximum(0.0, fee_budget - fees))
        capacity = np.where(within, np.maximum(0.0, room), 0.0)
        used = np.divide(new, budget, out=np.ones_like(new), where=budget > 0)
        return capacity, np.where(within, used - age / investment_period, 0.0)

    def follow_on_room(self, current: np.ndarray, month: int, investment_period: int,
                       reserve_share: float) -> np.ndarray:
        """(size,) USD each fund can put into follow-on rounds in `month`: what is uncalled, less the fees it may still
        charge, less the first-cheque capacity it keeps if it is its firm's `current` fund (bool by row)."""
        rows = np.arange(self.size)
        keep = np.where(current, self.first_cheque_room(rows, month, investment_period, reserve_share)[0], 0.0)
        fees_to_come = np.maximum(0.0, self.fee_budget[:self.size] - self.fees[:self.size])
        return np.maximum(0.0, self.uncalled() - fees_to_come - keep)

    def rows_of(self, firm: np.ndarray, vintage: np.ndarray) -> np.ndarray:
        """The row of each (firm, vintage) fund (the first raised where a firm has two of one vintage)."""
        n = self.size
        key = lambda f, v: np.asarray(f, dtype=np.int64) * 2**32 + (np.asarray(v, dtype=np.int64) + 2**31)  # noqa: E731
        known = key(self.firm[:n], self.vintage[:n])
        order = np.argsort(known, kind="stable")
        return order[np.searchsorted(known[order], key(firm, vintage))]

    def invest(self, month: int, rows: np.ndarray, amounts: np.ndarray, follow_on: np.ndarray) -> None:
        """Call `amounts` (USD) from the funds `rows` in `month` (a fund may appear more than once), as first cheques
        or (`follow_on`) follow-ons. A ValueError if any fund would call more than it has uncalled."""
        asked = np.bincount(rows, weights=amounts, minlength=self.size)[:self.size]
        short = np.flatnonzero(asked > self.uncalled() + 1e-6)
        if short.size:
            row = int(short[0])
            raise ValueError(f"fund of firm {self.firm[row]}/{self.vintage[row]} cannot invest {asked[row]:.0f} "
                             f"with {self.uncalled()[row]:.0f} uncalled")
        np.add.at(self.invested_follow_on, rows[follow_on], amounts[follow_on])
        np.add.at(self.invested_new, rows[~follow_on], amounts[~follow_on])
        self.investment_log.append((month, rows, -amounts))

    def charge_fees(self, month: int, fee_rate: float, step_down_rate: float, investment_period: int,
                    life: int) -> None:
        """Charge each fund within its `life` (months) its monthly management fee: `fee_rate` a year on its commitments
        within its `investment_period` (months), then `step_down_rate` a year on invested capital; at most what is
        uncalled, and only if positive."""
        n = self.size
        age = month - self.vintage[:n]
        rows = np.flatnonzero((age >= 0) & (age < life))
        invested = self.invested_new[rows] + self.invested_follow_on[rows]
        base = np.where(age[rows] < investment_period, self.committed[rows] * fee_rate, invested * step_down_rate)
        uncalled = self.committed[rows] - (invested + self.fees[rows])
        fee = np.minimum(base / 12.0, uncalled)
        charged = fee > 0
        rows, fee = rows[charged], fee[charged]
        self.fees[rows] += fee
        self.fee_log.append((month, rows, fee))

    def fee_flows(self, row: int) -> list[tuple[int, float]]:
        """The fees `row` was charged, as (month, -USD) in month order."""
        flows = []
        for month, rows, fee in self.fee_log:
            at = np.flatnonzero(rows == row)
            if at.size:
                flows.append((month, -float(fee[at[0]])))
        return flows

    def all_fee_flows(self) -> dict[int, list[tuple[int, float]]]:
        """Every row's fee flows (as `fee_flows`), built in one pass over the log."""
        flows: dict[int, list[tuple[int, float]]] = {}
        for month, rows, fee in self.fee_log:
            for row, amount in zip(rows.tolist(), fee.tolist(), strict=True):
                flows.setdefault(row, []).append((month, -amount))
        return flows

    def investment_flows(self, row: int) -> list[tuple[int, float]]:
        """The calls `row` made for cheques, as (month, -USD) in the order booked (several a month if it wrote
        several cheques)."""
        return [(month, amount) for month, rows, called in self.investment_log
                for amount in called[rows == row].tolist()]

    def all_investment_flows(self) -> dict[int, list[tuple[int, float]]]:
        """Every row's calls for cheques, as (month, -USD) in the order booked, built in one pass over the log."""
        flows: dict[int, list[tuple[int, float]]] = {}
        for month, rows, called in self.investment_log:
            for row, amount in zip(rows.tolist(), called.tolist(), strict=True):
                flows.setdefault(row, []).append((month, amount))
        return flows
