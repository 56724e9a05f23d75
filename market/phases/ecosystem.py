"""Phase 5, the ecosystem: software maturity follows installed base and R&D, packaging capacity grows
(market/capacity.py) and allocations follow orders, in-house programmes start and deliver (market/inhouse.py),
fleets depreciate, and with the power model clouds' new site power comes on line and they order more, shared out
of the industry's supply (market/power.py)."""

from __future__ import annotations

import numpy as np

from .. import inhouse, power
from ..capacity import next_allocations
from ..offers import EcosystemOutcome, OfferBook, Orders
from ..pricing import HOURS_PER_MONTH
from .buying import PURPOSES


class EcosystemPhase:
    """The slow variables of the industry, updated once a month."""

    def __init__(self, model) -> None:
        self.model = model

    def __call__(self, book: OfferBook, orders: Orders) -> EcosystemOutcome:
        m = self.model
        cfg = m.config
        base = m.installed_base_by_vendor()
        total = sum(base.values()) or 1.0
        for v in m.vendors.values():
            v.update_maturity(base[v.vendor_id] / total, cfg.software)
        # the shared packaging pool grows with its own vendors' orders and is shared out among them; a domestic
        # vendor's capacity of its own stays outside it (market/capacity.py)
        vendors = [v for v in m.vendors.values() if v.in_shared_pool]
        vendor_orders = {v.vendor_id: v.orders_units for v in vendors}
        total_orders = sum(vendor_orders.values())
        m.grow_capacity(total_orders)
        holding = np.array([v.prices_strategically and not v.on_market
                            and v.launches_within(m.date, cfg.supply.launch_booking_months) for v in vendors])
        shares = next_allocations([v.allocation for v in vendors], list(vendor_orders.values()), holding,
                                  cfg.supply.allocation_memory)
        for v, share in zip(vendors, shares, strict=True):
            v.set_allocation(float(share))
        if cfg.inhouse.inhouse_enabled:
            inhouse.advance_programmes(m)
        # the month's training compute moves AI's potential; adoption diffuses toward it (market/adoption.py)
        training: dict[str, float] = {}  # HEq-hours of training by buyer region
        for h in m.hyperscalers:
            hours = m.fleets.heq(h, book.rates, book.inference_share) * (1.0 - book.inference_share) * HOURS_PER_MONTH
            training[h.spec.region] = training.get(h.spec.region, 0.0) + hours
        # the first month's AI in use (clouds' own work at its rental value, labs' revenue) puts AI's economic potential
        # in adoption's units
        if not m.adoption.start_measured:
            m.adoption.measure_start_value(12.0 * (sum(h.own_ai_revenue for h in m.hyperscalers)
                                                   + sum(lab.revenue for lab in m.labs)))
        m.adoption.step(training)
        for h in m.hyperscalers:
            h.retire(1.0 / (12.0 * m.tco.depreciation_years))
        if cfg.power.power_enabled:
            self.build_sites(book, orders)
        return EcosystemOutcome(capacity=m.capacity, order_units=total_orders,
                                allocations={v.vendor_id: v.allocation for v in m.vendors.values()})

    def build_sites(self, book: OfferBook, orders: Orders) -> None:
        """Site power: construction finishing this month comes on line; each cloud orders what it expects to need
        (its decision), and the industry's new site power this month is shared among the open orders."""
        m = self.model
        cfg = m.config
        rows = len(PURPOSES)
        # W per USD of what each cloud chose to buy this month (its planned capex, in watts)
        w_per_usd = (orders.shares * (book.facility_w / book.prices)[None, :]).sum(axis=1).reshape(-1, rows)
        spend = orders.spend.reshape(-1, rows)
        # each cloud's W per USD over its rows, weighted by their spend (np.average's operations, all clouds at once)
        spent = spend.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            mixes = np.where(spent > 0, (w_per_usd * spend).sum(axis=1) / spent, w_per_usd.mean(axis=1))
        for h, mix in zip(m.hyperscalers, mixes.tolist(), strict=True):
            h.energise_sites()
            if h.bankrupt:
                continue
            h.order_sites(m.fleets.draw_w(h), h.planned_capex * mix, cfg.power.site_lead_time_months,
                          cfg.power.site_power_reserve)
        allotted = power.allocate_site_power([h.site_orders_w for h in m.hyperscalers],
                                             cfg.site_power_supply_w(m.date))
        for h, watts in zip(m.hyperscalers, allotted, strict=True):
            h.build_sites(float(watts), cfg.power.site_lead_time_months)
