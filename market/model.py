"""ComputeMarket: the monthly Mesa model of the AI compute economy.

One step = one month, in the order of DESIGN.md section 6. Phases hand each other explicit objects
(market/offers.py) rather than attributes set mid-step:
1. vendor_phase -> OfferBook   vendors extend their product lines, receive their committed supply and choose
                   margins (a best response over a grid of margins, vectorised over vendors x margins x buyers x
                   chips: market/vendor_pricing.py);
2. buyer_phase(book) -> Orders hyperscalers size their capex (agents/hyperscaler.py) and split it over chips by
                   a logit over USD per useful work (market/choice.py);
3. clearing_phase(book, orders) -> Fills  orders are filled from stock and this month's supply, unfilled budget
                   spills once to the buyers' remaining options, the rest is backlog (market/clearing.py);
                   trades go to the ledger; vendors book reserves and commit future supply;
   A cloud whose sites are full prices power in its choice and buys only what it can run (market/power.py);
4. rental_phase(book)  clouds offer spare compute and labs rent it (market/rental.py), then earn and raise money;
5. ecosystem_phase software maturity follows installed base and R&D; packaging capacity grows
                   (market/capacity.py) and allocations follow orders; in-house programmes start and deliver
                   (market/inhouse.py); fleets depreciate; clouds' new site power comes on line and they order
                   more, shared out of the industry's supply (market/power.py);
6. data collection (Mesa DataCollector: model series every month, agent snapshots at an interval).

Randomness comes only from two numpy Generators spawned from the seed given through Mesa's `rng=`:
`self.rng` (chip market) and `self.venture_rng` (venture side).
"""

from __future__ import annotations

import dataclasses

import mesa
import numpy as np
import pandas as pd

from agents.chip_vendor import ChipVendor
from agents.hyperscaler import Hyperscaler
from agents.lab import Lab
from hardware_catalog import Accelerator, Catalog, add_months, load_catalog, months_between

from . import choice, clearing, inhouse, performance, power, pricing, rental, scenario, vendor_pricing
from .capacity import next_allocations, next_capacity
from .config import MarketConfig
from .fleet import Fleets
from .ledger import Ledger
from .offers import EcosystemOutcome, Fills, MonthOutcome, OfferBook, Orders, RentalOutcome
from .recorder import VENTURE_SERIES, MonthRecorder  # noqa: F401  (VENTURE_SERIES: importable here as before)
from .venture import VenturePhase

# chips bought this month go live over the next months (racking, networking, burn-in: est ~3 months from delivery),
# so a cloud buys for the site power it will have by then
DEPLOYMENT_MONTHS = 3
PURPOSES = ("internal", "rental")  # each hyperscaler buys for its own AI work and for rental to labs


class ComputeMarket(mesa.Model):
    """The compute market. `config` (MarketConfig) and `rng` (a seed) define a run completely."""

    def __init__(self, config: MarketConfig | None = None, *, catalog: Catalog | None = None, rng=None, **overrides):
        super().__init__(rng=rng)
        self.rng, self.venture_rng = self._spawn_streams()
        if config is None:
            config = MarketConfig(**overrides)
        elif overrides:
            config = MarketConfig(**{**config.__dict__, **overrides})
        self.config = config
        self.catalog = catalog or load_catalog()
        self.month = 0
        self.ledger = Ledger()
        self.tco = self.catalog.tco
        self.capital_per_price = (
            (1.0 + self.tco.system_overhead_fraction)
            * pricing.capital_recovery_factor(self.tco.cost_of_capital, self.tco.depreciation_years)
            / pricing.HOURS_PER_YEAR
        )
        self.chip_index: dict[str, Accelerator] = {}
        self.fleets = Fleets(self.chip_index, self.tco, config.power_enabled)  # fleet arithmetic: market/fleet.py
        self.vendors, self.potential_vendor_ids = scenario.vendors(self)
        (self.reference_workload, self.serving_workload, self.reference_chip, self.ref_train, self.ref_serve,
         self.shift_workload, self.ref_serve_shift) = scenario.reference(self.catalog, config)
        self.hyperscalers: list[Hyperscaler] = scenario.hyperscalers(self)
        self.labs: list[Lab] = scenario.labs(self, len(self.hyperscalers))
        self.capacity = config.start_capacity_hbm_gb * config.capacity_scale
        self.venture = VenturePhase(self, config.venture) if config.venture.enabled else None
        self._lab_revenue_history: list[float] = []
        self._rental_price0: float | None = None
        self._cost_per_heq_hour0: np.ndarray | None = None  # buyers' cost of useful work in month 0
        self.events: list[str] = []
        self.last_month: MonthOutcome | None = None  # what the last month's phases returned (for inspection)
        self.recorder = MonthRecorder(self)

    # ------------------------------------------------------------------------------ set-up

    def _spawn_streams(self) -> tuple[np.random.Generator, np.random.Generator]:
        """Two independent random streams spawned from the run's seed: `rng` for the chip market and
        `venture_rng` for the venture side, so a venture-only change leaves every chip-market draw (and,
        as long as startups' rental spend does not bind a cloud's cash, every chip-market figure) as it
        was, and scenario comparisons stay paired."""
        root = np.random.SeedSequence(self._seed)  # Mesa's integer seed (drawn by Mesa when rng is None)
        market, venture = root.spawn(2)
        return np.random.default_rng(market), np.random.default_rng(venture)

    @property
    def date(self) -> str:
        return add_months(self.config.start, self.month)

    # ------------------------------------------------------------------------------ helpers

    def _inference_share(self) -> float:
        cfg = self.config
        return cfg.growth_at(cfg.inference_share_start, cfg.inference_share_end, self.date)

    def _effective_maturity(self, vendor_id: str) -> float:
        vendor = self.vendors.get(vendor_id)
        maturity = vendor.maturity if vendor else self.catalog.vendors[vendor_id].software_maturity
        return max(maturity, self.open_stack_floor())

    def open_stack_floor(self) -> float:
        """Maturity every stack reaches through an open software stack (0 unless the policy is on)."""
        cfg = self.config
        if cfg.open_stack_floor <= 0 or not cfg.active(cfg.open_stack_start, self.date):
            return 0.0
        start = cfg.open_stack_start or cfg.start
        elapsed = months_between(start, self.date) + 1
        return cfg.open_stack_floor * min(1.0, elapsed / cfg.open_stack_ramp_months)

    def demand_factor(self) -> float:
        """Multiplier on clouds' own AI demand and labs' revenue: below 1 during a demand shock."""
        cfg = self.config
        if (cfg.demand_shock_scale == 1.0 or not cfg.demand_shock_start
                or not cfg.active(cfg.demand_shock_start, self.date)):
            return 1.0
        end = add_months(cfg.demand_shock_start, cfg.demand_shock_months)
        return cfg.demand_shock_scale if self.date < end else 1.0

    def _rates(self, chips: list[Accelerator]) -> dict[str, tuple[float, float]]:
        """(training, serving) throughput of each chip relative to the reference H100."""
        return self._rates_and_tokens(chips)[0]

    def _rates_and_tokens(
        self, chips: list[Accelerator]
    ) -> tuple[dict[str, tuple[float, float]], dict[str, float] | None]:
        """`_rates`, and while a serving shift is under way the tokens of the serving mix each chip serves per second
        (for the price per token actually served; None without a shift)."""
        maturity = [self._effective_maturity(c.vendor) for c in chips]
        eff = self.catalog.efficiency
        train = performance.training_rates(chips, maturity, self.reference_workload, eff) / self.ref_train
        serve = performance.serving_rates(chips, maturity, self.serving_workload, eff) / self.ref_serve
        tokens = None
        shifted = self.serving_shift()
        if shifted > 0:  # serving work is the mix of the two models, each relative to the H100 on it
            moved = performance.serving_rates(chips, maturity, self.shift_workload, eff) / self.ref_serve_shift
            mix = (1.0 - shifted) * serve * self.ref_serve + shifted * moved * self.ref_serve_shift
            tokens = {c.id: float(x) for c, x in zip(chips, mix, strict=True)}
            serve = (1.0 - shifted) * serve + shifted * moved
        return {c.id: (float(t), float(s)) for c, t, s in zip(chips, train, serve, strict=True)}, tokens

    def serving_shift(self) -> float:
        """Share of buyers' serving moved to `serving_shift_workload` this month (0 without a shift)."""
        cfg = self.config
        if self.shift_workload is None or not cfg.active(cfg.serving_shift_start, self.date):
            return 0.0
        elapsed = months_between(cfg.serving_shift_start or cfg.start, self.date) + 1
        return cfg.serving_shift_share * min(1.0, elapsed / cfg.serving_shift_months)

    def _packaging_units(self, chip: Accelerator) -> float:
        return max(chip.hbm_gb, self.config.min_packaging_units_per_chip)

    def capacity_total(self) -> float:
        """Industry packaging capacity this month (HBM-GB equivalents)."""
        return self.capacity

    def grow_capacity(self, order_units: float) -> None:
        """This month's capacity growth (market/capacity.py), given the packaging units ordered."""
        self.capacity = next_capacity(self.capacity, self.date, order_units, self.config)

    # ------------------------------------------------------------------------------ the month

    def step(self) -> None:
        for v in self.vendors.values():
            v.reset_month()
        book = self.vendor_phase()
        orders = self.buyer_phase(book)
        fills = self.clearing_phase(book, orders)
        rental_outcome = self.rental_phase(book)
        ecosystem = self.ecosystem_phase(book, orders)
        self.venture_phase()
        self.last_month = MonthOutcome(book, orders, fills, rental_outcome, ecosystem)
        self.recorder.record(self, self.last_month)
        self.month += 1

    # 1 ----------------------------------------------------------------------------------------
    def vendor_phase(self) -> OfferBook:
        """Vendors put their lines on sale, receive their committed supply and choose margins; returns the
        month's offer book with prices."""
        cfg = self.config
        chips: list[Accelerator] = []
        sellers: list[ChipVendor] = []
        for v in self.vendors.values():
            line = v.put_on_sale(self.date, cfg.offered_generations)
            for chip in line:
                chips.append(chip)
                sellers.append(v)
                self.chip_index[chip.id] = chip
        vendor_list = list(self.vendors.values())
        position = {v.vendor_id: i for i, v in enumerate(vendor_list)}
        k = len(chips)
        owner = np.array([position[v.vendor_id] for v in sellers])
        units_per_chip = np.array([self._packaging_units(c) for c in chips])
        rates, served_tokens = self._rates_and_tokens(list(self.chip_index.values()))
        train = np.array([rates[c.id][0] for c in chips])
        serve = np.array([rates[c.id][1] for c in chips])
        inference_share = self._inference_share()
        rows = len(self.hyperscalers) * len(PURPOSES)  # row 2i: hyperscaler i's own work; 2i + 1: rentals
        work = np.tile(choice.work_rate(train, serve, inference_share), (rows, 1))
        merchant = np.array([v.owner == "" for v in sellers])
        owner_of = np.array([v.owner for v in sellers])
        own = np.repeat(np.array([owner_of == h.hyperscaler_id for h in self.hyperscalers]).reshape(-1, k), 2, axis=0)
        available = merchant[None, :] | own
        if cfg.export_control_regions and cfg.active(cfg.export_control_start, self.date):
            controlled = merchant & (np.array([c.tflops["bf16"] for c in chips]) >= cfg.export_control_min_tflops)
            region = np.repeat([h.spec.region in cfg.export_control_regions for h in self.hyperscalers], 2)
            available = available & ~(region[:, None] & controlled[None, :])
        internal_row = (np.arange(rows) % 2 == 0)[:, None]
        capacity = self.capacity_total()
        book = OfferBook(
            chips=chips, sellers=sellers, owner=owner, unit_cost=np.array([c.manufacturing_cost_usd for c in chips]),
            units_per_chip=units_per_chip,
            running_cost=pricing.hourly_cost(0.0, np.array([c.tdp_w for c in chips]), self.tco).total,
            facility_w=power.facility_watts([c.tdp_w for c in chips], self.tco),
            maturity=np.array([self._effective_maturity(c.vendor) for c in chips]), rates=rates,
            served_tokens=served_tokens,
            inference_share=inference_share, work=work, available=available,
            switching=np.where(internal_row & own, 0.0, cfg.switching_cost),
            # this month's supply: what each vendor committed `lead time` months ago, within its packaging allocation
            capacity_units=np.array([v.receive_supply(v.allocation * capacity) for v in vendor_list]),
            stock=np.array([v.inventory.get(c.id, 0.0) for c, v in zip(chips, sellers, strict=True)]),
        )
        stock_units = np.bincount(owner, weights=book.stock * units_per_chip, minlength=len(vendor_list))

        last_prices = self._posted_prices(book)
        expected_spend = np.array([max(h.planned_capex, 1.0) * f for h in self.hyperscalers
                                   for f in (h.internal_fraction, 1.0 - h.internal_fraction)])
        problem = vendor_pricing.PricingProblem(
            unit_cost=book.unit_cost, price=last_prices, owner=owner, capital_per_price=self.capital_per_price,
            running_cost=self._running_cost(book, self._last_power_price()), work=work, maturity=book.maturity,
            available=available,
            spend=expected_spend, capacity_units=book.capacity_units + stock_units, units_per_chip=units_per_chip,
        )
        pricing_vendors = [i for i, v in enumerate(vendor_list) if v.prices_strategically]
        grid = np.linspace(cfg.margin_grid_min, cfg.margin_grid_max, cfg.margin_grid_points)
        best, _ = vendor_pricing.best_response_margins(problem, grid, pricing_vendors, alpha=cfg.price_sensitivity,
                                                       switching_cost=book.switching)
        capped = cfg.price_cap_vendor and cfg.active(cfg.price_cap_start, self.date)
        for i, margin in zip(pricing_vendors, best, strict=True):
            vendor = vendor_list[i]
            if not vendor.on_market:
                continue  # nothing on sale, nothing to price: it keeps the margin it will launch at
            cap = cfg.price_cap_margin if capped and vendor.vendor_id == cfg.price_cap_vendor else None
            vendor.adopt_margin(float(margin), cfg.margin_adjustment, cap)
        return dataclasses.replace(book, prices=self._posted_prices(book))

    def _posted_prices(self, book: OfferBook) -> np.ndarray:
        """USD per chip at each seller's current margin (in-house chips at cost plus the design partner's)."""
        return np.array([v.unit_price(c, self.config.design_partner_margin)
                         for c, v in zip(book.chips, book.sellers, strict=True)])

    # 2 ----------------------------------------------------------------------------------------
    def _last_power_price(self) -> np.ndarray | None:
        """(R,) each buyer row's shadow price of power last month (USD per facility kWh), None if no cloud was short."""
        prices = np.repeat([h.power_price for h in self.hyperscalers], len(PURPOSES))
        return prices if prices.any() else None

    @staticmethod
    def _running_cost(book: OfferBook, power_price) -> np.ndarray:
        """USD per chip-hour of power and hosting, (K,); with a shadow price of power (R,), plus each chip's power
        envelope at that price, (R, K)."""
        if power_price is None:
            return book.running_cost
        return book.running_cost[None, :] + power_price[:, None] * book.facility_w[None, :] / 1e3

    def _utilities(self, book: OfferBook, available, shocks, power_price=None):
        cost_per_work = choice.cost_per_work(book.prices, book.work, capital_per_price=self.capital_per_price,
                                             running_cost=self._running_cost(book, power_price))  # (R, K)
        return choice.utility(cost_per_work, book.maturity, available, alpha=self.config.price_sensitivity,
                              switching_cost=book.switching, shocks=shocks)

    def buyer_phase(self, book: OfferBook) -> Orders:
        """Clouds size their capex (the agents decide) and split it over the chips by the logit."""
        cfg = self.config
        shocks = self.rng.normal(0.0, cfg.choice_noise, size=book.work.shape)
        # clouds judge the cost of useful work with power at last month's shadow price
        u = self._utilities(book, book.available, shocks, self._last_power_price())
        shares = choice.logit_shares(u)
        with np.errstate(divide="ignore", invalid="ignore"):
            capex_per_heq = np.nansum(shares * book.prices[None, :] / book.work, axis=1)
            cost_per_heq_hour = choice.price_index(u - shocks, cfg.price_sensitivity)
        fleets = np.array([self.fleets.heq(h, book.rates, book.inference_share) for h in self.hyperscalers])
        market_cost = self.market_cost_ratio(cost_per_heq_hour[0::2], fleets)
        spend = np.zeros(len(self.hyperscalers) * len(PURPOSES))
        for i, h in enumerate(self.hyperscalers):
            # the cost of new capacity is judged on the row for its own work; its own AI demand answers to the
            # market's cost of useful work (what AI services cost to produce across the industry sets their
            # prices and so how much AI is used), not to its own: cheaper own chips widen its margin
            total, internal = h.plan_capex(fleets[i], float(capex_per_heq[2 * i]), float(market_cost[i]), self.date,
                                           cfg, self.demand_factor())
            spend[2 * i], spend[2 * i + 1] = total * internal, total * (1.0 - internal)
        committed = self._deal_orders(book)
        if committed is not None:  # a deal binds: the row spends at least what its deals cost
            spend = np.maximum(spend, (committed * book.prices[None, :]).sum(axis=1))
        power_price = None
        if cfg.power_enabled:
            spend, shares, power_price = self._fit_power(book, spend, shares, shocks, committed)
        return Orders(spend=spend, shares=shares, shocks=shocks, cost_per_heq_hour=cost_per_heq_hour,
                      committed=committed, power_price=power_price)

    def _fit_power(self, book: OfferBook, spend, shares, shocks, committed):
        """Each cloud buys only what its sites can run: where its planned purchases draw more than the power it has
        free, it prices power at the shadow price that moves its choice to chips that fit (market/power.py), and
        if even a watt's worth (the most a chip earns with it) does not make them fit, it spends less. Deals' chips
        come first. Returns (spend (R,), shares (R, K), shadow price per row (R,) or None if no cloud is short)."""
        n_h, rows = len(self.hyperscalers), len(PURPOSES)
        watts = book.facility_w
        committed_w = np.zeros(n_h) if committed is None else (committed @ watts).reshape(n_h, rows).sum(axis=1)
        committed_usd = np.zeros_like(spend) if committed is None else committed @ book.prices
        free_spend = spend - committed_usd
        free_w = np.array([max(0.0, h.site_w_within(DEPLOYMENT_MONTHS) - self.fleets.draw_w(h))
                           for h in self.hyperscalers])
        free_w = np.maximum(free_w - committed_w, 0.0)

        def needed(price):  # W each cloud's freely chosen purchases draw with power at `price` (USD/kWh)
            chosen = choice.logit_shares(self._utilities(book, book.available, shocks, np.repeat(price, rows)))
            return power.power_bought(free_spend, chosen, book.prices, watts).reshape(n_h, rows).sum(axis=1)

        # a kWh is worth at most what renting out the chip that earns most per watt brings in
        rent_per_hour = pricing.rental_price(self.capital_per_price * book.prices + book.running_cost, self.tco)
        ceiling = np.full(n_h, float(np.max(rent_per_hour / (watts / 1e3))))
        price = power.shadow_power_price(needed, free_w, ceiling)
        for h, p in zip(self.hyperscalers, price, strict=True):
            h.price_power(float(p))
        if not price.any():
            return spend, shares, None
        rows_price = np.repeat(price, rows)
        shares = choice.logit_shares(self._utilities(book, book.available, shocks, rows_price))
        need = needed(price)
        fit = np.where(need > free_w, np.divide(free_w, need, out=np.zeros_like(need), where=need > 0), 1.0)
        return committed_usd + free_spend * np.repeat(fit, rows), shares, rows_price

    def market_cost_ratio(self, own_cost_per_heq_hour: np.ndarray, fleets: np.ndarray) -> np.ndarray:
        """(H,) the cost of useful work relative to month 0 in each cloud's market: the geometric mean, over the
        clouds of its region (AI services markets are regional once export controls split the chip supply), of
        each one's cost of new capacity for its own work (USD per HEq-hour, `own_cost_per_heq_hour`), weighted by
        its fleet (HEq). Clouds that can buy nothing (an infinite cost) are left out."""
        if self._cost_per_heq_hour0 is None:
            self._cost_per_heq_hour0 = own_cost_per_heq_hour
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ratio = np.log(own_cost_per_heq_hour / self._cost_per_heq_hour0)
        regions = np.array([h.spec.region for h in self.hyperscalers])
        out = np.ones(len(self.hyperscalers))
        for region in set(regions):
            usable = (regions == region) & np.isfinite(log_ratio) & (fleets > 0)
            if usable.any():
                out[regions == region] = np.exp(np.average(log_ratio[usable], weights=fleets[usable]))
        return out

    def _deal_orders(self, book: OfferBook) -> np.ndarray | None:
        """(R, K) chips the scripted capacity deals active this month call for (None if no deal is active):
        each deal's gigawatts spread evenly over its months, in its vendor's newest chip the buyer may buy,
        counted at facility power (chip TDP x (1 + host power) x PUE)."""
        cfg = self.config
        active = [d for d in cfg.capacity_deals if d.start <= self.date < add_months(d.start, d.months)]
        if not active:
            return None
        committed = np.zeros_like(book.work)
        buyers = {h.hyperscaler_id: i for i, h in enumerate(self.hyperscalers)}
        for deal in active:
            row = 2 * buyers[deal.buyer]  # the cloud's own row: it uses (or resells) the capacity itself
            candidates = [j for j, v in enumerate(book.sellers)
                          if v.vendor_id == deal.vendor and book.available[row, j]]
            if self.date == deal.start:
                self.events.append(f"{self.date}: capacity deal {deal.name} starts: {deal.buyer} "
                                   f"takes {deal.gigawatts:g} GW of {deal.vendor} chips over {deal.months} months")
            if not candidates or self.hyperscalers[buyers[deal.buyer]].bankrupt:
                continue
            j = max(candidates, key=lambda c: book.chips[c].release)
            committed[row, j] += deal.gigawatts * 1e9 / deal.months / book.facility_w[j]
        return committed

    # 3 ----------------------------------------------------------------------------------------
    def clearing_phase(self, book: OfferBook, orders: Orders) -> Fills:
        """Fill orders from stock and this month's supply, deliver and pay; vendors then record orders, book
        reserves and commit future supply (their decisions)."""
        cfg = self.config
        k = len(book)
        chip_orders = orders.chips(book.prices)
        ordered = chip_orders.sum(axis=0)  # chips ordered, per chip
        order_units = ordered * book.units_per_chip
        # each chip gets its vendor's committed supply in proportion to the vendor's forecast of its orders
        # (the last three months; this month's orders for a chip with no history)
        planned = np.array([v.chip_forecast(c.id, order_units[j] / book.units_per_chip[j])
                            for j, (c, v) in enumerate(zip(book.chips, book.sellers, strict=True))]
                           ) * book.units_per_chip
        # a vendor's first month, or any month with no lead time: it makes to order (plus headroom) within its
        # allocation, as its supply for that month was booked before the run against the demand it now sees
        make_to_order = np.array([not v.supply_committed or cfg.supply_lead_time_months == 0 for v in book.sellers])
        made = clearing.supply_from_capacity(book.capacity_units, book.owner, planned, book.units_per_chip,
                                             make_to_order, ordered, cfg.supply_headroom)
        def respread(open_chips):  # the spill-over round: the same utilities over the chips with supply left
            return choice.logit_shares(self._utilities(book, open_chips, orders.shocks, orders.power_price))

        if orders.committed is None:
            filled = clearing.clear_two_rounds(chip_orders, book.stock + made, orders.spend, book.prices,
                                               book.available, respread, cfg.rationing)
        else:
            free = orders.free_spend(book.prices)
            filled = clearing.clear_with_commitments(orders.committed, orders.chosen(book.prices), book.stock + made,
                                                     free, book.prices, book.available, respread, cfg.rationing)
        fills = Fills(ordered=ordered, filled=filled, made=made)
        # deliver, pay, record
        sold = fills.sold
        amounts = filled * book.prices[None, :]
        vendor_ids = np.array([v.vendor_id for v in book.sellers])
        for j, (chip, v) in enumerate(zip(book.chips, book.sellers, strict=True)):
            v.ship(chip, sold[j], book.prices[j], made[j])
            v.add_backlog(max(0.0, ordered[j] - filled[:, j].sum()))
        v_orders_units = np.bincount(book.owner, weights=order_units, minlength=len(self.vendors))
        offered = {c.id for c in book.chips}
        for position, v in enumerate(self.vendors.values()):  # the vendors' order in the book's `owner` index
            mine = {c.id: float(ordered[j]) for j, c in enumerate(book.chips) if book.sellers[j] is v}
            v.record_orders(float(v_orders_units[position]), mine)
            v.book_reserve(offered & set(mine), self.chip_index, self._packaging_units, cfg.inventory_cover_months,
                           cfg.supply_lead_time_months, cfg.supply_headroom)
            # a merchant with nothing on sale has no orders to forecast from: it books its packaging allocation
            # for its first launch (a vendor already selling forecasts from the orders of its current line)
            launch = (v.prices_strategically and not v.on_market
                      and v.launches_within(self.date, cfg.supply_lead_time_months))
            floor = v.allocation * self.capacity if launch else 0.0
            if cfg.supply_lead_time_months > 0:
                # stock it can still sell: chips taken off sale are reserved against, not a reason to order less
                held = sum(units * self._packaging_units(self.chip_index[cid]) for cid, units in v.inventory.items()
                           if cid in offered)
                v.commit_supply(cfg.supply_lead_time_months, cfg.supply_headroom, floor, held)
        per_buyer = filled.reshape(len(self.hyperscalers), len(PURPOSES), k).sum(axis=1)
        per_buyer_amount = amounts.reshape(len(self.hyperscalers), len(PURPOSES), k).sum(axis=1)
        for i, h in enumerate(self.hyperscalers):
            by_vendor: dict[str, float] = {}
            for j, chip in enumerate(book.chips):
                if per_buyer[i, j] > 0:
                    h.add_chips(chip.id, per_buyer[i, j], book.prices[j])
                    by_vendor[vendor_ids[j]] = by_vendor.get(vendor_ids[j], 0.0) + per_buyer_amount[i, j]
            h.pay_for_chips(by_vendor)
            self.ledger.record(self.month, [h.hyperscaler_id] * k, vendor_ids, [c.id for c in book.chips], per_buyer[i],
                               book.prices)
        for v in self.vendors.values():
            v.close_month(cfg.rd_share_of_gross_profit, cfg.opex_share_of_revenue)
        return fills

    # 4 ----------------------------------------------------------------------------------------
    def rental_phase(self, book: OfferBook) -> RentalOutcome:
        """Clouds post rental prices for the capacity their own work leaves free; labs rent (market/rental.py),
        turn compute into revenue and funding; clouds settle the month."""
        cfg = self.config
        n_h = len(self.hyperscalers)
        supply = np.zeros(n_h)
        price = np.full(n_h, np.inf)
        running = np.zeros(n_h)
        maturity = np.ones(n_h)  # software maturity of what each cloud rents out (HEq-weighted over its fleet)
        running_fleets = []
        for i, h in enumerate(self.hyperscalers):
            on, work = self.fleets.running(h, book.rates, book.inference_share)
            heq = sum(work)
            running_fleets.append((list(h.fleet), on, work, heq))
            units = np.asarray(on, dtype=float)  # idle chips (waiting for power) cost no power and earn nothing
            h.count_idle(float(units.sum()), self.fleets.draw_w(h))
            if heq > 0:
                maturity[i] = float(np.average([self._effective_maturity(self.chip_index[c].vendor) for c in h.fleet],
                                               weights=work))
            paid = np.array([h.paid[c] for c in h.fleet])
            tdp = np.array([self.chip_index[c].tdp_w for c in h.fleet])
            supply[i], price[i], running[i] = rental.cloud_offer(units, paid, tdp, heq, h.internal_demand,
                                                                 h.internal_share < 1.0, self.tco)
            price[i] = h.post_rental_price(price[i])
        budgets = np.array([lab.compute_budget(cfg.lab_runway_months) for lab in self.labs])
        affinity = np.array([lab.affinity for lab in self.labs])
        shocks = self.rng.normal(0.0, cfg.choice_noise, size=affinity.shape)
        wanted, got, paid = rental.rent(budgets, affinity, shocks, price, supply, cfg.price_sensitivity, maturity,
                                        cfg.switching_cost)
        for li, lab in enumerate(self.labs):
            lab.receive_compute(float(got[li].sum()), float(paid[li].sum()))
            lab.update_business(self.date, cfg, self.rng, self.demand_factor())
        rented_hours: dict[str, float] = {}  # per chip type, this month, over all clouds
        rented_usd: dict[str, float] = {}
        for i, _h in enumerate(self.hyperscalers):
            ids, on, work, heq = running_fleets[i]
            chip_hours, usd = rental.rented_by_chip(float(got[:, i].sum()), price[i], on, work, heq)
            for cid, hrs, amount in zip(ids, chip_hours, usd, strict=True):
                if hrs > 0:
                    rented_hours[cid] = rented_hours.get(cid, 0.0) + float(hrs)
                    rented_usd[cid] = rented_usd.get(cid, 0.0) + float(amount)
        for i, h in enumerate(self.hyperscalers):
            h.record_rentals(float(wanted[:, i].sum()), float(got[:, i].sum()), float(paid[:, i].sum()),
                             float(supply[i]), cfg.rental_price_adjustment)
            h.settle_month(running[i])
        self.resolve_insolvencies()
        return RentalOutcome(wanted=float(wanted.sum()), got=float(got.sum()), paid=float(paid.sum()),
                             chip_hours=rented_hours, chip_usd=rented_usd)

    def resolve_insolvencies(self) -> None:
        """A cloud that became insolvent this month sells its fleet to the solvent cloud with the most cash at a
        distressed price; its lenders write off the rest. Money and chips move between agents, none is made."""
        for h in self.hyperscalers:
            if not h.bankrupt or h.cash >= 0:
                continue
            solvent = [b for b in self.hyperscalers if not b.bankrupt and b.cash > 0]
            if solvent and sum(h.fleet.values()) > 0:
                buyer = max(solvent, key=lambda b: b.cash)
                paid = h.sell_fleet_to(buyer, self.config.distressed_sale_share)
                self.events.append(f"{self.date}: {h.hyperscaler_id} is insolvent; {buyer.hyperscaler_id} buys its "
                                   f"fleet for ${paid / 1e9:.2f}B, lenders write off ${h.debt_written_off / 1e9:.2f}B")
            else:
                h.write_off_debt()
                self.events.append(f"{self.date}: {h.hyperscaler_id} is insolvent; "
                                   f"lenders write off ${h.debt_written_off / 1e9:.2f}B")

    # 5 ----------------------------------------------------------------------------------------
    def installed_base_by_vendor(self) -> dict[str, float]:
        """Chips installed in clouds' fleets, for each vendor in the market."""
        units = self.fleets.installed_by_vendor(self.hyperscalers, lambda chip, units: units)
        return {vid: units.get(vid, 0.0) for vid in self.vendors}

    def installed_power_by_vendor(self) -> dict[str, float]:
        """GW of accelerator TDP installed in clouds' fleets, by vendor."""
        return self.fleets.installed_by_vendor(self.hyperscalers, lambda chip, units: units * chip.tdp_w / 1e9)

    def ecosystem_phase(self, book: OfferBook, orders: Orders) -> EcosystemOutcome:
        """Software maturity, packaging capacity and allocations, in-house programmes, depreciation and (with the power
        model) site power, given this month's offer book and orders."""
        cfg = self.config
        base = self.installed_base_by_vendor()
        total = sum(base.values()) or 1.0
        for v in self.vendors.values():
            v.update_maturity(base[v.vendor_id] / total, cfg.maturity_learning, cfg.maturity_rd, cfg.maturity_decay)
        vendor_orders = {v.vendor_id: v.orders_units for v in self.vendors.values()}
        total_orders = sum(vendor_orders.values())
        self.grow_capacity(total_orders)
        vendors = list(self.vendors.values())
        holding = np.array([v.prices_strategically and not v.on_market
                            and v.launches_within(self.date, cfg.launch_booking_months) for v in vendors])
        shares = next_allocations([v.allocation for v in vendors], list(vendor_orders.values()), holding,
                                  cfg.allocation_memory)
        for v, share in zip(vendors, shares, strict=True):
            v.set_allocation(float(share))
        if cfg.inhouse_enabled:
            inhouse.advance_programmes(self)
        for h in self.hyperscalers:
            h.retire(1.0 / (12.0 * self.tco.depreciation_years))
        if cfg.power_enabled:
            self.build_sites(book, orders)
        return EcosystemOutcome(capacity=self.capacity, order_units=total_orders,
                                allocations={v.vendor_id: v.allocation for v in self.vendors.values()})

    def build_sites(self, book: OfferBook, orders: Orders) -> None:
        """Site power: construction finishing this month comes on line; each cloud orders what it expects to need
        (its decision), and the industry's new site power this month is shared among the open orders."""
        cfg = self.config
        rows = len(PURPOSES)
        # W per USD of what each cloud chose to buy this month (its planned capex, in watts)
        w_per_usd = (orders.shares * (book.facility_w / book.prices)[None, :]).sum(axis=1).reshape(-1, rows)
        spend = orders.spend.reshape(-1, rows)
        for i, h in enumerate(self.hyperscalers):
            h.energise_sites()
            if h.bankrupt:
                continue
            mix = (float(np.average(w_per_usd[i], weights=spend[i])) if spend[i].sum() > 0
                   else float(w_per_usd[i].mean()))
            h.order_sites(self.fleets.draw_w(h), h.planned_capex * mix, cfg.site_lead_time_months,
                          cfg.site_power_reserve)
        allotted = power.allocate_site_power([h.site_orders_w for h in self.hyperscalers],
                                             cfg.site_power_supply_w(self.date))
        for h, watts in zip(self.hyperscalers, allotted, strict=True):
            h.build_sites(float(watts), cfg.site_lead_time_months)

    # 6 ----------------------------------------------------------------------------------------
    def rental_price_index(self) -> float:
        """Mean rental price per HEq-hour across clouds that rent, relative to month 0."""
        prices = [h.rental_price for h in self.hyperscalers if np.isfinite(h.rental_price)]
        price = float(np.mean(prices))
        if self._rental_price0 is None:
            self._rental_price0 = price
        return price / self._rental_price0

    def venture_phase(self) -> None:
        """Startups and VC syndicates. The coupling is one-way: the chip market's rental price sets startups'
        compute burn, and their spend is recorded (`compute_spend`), but it is not fed back into clouds' cash
        (it is ~1% of labs' rental spend): so a venture-only change leaves the chip market identical for the
        same seed and venture scenarios compare paired."""
        lab_revenue = float(sum(lab.revenue for lab in self.labs))
        self._lab_revenue_history.append(lab_revenue)
        if self.venture is None:
            return
        history = self._lab_revenue_history
        growth = history[-1] / history[-13] - 1.0 if len(history) > 12 else 0.0
        self.venture.step(self.month, self.rental_price_index() * self.config.startup_compute_price_scale, growth)

    # ------------------------------------------------------------------------------ outputs

    def run(self, months: int | None = None, progress=None) -> None:
        for _ in range(months or self.config.months):
            self.step()
            if progress is not None:
                progress(self.month)

    @property
    def stats(self) -> dict[str, float]:
        """This month's model series (market/recorder.py); empty before the first month."""
        return self.recorder.stats

    @property
    def vendor_records(self) -> list[dict]:
        return self.recorder.vendor_records

    def model_table(self) -> pd.DataFrame:
        return self.recorder.collector.get_model_vars_dataframe().reset_index(drop=True)

    def vendor_table(self) -> pd.DataFrame:
        return pd.DataFrame(self.recorder.vendor_records)

    def chip_table(self) -> pd.DataFrame:
        """Per month and chip on sale: price (USD), units sold, revenue and unit cost."""
        return pd.DataFrame(self.recorder.chip_records)

    def agent_table(self) -> pd.DataFrame:
        return self.recorder.agent_collector.get_agent_vars_dataframe()
