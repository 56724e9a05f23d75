"""Phase 4, renting: clouds post rental prices for the capacity their own work leaves free, labs rent it
(market/rental.py) and turn compute into revenue and funding, clouds settle the month, and an insolvent cloud's
fleet is sold."""

from __future__ import annotations

import numpy as np

from .. import rental
from ..offers import OfferBook, RentalOutcome
from ..pricing import HOURS_PER_MONTH


class RentingPhase:
    """The rental market between clouds and labs, and the month's settlement."""

    def __init__(self, model) -> None:
        self.model = model

    def __call__(self, book: OfferBook) -> RentalOutcome:
        m = self.model
        cfg = m.config
        n_h = len(m.hyperscalers)
        supply = np.zeros(n_h)
        price = np.full(n_h, np.inf)
        running = np.zeros(n_h)
        maturity = np.ones(n_h)  # software maturity of what each cloud rents out (HEq-weighted over its fleet)
        running_fleets = []
        for i, h in enumerate(m.hyperscalers):
            on, work = m.fleets.running(h, book.rates, book.inference_share)
            heq = sum(work)
            running_fleets.append((list(h.fleet), on, work, heq))
            units = np.asarray(on, dtype=float)  # idle chips (waiting for power) cost no power and earn nothing
            h.count_idle(float(units.sum()), m.fleets.draw_w(h))
            if heq > 0:
                maturity[i] = float(np.average(m.chip_maturity([m.chip_index[c] for c in h.fleet]),
                                               weights=work))
            paid = np.array([h.paid[c] for c in h.fleet])
            tdp = np.array([m.chip_index[c].tdp_w for c in h.fleet])
            supply[i], price[i], running[i] = rental.cloud_offer(units, paid, tdp, heq, h.internal_demand,
                                                                 h.internal_share < 1.0, m.tco)
            price[i] = h.post_rental_price(price[i])
        budgets = np.array([lab.compute_budget(cfg.lab_finance.lab_runway_months) for lab in m.labs])
        affinity = np.array([lab.affinity for lab in m.labs])
        shocks = m.rng.normal(0.0, cfg.choice.choice_noise, size=affinity.shape)
        wanted, got, paid = rental.rent(budgets, affinity, shocks, price, supply, cfg.choice.price_sensitivity,
                                        maturity, cfg.choice.switching_cost)
        for li, lab in enumerate(m.labs):
            lab.receive_compute(float(got[li].sum()), float(paid[li].sum()))
            lab.update_business(m.adoption.index, cfg.lab_finance, m.rng, m.demand_factor())
        rented_hours: dict[str, float] = {}  # per chip type, this month, over all clouds
        rented_usd: dict[str, float] = {}
        for i in range(n_h):
            ids, on, work, heq = running_fleets[i]
            chip_hours, usd = rental.rented_by_chip(float(got[:, i].sum()), price[i], on, work, heq)
            for cid, hrs, amount in zip(ids, chip_hours, usd, strict=True):
                if hrs > 0:
                    rented_hours[cid] = rented_hours.get(cid, 0.0) + float(hrs)
                    rented_usd[cid] = rented_usd.get(cid, 0.0) + float(amount)
        posted = price[np.isfinite(price)]
        market_price = float(posted.mean()) if posted.size else 0.0  # USD per HEq-hour, the clouds that rent
        for i, h in enumerate(m.hyperscalers):
            h.record_rentals(float(wanted[:, i].sum()), float(got[:, i].sum()), float(paid[:, i].sum()),
                             float(supply[i]), cfg.clouds.rental_price_adjustment)
            # its own AI work (what its fleet runs for it, up to its demand) is worth what renting it would cost: its
            # own rental price, or the market's if it rents nothing out
            own_work = min(h.internal_demand, running_fleets[i][3]) * HOURS_PER_MONTH
            own_value = own_work * (price[i] if np.isfinite(price[i]) else market_price)
            h.settle_month(running[i], own_value, cfg.clouds)
        self.resolve_insolvencies()
        return RentalOutcome(wanted=float(wanted.sum()), got=float(got.sum()), paid=float(paid.sum()),
                             chip_hours=rented_hours, chip_usd=rented_usd)

    def resolve_insolvencies(self) -> None:
        """A cloud that became insolvent this month sells its fleet to the solvent cloud with the most cash at a
        distressed price; its lenders write off the rest. Money and chips move between agents, none is made."""
        m = self.model
        for h in m.hyperscalers:
            if not h.bankrupt or h.cash >= 0:
                continue
            solvent = [b for b in m.hyperscalers if not b.bankrupt and b.cash > 0]
            if solvent and sum(h.fleet.values()) > 0:
                buyer = max(solvent, key=lambda b: b.cash)
                paid = h.sell_fleet_to(buyer, m.config.clouds.distressed_sale_share)
                m.events.append(f"{m.date}: {h.hyperscaler_id} is insolvent; {buyer.hyperscaler_id} buys its "
                                f"fleet for ${paid / 1e9:.2f}B, lenders write off ${h.debt_written_off / 1e9:.2f}B")
            else:
                h.write_off_debt()
                m.events.append(f"{m.date}: {h.hyperscaler_id} is insolvent; "
                                f"lenders write off ${h.debt_written_off / 1e9:.2f}B")
