"""Phase 2, buying: clouds size their capex (their decision, agents/hyperscaler.py), split it over the chips by a
logit over USD per unit of useful work (market/choice.py), honour their capacity deals, and, with the power model,
buy only what their sites can run (market/power.py)."""

from __future__ import annotations

import numpy as np

from hardware_catalog import add_months

from .. import choice, power, pricing
from ..offers import OfferBook, Orders

PURPOSES = ("internal", "rental")  # each hyperscaler buys for its own AI work and for rental to labs
# chips bought this month go live over the next months (racking, networking, burn-in: est ~3 months from delivery),
# so a cloud buys for the site power it will have by then
DEPLOYMENT_MONTHS = 3
# steps of the power price's bisection priced per call (market/power.py; the same price, 2^5 - 1 prices a call)
BISECTION_LEVELS_PER_CALL = 5
# calls of regula falsi that bracket the price first, so that the bisection prices only the steps between (the same
# price in fewer calls: market/power.py)
SECANT_STEPS = 8


def last_power_price(hyperscalers) -> np.ndarray | None:
    """(R,) each buyer row's shadow price of power last month (USD per facility kWh), None if no cloud was short."""
    prices = np.repeat([h.power_price for h in hyperscalers], len(PURPOSES))
    return prices if prices.any() else None


class BuyingPhase:
    """Turns the clouds' capex plans into orders over the offer book."""

    def __init__(self, model) -> None:
        self.model = model
        self.cost_per_heq_hour0: np.ndarray | None = None  # buyers' cost of useful work in month 0

    def utilities(self, book: OfferBook, available, shocks, power_price=None) -> np.ndarray:
        """(R, K) buyers' utilities of the book's chips (OfferBook.utilities with the model's cost of capital and
        price sensitivity)."""
        m = self.model
        return book.utilities(m.capital_per_price, m.config.choice.price_sensitivity, available, shocks, power_price)

    def __call__(self, book: OfferBook) -> Orders:
        m = self.model
        cfg = m.config
        shocks = m.rng.normal(0.0, cfg.choice.choice_noise, size=book.work.shape)
        # clouds judge the cost of useful work with power at last month's shadow price
        u = self.utilities(book, book.available, shocks, last_power_price(m.hyperscalers))
        shares = choice.logit_shares(u)
        # the cost of useful work that sets how much AI is used is the chips' (capital and running cost at the
        # ordinary power price): a cloud short of site power prices power in its choice of chips, but a few months'
        # shortage of sites does not make AI services dearer to their users
        u_cost = self.utilities(book, book.available, 0.0, None)
        with np.errstate(divide="ignore", invalid="ignore"):
            capex_per_heq = np.nansum(shares * book.prices[None, :] / book.work, axis=1)
            cost_per_heq_hour = choice.price_index(u_cost, cfg.choice.price_sensitivity)
        fleets = np.array([m.fleets.heq(h, book.rates, book.inference_share) for h in m.hyperscalers])
        market_cost = self.market_cost_ratio(cost_per_heq_hour[0::2], fleets)
        spend = np.zeros(len(m.hyperscalers) * len(PURPOSES))
        # a cloud plans for the contracts it has sold for the month its plan reaches (the adjustment time ahead)
        contracted = m.commitments.cloud_committed(m.month + round(cfg.clouds.capex_adjustment_months))
        for i, h in enumerate(m.hyperscalers):
            # the cost of new capacity is judged on the row for its own work; its own AI demand answers to the
            # market's cost of useful work (what AI services cost to produce across the industry sets their
            # prices and so how much AI is used), not to its own: cheaper own chips widen its margin
            total, internal = h.plan_capex(fleets[i], float(capex_per_heq[2 * i]), float(market_cost[i]),
                                           m.adoption.index, cfg.demand, cfg.clouds, m.demand_factor(),
                                           float(contracted[i]))
            spend[2 * i], spend[2 * i + 1] = total * internal, total * (1.0 - internal)
        committed = self.deal_orders(book)
        if committed is not None:  # a deal binds: the row spends at least what its deals cost
            spend = np.maximum(spend, (committed * book.prices[None, :]).sum(axis=1))
        power_price = None
        if cfg.power.power_enabled:
            spend, shares, power_price = self.fit_power(book, spend, shares, shocks, committed)
        return Orders(spend=spend, shares=shares, shocks=shocks, cost_per_heq_hour=cost_per_heq_hour,
                      committed=committed, power_price=power_price)

    def fit_power(self, book: OfferBook, spend, shares, shocks, committed):
        """Each cloud buys only what its sites can run: where its planned purchases draw more than the power it has
        free, it prices power at the shadow price that moves its choice to chips that fit (market/power.py), and
        if even a watt's worth (the most a chip earns with it) does not make them fit, it spends less. Deals' chips
        come first. Returns (spend (R,), shares (R, K), shadow price per row (R,) or None if no cloud is short)."""
        m = self.model
        n_h, rows = len(m.hyperscalers), len(PURPOSES)
        watts = book.facility_w
        committed_w = np.zeros(n_h) if committed is None else (committed @ watts).reshape(n_h, rows).sum(axis=1)
        committed_usd = np.zeros_like(spend) if committed is None else committed @ book.prices
        free_spend = spend - committed_usd
        free_w = np.array([max(0.0, h.site_w_within(DEPLOYMENT_MONTHS) - m.fleets.draw_w(h))
                           for h in m.hyperscalers])
        free_w = np.maximum(free_w - committed_w, 0.0)

        def chosen(price):  # (..., R, K) shares of each row's free spend with power at `price` (USD/kWh), (..., H)
            return choice.logit_shares(self.utilities(book, book.available, shocks, np.repeat(price, rows, axis=-1)))

        def drawn(shares):  # (..., H) W each cloud's freely chosen purchases draw when split by `shares`
            watts_bought = power.power_bought(free_spend, shares, book.prices, watts)
            return watts_bought.reshape(*watts_bought.shape[:-1], n_h, rows).sum(axis=-1)

        def needed(price):
            return drawn(chosen(price))

        # a kWh is worth at most what renting out the chip that earns most per watt brings in
        rent_per_hour = pricing.rental_price(m.capital_per_price * book.prices + book.running_cost, m.tco)
        ceiling = np.full(n_h, float(np.max(rent_per_hour / (watts / 1e3))))
        price = power.shadow_power_price(needed, free_w, ceiling, levels_per_call=BISECTION_LEVELS_PER_CALL,
                                         secant_steps=SECANT_STEPS)
        for h, p in zip(m.hyperscalers, price, strict=True):
            h.price_power(float(p))
        if not price.any():
            return spend, shares, None
        rows_price = np.repeat(price, rows)
        shares = chosen(price)
        need = drawn(shares)
        fit = np.where(need > free_w, np.divide(free_w, need, out=np.zeros_like(need), where=need > 0), 1.0)
        return committed_usd + free_spend * np.repeat(fit, rows), shares, rows_price

    def market_cost_ratio(self, own_cost_per_heq_hour: np.ndarray, fleets: np.ndarray) -> np.ndarray:
        """(H,) the cost of useful work relative to month 0 in each cloud's market: the geometric mean, over the
        clouds of its region (AI services markets are regional once export controls split the chip supply), of
        each one's cost of new capacity for its own work (USD per HEq-hour, `own_cost_per_heq_hour`), weighted by
        its fleet (HEq). Clouds that can buy nothing (an infinite cost) are left out."""
        m = self.model
        if self.cost_per_heq_hour0 is None:
            self.cost_per_heq_hour0 = own_cost_per_heq_hour
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ratio = np.log(own_cost_per_heq_hour / self.cost_per_heq_hour0)
        regions = np.array([h.spec.region for h in m.hyperscalers])
        out = np.ones(len(m.hyperscalers))
        for region in set(regions):
            usable = (regions == region) & np.isfinite(log_ratio) & (fleets > 0)
            if usable.any():
                out[regions == region] = np.exp(np.average(log_ratio[usable], weights=fleets[usable]))
        return out

    def deal_orders(self, book: OfferBook) -> np.ndarray | None:
        """(R, K) chips the scripted capacity deals active this month call for (None if no deal is active):
        each deal's gigawatts spread evenly over its months, in its vendor's newest chip the buyer may buy,
        counted at facility power (chip TDP x (1 + host power) x PUE)."""
        m = self.model
        active = [d for d in m.config.capacity_deals if d.start <= m.date < add_months(d.start, d.months)]
        if not active:
            return None
        committed = np.zeros_like(book.work)
        buyers = {h.hyperscaler_id: i for i, h in enumerate(m.hyperscalers)}
        for deal in active:
            row = 2 * buyers[deal.buyer]  # the cloud's own row: it uses (or resells) the capacity itself
            candidates = [j for j, v in enumerate(book.sellers)
                          if v.vendor_id == deal.vendor and book.available[row, j]]
            if m.date == deal.start:
                m.events.append(f"{m.date}: capacity deal {deal.name} starts: {deal.buyer} "
                                f"takes {deal.gigawatts:g} GW of {deal.vendor} chips over {deal.months} months")
            if not candidates or m.hyperscalers[buyers[deal.buyer]].bankrupt:
                continue
            j = max(candidates, key=lambda c: book.chips[c].release)
            committed[row, j] += deal.gigawatts * 1e9 / deal.months / book.facility_w[j]
        return committed
