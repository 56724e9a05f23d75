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
and offers as arrays, market/deal_flow.py), then forms the rounds that drew an offer in batches, as arrays
(market/rounds.py): each decision is still an agent's own (vectorised) method: a firm's offer, price, lead cheque,
pro rata and cheque as a co-investor (agents/venture_fund.VentureFund), the founders' choice of lead
(StartupCohort.choose_lead).

How the month's rounds share the firms' money (rounds in startup order, as one round after another would):
- In each pass, every pending round is formed at once against what each firm can still put into first cheques and
  each fund into follow-ons at the pass's start: the founders' lead among the offers still standing (a firm whose
  capacity has fallen below a fifth of the round no longer offers), its cheque, the pro rata, the invitations and
  the co-investors. Co-investors join in turn: a firm's cheque to a round reads the capacity the earlier rounds of
  the pass left it (rounds.syndicates_in_turn), so a firm invited to many rounds is spent in startup order.
- The rounds are booked in startup order up to the first whose lead or pro rata no longer fits what the rounds
  before it took (rounds.within_capacity); that round and those after it wait for the next pass, formed anew. So a
  firm never puts more into a month's rounds than its capacity, and each round is what it would have been had the
  rounds before it been booked first, except that a pass's invitations follow the network as it stood at the
  pass's start (the ties of its syndicates strengthen after it) and list the offers that stood at the pass's
  start (one whose capacity ran out meanwhile can only put in what it has left).

Random stream layout (the venture side's own stream), each month: fund raises (a walk-away draw for a firm with a
weak record, then a size draw, firm by firm), new startups; then for the month's seekers at once their round sizes,
deal-flow draws, signals and founders' tastes; then pass by pass, for the pass's rounds at once: with the information
channel off, one uniform per active firm and inviting round (in round order: the 12 lowest pick the strangers
invited), then one diligence draw (a standard normal) per distinct invited candidate, by round in invitation order;
then growth shocks; then exits (a hazard draw per startup, IPO and trade-sale values, a fate draw per startup for
those out of cash, distressed-sale values).
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd
from scipy.optimize import brentq

from agents.fund_table import FundTable
from agents.startup import FIRST_REVENUE, STAGES, StartupCohort
from agents.venture_fund import Fund, VentureFund, net_multiple, signal_noise
from hardware_catalog import add_months

from . import deal_flow, rounds, syndication
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

    def _current_funds(self) -> tuple[np.ndarray, np.ndarray]:
        """(row, open), one per firm: its current fund's row in the fund table (-1: it has none) and whether it writes
        new cheques (not closed down, with a fund)."""
        rows = np.array([-1 if f.current is None else f.current.row for f in self.firms])
        return rows, (rows >= 0) & np.array([f.alive for f in self.firms])

    def _first_cheque_room(self, month: int, funds: tuple[np.ndarray, np.ndarray] | None = None
                           ) -> tuple[np.ndarray, np.ndarray]:
        """(capacity USD, pace ahead), one per firm, of its current fund (FundTable.first_cheque_room); a firm closed
        down has no capacity, a firm without a fund neither and no pace. `funds`: `_current_funds()` if at hand."""
        cfg = self.config
        rows, is_open = self._current_funds() if funds is None else funds
        has = rows >= 0
        capacity, pace = np.zeros(rows.size), np.zeros(rows.size)
        capacity[has], pace[has] = self.fund_accounts.first_cheque_room(rows[has], month, cfg.investment_period_months,
                                                                        cfg.reserve_share)
        capacity[~is_open] = 0.0
        return capacity, pace

    def _holdings_of(self, startups: np.ndarray) -> dict[str, np.ndarray]:
        """Every stake in `startups` (their cap tables, flattened): `round` (the startup's place in `startups`), `firm`,
        `vintage`, `row` (the fund's row in the fund table) and `ownership` (share of the startup)."""
        c = self.startups
        tables = [c.cap_tables[i] for i in startups.tolist()]
        holders = np.array([holder for table in tables for holder in table], dtype=np.int64).reshape(-1, 2)
        shares = np.array([stake for table in tables for stake in table.values()])
        place = np.repeat(np.arange(startups.size), [len(table) for table in tables])
        return {"round": place, "firm": holders[:, 0], "vintage": holders[:, 1],
                "row": self.fund_accounts.rows_of(holders[:, 0], holders[:, 1]),
                "ownership": shares / c.total_shares[startups[place]]}

    def channel(self, name: str) -> bool:
        """Whether a channel of the reputation loop is on: its own switch and the master switch."""
        return bool(getattr(self.config, name)) and self.config.reputation_loop

    def _seek_rounds(self, month: int, multiple: float) -> None:
        """Match this month's seekers with firms: deal flow, each firm's screen, the founders' choice of lead, the
        lead's price and the syndicate, for all the month's rounds at once, in passes (module docstring)."""
        cfg = self.config
        c = self.startups
        loop = self.channel("information_advantage")
        # USD each firm can still put into first cheques and how far its fund's first cheques run ahead of an even
        # pace, from the fund table's columns for all firms at once (0 for a firm closed down or without a fund)
        funds = self._current_funds()
        capacity, pace = self._first_cheque_room(month, funds)
        # deal flow: this month's weights, sampled per deal by binary search on their cumulative sum
        # (O(k log F) per deal, so cost stays linear in startups and firms); a fund behind its pace takes more meetings
        active = np.flatnonzero(capacity > 0)
        if active.size == 0:
            return
        flow = deal_flow.weights(self.ia[active], cfg.deal_flow_gain if loop else 0.0, pace[active],
                                 self.terms.fund.pacing_flow_slope)
        cumulative = np.cumsum(flow)
        noise = np.broadcast_to(signal_noise(self.ia, cfg, loop), self.ia.shape)  # each firm's, all firms at once
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
        # then, pass by pass, the invitations (module docstring)
        k = cfg.candidates_per_deal
        stage = np.minimum(c.rounds[seekers], len(ROUND_SIZE) - 1)
        target = np.asarray(ROUND_SIZE)[stage] * self.rng.lognormal(0.0, ROUND_SIZE_LOG_SD, size=seekers.size)
        draws = active[np.searchsorted(cumulative, self.rng.random((seekers.size, 4 * k)) * cumulative[-1])]
        normals = self.rng.normal(0.0, 1.0, size=(seekers.size, k))
        tastes = self.rng.normal(0.0, 0.15, size=(seekers.size, k))
        # the distinct firms drawn, in draw order, that can write a cheque of a fifth of the round (at the month's
        # start: each pass drops those whose cheques since have left them less); each reads a noisy signal of the
        # startup's quality and offers to lead if it clears the stage's bar
        kept, slot = deal_flow.seen_by(draws, capacity, target, MIN_CHEQUE_SHARE_TO_SEE, k)
        bar = cfg.seed_bar - BAR_RELIEF_PER_STAGE * stage
        signal = deal_flow.signals(slot, np.log(c.quality[seekers]), normals, noise[draws])
        offered = kept & VentureFund.offers(signal, bar[:, None], pace[draws], self.terms.fund.pacing_bar_slope)
        rows = np.flatnonzero(offered.any(axis=1))
        pending = {"startup": seekers[rows], "target": target[rows], "stage": stage[rows], "bar": bar[rows],
                   "drawn": draws[rows], "offered": offered[rows],
                   "taste": np.take_along_axis(tastes[rows], np.maximum(slot[rows], 0), axis=1),
                   "id": np.arange(rows.size)}
        month_firms = self._month_firms(funds, noise, active, loop, multiple)
        # the stakes in the startups raising (cap tables do not change before a startup's own round is booked)
        month_firms["held"], month_firms["rounds"] = self._holdings_of(pending["startup"]), rows.size
        # the passes: every pending round formed against what firms can put in at the pass's start, booked in startup
        # order up to the first that no longer fits (rounds.within_capacity); the others wait for the next pass. Each
        # pass books at least its first round, so the loop ends
        while pending["startup"].size:
            made = pending["offered"] & (capacity[pending["drawn"]]
                                         >= MIN_CHEQUE_SHARE_TO_SEE * pending["target"][:, None])
            leads = made.any(axis=1)  # a round whose offers all ran out of capacity closes nothing this month
            pending = {name: values[leads] for name, values in pending.items()}
            if not leads.any():
                break
            formed = self._form_rounds(pending, made[leads], capacity, month, month_firms)
            fits = rounds.within_capacity(formed["round"], formed["resource"], formed["amount"], formed["need"],
                                          np.concatenate([capacity, formed["follow_on_room"]]),
                                          pending["startup"].size)
            self._book(pending, formed, int(fits.sum()), month, month_firms)
            capacity = self._first_cheque_room(month, funds)[0]
            pending = {name: values[~fits] for name, values in pending.items()}

    def _month_firms(self, funds: tuple[np.ndarray, np.ndarray], noise: np.ndarray, active: np.ndarray, loop: bool,
                     multiple: float) -> dict:
        """What the month's passes read of each firm (arrays indexed by firm): its current fund's row (-1: none) and
        whether it is open (`funds`), that fund's commitments (USD), its signal noise and reputation rank; the firms
        active at the month's start, the ten most reputable, the channels and the revenue multiple."""
        rows, is_open = funds
        committed = np.where(rows >= 0, self.fund_accounts.committed[np.maximum(rows, 0)], 0.0)
        return {"row": rows, "open": is_open, "committed": committed, "noise": noise,
                "rank": self._rank(self.reputation), "active": active, "loop": loop, "multiple": multiple,
                "top": np.argsort(-self.reputation)[:10],
                "channels": {ch: self.channel(ch) for ch in ("founder_sorting", "reputation_discount", "value_added")}}

    def _form_rounds(self, pending: dict, made: np.ndarray, capacity: np.ndarray, month: int, firms: dict) -> dict:
        """Every pending round formed against `capacity` (USD, by firm) as if it were the month's only one: the
        founders' lead among the firms whose offers stand (`made`), its price and cheque, the existing investors'
        pro rata, the invitations and the co-investors that join. Returns the cheques, one entry per cheque grouped
        by round (lead, pro rata in cap-table order, co-investors in invitation order): `round`, `firm`, `row` (fund),
        `amount` (USD), `follow_on`, `resource` (firm for a first cheque, firms + fund row for a follow-on) and
        `need` (USD it takes of the resource; a lead needs a fifth of the round to see it); with `lead`, `pre_money`
        and `follow_on_room` (USD, by fund row)."""
        cfg, c, table = self.config, self.startups, self.fund_accounts
        n_rounds, n_firms = pending["startup"].size, len(self.firms)
        startup, target = pending["startup"], pending["target"]
        place = c.choose_lead(pending["drawn"], made, firms["rank"], pending["taste"],
                              firms["channels"]["founder_sorting"])
        lead = pending["drawn"][np.arange(n_rounds), place]
        pre_money = VentureFund.pre_money(target, c.revenue[startup], firms["multiple"], firms["rank"][lead],
                                          firms["channels"]["reputation_discount"], REPUTATION_DISCOUNT_AT_TOP)
        lead_cheque = VentureFund.lead_cheque(target, capacity[lead], firms["committed"][lead], cfg.max_cheque_share)
        # existing investors keep their share (pro rata) from their own fund's follow-on room, except the lead's
        # current fund (its lead cheque stands for it)
        held = firms["held"]  # the stakes in every startup raising this month: those of the pending rounds
        place_of = np.full(firms["rounds"], -1)
        place_of[pending["id"]] = np.arange(n_rounds)
        h_round = place_of[held["round"]]
        stake = h_round >= 0
        h_round, h_firm, h_row, h_own = (h_round[stake], held["firm"][stake], held["row"][stake],
                                         held["ownership"][stake])
        current = np.zeros(table.size, dtype=bool)
        current[firms["row"][firms["row"] >= 0]] = True
        room = table.follow_on_room(current, month, cfg.investment_period_months, cfg.reserve_share)
        pro_rata = VentureFund.pro_rata(h_own, target[h_round], room[h_row])
        pro_rata[h_row == firms["row"][lead[h_round]]] = 0.0
        writes = pro_rata > 0
        # co-investors: invited when more than 5% of the round is open and the syndicate may grow
        remaining = target - lead_cheque - np.bincount(h_round[writes], weights=pro_rata[writes], minlength=n_rounds)
        full_below = CLOSE_WHEN_REMAINING * target
        inviting = (remaining > full_below) & (cfg.syndicate_max > 0)
        in_round = np.zeros((n_rounds, n_firms), dtype=bool)  # the lead, and firms writing from their current fund
        in_round[np.arange(n_rounds), lead] = True
        current_stake = writes & (h_row == firms["row"][h_firm])
        in_round[h_round[current_stake], h_firm[current_stake]] = True
        s_round, s_firm = self._invitations(np.flatnonzero(inviting), lead, pending, made, firms, in_round)
        # each candidate's own diligence (one standard normal each, drawn at once, scaled by its signal noise)
        z = self.rng.normal(0.0, 1.0, size=s_round.size)
        joins = (np.log(c.quality[startup[s_round]]) + z * firms["noise"][s_firm]
                 >= VentureFund.syndicate_bar(pending["bar"][s_round]))
        # only a candidate that joins and could offer with all its capacity can ever put money in
        joins &= VentureFund.syndicate_offer(capacity[s_firm], target[s_round]) > 0
        s_round, s_firm = s_round[joins], s_firm[joins]
        cheque = rounds.syndicates_in_turn(s_round, s_firm, np.ones(s_round.size, dtype=bool),
                                           lambda left: VentureFund.syndicate_offer(left, target[s_round]), capacity,
                                           remaining, full_below, cfg.syndicate_max, lead, lead_cheque)
        joined = cheque > 0
        s_round, s_firm, cheque = s_round[joined], s_firm[joined], cheque[joined]
        # the cheques of every round, grouped by round in the order they are written
        held_before = np.unique(h_round * table.size + h_row)
        kind_round = np.concatenate([np.arange(n_rounds), h_round[writes], s_round])
        firm = np.concatenate([lead, h_firm[writes], s_firm])
        row = np.concatenate([firms["row"][lead], h_row[writes], firms["row"][s_firm]])
        amount = np.concatenate([lead_cheque, pro_rata[writes], cheque])
        first = np.concatenate([np.ones(n_rounds, dtype=bool), np.zeros(writes.sum(), dtype=bool),
                                np.ones(s_round.size, dtype=bool)])
        need = np.concatenate([np.maximum(lead_cheque, MIN_CHEQUE_SHARE_TO_SEE * target), pro_rata[writes], cheque])
        order = np.argsort(kind_round, kind="stable")
        follow_on = (row != firms["row"][firm]) | np.isin(kind_round * table.size + row, held_before)
        return {"round": kind_round[order], "firm": firm[order], "row": row[order], "amount": amount[order],
                "follow_on": follow_on[order], "resource": np.where(first, firm, n_firms + row)[order],
                "need": need[order], "lead": lead, "pre_money": pre_money, "follow_on_room": room}

    def _invitations(self, inviting: np.ndarray, lead: np.ndarray, pending: dict, made: np.ndarray, firms: dict,
                     in_round: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(round, firm) of every candidate co-investor of the rounds `inviting`, by round in invitation order: with
        the information channel on, the lead's partners by tie strength, then the other firms whose offers stand,
        then the ten most reputable firms; with it off, the firms whose offers stand, then 12 active firms drawn at
        random (one uniform per active firm a round). Each firm at its first invitation, if it is open and not in
        the round from its current fund (`in_round`: (R, F) bool)."""
        where_made = np.nonzero(made[inviting])
        offers = (inviting[where_made[0]], pending["drawn"][inviting][where_made])  # in draw order
        if firms["loop"]:
            partners = [self.ties.partners_by_strength(f) for f in lead[inviting].tolist()]
            sizes = np.array([p.size for p in partners], dtype=np.int64)
            by_strength = (np.repeat(inviting, sizes),
                           np.concatenate(partners) if partners else np.zeros(0, dtype=np.int64))
            top = firms["top"]
            groups = [by_strength, offers, (np.repeat(inviting, top.size), np.tile(top, inviting.size))]
        else:
            active = firms["active"]
            size = min(RANDOM_INVITATIONS, active.size)
            strangers = np.argsort(self.rng.random((inviting.size, active.size)), axis=1)[:, :size]
            groups = [offers, (np.repeat(inviting, size), active[strangers].ravel())]
        return rounds.invitation_lists(groups, in_round | ~firms["open"])

    def _book(self, pending: dict, formed: dict, booked: int, month: int, firms: dict) -> None:
        """Book the first `booked` rounds formed (those that fit): every cheque called from its fund
        (FundTable.invest), shares issued at the round's price, cap tables, portfolios and holdings written, the deals
        recorded, the startups' rounds closed and the syndicates' ties strengthened."""
        cfg, c = self.config, self.startups
        take = formed["round"] < booked
        round_of, firm, row, amount = (formed[name][take] for name in ("round", "firm", "row", "amount"))
        self.fund_accounts.invest(month, row, amount, formed["follow_on"][take])
        startup, pre_money, lead = pending["startup"][:booked], formed["pre_money"][:booked], formed["lead"][:booked]
        totals = c.total_shares[startup].copy()
        shares = rounds.issued_shares(round_of, amount, pre_money, totals)
        c.total_shares[startup] = totals
        vintage = self.fund_accounts.vintage[row]
        deal_ids = len(self.deals) + np.arange(booked)
        holders = list(zip(firm.tolist(), vintage.tolist(), strict=True))
        c.take_cheques(startup[round_of].tolist(), holders, shares.tolist())
        for i, holder, bought, cheque, deal_id in zip(startup[round_of].tolist(), holders, shares.tolist(),
                                                    amount.tolist(), deal_ids[round_of].tolist(), strict=True):
            self.portfolio.setdefault(holder, set()).add(i)
            self.holdings.append((deal_id, holder, bought, cheque))
        raised = np.bincount(round_of, weights=amount, minlength=booked)
        self._deal_shares.extend(np.bincount(round_of, weights=shares, minlength=booked).tolist())
        self._deals_of_month.setdefault(month, []).extend(deal_ids.tolist())
        members = np.unique(round_of * len(self.firms) + firm)  # each round's distinct firms, in firm order
        syndicates = np.split(members % len(self.firms), np.searchsorted(members // len(self.firms),
                                                                          np.arange(1, booked)))
        rank, stage = firms["rank"][lead], pending["stage"][:booked]
        self.deals.extend({
            "deal": deal_id, "startup": i, "month": month, "stage": STAGES[round_stage], "amount": total,
            "pre_money": price, "lead": lead_firm, "syndicate": syndicate.tolist(), "investors": syndicate.size,
            "lead_reputation_rank": lead_rank,
        } for deal_id, i, round_stage, total, price, lead_firm, syndicate, lead_rank in zip(
            deal_ids.tolist(), startup.tolist(), stage.tolist(), raised.tolist(), pre_money.tolist(), lead.tolist(),
            syndicates, rank.tolist(), strict=True))
        c.close_rounds(startup, pre_money, raised)
        c.bonus[startup] = np.maximum(c.bonus[startup],
                                      cfg.value_add_drift * rank * firms["channels"]["value_added"])
        self.ties.add_syndicates(round_of, firm)
        self.month_stats["funded_rounds"] += booked
        self.month_stats["vc_deployed"] += float(raised.sum())

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
        fee_flows, calls = self.fund_accounts.all_fee_flows(), self.fund_accounts.all_investment_flows()
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
                    "irr": irr(fund.cash_flows(fee_flows.get(fund.row, []), calls.get(fund.row, [])), nav,
                               self.model.month),
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
