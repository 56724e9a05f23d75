"""VentureFund: a VC firm raising successive funds, investing, charging fees, distributing exits."""

from __future__ import annotations

import math

import mesa
import numpy as np

from agents.fund_table import FundTable
from market.venture_terms import TERMS

# A lead's pricing and a co-investor's cheque (est, stylised seed/venture practice):
MIN_PRE_MONEY_ROUNDS = 2.5  # a pre-money valuation of at least 2.5x the round (the round buys at most ~29%)
LEAD_BACKING = 0.3  # an invited firm's diligence bar is this much lower: the lead's due diligence counts
MAX_SYNDICATE_SHARE = 0.5  # a co-investor takes at most half of a round
MIN_SYNDICATE_SHARE = 0.05  # a cheque under 5% of the round is not worth a co-investor's time


class Fund:
    """One fund (vintage) of a firm: a row of the firms' FundTable (agents/fund_table.py), whose numpy columns hold its
    money. USD; months are model months. Capital is called exactly when it is invested or charged as fees, so at
    every moment committed = called + uncalled and called = invested + fees (+ cash, always 0 here)."""

    __slots__ = ("firm", "vintage", "row", "table", "_flows")

    def __init__(self, table: FundTable, firm: int, vintage: int, committed: float, fee_budget: float) -> None:
        self.firm, self.vintage, self.table = firm, vintage, table
        self.row = table.add(firm, vintage, committed, fee_budget)
        self._flows: list[tuple[int, float]] = []  # (month, +distribution); fees and calls: the table's logs

    committed = property(lambda self: float(self.table.committed[self.row]))
    invested_new = property(lambda self: float(self.table.invested_new[self.row]))  # first cheques
    invested_follow_on = property(lambda self: float(self.table.invested_follow_on[self.row]))
    fees = property(lambda self: float(self.table.fees[self.row]))
    distributions = property(lambda self: float(self.table.distributions[self.row]))

    @property
    def invested(self) -> float:
        t, row = self.table, self.row
        return float(t.invested_new[row] + t.invested_follow_on[row])

    @property
    def called(self) -> float:
        t, row = self.table, self.row
        return float(t.invested_new[row] + t.invested_follow_on[row] + t.fees[row])

    @property
    def uncalled(self) -> float:
        t, row = self.table, self.row
        return float(t.committed[row] - (t.invested_new[row] + t.invested_follow_on[row] + t.fees[row]))

    def fee_budget(self) -> float:
        """USD of fees it may charge over its life at most (fixed when it closed: `fee_budget`)."""
        return float(self.table.fee_budget[self.row])

    def cash_flows(self, fee_flows: list[tuple[int, float]] | None = None,
                   calls: list[tuple[int, float]] | None = None) -> list[tuple[int, float]]:
        """Its cash flows to and from LPs, (month, +distribution / -call), in month order and within a month its fee
        first (charged at the month's start), then its calls for cheques (the month's rounds), then distributions
        (its exits); `fee_flows` and `calls` are its fees and calls if already at hand (FundTable.all_fee_flows,
        FundTable.all_investment_flows)."""
        fees = self.table.fee_flows(self.row) if fee_flows is None else fee_flows
        calls = self.table.investment_flows(self.row) if calls is None else calls
        flows = ([(m, amount, 0) for m, amount in fees] + [(m, amount, 1) for m, amount in calls]
                 + [(m, amount, 2) for m, amount in self._flows])
        flows.sort(key=lambda flow: (flow[0], flow[2]))  # stable: a month's other flows keep their order
        return [(m, amount) for m, amount, _ in flows]

    def distribute(self, month: int, amount: float) -> None:
        """Pay `amount` USD of exit proceeds to the LPs."""
        self.table.distributions[self.row] += amount
        self._flows.append((month, amount))


def fee_budget(committed: float, config, step_down_rate: float) -> float:
    """USD of fees a fund of `committed` USD may charge over its life at most: the fee on commitments over the
    investment period and the stepped-down fee (`step_down_rate` a year) after it, on invested capital (at most the
    commitments)."""
    years_in, years_after = (config.investment_period_months / 12.0,
                             max(0, config.fund_life_months - config.investment_period_months) / 12.0)
    return committed * (config.fee_rate_per_year * years_in + step_down_rate * years_after)


class VentureFund(mesa.Agent):
    """A VC firm. Its `funds` are its vintages; `reputation` is an exponentially weighted exit record."""

    def __init__(self, model: mesa.Model, firm_index: int, name: str, fund_table: FundTable) -> None:
        super().__init__(model)
        self.fund_table = fund_table  # every firm's funds' money (its own funds are rows of it)
        self.firm_index = firm_index
        self.name = name
        self.reputation = 0.0
        self.funds: list[Fund] = []
        self._by_vintage: dict[int, Fund] = {}  # the same funds by vintage
        self.centrality = {"degree": 0.0, "eigenvector": 0.0, "betweenness": 0.0}
        self.information_advantage = 0.0
        self.centrality_history: list[tuple[int, float]] = []  # (month, eigenvector centrality)
        self.alive = True
        self.step_down_rate = TERMS.fund.fee_step_down_rate_per_year  # fee a year on invested capital after the
        # investment period

    @property
    def current(self) -> Fund | None:
        return self.funds[-1] if self.funds else None

    def fund_of(self, vintage: int) -> Fund:
        """Its fund of `vintage` (a KeyError if it has none)."""
        return self._by_vintage[vintage]

    # --- its life: track record, fundraising, closing down, place in the network ------------------

    def start_with_reputation(self, reputation: float) -> None:
        """Its exit record from before the run."""
        self.reputation = reputation

    def raise_fund(self, vintage: int, size: float, config) -> None:
        """It closes a new fund of `size` USD in month `vintage` (on the fee terms of `config`)."""
        fund = Fund(self.fund_table, self.firm_index, vintage, size, fee_budget(size, config, self.step_down_rate))
        self.funds.append(fund)
        self._by_vintage.setdefault(vintage, fund)  # the first fund of a vintage, as a search of `funds` finds it

    def close_down(self) -> None:
        """Its LPs walk away: it raises no more funds and writes no new cheques."""
        self.alive = False

    def update_network_position(self, month: int, centrality: dict[str, float], information_advantage: float) -> None:
        """Its centralities in the syndication network and its information advantage, as computed in `month`."""
        self.centrality = centrality
        self.information_advantage = information_advantage
        self.centrality_history.append((month, self.centrality["eigenvector"]))

    def ready_to_raise(self, month: int, config, terms) -> bool:
        """Whether it goes to its LPs for a new fund this month: it is open and its current fund (if any) is at least
        `terms.min_months_between_funds` old and has used `terms.raise_when_budget_used` of its first-cheque budget
        or is past its investment period."""
        fund = self.current
        if not self.alive:
            return False
        if fund is None:
            return True
        age = month - fund.vintage
        if age < terms.min_months_between_funds:
            return False
        budget = self.first_cheque_budget(fund, config)
        used = fund.invested_new / budget if budget > 0 else 1.0
        return used >= terms.raise_when_budget_used or age >= config.investment_period_months

    def first_cheque_budget(self, fund: Fund, config) -> float:
        """USD of a fund meant for first cheques: its commitments less its fees, less the reserve for follow-ons."""
        return (fund.committed - fund.fee_budget()) * (1.0 - config.reserve_share)

    # --- investment decisions ---------------------------------------------------------------

    @staticmethod
    def offers(signal, bar, pace_ahead, pacing_slope: float):
        """Whether it offers to lead: its signal of the startup's log quality clears the stage's bar raised by
        `pacing_slope` x how far its fund runs ahead of an even deployment pace (lowered when behind: a fund paces
        its first cheques over its investment period). Scalars, or arrays of the firms that see a deal."""
        return signal > bar + pacing_slope * pace_ahead

    @staticmethod
    def pre_money(target, revenue, multiple: float, reputation_rank, discount: bool, discount_at_top: float):
        """USD a lead values a startup at before a round of `target` USD: the larger of 2.5x the round and `multiple` x
        annualised revenue (USD a month x 12), less its reputation discount (scaled by its rank). Arrays of rounds."""
        return (np.maximum(MIN_PRE_MONEY_ROUNDS * target, multiple * 12.0 * revenue)
                * (1.0 - discount_at_top * reputation_rank * discount))

    @staticmethod
    def lead_cheque(target, capacity, committed, max_cheque_share: float):
        """USD a lead puts in: the round (`target`), within its first-cheque `capacity` and its diversification limit
        (`max_cheque_share` of its fund's `committed` USD). Arrays of rounds."""
        return np.minimum(np.minimum(target, capacity), max_cheque_share * committed)

    @staticmethod
    def pro_rata(ownership, target, follow_on_room):
        """USD a fund puts into a new round of `target` USD of a startup it owns `ownership` of: its share, within its
        `follow_on_room` (FundTable.follow_on_room). Arrays of holdings."""
        return np.minimum(ownership * target, follow_on_room)

    @staticmethod
    def syndicate_bar(bar: float) -> float:
        """The bar an invited firm's signal of the startup's log quality must reach for it to join a round on its own
        diligence: the stage's `bar` less 0.3 (the lead's backing)."""
        return bar - LEAD_BACKING

    @staticmethod
    def syndicate_offer(capacity, target):
        """USD a firm that joins a round of `target` USD offers before what is still open caps it: its first-cheque
        `capacity`, at most half the round; 0 if that is under 5% of the round (not worth its time). Arrays."""
        offer = np.minimum(capacity, MAX_SYNDICATE_SHARE * target)
        return np.where(offer >= MIN_SYNDICATE_SHARE * target, offer, 0.0)

    def distribute(self, fund: Fund, month: int, amount: float) -> None:
        fund.distribute(month, amount)

    def record_exit(self, large: bool, weight: float = 1.0) -> None:
        """Reputation counts large exits (IPOs, big acquisitions) of the firm's portfolio."""
        if large:
            self.reputation += weight

    def decay_reputation(self, monthly_decay: float) -> None:
        self.reputation *= 1.0 - monthly_decay


def signal_noise(information_advantage, config, informed: bool):
    """S.d. of a firm's signal of a startup's log quality: the base noise, cut by its information advantage (in
    [0, 1]; one firm's, or an array of firms') when the information channel is on."""
    return config.signal_noise / (1.0 + (config.information_gain * information_advantage if informed else 0.0))


def net_multiple(value: float, called: float, carry: float) -> float:
    """A fund's multiple of called capital to its LPs, net of carried interest: `value` (USD: distributions, plus
    NAV for a TVPI) over `called` (USD), less the GP's `carry` share of the profit above the capital called (the
    whole-fund waterfall, carry accrued on unrealised gains as net figures report it). NaN if nothing was called."""
    if called <= 0:
        return math.nan
    gross = value / called
    return gross - carry * max(0.0, gross - 1.0)
