"""Phase 1, selling: vendors put their lines on sale, receive the supply they committed and choose margins.

The margin choice is a best response over a grid of margins, vectorised over vendors x margins x buyers x chips
(market/vendor_pricing.py): a market mechanism that proposes; each vendor adopts its margin under its own rules
(stickiness, a price cap), agents/chip_vendor.py.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from agents.chip_vendor import ChipVendor
from hardware_catalog import Accelerator

from .. import choice, inhouse, power, pricing, regions, vendor_pricing
from ..capacity import own_capacity_units
from ..offers import OfferBook
from .buying import PURPOSES, last_power_price


class SellingPhase:
    """Builds the month's offer book and has the vendors price it."""

    def __init__(self, model) -> None:
        self.model = model

    def __call__(self) -> OfferBook:
        book = self.open_book()
        self.choose_margins(book)
        return dataclasses.replace(book, prices=self.posted_prices(book))

    def open_book(self) -> OfferBook:
        """The chips on sale, to whom and from whose supply, before prices: each vendor's line goes on sale and
        its committed supply arrives (within its packaging allocation)."""
        m = self.model
        cfg = m.config
        controls = regions.ExportControls.from_config(cfg, m.date)
        export_market = controls.active and bool(controls.regions)  # export SKUs are made for controlled buyers
        chips: list[Accelerator] = []
        sellers: list[ChipVendor] = []
        made: list[bool] = []
        for v in m.vendors.values():
            line = v.put_on_sale(m.date, cfg.choice.offered_generations, export_market)
            for group, making in ((line, True), (v.run_out_parts(m.date, line), False)):  # then old stock sold off
                for chip in map(m.memory_priced, group):  # its memory line at this month's HBM price
                    chips.append(chip)
                    sellers.append(v)
                    made.append(making)
                    m.chip_index[chip.id] = chip
        vendor_list = list(m.vendors.values())
        position = {v.vendor_id: i for i, v in enumerate(vendor_list)}
        k = len(chips)
        # the chip an in-house programme would deliver is priced with them (the ecosystem phase's appraisals read it)
        programme = inhouse.programme_chip(m) if cfg.inhouse.inhouse_enabled else None
        rates, served_tokens = m.rates_and_tokens(list(m.chip_index.values()), programme)
        train = np.array([rates[c.id][0] for c in chips])
        serve = np.array([rates[c.id][1] for c in chips])
        inference_share = m.inference_share()
        rows = len(m.hyperscalers) * len(PURPOSES)  # row 2i: hyperscaler i's own work; 2i + 1: rentals
        work = np.tile(choice.work_rate(train, serve, inference_share), (rows, 1))
        merchant = np.array([v.owner == "" for v in sellers])
        owner_of = np.array([v.owner for v in sellers])
        own = np.repeat(np.array([owner_of == h.hyperscaler_id for h in m.hyperscalers]).reshape(-1, k), 2, axis=0)
        # who may buy what: in-house chips go to their owner only; the regional rules (market/regions.py: export
        # controls, export SKUs, domestic vendors' reach) apply to every row, a cloud's two rows sharing its region
        buyer_regions = np.repeat([h.spec.region for h in m.hyperscalers], len(PURPOSES))
        terms = regions.ChipTerms.of(chips, self.vendor_records(), merchant, m.date)
        available = (merchant[None, :] | own) & regions.availability(buyer_regions, terms, controls)
        # this month's supply: each vendor may make up to its packaging allocation (a domestic vendor up to capacity
        # of its own, outside the shared pool), and makes at least what it committed `lead time` ago
        pool = m.capacity_total()
        for v in vendor_list:
            v.receive_supply(self.supply_limit(v, pool))
        return OfferBook(
            chips=chips, sellers=sellers, owner=np.array([position[v.vendor_id] for v in sellers]),
            unit_cost=np.array([c.manufacturing_cost_usd for c in chips]),
            units_per_chip=np.array([m.packaging_units(c) for c in chips]),
            running_cost=pricing.hourly_cost(0.0, np.array([c.tdp_w for c in chips]), m.tco).total,
            facility_w=power.facility_watts([c.tdp_w for c in chips], m.tco),
            maturity=np.array(m.chip_maturity(chips)), rates=rates,
            served_tokens=served_tokens,
            inference_share=inference_share, work=work, available=available,
            # leaving the installed software stack costs the same on every move, onto a buyer's own silicon too: an
            # immature in-house stack is charged on its owner's own work
            switching=np.full((rows, k), cfg.choice.switching_cost),
            capacity_units=np.array([v.capacity_units for v in vendor_list]),
            committed_units=np.array([v.production_units for v in vendor_list]),
            in_production=np.array(made, dtype=bool),
            stock=np.array([v.inventory.get(c.id, 0.0) for c, v in zip(chips, sellers, strict=True)]),
        )

    def vendor_records(self) -> dict:
        """The catalog records of every vendor that may be in the market (the regional ones too), by id."""
        cat = self.model.catalog
        return {**cat.vendors, **cat.regional.vendors}

    def supply_limit(self, vendor: ChipVendor, pool: float) -> float:
        """Packaging units `vendor` may receive this month: its allocation of the shared pool (`pool`), or its own
        capacity this month (market/capacity.own_capacity_units)."""
        if vendor.in_shared_pool:
            return vendor.allocation * pool
        return own_capacity_units(vendor.own_capacity, self.model.date, self.model.config.supply)

    def choose_margins(self, book: OfferBook) -> None:
        """Each strategic vendor on the market adopts a margin from the best-response proposals, against the
        spend buyers plan (last month's capex plans) and last month's shadow price of power."""
        m = self.model
        cfg = m.config
        vendor_list = list(m.vendors.values())
        stock_units = np.bincount(book.owner, weights=book.stock * book.units_per_chip, minlength=len(vendor_list))
        expected_spend = np.array([max(h.planned_capex, 1.0) * f for h in m.hyperscalers
                                   for f in (h.internal_fraction, 1.0 - h.internal_fraction)])
        problem = vendor_pricing.PricingProblem(
            unit_cost=book.unit_cost, price=self.posted_prices(book), owner=book.owner,
            capital_per_price=m.capital_per_price, running_cost=book.running_cost_at(last_power_price(m.hyperscalers)),
            work=book.work, maturity=book.maturity, available=book.available, spend=expected_spend,
            capacity_units=book.capacity_units + stock_units, units_per_chip=book.units_per_chip,
        )
        pricing_vendors = [i for i, v in enumerate(vendor_list) if v.prices_strategically]
        terms = cfg.pricing
        grid = np.linspace(terms.margin_grid_min, terms.margin_grid_max, terms.margin_grid_points)
        best, _ = vendor_pricing.best_response_margins(problem, grid, pricing_vendors,
                                                       alpha=cfg.choice.price_sensitivity,
                                                       switching_cost=book.switching)
        capped = cfg.policy.price_cap_vendor and cfg.active(cfg.policy.price_cap_start, m.date)
        for i, margin in zip(pricing_vendors, best, strict=True):
            vendor = vendor_list[i]
            if not vendor.on_market:
                continue  # nothing on sale, nothing to price: it keeps the margin it will launch at
            cap = cfg.policy.price_cap_margin if capped and vendor.vendor_id == cfg.policy.price_cap_vendor else None
            vendor.adopt_margin(float(margin), cfg.pricing.margin_adjustment, cap, cfg.pricing.scarce_margin_adjustment)

    def posted_prices(self, book: OfferBook) -> np.ndarray:
        """USD per chip at each seller's current margin (in-house chips at cost plus the design partner's)."""
        partner = self.model.config.inhouse.design_partner_margin
        return np.array([v.unit_price(c, partner) for c, v in zip(book.chips, book.sellers, strict=True)])
