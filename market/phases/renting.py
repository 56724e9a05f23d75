"""Phase 4, renting: clouds post rental prices for the capacity their own work leaves free, labs rent it
(market/rental.py) and turn compute into revenue and funding, clouds settle the month, and an insolvent cloud's
fleet is sold."""

from __future__ import annotations

import numpy as np

from .. import commitments, rental
from ..commitments import by_cloud, by_lab
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
        cost_plus = np.full(n_h, np.inf)  # USD per HEq-hour before the scarcity premium (what contracts are priced at)
        running = np.zeros(n_h)
        maturity = np.ones(n_h)  # software maturity of what each cloud rents out (HEq-weighted over its fleet)
        running_fleets = []
        # each chip's stack maturity, asked once for every cloud (ComputeMarket.chip_maturity: the floor read once)
        maturity_of = dict(zip(m.chip_index, m.chip_maturity(m.chip_index.values()), strict=True))
        for i, h in enumerate(m.hyperscalers):
            on, work = m.fleets.running(h, book.rates, book.inference_share)
            heq = sum(work)
            running_fleets.append((list(h.fleet), on, work, heq))
            units = np.asarray(on, dtype=float)  # idle chips (waiting for power) cost no power and earn nothing
            h.count_idle(float(units.sum()), m.fleets.draw_w(h))
            if heq > 0:
                weights = np.array(work)  # np.average's operations, without its checks: the same mean to the bit
                maturity[i] = float((np.array([maturity_of[c] for c in h.fleet]) * weights).sum() / weights.sum())
            paid = np.array([h.paid[c] for c in h.fleet])
            tdp = np.array([m.chip_index[c].tdp_w for c in h.fleet])
            supply[i], price[i], running[i] = rental.cloud_offer(units, paid, tdp, heq, h.internal_demand,
                                                                 h.internal_share < 1.0, m.tco)
            cost_plus[i] = price[i]
            price[i] = h.post_rental_price(price[i])
        # contracts first (market/commitments.py): what falls due is delivered from the clouds' spare fleets and paid
        # at the contract price; the spot market gets the rest of the fleets and of the labs' budgets
        book_c = m.commitments
        due_hours = book_c.committed(m.month) * HOURS_PER_MONTH  # (L, H)
        contract_price = book_c.price(m.month)  # (L, H) USD per HEq-hour
        due_usd = due_hours * contract_price
        cover = np.array([lab.cash_cover(due) for lab, due in zip(m.labs, by_lab(due_usd), strict=True)])
        delivered = commitments.deliver(due_hours, supply, cover)
        for li in np.flatnonzero(cover < 1.0):  # a lab that defaults has its later contracts cut to what it paid
            book_c.restructure(int(li), m.month + 1, float(cover[li]))
        contract_paid = delivered * contract_price
        supply = supply - delivered.sum(axis=0)
        budgets = np.array([lab.compute_budget(cfg.lab_finance.lab_runway_months) for lab in m.labs])
        budgets = np.maximum(budgets - contract_paid.sum(axis=1), 0.0)
        affinity = np.array([lab.affinity for lab in m.labs])
        shocks = m.rng.normal(0.0, cfg.choice.choice_noise, size=affinity.shape)
        wanted, got, paid = rental.rent(budgets, affinity, shocks, price, supply, cfg.choice.price_sensitivity,
                                        maturity, cfg.choice.switching_cost)
        spot_wanted = wanted
        wanted, got, paid = wanted + delivered, got + delivered, paid + contract_paid
        for lab, due, share, delivered_to, got_by, paid_by in zip(m.labs, by_lab(due_hours), cover.tolist(),
                                                                   by_lab(delivered), by_lab(got), by_lab(paid),
                                                                   strict=True):
            # what its clouds could deliver of what it could pay for (its own cash shortfall is not theirs)
            lab.record_contract_fill(due * share, delivered_to)
            lab.receive_compute(got_by, paid_by)
            lab.update_business(m.adoption.index, cfg.lab_finance, m.rng, m.demand_factor(), m.adoption.index_cap)
        self.sign_commitments(cost_plus, paid)
        rented_hours: dict[str, float] = {}  # per chip type, this month, over all clouds
        rented_usd: dict[str, float] = {}
        market_usd: dict[str, float] = {}  # the same hours at the clouds' posted prices of the month
        got_at, paid_at = by_cloud(got), by_cloud(paid)
        for i in range(n_h):
            ids, on, work, heq = running_fleets[i]
            hours = got_at[i]
            # spot and contract hours together, at what they were paid on average, and at its posted price
            earned = paid_at[i] / hours if hours > 0 else price[i]
            chip_hours, usd, at_market = rental.rented_by_chip(hours, (earned, price[i]), on, work, heq)
            for cid, hrs, amount, worth in zip(ids, chip_hours.tolist(), usd.tolist(), at_market.tolist(),
                                               strict=True):
                if hrs > 0:
                    rented_hours[cid] = rented_hours.get(cid, 0.0) + hrs
                    rented_usd[cid] = rented_usd.get(cid, 0.0) + amount
                    market_usd[cid] = market_usd.get(cid, 0.0) + worth
        posted = price[np.isfinite(price)]
        market_price = float(posted.mean()) if posted.size else 0.0  # USD per HEq-hour, the clouds that rent
        for i, (h, served, spot) in enumerate(zip(m.hyperscalers, by_cloud(delivered), by_cloud(spot_wanted),
                                                  strict=True)):
            # its scarcity premium answers to what labs wanted of its spare fleet against what it had (contracts
            # delivered count on both sides); its spot demand is what it plans for beside its contracts
            h.record_rentals(spot, got_at[i], paid_at[i], float(supply[i]), cfg.clouds.rental_price_adjustment,
                             served)
            # its own AI work (what its fleet runs for it, up to its demand) is worth what renting it would cost: its
            # own rental price, or the market's if it rents nothing out
            own_work = min(h.internal_demand, running_fleets[i][3]) * HOURS_PER_MONTH
            own_value = own_work * (price[i] if np.isfinite(price[i]) else market_price)
            h.settle_month(running[i], own_value, cfg.clouds)
        self.resolve_insolvencies()
        return RentalOutcome(wanted=float(wanted.sum()), got=float(got.sum()), paid=float(paid.sum()),
                             chip_hours=rented_hours, chip_usd=rented_usd, chip_market_usd=market_usd,
                             contracted=float(delivered.sum()))

    def sign_commitments(self, price: np.ndarray, paid: np.ndarray) -> None:
        """Each lab books capacity for delivery a lead time ahead (its decision: agents/lab.py), split over the
        clouds it spent with this month (`paid`, (L, H) USD), at each cloud's cost-plus rental price of the day
        (`price`, (H,) USD per HEq-hour: a term contract carries no scarcity premium, est: 1-3 year H100 contracts ran
        well below on-demand prices in 2023-24); a cloud without an offer or wound up takes no contract. Then each
        lab learns what its contracts will call for over the coming year."""
        m = self.model
        finance = m.config.lab_finance
        book_c = m.commitments
        book_c.signed_this_month = 0.0
        start = m.month + finance.commitment_lead_months
        open_to = np.isfinite(price) & np.array([not h.bankrupt for h in m.hyperscalers])
        if open_to.any():
            # every lab's split, contract price (USD per HEq-hour) and what it has booked, at once: a lab's signing
            # touches only its own rows of the book, so each lab decides on what it would have seen signing in turn
            shares = commitments.split_over_clouds_by_lab(paid, np.array([lab.affinity for lab in m.labs]), open_to)
            contract_prices = by_lab(shares * np.where(open_to, price, 0.0)[None, :])
            heq = [lab.plan_commitment(committed, committed_usd, contract_price, finance)
                   for lab, committed, committed_usd, contract_price in zip(
                       m.labs, book_c.labs_committed(start), book_c.labs_committed_usd(start), contract_prices,
                       strict=True)]
            book_c.sign_labs(np.arange(len(m.labs)), np.array(heq), shares, price, start,
                             finance.commitment_term_months)
        ahead = book_c.usd_a_month_ahead(m.month)
        for li, lab in enumerate(m.labs):
            lab.committed_usd_ahead = float(ahead[li])

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
