"""The venture phase of the monthly step: startups, VC firms, syndicates and the reputation loop.

Each month: funds charge fees (on commitments over the investment period, then a step-down on invested capital);
the LPs' money takes in its base inflow and recycles part of last month's distributions; firms that have deployed
their fund (VentureFund.ready_to_raise) raise new funds from it (asks follow track record and reputation, and are
cut in proportion when they exceed the money); new startups with latent lognormal quality appear; startups that
need money seek a round: the firms that see the deal (deal flow weighted by information advantage) read a noisy
signal of quality (noise shrinks with information advantage) and offer if it clears their bar (a fund behind an
even pace over its investment period is drawn to see more deals, one ahead fewer); founders pick
the most reputable lead (who prices 10-14% lower, as in Hsu 2004); the lead invites co-investors
among its network neighbours and reputable firms; the syndicate strengthens the network's ties.
Startups grow revenue multiplicatively (drift from quality and the lead's value added, volatility),
burn cash on a team and on inference compute bought at the market's rental price, and exit (IPO or
trade sale at public comps' revenue multiple, which moves with the AI market but peaks lower than private
rounds' prices) or, when cash runs out, are sold in distress, taken
in an acqui-hire or shut down. Fund terms, LP behaviour, exit hazards and values are sourced numbers in
market/data/venture_terms.toml. Rounds and funds are judged at fixed ages (_mark_at_age). Exits pay
investors pro rata; large exits build reputation. The loop (reputation and centrality -> better
signals and deal flow -> better startups -> exits -> reputation) runs through four channels, each with a
switch in VentureConfig: information_advantage (signals, deal flow, invitations), founder_sorting (founders
pick reputable leads), reputation_discount (reputable leads price lower) and value_added (reputable leads add
growth); reputation_loop = False turns all four off.

Growth, burn and exit hazards are vectorised over the cohort (agents/startup.StartupCohort, which owns the
startups' arrays and cap tables). Matching deals screens the month's seekers in one batch (deal flow, signals
and offers as arrays, market/deal_flow.py), then loops over the rounds that drew an offer, since each round's
cheques change what the next can raise; each decision is an agent's own method: a firm's offer, price, lead cheque,
pro rata and answer to an invitation (agents/venture_fund.VentureFund), the founders' choice of lead
(StartupCohort.choose_lead).

Random stream layout (the venture side's own stream), each month: fund raises (a walk-away draw for a firm with a
weak record, then a size draw, firm by firm), new startups; then for the month's seekers at once their round sizes,
deal-flow draws, signals and founders' tastes; then round by round (rounds that drew an offer, in startup order)
the firms invited at random when the information channel is off and one diligence draw per distinct invited
candidate; then growth shocks; then exits (a hazard draw per startup, IPO and trade-sale values, a fate draw per
startup for those out of cash, distressed-sale values).
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd
from scipy.optimize import brentq

from agents.fund_table import FundTable
from agents.startup import STAGES, StartupCohort
from agents.venture_fund import Fund, VentureFund, net_multiple, signal_noise
from hardware_catalog import add_months

from . import deal_flow, syndication
from .venture_terms import TERMS

# Columns of the deal table (deal_table), with their types, so a run without a single round still has them.
DEAL_COLUMNS = {"deal": "int64", "startup": "int64", "month": "int64", "stage": "object", "amount": "float64",
                "pre_money": "float64", "lead": "int64", "syndicate": "object", "investors": "int64",
                "lead_reputation_rank": "float64", "value": "float64", "multiple": "float64", "outcome": "object",
                "resolved": "bool", "value_at_age": "float64", "multiple_at_age": "float64",
                "resolved_at_age": "bool"}

ROUND_SIZE = (3e6, 12e6, 35e6, 80e6, 150e6, 300e6)  # USD by stage (seed .. growth), est
MILESTONE_ARR = (0.0, 1e6, 5e6, 20e6, 50e6, 100e6)  # annualised revenue a startup needs to raise the stage
OPEX = (1.5e5, 5e5, 1.5e6, 3.5e6, 6e6, 1e7)  # USD per month by stage reached (team, go-to-market), est
FIRST_REVENUE = 2.0e4  # USD per month once a product ships after the seed round
# a lead with the top reputation prices a round this much lower (scaled by its reputation rank): offers from
# high-reputation VCs come at a 10-14% lower valuation (Hsu 2004, J. Finance)
REPUTATION_DISCOUNT_AT_TOP = 0.12
# firms a lead asks at random for a syndicate when the network does not steer invitations (information channel off)
RANDOM_INVITATIONS = 12
REPUTATION_DECAY = 0.01  # per month: an exponentially weighted record of large exits
# Starting reputations: Pareto with this shape (a few firms start with most of the reputation; est)
START_REPUTATION_PARETO_SHAPE = 2.0
# Raising the next fund (est; the flow-performance link of Kaplan & Schoar 2005, J. Finance):
TRACK_RECORD_AFTER_MONTHS = 36  # LPs judge a fund once it is this old (before: no record, track = 1)
TRACK_RECORD_BOUNDS = (0.2, 4.0)  # the record (distributions + NAV over capital called) is read within these
WEAK_TRACK = 0.5  # below this record...
WALK_AWAY_CHANCE = 0.5  # ...LPs walk away from the firm with this probability
TRACK_ELASTICITY = 0.7  # fund size ~ record^0.7 ...
REPUTATION_ELASTICITY = 0.5  # ... x (1 + reputation)^0.5 ...
FUND_SIZE_LOG_MEAN, FUND_SIZE_LOG_SD = -0.3, 0.5  # ... x lognormal noise (mean ~1)
RATE_APPETITE_SLOPE = 2.0  # LP appetite = 1 - 2 x rate premium (none at a premium of 0.5)
# A startup seeks its next round when its cash covers fewer months of burn than this (est: founders raise with
# 6-12 months of runway left)
RAISE_BELOW_RUNWAY_MONTHS = 6.0
ROUND_SIZE_LOG_SD = 0.3  # spread of a round's size around its stage's typical size (lognormal)
MIN_CHEQUE_SHARE_TO_SEE = 0.2  # a firm sees a deal only if it can write a cheque of this share of the round
BAR_RELIEF_PER_STAGE = 0.3  # later stages carry more evidence: the signal bar falls this much per stage
CLOSE_WHEN_REMAINING = 0.05  # a syndicate stops inviting once less than this share of the round is open
# Exit hazards and values, fund terms, the LPs' recycling and the evaluation ages: market/data/venture_terms.toml
# How a startup ended (StartupCohort.exit_kind); IPOs and trade sales are the successful exits (Hochberg,
# Ljungqvist & Lu 2007 count IPOs and sales); distressed sales and acqui-hires return part of the money
EXIT_KINDS = ("ipo", "trade_sale", "distressed_sale", "acquihire", "shutdown")
SUCCESSFUL_EXITS = ("ipo", "trade_sale")


class VenturePhase:
    """Owns the venture side's agents, arrays and tables for one ComputeMarket."""

    def __init__(self, model, config) -> None:
        self.model = model
        self.config = config
        self.rng = model.venture_rng  # the venture side's own stream (see ComputeMarket._spawn_streams)
        self.ties = syndication.Ties(config.firms)  # the syndication network
        # (network, seed) at the last centralities
        self._betweenness_pending: tuple[syndication.Ties | None, int] | None = None
        self.firms: list[VentureFund] = []
        self.fund_accounts = FundTable()  # every fund's money, numpy columns (fees are charged on it at once)
        for i in range(config.firms):
            firm = VentureFund(model, i, f"vc-{i + 1:03d}", self.fund_accounts)
            self.firms.append(firm)
        # starting funds: vintages staggered over the last fund cycle, sizes lognormal around the mean
        mean_size = config.lp_pool_usd_per_year * config.fund_cycle_months / 12.0 / config.firms
        # history before the run: a preferential-attachment syndication network and a skewed exit record
        history = nx.barabasi_albert_graph(config.firms, 2, seed=int(self.rng.integers(2**31)))
        syndication.add_ties(self.ties, history.edges(), 1.0)
        for firm in self.firms:
            firm.start_with_reputation(float(self.rng.pareto(START_REPUTATION_PARETO_SHAPE)))
        self.reputation = np.array([f.reputation for f in self.firms])
        self._funds_of_vintage: dict[int, list[Fund]] = {}  # every fund by vintage month (to judge them by age)
        for firm in self.firms:
            vintage = -int(self.rng.integers(0, config.fund_cycle_months))
            size = mean_size * float(self.rng.lognormal(-0.5, 1.0))
            firm.raise_fund(vintage, size, config)
            self._funds_of_vintage.setdefault(vintage, []).append(firm.current)
        self.startups = StartupCohort()
        self.deals: list[dict] = []
        self.holdings: list[tuple[int, tuple[int, int], float, float]] = []  # (deal id, holder, shares, amount)
        self.exits: list[dict] = []
        self.portfolio: dict[tuple[int, int], set[int]] = {}  # (firm, vintage) -> startups held
        self.snapshots: list[pd.DataFrame] = []
        self.month_stats: dict[str, float] = {}
        self.ia = np.zeros(config.firms)
        self.terms = TERMS
        self.ages = TERMS.evaluation  # the ages at which deals and funds are judged (marks below)
        # LP money committed to venture and not yet raised by a fund (USD): each month's inflow is the pool's
        # share plus the recycled distributions; what no fund raises leaks away over the hold period. The run
        # starts at the hold period's base inflow (what it holds with no fund raised)
        self.lp_money = TERMS.lp.hold_months * self._lp_base_inflow()
        self._distributed = 0.0  # USD distributed to LPs this month
        # judged at a fixed age: deal id -> value (USD) at deal_age; (firm, vintage) -> fund figures at each age
        self._deals_of_month: dict[int, list[int]] = {}  # month -> ids of the deals closed in it, in deal order
        self._deal_shares: list[float] = []
        self.deal_value_at_age: dict[int, tuple[float, bool]] = {}  # deal id -> (value, startup ended by then)
        self.fund_marks: dict[tuple[int, int, int], dict[str, float]] = {}
        self._update_centrality(-1)

    # ------------------------------------------------------------------------------ helpers

    def multiple(self, market_growth: float, peak_ratio: float = 3.0) -> float:
        """Revenue multiple (of annualised revenue): the starting multiple x (1 + the AI market's growth), within
        [0.5, `peak_ratio`], falling with rates. Private rounds are priced at it with a peak of 3 (est); exits at
        `exit_multiple`."""
        return (self.config.revenue_multiple * float(np.clip(1.0 + market_growth, 0.5, peak_ratio))
                / (1.0 + 5.0 * self.config.rate_premium))

    def exit_multiple(self, market_growth: float) -> float:
        """Revenue multiple at which exits are valued: public comps, whose multiple rises with the market's growth no
        further than the sourced peak of public software multiples over their long-run average
        (terms.exits.public_comps_peak_ratio)."""
        return self.multiple(market_growth, min(3.0, self.terms.exits.public_comps_peak_ratio))

    def _rank(self, values: np.ndarray) -> np.ndarray:
        """Percentile rank in [0, 1] (ties share the lower rank)."""
        if values.max() <= 0:
            return np.zeros_like(values)
        order = values.argsort().argsort()
        return order / max(len(values) - 1, 1)

    # ------------------------------------------------------------------------------ the month

    def step(self, month: int, rental_index: float, market_growth: float) -> None:
        cfg = self.config
        self.month_stats = {"funded_rounds": 0, "vc_deployed": 0.0, "exits": 0, "deaths": 0, "new_funds": 0,
                            "lp_raised": 0.0}
        self._charge_fees(month)
        self._lp_inflow()
        self._raise_funds(month)
        self._found_startups(month)
        multiple = self.multiple(market_growth)
        self._seek_rounds(month, multiple)
        self._grow_and_burn(rental_index)
        self._exits(month, self.exit_multiple(market_growth))
        for firm in self.firms:
            firm.decay_reputation(REPUTATION_DECAY)
        self.reputation = np.array([f.reputation for f in self.firms])
        if month % 12 == 11:
            self.ties.decay(1.0 - cfg.edge_decay_per_year)
            self.snapshots.append(syndication.edge_table(self.ties).assign(year=month // 12))
        if month % cfg.centrality_interval == 0:
            self._update_centrality(month)
        self._mark_at_age(month)
        self.month_stats["active_startups"] = int(self.startups.alive.sum())
        self.month_stats["lp_money"] = self.lp_money

    @property
    def graph(self) -> nx.Graph:
        """The syndication network as a networkx graph (built from the ties when asked for)."""
        return self.ties.graph()

    def _update_centrality(self, month: int) -> None:
        seed = int(self.rng.integers(2**31))  # betweenness's sampling seed, drawn here so the stream does not move
        c = syndication.centralities(self.ties)
        self.ia = syndication.information_advantage(c["eigenvector"], self.reputation)
        for i, firm in enumerate(self.firms):
            firm.update_network_position(month, {"degree": float(c["degree"][i]),
                                                 "eigenvector": float(c["eigenvector"][i]), "betweenness": math.nan},
                                         float(self.ia[i]))
        # No decision uses betweenness (the costliest of the three) and only its latest value is reported, so it is
        # computed when a table asks for it, on the network as it stood now. The network is copied only at the
        # run's last update (a mid-run table uses the network as it is then).
        last = month + self.config.centrality_interval > self.model.config.months - 1
        self._betweenness_pending = (self.ties.copy() if last else None, seed)

    def _resolve_betweenness(self) -> None:
        """Fill in the firms' betweenness from the latest centrality computation (a no-op once done)."""
        if self._betweenness_pending is None:
            return
        ties, seed = self._betweenness_pending
        values = syndication.betweenness((self.ties if ties is None else ties).graph(), seed)
        for i, firm in enumerate(self.firms):
            firm.centrality["betweenness"] = float(values[i])
        self._betweenness_pending = None

    def _charge_fees(self, month: int) -> None:
        """Every fund within its life pays its monthly management fee (FundTable.charge_fees): on its commitments over
        the investment period, then the stepped-down rate on invested capital, from what is uncalled."""
        cfg = self.config
        self.fund_accounts.charge_fees(month, cfg.fee_rate_per_year, self.terms.fund.fee_step_down_rate_per_year,
                                       cfg.investment_period_months, cfg.fund_life_months)

    def _lp_base_inflow(self) -> float:
        """USD a month of new LP commitments before recycling: the pool's monthly share times LP appetite (which
        higher rates cut)."""
        cfg = self.config
        return cfg.lp_pool_usd_per_year / 12.0 * max(0.0, 1.0 - RATE_APPETITE_SLOPE * cfg.rate_premium)

    def _lp_inflow(self) -> None:
        """This month's LP money: what was left leaks away over the hold period; the base inflow and the recycled
        share of last month's distributions come in (LP appetite follows distributions)."""
        lp = self.terms.lp
        self.lp_money = (self.lp_money * (1.0 - 1.0 / lp.hold_months) + self._lp_base_inflow()
                         + lp.recycle_share * self._distributed)
        self._distributed = 0.0

    def _raise_funds(self, month: int) -> None:
        """Firms ready to raise (VentureFund.ready_to_raise) ask LPs for a fund whose size follows their record and
        reputation; LPs walk away from a weak record. If the asks exceed the LP money available, every fund is cut
        in proportion (the LP money binds)."""
        cfg = self.config
        raising = [f for f in self.firms if f.ready_to_raise(month, cfg, self.terms.fund)]
        if not raising:
            return
        # a typical ask: the LP money there is, spread over the firms raising in one fund cycle (a firm raises about
        # once a cycle, the money is held for the hold period), so asks grow with the LPs' money
        mean_size = self.lp_money * cfg.fund_cycle_months / (self.terms.lp.hold_months * cfg.firms)
        asks = []
        for firm in raising:
            last = firm.current
            track = 1.0
            if last is not None and month - last.vintage >= TRACK_RECORD_AFTER_MONTHS and last.called > 0:
                net = net_multiple(last.distributions + self._nav(last), last.called, self.terms.fund.carry)
                track = float(np.clip(net, *TRACK_RECORD_BOUNDS))
            if track < WEAK_TRACK and self.rng.random() < WALK_AWAY_CHANCE:
                firm.close_down()  # LPs walk away
                continue
            asks.append((firm, mean_size * track**TRACK_ELASTICITY * (1.0 + firm.reputation) ** REPUTATION_ELASTICITY
                         * float(self.rng.lognormal(FUND_SIZE_LOG_MEAN, FUND_SIZE_LOG_SD))))
        asked = math.fsum(size for _, size in asks)
        scale = min(1.0, self.lp_money / asked) if asked > 0 else 0.0
        for firm, size in asks:
            firm.raise_fund(month, size * scale, cfg)
            self._funds_of_vintage.setdefault(month, []).append(firm.current)
            self.month_stats["new_funds"] += 1
        raised = asked * scale
        self.lp_money = max(0.0, self.lp_money - raised)
        self.month_stats["lp_raised"] = raised

    def _found_startups(self, month: int) -> None:
        cfg = self.config
        n = int(self.rng.poisson(cfg.startups_per_month))
        if n == 0:
            return
        log_quality = self.rng.normal(0.0, cfg.quality_sigma, size=n)
        self.startups.found(log_quality, month, cfg.growth_drift + cfg.quality_drift * log_quality)

    def _seekers(self) -> np.ndarray:
        """Indices of living startups that need a round now and meet the next stage's milestone."""
        c = self.startups
        milestone = np.asarray(MILESTONE_ARR)[np.minimum(c.rounds, len(MILESTONE_ARR) - 1)]
        unfunded = c.rounds == 0
        low_cash = c.cash < RAISE_BELOW_RUNWAY_MONTHS * c.burn
        return np.flatnonzero(c.alive & (unfunded | (low_cash & (12.0 * c.revenue >= milestone))))

    def _first_cheque_room(self, month: int) -> tuple[np.ndarray, np.ndarray]:
        """(capacity USD, pace ahead), one per firm, of its current fund (FundTable.first_cheque_room); a firm closed
        down has no capacity, a firm without a fund neither and no pace."""
        cfg = self.config
        rows = np.array([-1 if f.current is None else f.current.row for f in self.firms])
        has = rows >= 0
        capacity, pace = np.zeros(rows.size), np.zeros(rows.size)
        capacity[has], pace[has] = self.fund_accounts.first_cheque_room(rows[has], month, cfg.investment_period_months,
                                                                        cfg.reserve_share)
        capacity[~np.array([f.alive for f in self.firms])] = 0.0
        return capacity, pace

    def channel(self, name: str) -> bool:
        """Whether a channel of the reputation loop is on: its own switch and the master switch."""
        return bool(getattr(self.config, name)) and self.config.reputation_loop

    def _seek_rounds(self, month: int, multiple: float) -> None:
        """Match this month's seekers with firms: deal flow, each firm's screen, the founders' choice of lead, the
        lead's price and the syndicate (the decisions are the firms' and the founders' own methods)."""
        cfg = self.config
        c = self.startups
        loop = self.channel("information_advantage")
        sorting, discount, value_added = (
            self.channel(ch) for ch in ("founder_sorting", "reputation_discount", "value_added")
        )
        rep_rank = self._rank(self.reputation)
        # USD each firm can still put into first cheques and how far its fund's first cheques run ahead of an even
        # pace, from the fund table's columns for all firms at once (FundTable.first_cheque_room; 0 for a firm closed
        # down or without a fund); `_capacity_list` holds the same as Python floats, and _close keeps the two in step
        capacity, pace = self._first_cheque_room(month)
        self._capacity_list = capacity.tolist()
        # deal flow: this month's weights, sampled per deal by binary search on their cumulative sum
        # (O(k log F) per deal, so cost stays linear in startups and firms); a fund behind its pace takes more meetings
        active = np.flatnonzero(capacity > 0)
        if active.size == 0:
            return
        flow = deal_flow.weights(self.ia[active], cfg.deal_flow_gain if loop else 0.0, pace[active],
                                 self.terms.fund.pacing_flow_slope)
        cumulative = np.cumsum(flow)
        self._top_reputation = np.argsort(-self.reputation)[:10].tolist()
        self._active = active
        noise = np.broadcast_to(signal_noise(self.ia, cfg, loop), self.ia.shape)  # each firm's, all firms at once
        self._noise_list = noise.tolist()
        # each firm's current fund's vintage, None for a firm that writes no new cheques (closed down, or no fund)
        self._vintage = [f.current.vintage if f.alive and f.current is not None else None for f in self.firms]
        self._open = [v is not None for v in self._vintage]
        seekers = self._seekers()
        gave_up = (c.rounds[seekers] == 0) & (month - c.founded[seekers] > 6)
        for idx in seekers[gave_up].tolist():
            c.end(idx, "dead")  # never funded: the founders give up
        seekers = seekers[~gave_up]
        if seekers.size == 0:
            return
        # The month's screening, every round at once. The draws, in this order (the stream's layout): each round's
        # size, the deal flow (4 x k uniforms a round), each seeing firm's signal (k standard normals a round, by
        # the firm's place among those that see it) and the founders' taste for each possible lead (k normals);
        # then, round by round in the loop below, the invitations (module docstring)
        k = cfg.candidates_per_deal
        stage = np.minimum(c.rounds[seekers], len(ROUND_SIZE) - 1)
        target = np.asarray(ROUND_SIZE)[stage] * self.rng.lognormal(0.0, ROUND_SIZE_LOG_SD, size=seekers.size)
        draws = active[np.searchsorted(cumulative, self.rng.random((seekers.size, 4 * k)) * cumulative[-1])]
        normals = self.rng.normal(0.0, 1.0, size=(seekers.size, k))
        tastes = self.rng.normal(0.0, 0.15, size=(seekers.size, k))
        # the distinct firms drawn, in draw order, that can write a cheque of a fifth of the round (at the month's
        # start: the loop drops those whose cheques since have left them less); each reads a noisy signal of the
        # startup's quality and offers to lead if it clears the stage's bar
        kept, slot = deal_flow.seen_by(draws, capacity, target, MIN_CHEQUE_SHARE_TO_SEE, k)
        bar = cfg.seed_bar - BAR_RELIEF_PER_STAGE * stage
        signal = deal_flow.signals(slot, np.log(c.quality[seekers]), normals, noise[draws])
        offered = kept & VentureFund.offers(signal, bar[:, None], pace[draws], self.terms.fund.pacing_bar_slope)
        # the rounds that drew an offer, one at a time (each one's cheques change what the next can raise), on Python
        # lists: a round has a handful of offers, too few for numpy's per-call cost to pay
        rows = np.flatnonzero(offered.any(axis=1))
        rep_rank_list = rep_rank.tolist()
        for idx, round_target, round_stage, round_bar, drawn, offering, places, taste in zip(
                seekers[rows].tolist(), target[rows].tolist(), stage[rows].tolist(), bar[rows].tolist(),
                draws[rows].tolist(), offered[rows].tolist(), slot[rows].tolist(), tastes[rows].tolist(), strict=True):
            least = MIN_CHEQUE_SHARE_TO_SEE * round_target
            offers = [(firm, place) for firm, place, made in zip(drawn, places, offering, strict=True)
                      if made and self._capacity_list[firm] >= least]
            if not offers:
                continue
            firms = [firm for firm, _ in offers]
            lead = c.choose_lead(firms, rep_rank_list, [taste[place] for _, place in offers], sorting)
            pre_money = self.firms[lead].pre_money(round_target, c.revenue[idx], multiple, rep_rank[lead], discount,
                                                   REPUTATION_DISCOUNT_AT_TOP)
            cheques = self._syndicate(idx, lead, firms, round_target, capacity, month, loop, round_bar)
            amount = math.fsum(cheques.values())
            if amount <= 0:
                continue
            self._close(idx, month, round_stage, lead, cheques, pre_money, amount, capacity, rep_rank[lead],
                        value_added)

    def _close(self, idx, month, stage, lead, cheques, pre_money, amount, capacity, lead_rank, value_added) -> None:
        """Book a round: each cheque called from its fund, shares issued, the deal recorded, ties strengthened."""
        cfg, c = self.config, self.startups
        deal_id = len(self.deals)
        members = []
        shares_bought = []
        for holder, cheque in cheques.items():
            firm = self.firms[holder[0]]
            fund = firm.fund_of(holder[1])
            firm.invest(fund, month, cheque, follow_on=fund is not firm.current or holder in c.cap_tables[idx])
            shares = c.issue(idx, holder, cheque, pre_money)
            self.portfolio.setdefault(holder, set()).add(int(idx))
            self.holdings.append((deal_id, holder, shares, cheque))
            members.append(holder[0])
            shares_bought.append(shares)
        self._deals_of_month.setdefault(month, []).append(deal_id)
        self._deal_shares.append(math.fsum(shares_bought))
        for firm_index in set(members):  # only the investing firms' capacity changed
            capacity[firm_index] = self._capacity_list[firm_index] = self.firms[firm_index].new_cheque_capacity(
                month, cfg)
        c.close_round(idx, pre_money, amount)
        syndication.add_syndicate(self.ties, members)
        self.deals.append({
            "deal": deal_id, "startup": int(idx), "month": month, "stage": STAGES[stage], "amount": amount,
            "pre_money": pre_money, "lead": lead, "syndicate": sorted(set(members)),
            "investors": len(set(members)), "lead_reputation_rank": float(lead_rank),
        })
        c.cash[idx] += amount
        if c.revenue[idx] == 0:
            c.revenue[idx] = FIRST_REVENUE
        c.bonus[idx] = max(c.bonus[idx], cfg.value_add_drift * lead_rank * value_added)
        self.month_stats["funded_rounds"] += 1
        self.month_stats["vc_deployed"] += amount

    def _syndicate(self, idx, lead, offers, target, capacity, month, loop, bar) -> dict:
        """Cheques by (firm, fund vintage): the lead, existing investors' pro rata, invited co-investors."""
        cfg, c = self.config, self.startups
        cheques: dict[tuple[int, int], float] = {}
        lead_firm = self.firms[lead]
        # the lead fills what its diversification limit allows; a round it cannot fill needs a syndicate
        cheques[(lead, lead_firm.current.vintage)] = lead_firm.lead_cheque(target, capacity[lead], cfg)
        # existing investors keep their share (pro rata) from their own fund's reserve
        for holder in list(c.cap_tables[idx]):
            firm = self.firms[holder[0]]
            fund = firm.fund_of(holder[1])
            cheque = firm.pro_rata(fund, c.ownership(idx, holder), target, month, cfg)
            if holder not in cheques and cheque > 0:
                cheques[holder] = cheque
        # co-investors: with the information channel on, the network brings deal flow: the lead's strongest ties
        # first, then other firms that offered, then reputable firms. With it off, neither the network nor
        # reputation steers invitations: the other firms that offered, then firms drawn at random
        remaining = target - math.fsum(cheques.values())
        if remaining <= CLOSE_WHEN_REMAINING * target or cfg.syndicate_max <= 0:
            return cheques
        if loop:
            invited = self.ties.partners_by_strength(lead).tolist() + offers + self._top_reputation
        else:
            strangers = self.rng.choice(self._active, size=min(RANDOM_INVITATIONS, self._active.size), replace=False)
            invited = offers + strangers.tolist()
        # the distinct invited firms (at their first invitation: dict keys keep the order they were first met) that
        # can join: open, not the lead, not already in the round from their current fund (a pro rata). Python lists,
        # not numpy: a round invites a few dozen firms, too few for numpy's per-call cost to pay
        vintage, is_open = self._vintage, self._open
        in_round = {f for f, v in cheques if v == vintage[f]}
        in_round.add(lead)
        candidates = [f for f in dict.fromkeys(invited) if is_open[f] and f not in in_round]
        if not candidates:
            return cheques
        # each candidate's own diligence (one standard normal each, drawn at once, scaled by its signal noise); those
        # that join put in their cheques in invitation order until the round is (nearly) full or the syndicate is
        log_quality, noise = math.log(c.quality[idx]), self._noise_list
        normals = self.rng.normal(0.0, 1.0, size=len(candidates)).tolist()
        added = 0
        full_below, most, joining_bar = CLOSE_WHEN_REMAINING * target, cfg.syndicate_max, VentureFund.syndicate_bar(bar)
        for firm_index, z in zip(candidates, normals, strict=True):
            if remaining <= full_below or added >= most:
                break  # full: no later candidate, joining or not, puts money in
            if not log_quality + z * noise[firm_index] >= joining_bar:  # its own diligence signal
                continue
            cheque = VentureFund.syndicate_cheque(self._capacity_list[firm_index], remaining, target)
            if cheque > 0:
                cheques[(firm_index, vintage[firm_index])] = cheque
                remaining -= cheque
                added += 1
        return cheques

    def _grow_and_burn(self, rental_index: float) -> None:
        cfg, c = self.config, self.startups
        live = c.alive & (c.revenue > 0)
        shocks = self.rng.normal(0.0, cfg.growth_volatility, size=live.sum())
        scale = np.log(np.maximum(c.revenue[live], FIRST_REVENUE) / FIRST_REVENUE)
        fade = np.clip(1.0 - scale / math.log(cfg.saturation_arr_usd / (12.0 * FIRST_REVENUE)), 0.0, 1.0)
        growth = (c.drift[live] + c.bonus[live]) * fade - 0.5 * cfg.growth_volatility**2 + shocks
        opex = np.asarray(OPEX)[np.clip(c.rounds - 1, 0, len(OPEX) - 1)]
        compute = c.grow_and_burn(live, growth, opex, cfg.base_compute_usd, cfg.compute_cost_share, rental_index)
        self.month_stats["compute_spend"] = float(compute.sum())
        self.month_stats["startup_burn"] = float(c.burn.sum())

    def _exits(self, month: int, multiple: float) -> None:
        """IPOs (above the revenue threshold) and trade sales at the market's revenue multiple, at their monthly
        hazards; a startup out of cash is sold in distress (if it has revenue, at a share of the multiple), taken
        in an acqui-hire (a share of what it raised) or shut down. Proceeds go to the holders pro rata."""
        c, x = self.startups, self.terms.exits
        live = c.alive & (c.rounds > 0)
        arr = 12.0 * c.revenue
        draw = self.rng.random(size=len(c))
        ipo = live & (arr >= x.ipo_arr_usd) & (draw < x.ipo_hazard)
        acquired = live & ~ipo & (draw > 1.0 - x.acquisition_hazard)
        broke = live & ~ipo & ~acquired & (c.cash < 0)
        value = np.zeros(len(c))
        value[ipo] = multiple * arr[ipo] * self.rng.lognormal(0.0, x.ipo_value_log_sd, size=ipo.sum())
        noise = self.rng.lognormal(x.acquisition_value_log_mean, x.acquisition_value_log_sd, size=acquired.sum())
        value[acquired] = multiple * arr[acquired] * noise
        fate = self.rng.random(size=len(c))
        distressed = broke & (arr > 0) & (fate < x.distressed_sale_probability)
        value[distressed] = (x.distressed_multiple_share * multiple * arr[distressed]
                             * self.rng.lognormal(0.0, x.distressed_value_log_sd, size=distressed.sum()))
        rescue = broke & ~distressed & (fate < x.distressed_sale_probability
                                        + (1.0 - x.distressed_sale_probability) * x.acquihire_probability)
        value[rescue] = x.acquihire_recovery * c.raised[rescue]
        kind = np.select([ipo, acquired, distressed, rescue], EXIT_KINDS[:4], EXIT_KINDS[4])
        for idx in np.flatnonzero(ipo | acquired | broke):
            status = "ipo" if ipo[idx] else "dead" if kind[idx] == "shutdown" else "acquired"
            c.end(idx, status, str(kind[idx]), float(value[idx]))
            for holder, amount in c.payout(idx, float(value[idx])).items():
                firm = self.firms[holder[0]]
                fund = firm.fund_of(holder[1])
                if amount > 0:
                    firm.distribute(fund, month, amount)
                    self._distributed += amount
                firm.record_exit(bool(ipo[idx]) or value[idx] >= x.large_exit_usd)
            self.exits.append({"startup": int(idx), "month": month, "status": status, "value": float(value[idx]),
                               "kind": str(kind[idx])})
            self.month_stats["exits" if status != "dead" else "deaths"] += 1

    # ------------------------------------------------------------------------------ judged at a fixed age

    def _mark_at_age(self, month: int) -> None:
        """Record, at the end of `month`, the value of each round that is now `deal_age_months` old, and the figures
        of each fund that is now at one of its judging ages (interim, judged, final): capital called,
        distributions, NAV (stakes in living startups at their last round's post-money) and the share of the
        startups it backed that have made a successful exit (IPO or trade sale)."""
        ages, c = self.ages, self.startups
        dated = month - ages.deal_age_months
        for deal_id in self._deals_of_month.get(dated, ()):
            i = self.deals[deal_id]["startup"]
            self.deal_value_at_age[deal_id] = (self._deal_shares[deal_id] * c.share_value(i), not c.alive[i])
        fund_ages = (ages.deployment_age_months, ages.persistence_age_months, ages.fund_age_months,
                     ages.fund_final_age_months)
        for age in fund_ages:
            for fund in self._funds_of_vintage.get(month - age, ()):
                held = self.portfolio.get((fund.firm, fund.vintage), set())
                exits = sum(1 for i in held if c.exit_kind[i] in SUCCESSFUL_EXITS)
                self.fund_marks[(fund.firm, fund.vintage, age)] = {
                    "called": fund.called, "distributions": fund.distributions, "nav": self._nav(fund),
                    "exit_rate": exits / len(held) if held else math.nan, "committed": fund.committed,
                }

    # ------------------------------------------------------------------------------ valuation and tables

    def _nav(self, fund: Fund) -> float:
        """Fund NAV: its stakes in living startups at their last post-money valuation."""
        c, holder = self.startups, (fund.firm, fund.vintage)
        return sum(c.last_post_money[i] * c.ownership(i, holder) for i in self.portfolio.get(holder, ())
                   if c.status[i] == "alive")

    def deal_table(self) -> pd.DataFrame:
        """Every round with its syndicate and outcome: value now (exit proceeds or mark) and multiple."""
        if not self.deals:  # no round closed (a tiny LP pool, a high bar): the table's columns, no rows
            return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in DEAL_COLUMNS.items()})
        deals = pd.DataFrame(self.deals)
        c = self.startups
        value = np.array([self._deal_shares[d] * c.share_value(self.deals[d]["startup"]) for d in range(len(deals))])
        deals["value"] = value
        deals["multiple"] = value / deals["amount"]
        deals["outcome"] = [c.status[i] for i in deals["startup"]]
        deals["resolved"] = deals["outcome"] != "alive"
        # judged at deal_age_months from the round's date (NaN: the run ended before the round was that old)
        at_age = [self.deal_value_at_age.get(d, (math.nan, False)) for d in deals["deal"]]
        deals["value_at_age"] = [value for value, _ in at_age]
        deals["multiple_at_age"] = deals["value_at_age"] / deals["amount"]
        deals["resolved_at_age"] = [ended for _, ended in at_age]
        return deals

    def fund_table(self) -> pd.DataFrame:
        """Every fund: its accounts at the run's end (`tvpi` net of carry, `irr` of the gross cash flows) and, judged at
        fixed ages, the columns of `_fund_at_ages`."""
        self._resolve_betweenness()
        rows = []
        fee_flows = self.fund_accounts.all_fee_flows()
        for firm in self.firms:
            history = firm.centrality_history
            for fund in firm.funds:
                nav = self._nav(fund)
                # centrality from the last computation at or before the vintage (pre-run funds: the
                # historical network the run starts from)
                lagged = [c for m, c in history if m <= max(fund.vintage, -1)] or [0.0]
                rows.append({
                    "firm": firm.firm_index, "vintage": fund.vintage,
                    "vintage_year": int(add_months(self.model.config.start, fund.vintage)[:4]),
                    "committed": fund.committed,
                    "called": fund.called,
                    "uncalled": fund.uncalled, "invested": fund.invested, "fees": fund.fees,
                    "distributions": fund.distributions, "nav": nav,
                    "tvpi": net_multiple(fund.distributions + nav, fund.called, self.terms.fund.carry),
                    "irr": irr(fund.cash_flows(fee_flows.get(fund.row, [])), nav, self.model.month),
                    "reputation": firm.reputation, "information_advantage": firm.information_advantage,
                    "centrality_at_vintage": lagged[-1], **{f"{k}_centrality": v for k, v in firm.centrality.items()},
                    **self._fund_at_ages(fund),
                })
        return pd.DataFrame(rows)

    def _fund_at_ages(self, fund: Fund) -> dict[str, float]:
        """The fund's figures at its judging ages (NaN where the run ended first): called share of commitments at
        the deployment age, TVPI at the interim (persistence) age, TVPI, DPI and successful-exit rate at the judging
        age, TVPI at the final age."""
        ages = self.ages
        mark = lambda age: self.fund_marks.get((fund.firm, fund.vintage, age))  # noqa: E731
        carry = self.terms.fund.carry
        tvpi = lambda m: net_multiple(m["distributions"] + m["nav"], m["called"], carry) if m else math.nan  # noqa: E731
        deployed, interim, judged, final = (mark(a) for a in (ages.deployment_age_months, ages.persistence_age_months,
                                                              ages.fund_age_months, ages.fund_final_age_months))
        return {
            "called_share_at_deployment_age": deployed["called"] / deployed["committed"]
            if deployed and deployed["committed"] > 0 else math.nan,
            "tvpi_interim": tvpi(interim), "tvpi_at_age": tvpi(judged),
            "dpi_at_age": net_multiple(judged["distributions"], judged["called"], carry) if judged else math.nan,
            "exit_rate_at_age": judged["exit_rate"] if judged else math.nan,
            "called_share_at_age": judged["called"] / judged["committed"] if judged and judged["committed"] > 0
            else math.nan,
            "tvpi_final": tvpi(final),
        }

    def startup_table(self) -> pd.DataFrame:
        c = self.startups
        exits = {e["startup"]: (e["value"], e["month"]) for e in self.exits}
        return pd.DataFrame([{
            "startup": i, "founded": int(c.founded[i]), "quality": float(c.quality[i]), "rounds": int(c.rounds[i]),
            "raised": float(c.raised[i]), "status": c.status[i],
            "exit_kind": c.exit_kind[i], "exit_value": exits.get(i, (np.nan, None))[0],
            "exit_month": exits.get(i, (None, None))[1], "revenue_now": float(c.revenue[i]),
        } for i in range(len(c))])


def irr(cash_flows: list[tuple[int, float]], terminal_value: float, month: int) -> float:
    """Annualised internal rate of return of monthly flows plus a terminal value; NaN where undefined."""
    if not cash_flows:
        return float("nan")
    start = min(m for m, _ in cash_flows)
    flows = np.zeros(month - start + 1)
    for m, amount in cash_flows:
        flows[m - start] += amount
    flows[-1] += terminal_value
    if not (flows.min() < 0 < flows.max()):
        return float("nan")
    t = np.arange(len(flows))
    npv = lambda r: float(np.sum(flows / (1.0 + r) ** t))  # noqa: E731
    try:
        monthly = brentq(npv, -0.2, 1.0)
    except ValueError:
        return float("nan")
    return (1.0 + monthly) ** 12 - 1.0
