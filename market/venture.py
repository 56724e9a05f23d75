"""The venture phase of the monthly step: startups, VC firms, syndicates and the reputation loop.

Each month: funds charge fees and firms raise new funds from the LP pool (size follows track record
and reputation); new startups with latent lognormal quality appear; startups that need money seek a
round: the firms that see the deal (deal flow weighted by information advantage) read a noisy signal
of quality (noise shrinks with information advantage) and offer if it clears their bar; founders pick
the most reputable lead (who prices 10-14% lower, as in Hsu 2004); the lead invites co-investors
among its network neighbours and reputable firms; the syndicate strengthens the network's ties.
Startups grow revenue multiplicatively (drift from quality and the lead's value added, volatility),
burn cash on a team and on inference compute bought at the market's rental price, and exit (IPO or
acquisition at revenue multiples that move with the AI market) or die when cash runs out. Exits pay
investors pro rata; large exits build reputation. The loop (reputation and centrality -> better
signals and deal flow -> better startups -> exits -> reputation) runs through four channels, each with a
switch in VentureConfig: information_advantage (signals, deal flow, invitations), founder_sorting (founders
pick reputable leads), reputation_discount (reputable leads price lower) and value_added (reputable leads add
growth); reputation_loop = False turns all four off.

Growth, burn and exit hazards are vectorised over the cohort; matching deals is a loop over the
(tens of) rounds sought each month.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd
from scipy.optimize import brentq

from agents.startup import STAGES, Startup
from agents.venture_fund import Fund, VentureFund

from . import syndication

ROUND_SIZE = (3e6, 12e6, 35e6, 80e6, 150e6, 300e6)  # USD by stage (seed .. growth), est
MILESTONE_ARR = (0.0, 1e6, 5e6, 20e6, 50e6, 100e6)  # annualised revenue a startup needs to raise the stage
OPEX = (1.5e5, 5e5, 1.5e6, 3.5e6, 6e6, 1e7)  # USD per month by stage reached (team, go-to-market), est
FIRST_REVENUE = 2.0e4  # USD per month once a product ships after the seed round
IPO_ARR, IPO_HAZARD = 1.5e8, 0.04
ACQUISITION_HAZARD = 0.006
ACQUIHIRE_PROBABILITY, ACQUIHIRE_RECOVERY = 0.3, 0.15
LARGE_EXIT_USD = 5e8
# a lead with the top reputation prices a round this much lower (scaled by its reputation rank): offers from
# high-reputation VCs come at a 10-14% lower valuation (Hsu 2004, J. Finance)
REPUTATION_DISCOUNT_AT_TOP = 0.12
# firms a lead asks at random for a syndicate when the network does not steer invitations (information channel off)
RANDOM_INVITATIONS = 12
REPUTATION_DECAY = 0.01  # per month: an exponentially weighted record of large exits


class VenturePhase:
    """Owns the venture side's agents, arrays and tables for one ComputeMarket."""

    def __init__(self, model, config) -> None:
        self.model = model
        self.config = config
        self.rng = model.venture_rng  # the venture side's own stream (see ComputeMarket._spawn_streams)
        self.graph = nx.Graph()
        self.firms: list[VentureFund] = []
        for i in range(config.firms):
            firm = VentureFund(model, i, f"vc-{i + 1:03d}")
            self.graph.add_node(i)
            self.firms.append(firm)
        # starting funds: vintages staggered over the last fund cycle, sizes lognormal around the mean
        mean_size = config.lp_pool_usd_per_year * config.fund_cycle_months / 12.0 / config.firms
        # history before the run: a preferential-attachment syndication network and a skewed exit record
        history = nx.barabasi_albert_graph(config.firms, 2, seed=int(self.rng.integers(2**31)))
        self.graph.add_edges_from(history.edges(), weight=1.0)
        for firm in self.firms:
            firm.reputation = float(self.rng.pareto(2.0))
        self.reputation = np.array([f.reputation for f in self.firms])
        for firm in self.firms:
            vintage = -int(self.rng.integers(0, config.fund_cycle_months))
            size = mean_size * float(self.rng.lognormal(-0.5, 1.0))
            firm.funds.append(Fund(firm.firm_index, vintage, size))
            firm.next_raise = vintage + config.fund_cycle_months
        self.startups: list[Startup] = []
        self.revenue = np.zeros(0)
        self.cash = np.zeros(0)
        self.drift = np.zeros(0)
        self.bonus = np.zeros(0)
        self.alive = np.zeros(0, dtype=bool)
        self.burn = np.zeros(0)
        self.rounds = np.zeros(0, dtype=int)  # rounds raised, by startup
        self.raised = np.zeros(0)  # USD raised, by startup
        self.deals: list[dict] = []
        self.holdings: list[tuple[int, tuple[int, int], float, float]] = []  # (deal id, holder, shares, amount)
        self.exits: list[dict] = []
        self.portfolio: dict[tuple[int, int], set[int]] = {}  # (firm, vintage) -> startups held
        self.snapshots: list[pd.DataFrame] = []
        self.month_stats: dict[str, float] = {}
        self.ia = np.zeros(config.firms)
        self._update_centrality(-1)

    # ------------------------------------------------------------------------------ helpers

    def multiple(self, market_growth: float) -> float:
        """Revenue multiple for pricing and exits: moves with the AI market's growth, falls with rates."""
        return self.config.revenue_multiple * float(np.clip(1.0 + market_growth, 0.5, 3.0)) / (1.0 + 5.0 * self.config.rate_premium)

    def _rank(self, values: np.ndarray) -> np.ndarray:
        """Percentile rank in [0, 1] (ties share the lower rank)."""
        if values.max() <= 0:
            return np.zeros_like(values)
        order = values.argsort().argsort()
        return order / max(len(values) - 1, 1)

    # ------------------------------------------------------------------------------ the month

    def step(self, month: int, rental_index: float, market_growth: float) -> None:
        cfg = self.config
        self.month_stats = {"funded_rounds": 0, "vc_deployed": 0.0, "exits": 0, "deaths": 0, "new_funds": 0}
        for firm in self.firms:
            firm.charge_fees(month, cfg)
        self._raise_funds(month)
        self._found_startups(month)
        multiple = self.multiple(market_growth)
        self._seek_rounds(month, multiple)
        self._grow_and_burn(rental_index)
        self._exits(month, multiple)
        for firm in self.firms:
            firm.decay_reputation(REPUTATION_DECAY)
        self.reputation = np.array([f.reputation for f in self.firms])
        if month % 12 == 11:
            syndication.decay_ties(self.graph, 1.0 - cfg.edge_decay_per_year)
            self.snapshots.append(nx.to_pandas_edgelist(self.graph).assign(year=month // 12))
        if month % cfg.centrality_interval == 0:
            self._update_centrality(month)
        self.month_stats["active_startups"] = int(self.alive.sum())

    def _update_centrality(self, month: int) -> None:
        c = syndication.centralities(self.graph, seed=int(self.rng.integers(2**31)))
        self.ia = syndication.information_advantage(c["eigenvector"], self.reputation)
        for i, firm in enumerate(self.firms):
            firm.centrality = {k: float(v[i]) for k, v in c.items()}
            firm.information_advantage = float(self.ia[i])
            firm.centrality_history.append((month, firm.centrality["eigenvector"]))

    def _raise_funds(self, month: int) -> None:
        cfg = self.config
        raising = [f for f in self.firms if f.alive and f.next_raise <= month]
        if not raising:
            return
        mean_size = cfg.lp_pool_usd_per_year * cfg.fund_cycle_months / 12.0 / cfg.firms
        appetite = max(0.0, 1.0 - 2.0 * cfg.rate_premium)
        for firm in raising:
            last = firm.current
            track = 1.0
            if last is not None and month - last.vintage >= 36 and last.called > 0:
                track = float(np.clip((last.distributions + self._nav(last)) / last.called, 0.2, 4.0))
            if track < 0.5 and self.rng.random() < 0.5:
                firm.alive = False  # LPs walk away
                continue
            size = mean_size * appetite * track**0.7 * (1.0 + firm.reputation) ** 0.5 * float(self.rng.lognormal(-0.3, 0.5))
            firm.funds.append(Fund(firm.firm_index, month, size))
            firm.next_raise = month + cfg.fund_cycle_months
            self.month_stats["new_funds"] += 1

    def _found_startups(self, month: int) -> None:
        cfg = self.config
        n = int(self.rng.poisson(cfg.startups_per_month))
        if n == 0:
            return
        log_quality = self.rng.normal(0.0, cfg.quality_sigma, size=n)
        start = len(self.startups)
        for j in range(n):
            self.startups.append(Startup(self.model, start + j, float(np.exp(log_quality[j])), month))
        self.revenue = np.concatenate([self.revenue, np.zeros(n)])
        self.cash = np.concatenate([self.cash, np.zeros(n)])
        self.drift = np.concatenate([self.drift, cfg.growth_drift + cfg.quality_drift * log_quality])
        self.bonus = np.concatenate([self.bonus, np.zeros(n)])
        self.alive = np.concatenate([self.alive, np.ones(n, dtype=bool)])
        self.burn = np.concatenate([self.burn, np.zeros(n)])
        self.rounds = np.concatenate([self.rounds, np.zeros(n, dtype=int)])
        self.raised = np.concatenate([self.raised, np.zeros(n)])

    def _seekers(self) -> np.ndarray:
        """Indices of living startups that need a round now and meet the next stage's milestone."""
        rounds = self.rounds
        milestone = np.asarray(MILESTONE_ARR)[np.minimum(rounds, len(MILESTONE_ARR) - 1)]
        unfunded = rounds == 0
        low_cash = self.cash < 6.0 * self.burn
        return np.flatnonzero(self.alive & (unfunded | (low_cash & (12.0 * self.revenue >= milestone))))

    def channel(self, name: str) -> bool:
        """Whether a channel of the reputation loop is on: its own switch and the master switch."""
        return bool(getattr(self.config, name)) and self.config.reputation_loop

    def _seek_rounds(self, month: int, multiple: float) -> None:
        cfg = self.config
        loop = self.channel("information_advantage")
        sorting, discount, value_added = (self.channel(c) for c in ("founder_sorting", "reputation_discount", "value_added"))
        rep_rank = self._rank(self.reputation)
        capacity = np.array([f.new_cheque_capacity(month, cfg) if f.alive else 0.0 for f in self.firms])
        # deal flow: this month's weights, sampled per deal by binary search on their cumulative sum
        # (O(k log F) per deal, so cost stays linear in startups and firms)
        active = np.flatnonzero(capacity > 0)
        if active.size == 0:
            return
        flow = 1.0 + (cfg.deal_flow_gain * self.ia[active] if loop else np.zeros(active.size))
        cumulative = np.cumsum(flow)
        self._top_reputation = list(np.argsort(-self.reputation)[:10])
        self._active = active
        for idx in self._seekers():
            startup = self.startups[idx]
            if startup.rounds == 0 and month - startup.founded > 6:
                self.alive[idx] = False  # never funded: the founders give up
                startup.status = "dead"
                continue
            stage = min(startup.rounds, len(ROUND_SIZE) - 1)
            target = ROUND_SIZE[stage] * float(self.rng.lognormal(0.0, 0.3))
            draws = active[np.searchsorted(cumulative, self.rng.random(4 * cfg.candidates_per_deal) * cumulative[-1])]
            draws = np.array(list(dict.fromkeys(draws.tolist())), dtype=int)  # distinct, in draw order
            seen = draws[capacity[draws] >= 0.2 * target][: cfg.candidates_per_deal]
            if seen.size == 0:
                continue
            k = seen.size
            noise = cfg.signal_noise / (1.0 + (cfg.information_gain * self.ia[seen] if loop else 0.0))
            signal = math.log(startup.quality) + self.rng.normal(0.0, 1.0, size=k) * noise
            bar = cfg.seed_bar - 0.3 * stage
            offers = seen[signal > bar]
            if offers.size == 0:
                continue
            # founders prefer reputable leads (sorting); without sorting any firm that offered may lead
            preference = self.rng.normal(0.0, 0.15, size=offers.size)
            lead = int(offers[np.argmax(rep_rank[offers] + preference if sorting else preference)])
            pre_money = max(2.5 * target, multiple * 12.0 * self.revenue[idx]) * (1.0 - REPUTATION_DISCOUNT_AT_TOP * rep_rank[lead] * discount)
            cheques = self._syndicate(idx, lead, offers, target, capacity, month, loop, bar)
            amount = sum(cheques.values())
            if amount <= 0:
                continue
            deal_id = len(self.deals)
            members = []
            for holder, cheque in cheques.items():
                firm = self.firms[holder[0]]
                fund = next(f for f in firm.funds if f.vintage == holder[1])
                firm.invest(fund, month, cheque, follow_on=fund is not firm.current or holder in startup.cap_table)
                shares = startup.issue(holder, cheque, pre_money)
                self.portfolio.setdefault(holder, set()).add(int(idx))
                self.holdings.append((deal_id, holder, shares, cheque))
                members.append(holder[0])
            for firm_index in set(members):  # only the investing firms' capacity changed
                capacity[firm_index] = self.firms[firm_index].new_cheque_capacity(month, cfg)
            startup.close_round(pre_money, amount)
            self.rounds[idx] = startup.rounds
            self.raised[idx] = startup.raised
            syndication.add_syndicate(self.graph, members)
            self.deals.append({
                "deal": deal_id, "startup": int(idx), "month": month, "stage": STAGES[stage], "amount": amount,
                "pre_money": pre_money, "lead": lead, "syndicate": sorted(set(members)),
                "investors": len(set(members)), "lead_reputation_rank": float(rep_rank[lead]),
            })
            self.cash[idx] += amount
            if self.revenue[idx] == 0:
                self.revenue[idx] = FIRST_REVENUE
            self.bonus[idx] = max(self.bonus[idx], cfg.value_add_drift * rep_rank[lead] * value_added)
            self.month_stats["funded_rounds"] += 1
            self.month_stats["vc_deployed"] += amount

    def _syndicate(self, idx, lead, offers, target, capacity, month, loop, bar) -> dict:
        """Cheques by (firm, fund vintage): the lead, existing investors' pro rata, invited co-investors."""
        cfg = self.config
        startup = self.startups[idx]
        cheques: dict[tuple[int, int], float] = {}
        lead_fund = self.firms[lead].current
        # the lead fills what its diversification limit allows; a round it cannot fill needs a syndicate
        limit = cfg.max_cheque_share * lead_fund.committed
        cheques[(lead, lead_fund.vintage)] = min(target, capacity[lead], limit)
        # existing investors keep their share (pro rata) from their own fund's reserve
        for holder in list(startup.cap_table):
            firm = self.firms[holder[0]]
            fund = next(f for f in firm.funds if f.vintage == holder[1])
            want = startup.ownership(holder) * target
            room = firm.follow_on_capacity(fund, month, cfg)
            if holder not in cheques and min(want, room) > 0:
                cheques[holder] = min(want, room)
        # co-investors: with the information channel on, the network brings deal flow: the lead's strongest ties
        # first, then other firms that offered, then reputable firms. With it off, neither the network nor
        # reputation steers invitations: the other firms that offered, then firms drawn at random
        if loop:
            ties = sorted(self.graph[lead].items(), key=lambda kv: -kv[1]["weight"]) if lead in self.graph else []
            invited = [n for n, _ in ties] + [int(o) for o in offers if o != lead] + self._top_reputation
        else:
            strangers = self.rng.choice(self._active, size=min(RANDOM_INVITATIONS, self._active.size), replace=False)
            invited = [int(o) for o in offers if o != lead] + [int(f) for f in strangers]
        remaining = target - sum(cheques.values())
        added = 0
        for firm_index in dict.fromkeys(invited):
            if remaining <= 0.05 * target or added >= cfg.syndicate_max:
                break
            firm = self.firms[firm_index]
            if firm_index == lead or not firm.alive or firm.current is None:
                continue
            holder = (firm_index, firm.current.vintage)
            if holder in cheques:
                continue
            # an invited firm does its own diligence (a lead's backing lowers its bar a little)
            noise = cfg.signal_noise / (1.0 + (cfg.information_gain * self.ia[firm_index] if loop else 0.0))
            if math.log(startup.quality) + float(self.rng.normal(0.0, noise)) < bar - 0.3:
                continue
            room = firm.new_cheque_capacity(month, cfg)
            cheque = min(room, remaining, 0.5 * target)
            if cheque >= 0.05 * target:
                cheques[holder] = cheque
                remaining -= cheque
                added += 1
        return cheques

    def _grow_and_burn(self, rental_index: float) -> None:
        cfg = self.config
        live = self.alive & (self.revenue > 0)
        shocks = self.rng.normal(0.0, cfg.growth_volatility, size=live.sum())
        scale = np.log(np.maximum(self.revenue[live], FIRST_REVENUE) / FIRST_REVENUE)
        fade = np.clip(1.0 - scale / math.log(cfg.saturation_arr_usd / (12.0 * FIRST_REVENUE)), 0.0, 1.0)
        growth = (self.drift[live] + self.bonus[live]) * fade - 0.5 * cfg.growth_volatility**2 + shocks
        self.revenue[live] *= np.exp(growth)
        rounds = self.rounds
        opex = np.asarray(OPEX)[np.clip(rounds - 1, 0, len(OPEX) - 1)]
        compute = (cfg.base_compute_usd + cfg.compute_cost_share * self.revenue) * rental_index
        self.burn = np.where(self.alive & (rounds > 0), opex + compute, 0.0)
        self.cash += np.where(self.alive & (rounds > 0), self.revenue - self.burn, 0.0)
        self.month_stats["compute_spend"] = float(np.where(self.alive & (rounds > 0), compute, 0.0).sum())
        self.month_stats["startup_burn"] = float(self.burn.sum())

    def _exits(self, month: int, multiple: float) -> None:
        live = self.alive & (self.rounds > 0)
        arr = 12.0 * self.revenue
        draw = self.rng.random(size=len(self.startups))
        ipo = live & (arr >= IPO_ARR) & (draw < IPO_HAZARD)
        acquired = live & ~ipo & (draw > 1.0 - ACQUISITION_HAZARD)
        broke = live & ~ipo & ~acquired & (self.cash < 0)
        value = np.zeros(len(self.startups))
        value[ipo] = multiple * arr[ipo] * self.rng.lognormal(0.0, 0.3, size=ipo.sum())
        value[acquired] = multiple * arr[acquired] * self.rng.lognormal(-0.3, 0.6, size=acquired.sum())
        rescue = broke & (self.rng.random(size=len(self.startups)) < ACQUIHIRE_PROBABILITY)
        value[rescue] = ACQUIHIRE_RECOVERY * self.raised[rescue]
        for idx in np.flatnonzero(ipo | acquired | broke):
            startup = self.startups[idx]
            startup.status = "ipo" if ipo[idx] else "acquired" if (acquired[idx] or rescue[idx]) else "dead"
            self.alive[idx] = False
            proceeds = startup.payout(float(value[idx]))
            for holder, amount in proceeds.items():
                firm = self.firms[holder[0]]
                fund = next(f for f in firm.funds if f.vintage == holder[1])
                if amount > 0:
                    firm.distribute(fund, month, amount)
                firm.record_exit(bool(ipo[idx]) or value[idx] >= LARGE_EXIT_USD)
            self.exits.append({"startup": int(idx), "month": month, "status": startup.status, "value": float(value[idx])})
            self.month_stats["exits" if startup.status != "dead" else "deaths"] += 1

    # ------------------------------------------------------------------------------ valuation and tables

    def _nav(self, fund: Fund) -> float:
        """Fund NAV: its stakes in living startups at their last post-money valuation."""
        holder = (fund.firm, fund.vintage)
        held = (self.startups[i] for i in self.portfolio.get(holder, ()))
        return sum(s.last_post_money * s.ownership(holder) for s in held if s.status == "alive")

    def deal_table(self) -> pd.DataFrame:
        """Every round with its syndicate and outcome: value now (exit proceeds or mark) and multiple."""
        deals = pd.DataFrame(self.deals)
        if deals.empty:
            return deals
        exit_value = {e["startup"]: e["value"] for e in self.exits}
        value = np.zeros(len(deals))
        for deal_id, _holder, shares, _amount in self.holdings:
            s = self.startups[self.deals[deal_id]["startup"]]
            if s.status == "alive":
                value[deal_id] += s.last_post_money * shares / s.total_shares
            else:
                value[deal_id] += exit_value.get(s.index, 0.0) * shares / s.total_shares
        deals["value"] = value
        deals["multiple"] = value / deals["amount"]
        deals["outcome"] = [self.startups[i].status for i in deals["startup"]]
        deals["resolved"] = deals["outcome"] != "alive"
        return deals

    def fund_table(self) -> pd.DataFrame:
        rows = []
        for firm in self.firms:
            history = firm.centrality_history
            for fund in firm.funds:
                nav = self._nav(fund)
                # centrality from the last computation at or before the vintage (pre-run funds: the
                # historical network the run starts from)
                lagged = [c for m, c in history if m <= max(fund.vintage, -1)] or [0.0]
                rows.append({
                    "firm": firm.firm_index, "vintage": fund.vintage, "committed": fund.committed, "called": fund.called,
                    "uncalled": fund.uncalled, "invested": fund.invested, "fees": fund.fees,
                    "distributions": fund.distributions, "nav": nav,
                    "tvpi": (fund.distributions + nav) / fund.called if fund.called > 0 else np.nan,
                    "irr": irr(fund.cash_flows, nav, self.model.month),
                    "reputation": firm.reputation, "information_advantage": firm.information_advantage,
                    "centrality_at_vintage": lagged[-1], **{f"{k}_centrality": v for k, v in firm.centrality.items()},
                })
        return pd.DataFrame(rows)

    def startup_table(self) -> pd.DataFrame:
        exit_value = {e["startup"]: (e["value"], e["month"]) for e in self.exits}
        return pd.DataFrame([{
            "startup": s.index, "founded": s.founded, "quality": s.quality, "rounds": s.rounds, "raised": s.raised,
            "status": s.status, "exit_value": exit_value.get(s.index, (np.nan, None))[0],
            "exit_month": exit_value.get(s.index, (None, None))[1], "revenue_now": float(self.revenue[s.index]),
        } for s in self.startups])


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
