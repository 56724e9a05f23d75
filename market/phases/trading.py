"""Phase 3, trading: orders are filled from stock and this month's supply, unfilled budget spills once to the
buyers' remaining options, the rest is backlog (market/clearing.py). Trades go to the ledger; each vendor then plans
its supply (agents/chip_vendor.py)."""

from __future__ import annotations

import numpy as np

from .. import choice, clearing
from ..offers import Fills, OfferBook, Orders
from .buying import PURPOSES


class TradingPhase:
    """Clears the month's orders against supply, delivers, pays and records."""

    def __init__(self, model, utilities) -> None:
        self.model = model
        self.utilities = utilities  # (book, available, shocks, power_price) -> (R, K) buyers' utilities

    def __call__(self, book: OfferBook, orders: Orders) -> Fills:
        fills = self.clear(book, orders)
        self.ship(book, fills)
        self.plan_supply(book, fills)
        self.receive(book, fills)
        m = self.model
        for v in m.vendors.values():
            v.close_month(m.config.pricing.rd_share_of_gross_profit, m.config.pricing.opex_share_of_revenue)
        return fills

    def clear(self, book: OfferBook, orders: Orders) -> Fills:
        """How many chips are made for each chip on sale, and which buyer row gets how many."""
        cfg = self.model.config
        chip_orders = orders.chips(book.prices)
        ordered = chip_orders.sum(axis=0)  # chips ordered, per chip
        order_units = ordered * book.units_per_chip
        # each chip gets its vendor's committed supply in proportion to the vendor's forecast of its orders
        # (the last six months; this month's orders for a chip with no history)
        planned = np.array([v.chip_forecast(c.id, order_units[j] / book.units_per_chip[j])
                            for j, (c, v) in enumerate(zip(book.chips, book.sellers, strict=True))]
                           ) * book.units_per_chip
        made = clearing.supply_from_capacity(book.capacity_units, book.committed_units, book.owner, planned,
                                             book.units_per_chip, ordered, cfg.supply.supply_headroom,
                                             book.in_production)

        def respread(open_chips):  # the spill-over round: the same utilities over the chips with supply left
            return choice.logit_shares(self.utilities(book, open_chips, orders.shocks, orders.power_price))

        if orders.committed is None:
            filled = clearing.clear_two_rounds(chip_orders, book.stock + made, orders.spend, book.prices,
                                               book.available, respread, cfg.supply.rationing)
        else:
            free = orders.free_spend(book.prices)
            filled = clearing.clear_with_commitments(orders.committed, orders.chosen(book.prices), book.stock + made,
                                                     free, book.prices, book.available, respread, cfg.supply.rationing)
        return Fills(ordered=ordered, filled=filled, made=made)

    @staticmethod
    def ship(book: OfferBook, fills: Fills) -> None:
        """Vendors ship what was made and sold and book the unfilled orders as backlog."""
        sold = fills.sold
        for j, (chip, v) in enumerate(zip(book.chips, book.sellers, strict=True)):
            v.ship(chip, sold[j], book.prices[j], fills.made[j])
            v.add_backlog(max(0.0, fills.ordered[j] - fills.filled[:, j].sum()))

    def receive(self, book: OfferBook, fills: Fills) -> None:
        """Each cloud receives and pays for its chips; the ledger records every trade. (The units and prices stay numpy
        floats: Python's sum() adds Python floats with compensation, so a fleet of them would sum to other bits.)"""
        m = self.model
        k = len(book)
        filled = fills.filled
        vendor_ids = np.array([v.vendor_id for v in book.sellers])
        per_buyer = filled.reshape(len(m.hyperscalers), len(PURPOSES), k).sum(axis=1)
        per_buyer_amount = (filled * book.prices[None, :]).reshape(len(m.hyperscalers), len(PURPOSES), k).sum(axis=1)
        for i, h in enumerate(m.hyperscalers):
            by_vendor: dict[str, float] = {}
            for j, chip in enumerate(book.chips):
                if per_buyer[i, j] > 0:
                    h.add_chips(chip.id, per_buyer[i, j], book.prices[j])
                    by_vendor[vendor_ids[j]] = by_vendor.get(vendor_ids[j], 0.0) + per_buyer_amount[i, j]
            h.pay_for_chips(by_vendor)
        n_h = len(m.hyperscalers)  # the month's trades in one record, cloud after cloud
        m.ledger.record(m.month, np.repeat([h.hyperscaler_id for h in m.hyperscalers], k), np.tile(vendor_ids, n_h),
                        np.tile([c.id for c in book.chips], n_h), per_buyer.ravel(), np.tile(book.prices, n_h))

    def plan_supply(self, book: OfferBook, fills: Fills) -> None:
        """Each vendor, given its orders this month, re-values its reserve and commits future supply."""
        m = self.model
        order_units = np.bincount(book.owner, weights=fills.ordered * book.units_per_chip, minlength=len(m.vendors))
        for position, v in enumerate(m.vendors.values()):  # the vendors' order in the book's `owner` index
            mine = {c.id: float(fills.ordered[j]) for j, c in enumerate(book.chips) if book.sellers[j] is v}
            v.plan_supply(m.date, mine, float(order_units[position]), m.config.supply, m.capacity, m.chip_index,
                          m.packaging_units)
