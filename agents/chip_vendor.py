"""ChipVendor: designs chips along its roadmap, prices them, produces within its packaging allocation,
and invests in its software ecosystem."""

from __future__ import annotations

import math
from dataclasses import replace

import mesa

from hardware_catalog import Accelerator, Roadmap, next_generation


class ChipVendor(mesa.Agent):
    """A merchant or in-house chip vendor.

    Money in USD, quantities in chips, capacity in packaging units (HBM-GB equivalents) per month.
    Merchant vendors choose their gross margin each month (a best response computed for all vendors
    at once by the model, then adopted gradually); in-house vendors supply their owner hyperscaler at
    cost plus the design partner's margin and do not price strategically.
    """

    def __init__(
        self,
        model: mesa.Model,
        vendor_id: str,
        name: str,
        kind: str,
        chips: list[Accelerator],
        roadmap: Roadmap,
        cadence_months: float,
        software_maturity: float,
        allocation: float,
        owner: str = "",
    ) -> None:
        super().__init__(model)
        self.vendor_id = vendor_id
        self.name = name
        self.kind = kind
        self.owner = owner  # hyperscaler id for in-house vendors
        self.roadmap = roadmap
        self.cadence_months = cadence_months
        self.maturity = software_maturity
        self.allocation = allocation  # share of the industry's packaging capacity
        self.chips: list[Accelerator] = sorted(chips, key=lambda c: c.release_month_index)
        newest = self.chips[-1]
        # starting margin: the one implied by the newest chip's catalog price (an initial condition)
        self.margin = 1.0 - newest.manufacturing_cost_usd / newest.launch_price_usd if self.prices_strategically else 0.0
        self.inventory: dict[str, float] = {}
        self.cash = 0.0
        self.made_total = 0.0
        self.sold_total = 0.0
        self.reset_month()

    @property
    def prices_strategically(self) -> bool:
        return self.kind != "hyperscaler_inhouse"

    def reset_month(self) -> None:
        self.revenue = 0.0
        self.cogs = 0.0
        self.units_sold = 0.0
        self.flops_sold = 0.0  # bf16 FLOP/s shipped
        self.units_made = 0.0
        self.orders_units = 0.0  # packaging units ordered (before rationing)
        self.backlog_units = 0.0  # chips ordered but not delivered
        self.rd_spend = 0.0

    # --- products and prices -----------------------------------------------------------------

    def product_line(self, month: str, generations: int) -> list[Accelerator]:
        """The newest `generations` chips released by `month` (YYYY-MM), extending the roadmap as needed."""
        while self.chips[-1].release <= month:
            self.chips.append(next_generation(self.chips[-1], self.roadmap, self.cadence_months))
        released = [c for c in self.chips if c.release <= month]
        return released[-generations:]

    def unit_price(self, chip: Accelerator, design_partner_margin: float) -> float:
        """USD per chip: cost / (1 - margin); in-house chips at cost plus the design partner's margin."""
        margin = self.margin if self.prices_strategically else design_partner_margin
        return chip.manufacturing_cost_usd / (1.0 - margin)

    def adopt_margin(self, best_response: float, adjustment: float) -> None:
        """Move part of the way to this month's profit-maximising margin (prices are sticky)."""
        if self.prices_strategically:
            self.margin += adjustment * (best_response - self.margin)

    # --- production and sales ------------------------------------------------------------------

    def ship(self, chip: Accelerator, units: float, unit_price: float, capacity_chips: float, safety_stock: float) -> float:
        """Sell `units` of `chip` from stock and this month's production; returns chips produced.

        Production tops up what stock cannot cover plus a safety stock, within `capacity_chips`; chips
        made = chips sold + chips held, by construction of this bookkeeping (tested).
        """
        held = self.inventory.get(chip.id, 0.0)
        if units > held + capacity_chips * (1 + 1e-9):
            raise ValueError(f"{self.vendor_id}: cannot ship {units} x {chip.id} with {held} held + {capacity_chips} capacity")
        produced = min(capacity_chips, max(0.0, units - held) + safety_stock * units)
        self.inventory[chip.id] = max(0.0, held + produced - units)  # clears float dust below zero
        self.made_total += produced
        self.sold_total += units
        self.units_made += produced
        self.units_sold += units
        self.revenue += units * unit_price
        self.cogs += units * chip.manufacturing_cost_usd
        self.flops_sold += units * chip.tflops["bf16"] * 1e12
        self.cash += units * unit_price - produced * chip.manufacturing_cost_usd
        return produced

    def close_month(self, rd_share: float, opex_share: float) -> None:
        """Pay operating expenses and R&D (a share of gross profit) from cash."""
        gross_profit = self.revenue - self.cogs
        self.rd_spend = rd_share * max(gross_profit, 0.0)
        self.cash -= self.rd_spend + opex_share * self.revenue

    @property
    def gross_margin(self) -> float:
        """Realised gross margin this month (NaN without sales or for in-house suppliers)."""
        if self.revenue <= 0 or not self.prices_strategically:
            return math.nan
        return (self.revenue - self.cogs) / self.revenue

    # --- software ecosystem ------------------------------------------------------------------

    def update_maturity(self, installed_share: float, learning: float, rd: float, decay: float) -> None:
        """Maturity grows with the installed base (developers follow it) and R&D, and decays when unused."""
        gain = (1.0 - self.maturity) * (learning * math.sqrt(installed_share) + rd * math.log10(1.0 + self.rd_spend / 1e8))
        loss = decay * self.maturity * (1.0 - installed_share)
        self.maturity = min(1.0, max(0.0, self.maturity + gain - loss))


def inhouse_first_chip(template: Accelerator, roadmap: Roadmap, vendor_id: str, release: str) -> Accelerator:
    """A hyperscaler's first custom chip: `template` carried forward along `roadmap` to `release`."""
    months = (int(release[:4]) * 12 + int(release[5:]) - 1) - template.release_month_index
    chip = next_generation(template, roadmap, max(months, 0))
    return replace(chip, id=f"{vendor_id}-1", vendor=vendor_id, generation=0, name=f"{vendor_id} custom accelerator 1",
                   release=release, source=f"derived: {template.id} carried along its roadmap to {release}")

