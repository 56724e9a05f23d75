"""ChipVendor: designs chips along its roadmap, prices them, produces within its packaging allocation,
and invests in its software ecosystem."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import replace
from functools import cache

import mesa

from hardware_catalog import Accelerator, Roadmap, add_months, months_between, next_generation

# A vendor forecasts its orders from the last FORECAST_MONTHS months and their trend against the months before
# (of ORDER_MEMORY_MONTHS remembered), the monthly trend bounded to +-MAX_FORECAST_TREND (adaptive expectations,
# est: a quarter's run rate, as vendors guide one quarter ahead)
FORECAST_MONTHS = 3
ORDER_MEMORY_MONTHS = 6
MAX_FORECAST_TREND = 0.05
# Committing supply ahead, it damps the trend (Gardner & McKenzie's damped-trend forecast, 1985): the trend's k-th
# month ahead counts TREND_DAMPING**k, so a six-month forecast extrapolates about three months of trend (est: 0.8 is
# the low end of the 0.8-0.98 range of damping factors found in forecasting practice; a vendor that can make to order
# above its commitments loses more by committing too much than too little)
TREND_DAMPING = 0.8
# Its bookings grow at most this much a month (est): wafer starts, HBM and substrates are contracted in volumes that
# take months to raise (TSMC's CoWoS output, the binding input in 2023-24, at most doubled in a year, about 6% a
# month), so a month or two of exceptional orders is met to order, above the commitment, not booked six months ahead
MAX_COMMITMENT_GROWTH = 0.10
# R&D spend (USD a month) at which the R&D term of maturity growth is log10(2): the scale of a stack's monthly
# software budget (est: a $100M a month stack team is a large one; NVIDIA's whole R&D was ~$0.7B a month in 2023)
RD_SCALE_USD = 1e8


@cache
def damped_months(months: int) -> float:
    """d + d**2 + ... + d**months, d = TREND_DAMPING: the exponent of the damped trend `months` ahead (the same sum,
    kept: vendors ask for it ~4,000 times a run for a handful of horizons)."""
    return sum(TREND_DAMPING**k for k in range(1, months + 1))

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
        start_margin: float | None = None,
        export_line: list[Accelerator] | None = None,
        own_capacity: tuple[tuple[int, float], ...] = (),
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
        # a domestic vendor's own supply outside the shared pool: (calendar year, packaging units a year) pairs
        # (market/capacity.own_capacity_units); empty for a vendor in the pool
        self.own_capacity = tuple(own_capacity)
        self.chips: list[Accelerator] = sorted(chips, key=lambda c: c.release_month_index)
        # export SKUs made for buyers in controlled regions (regional.toml): offered next to its generations while
        # controls are on, not generations themselves (the roadmap extends `chips` only)
        self.export_line: list[Accelerator] = sorted(export_line or [], key=lambda c: c.release_month_index)
        # starting margin (an initial condition): the one the vendor reported pricing at when the run starts,
        # else the one implied by the catalog price of its newest chip on sale then (its first, if none is yet): a
        # part shipped or announced later is not what it was pricing at
        released = [c for c in self.chips if c.release <= model.date]
        newest = released[-1] if released else self.chips[0]
        if not self.prices_strategically:
            self.margin = 0.0
        elif start_margin is not None:
            self.margin = start_margin
        else:
            self.margin = 1.0 - newest.manufacturing_cost_usd / newest.launch_price_usd
        self.inventory: dict[str, float] = {}
        self.cash = 0.0
        self.made_total = 0.0
        self.sold_total = 0.0
        # Supply with commitments: packaging/HBM/wafer orders placed `lead time` months ahead (packaging
        # units per month, oldest first), the vendor's record of orders received (packaging units), and
        # the inventory reserve it books against excess stock and excess commitments (USD).
        self.pipeline: deque[float] = deque()
        self.supply_committed = False  # False until its first commitment: supply before then was booked before the run
        self.order_history: deque[float] = deque(maxlen=ORDER_MEMORY_MONTHS)
        self.chip_orders: dict[str, deque[float]] = {}
        self.reserve = 0.0
        self.backlog_units = 0.0  # chips ordered but not delivered (this month)
        self.short_last_month = False  # whether it could not deliver all it was ordered last month
        self.reset_month()

    def scale_allocation(self, factor: float) -> None:
        """Multiply its packaging allocation by `factor` (when a new programme takes a share)."""
        self.allocation *= factor

    def normalise_allocation(self, total: float) -> None:
        """Divide its packaging allocation by the vendors' `total`, so that allocations sum to one."""
        self.allocation /= total

    def set_allocation(self, share: float) -> None:
        """Its packaging allocation from next month (market/capacity.next_allocations)."""
        self.allocation = share

    @property
    def prices_strategically(self) -> bool:
        return self.kind != "hyperscaler_inhouse"

    @property
    def in_shared_pool(self) -> bool:
        """Whether its supply comes from the industry's shared packaging pool (by its allocation), rather than from
        capacity of its own (a domestic vendor)."""
        return not self.own_capacity

    def reset_month(self) -> None:
        self.short_last_month = self.backlog_units > 0  # it could not deliver all it was ordered last month
        self.revenue = 0.0
        self.cogs = 0.0
        self.units_sold = 0.0
        self.flops_sold = 0.0  # bf16 FLOP/s shipped
        self.units_made = 0.0
        self.orders_units = 0.0  # packaging units ordered (before rationing)
        self.backlog_units = 0.0  # chips ordered but not delivered
        self.rd_spend = 0.0
        self.writedown = 0.0  # USD charged to cost of sales this month for excess inventory and commitments
        self.production_units = 0.0  # packaging units of committed supply that arrive this month (made, sold or not)
        self.capacity_units = 0.0  # packaging units it may make this month (its allocation, or its own capacity)
        self.on_market = False  # whether it has a chip on sale this month

    # --- products and prices -----------------------------------------------------------------

    def launches_within(self, month: str, months: int) -> bool:
        """Whether a chip of its line is released after `month` and within `months` of it."""
        horizon = add_months(month, months)
        return any(month < c.release <= horizon for c in self.chips)

    def product_line(self, month: str, generations: int) -> list[Accelerator]:
        """The newest `generations` chips released by `month` (YYYY-MM), extending the roadmap as needed."""
        while self.chips[-1].release <= month:
            self.chips.append(next_generation(self.chips[-1], self.roadmap, self.cadence_months))
        released = [c for c in self.chips if c.release <= month]
        return released[-generations:]

    def export_parts(self, month: str) -> list[Accelerator]:
        """Its export SKUs on sale in `month`: released, and not named by a later rule (a part whose compliance has
        ended needs a licence and is taken off sale; `Accelerator.compliant_in`)."""
        return [c for c in self.export_line
                if c.release <= month and not (c.export_compliant and not c.compliant_in(month))]

    def put_on_sale(self, month: str, generations: int, export_market: bool = False) -> list[Accelerator]:
        """Its product line this month (`product_line`), followed, while export controls make a market for them
        (`export_market`), by its export SKUs (`export_parts`); it is on the market while the line is not empty."""
        line = self.product_line(month, generations)
        if export_market:
            line = line + self.export_parts(month)
        self.on_market = bool(line)
        return line

    def run_out_parts(self, month: str, line: list[Accelerator]) -> list[Accelerator]:
        """Chips of its roadmap that have left its line (`line`: what it makes this month) while it still holds stock
        of them: it sells that stock off and makes no more (a last-time buy run out, as Hopper parts sold on beside
        Blackwell). An export SKU taken off sale is not among them: it left because a rule ended its sale, and its
        stock is reserved against in full (as NVIDIA's H20 charge of April 2025)."""
        on_sale = {c.id for c in line}
        return [c for c in self.chips
                if c.release <= month and c.id not in on_sale and self.inventory.get(c.id, 0.0) > 0]

    def unit_price(self, chip: Accelerator, design_partner_margin: float) -> float:
        """USD per chip: cost / (1 - margin); in-house chips at cost plus the design partner's margin."""
        margin = self.margin if self.prices_strategically else design_partner_margin
        return chip.manufacturing_cost_usd / (1.0 - margin)

    def adopt_margin(self, best_response: float, adjustment: float, cap: float | None = None,
                     scarce_adjustment: float = 0.0) -> None:
        """Move part of the way (`adjustment`) to this month's profit-maximising margin (prices are sticky; the best
        response is the market's proposal, market/vendor_pricing.py), never above a price cap (`cap`, a gross margin)
        it must obey. After a month in which it could not deliver all it was ordered, it raises its price toward a
        higher best response faster (`scarce_adjustment`, if that is faster): a shortage is visible in its order
        book and buyers on allocation accept the rise."""
        if self.prices_strategically:
            if self.short_last_month and best_response > self.margin:
                adjustment = max(adjustment, scarce_adjustment)
            self.margin += adjustment * (best_response - self.margin)
        if cap is not None:
            self.margin = min(self.margin, cap)

    # --- production and sales ------------------------------------------------------------------

    # --- supply with commitments ------------------------------------------------------------------

    def receive_supply(self, capacity_units: float) -> None:
        """This month's supply: it may make up to `capacity_units` packaging units (its allocation, or its own
        capacity), and must take what it committed a lead time ago (`production_units`, within that). Months whose
        supply was booked before the run (its first `lead time` months) carry no commitment: what was booked then is
        not known, so they are made to order."""
        self.capacity_units = capacity_units
        committed = self.pipeline.popleft() if self.pipeline else 0.0
        self.production_units = min(committed, capacity_units)

    def demand_forecast(self) -> tuple[float, float]:
        """(recent monthly orders, monthly trend) in packaging units: the mean of the last three months and
        its growth against the three before, per month, bounded to [-5%, +5%] (adaptive expectations)."""
        history = list(self.order_history)
        recent = sum(history[-FORECAST_MONTHS:]) / max(len(history[-FORECAST_MONTHS:]), 1)
        before = history[:-FORECAST_MONTHS]
        if before and sum(before) > 0 and recent > 0:
            trend = (recent / (sum(before) / len(before))) ** (1.0 / FORECAST_MONTHS)
        else:
            trend = 1.0
        return recent, min(1.0 + MAX_FORECAST_TREND, max(1.0 - MAX_FORECAST_TREND, trend))

    @staticmethod
    def trend_ahead(trend: float, months: int) -> float:
        """The damped trend's multiplier `months` ahead: trend ** (d + d**2 + ... + d**months), d = TREND_DAMPING."""
        return trend ** damped_months(months)

    def commit_supply(
        self, lead_time: int, headroom: float, launch_floor: float = 0.0, stock_units: float = 0.0
    ) -> float:
        """Order supply for the month `lead_time` ahead from its own demand forecast (a decision it cannot
        undo later: a demand drop turns it into inventory). Stock beyond a headroom of one month's orders
        (`stock_units`, packaging units held) is worked off over the lead time, so a glut is not re-ordered
        (an order-up-to rule). A vendor with a chip launching within the lead time books at least
        `launch_floor` units for it. Returns the packaging units committed."""
        recent, trend = self.demand_forecast()
        if not self.supply_committed:  # the months up to the lead time were booked before the run (made to order)
            self.pipeline = deque([0.0] * (lead_time - 1))
            self.supply_committed = True
        excess_stock = max(0.0, stock_units - headroom * recent)
        committed = recent * self.trend_ahead(trend, lead_time) * (1.0 + headroom) - excess_stock / lead_time
        last = self.pipeline[-1] if self.pipeline else 0.0
        if last > 0:
            committed = min(committed, last * (1.0 + MAX_COMMITMENT_GROWTH))
        committed = max(committed, launch_floor, 0.0)
        self.pipeline.append(committed)
        return committed

    def plan_supply(self, month: str, chip_orders: dict[str, float], order_units: float, supply,
                    industry_capacity: float, chips: dict[str, Accelerator], units_per_chip) -> None:
        """After the month's orders (`chip_orders`: chips ordered per chip id of its line on sale; `order_units`:
        their packaging units): remember them, re-value its inventory reserve, and commit supply `lead time`
        months ahead. With nothing on sale and a launch due within the lead time, it books at least its share of
        the industry's packaging capacity (`industry_capacity`, HBM-GB equivalents) for the launch, or a vendor
        with capacity of its own this month's. `chips` maps chip ids to chips; `units_per_chip(chip)` gives a chip's
        packaging units. `supply`: the config's [supply] section (lead time in months, headroom, inventory cover)."""
        lead_time = supply.supply_lead_time_months
        self.record_orders(order_units, chip_orders)
        self.book_reserve(set(chip_orders), chips, units_per_chip, supply.inventory_cover_months,
                          supply.supply_headroom)
        if lead_time <= 0:
            return
        launch = self.prices_strategically and not self.on_market and self.launches_within(month, lead_time)
        limit = self.allocation * industry_capacity if self.in_shared_pool else self.capacity_units
        floor = limit if launch else 0.0
        # stock it can still sell: chips taken off sale are reserved against, not a reason to order less
        held = sum(units * units_per_chip(chips[cid]) for cid, units in self.inventory.items() if cid in chip_orders)
        self.commit_supply(lead_time, supply.supply_headroom, floor, held)

    def chip_forecast(self, chip_id: str, current: float) -> float:
        """Expected monthly orders of a chip (chips): the mean of its last six months, or `current` if new."""
        history = self.chip_orders.get(chip_id)
        return sum(history) / len(history) if history else current

    def record_orders(self, order_units: float, chip_units: dict[str, float]) -> None:
        """Remember this month's orders (packaging units, and chips per chip id) for forecasts and reserves."""
        self.orders_units = order_units
        self.order_history.append(order_units)
        for cid, units in chip_units.items():
            self.chip_orders.setdefault(cid, deque(maxlen=ORDER_MEMORY_MONTHS)).append(units)

    def book_reserve(self, offered: set[str], chips: dict, units_per_chip, cover_months: float,
                     headroom: float) -> float:
        """Re-value the inventory reserve and charge its change to cost of sales (a release is negative).

        The reserve it needs (USD) = cost of the inventory beyond `cover_months` of forecast sales of each chip (all
        of it for a chip no longer offered) + cost of committed supply beyond what the current forecast expects to
        sell over the lead time (with the same headroom the vendor orders with). This is how a demand drop or an
        export rule turns committed supply into a write-down, so that booked gross margin falls below the margin the
        vendor priced at. A rise in what it needs is charged at once. As under US GAAP (ASC 330), a write-down is not
        reversed because the forecast recovers: the reserve is released only as the stock and commitments it was
        booked against are used up, in the proportion the month's cost of sales bears to everything it held,
        sold and had committed (a first-in, first-out reading); it never stays above what it needs by more.
        """
        needed = 0.0
        held_cost = 0.0
        for cid, held in self.inventory.items():
            if held <= 0:
                continue
            orders = self.chip_orders.get(cid)
            monthly = sum(orders) / len(orders) if (orders and cid in offered) else 0.0
            needed += max(0.0, held - cover_months * monthly) * chips[cid].manufacturing_cost_usd
            held_cost += held * chips[cid].manufacturing_cost_usd
        recent, trend = self.demand_forecast()  # the forecast it orders with
        # the pipeline's entry i arrives i + 1 months ahead; months booked before the run carry no commitment
        pipeline = sum(self.pipeline)
        pipeline_cost = 0.0
        if pipeline > 0 and offered:
            expected = (1.0 + headroom) * recent * sum(self.trend_ahead(trend, i + 1)
                                                       for i, units in enumerate(self.pipeline) if units > 0)
            cost_per_unit = (sum(chips[c].manufacturing_cost_usd / units_per_chip(chips[c]) for c in offered)
                             / len(offered))
            needed += max(0.0, pipeline - expected) * cost_per_unit
            pipeline_cost = pipeline * cost_per_unit
        base = self.cogs + held_cost + pipeline_cost
        used = self.cogs / base if base > 0 else 1.0
        reserve = max(needed, self.reserve * (1.0 - used))  # (a rise in what it needs is taken in full)
        self.writedown = reserve - self.reserve
        self.reserve = reserve
        return self.writedown

    def add_backlog(self, units: float) -> None:
        """Chips ordered this month that it could not deliver."""
        self.backlog_units += units

    def ship(self, chip: Accelerator, units: float, unit_price: float, produced: float) -> None:
        """Sell `units` of `chip` from stock and this month's (committed) production of `produced` chips.

        Whatever is made and not sold is held: chips made = chips sold + chips held (tested).
        """
        held = self.inventory.get(chip.id, 0.0)
        if units > (held + produced) * (1 + 1e-9) + 1e-6:
            raise ValueError(f"{self.vendor_id}: cannot ship {units} x {chip.id} with {held} held + {produced} made")
        self.inventory[chip.id] = max(0.0, held + produced - units)  # clears float dust below zero
        self.made_total += produced
        self.sold_total += units
        self.units_made += produced
        self.units_sold += units
        self.revenue += units * unit_price
        self.cogs += units * chip.manufacturing_cost_usd
        self.flops_sold += units * chip.tflops["bf16"] * 1e12
        self.cash += units * unit_price - produced * chip.manufacturing_cost_usd

    def close_month(self, rd_share: float, opex_share: float) -> None:
        """Pay operating expenses and R&D (a share of booked gross profit) from cash."""
        gross_profit = self.revenue - self.cogs - self.writedown
        self.rd_spend = rd_share * max(gross_profit, 0.0)
        self.cash -= self.rd_spend + opex_share * self.revenue

    @property
    def gross_margin(self) -> float:
        """Booked gross margin this month: (revenue - cost of chips sold - write-downs) / revenue.
        NaN without sales or for in-house suppliers."""
        if self.revenue <= 0 or not self.prices_strategically:
            return math.nan
        return (self.revenue - self.cogs - self.writedown) / self.revenue

    @property
    def margin_posted(self) -> float:
        """The margin it priced at this month; NaN with no chip on the market (nothing was priced)."""
        return self.margin if (self.prices_strategically and self.on_market) else math.nan

    # --- software ecosystem ------------------------------------------------------------------

    def update_maturity(self, installed_share: float, software) -> None:
        """Maturity grows with the installed base (developers follow it) and R&D, and decays when unused.
        `software`: the config's [software] section (maturity_learning, maturity_rd, maturity_decay a month)."""
        gain = (1.0 - self.maturity) * (software.maturity_learning * math.sqrt(installed_share)
                                        + software.maturity_rd * math.log10(1.0 + self.rd_spend / RD_SCALE_USD))
        loss = software.maturity_decay * self.maturity * (1.0 - installed_share)
        self.maturity = min(1.0, max(0.0, self.maturity + gain - loss))


def inhouse_first_chip(template: Accelerator, roadmap: Roadmap, vendor_id: str, release: str) -> Accelerator:
    """A hyperscaler's first custom chip: `template` carried forward along `roadmap` to `release`."""
    months = months_between(template.release, release)
    chip = next_generation(template, roadmap, max(months, 0))
    return replace(chip, id=f"{vendor_id}-1", vendor=vendor_id, generation=0, name=f"{vendor_id} custom accelerator 1",
                   release=release, source=f"derived: {template.id} carried along its roadmap to {release}")

