"""Hyperscaler: owns a fleet of accelerators, buys chips (capex) to meet its own and rented demand,
rents compute to labs, and may start an in-house silicon programme."""

from __future__ import annotations

from collections import deque

import mesa
import numpy as np

from market import pricing, rental


class Hyperscaler(mesa.Agent):
    """A cloud. Fleet in chips by chip id; useful work in H100-equivalents (HEq); money in USD/month."""

    def __init__(self, model: mesa.Model, spec, cash: float, operating_cash_flow: float, internal_demand_heq: float,
                 planned_capex: float = 0.0):
        super().__init__(model)
        self.spec = spec
        self.hyperscaler_id = spec.id
        self.internal_share = spec.internal_share
        self.inhouse_vendor = spec.inhouse_vendor  # vendor id of its own chips, "" if none
        self.programme_ready_month: int | None = None  # when a programme decided in-run delivers
        self.fleet: dict[str, float] = {}
        self.paid: dict[str, float] = {}  # average USD paid per chip, by chip id
        self.cash = cash
        self.operating_cash_flow = operating_cash_flow  # USD/month from its whole business at t=0
        self.business_index = 1.0  # growth of its business's cash flow since the start
        # USD a month, the last 12: its business's cash for AI, rentals and its own AI work's value (lenders look at it)
        self.ai_cash_flows: deque[float] = deque(maxlen=12)
        self.own_ai_revenue = 0.0  # USD last month: its own AI work, valued at its rental price
        self.interest_paid = 0.0  # USD last month on its debt (negative cash)
        self.payouts = 0.0  # USD returned to shareholders last month (cash beyond its buffer)
        self.payouts_total = 0.0
        self.internal_demand0 = internal_demand_heq
        self.internal_demand = internal_demand_heq
        self.expected_demand = internal_demand_heq  # the own demand it plans for (follows internal_demand)
        self.expected_cost_ratio = 1.0  # its expectation of cost per useful work relative to the start
        self.rental_demand = 0.0  # HEq labs wanted last month
        self.rental_supplied = 0.0  # HEq-hours rented out last month
        self.rental_price = float("nan")  # USD per HEq-hour
        self.rental_premium = 1.0  # its rental price over its cost-plus price (> 1 while labs want more than it offers)
        self.rental_revenue = 0.0
        self.capex = 0.0  # USD spent on chips this month
        self.planned_capex = planned_capex  # USD a month it plans to spend on chips (at the start: its budget)
        self.internal_fraction = spec.internal_share  # share of capex for its own AI work
        self.vendor_spend: deque[dict[str, float]] = deque(maxlen=12)
        self.bankrupt = False  # insolvent: stops buying for good (see ComputeMarket.resolve_insolvencies)
        self.debt_written_off = 0.0  # USD its lenders lost
        self.start_units = 0.0  # chips in its fleet at the start
        self.units_retired = 0.0  # chips retired since the start
        self.units_sold_on = 0.0  # chips sold to another cloud (an insolvent cloud's fleet)
        self.units_taken_over = 0.0  # chips bought from an insolvent cloud
        self.retirement_rate = 0.0  # share of the fleet retired a month (set by the model's ecosystem phase)
        # data-centre power (facility W; market/power.py)
        self.site_w = float("inf")  # site power energised (inf: power not modelled)
        self.site_pipeline: deque[float] = deque()  # W allotted and under construction, arriving one entry a month
        self.site_orders_w = 0.0  # W ordered and not yet allotted by the industry's supply
        self.power_price = 0.0  # shadow price of power this month, USD per facility kWh (0: its sites have room)
        self.idle_units = 0.0  # chips it owns that wait for power
        self.planned_w: deque[float] = deque(maxlen=12)  # W a month its planned capex bought, the last 12 months

    # --- data-centre power ---------------------------------------------------------------------

    def start_sites(self, draw_w: float, start_reserve: float, monthly_w: float, lead_time: int) -> None:
        """Sites at the start: its fleet's draw (W) with `start_reserve` of headroom, and `lead_time` months of
        construction under way at `monthly_w` (W a month: what its plan before the run called for)."""
        self.site_w = draw_w * (1.0 + start_reserve)
        self.site_pipeline = deque([monthly_w] * lead_time)

    def price_power(self, shadow_price: float) -> None:
        """This month's shadow price of power in its choice of chips (USD per facility kWh; 0 if its sites have room;
        market/power.shadow_power_price)."""
        self.power_price = shadow_price

    def count_idle(self, running_units: float, draw_w: float) -> None:
        """Chips waiting for power: its fleet less the `running_units` its sites run, when its fleet's draw (`draw_w`)
        exceeds its site power."""
        self.idle_units = sum(self.fleet.values()) - running_units if draw_w > self.site_w else 0.0

    @property
    def power_short(self) -> bool:
        """Short of power this month: chips it owns wait for site power, or it prices power in its choice."""
        return self.power_price > 0 or self.idle_units > 0

    def site_w_within(self, months: int) -> float:
        """W of site power on line `months` from now (what is built plus what finishes by then)."""
        return self.site_w + sum(list(self.site_pipeline)[:months])

    def energise_sites(self) -> None:
        """This month's finished construction comes on line."""
        if self.site_pipeline:
            self.site_w += self.site_pipeline.popleft()

    def order_sites(self, draw_w: float, planned_w_per_month: float, lead_time: int, reserve: float) -> None:
        """Order the site power (W) it expects to need: today's fleet draw (`draw_w`) plus the draw its planned
        capex buys over `lead_time` months (`planned_w_per_month` today, extrapolated at its growth over the last
        year), with a `reserve`, less what it has, is building and has on order. Orders wait for the industry's
        supply (market/power.allocate_site_power)."""
        self.planned_w.append(planned_w_per_month)
        growth = 0.0
        if len(self.planned_w) > 1 and self.planned_w[0] > 0:
            growth = (self.planned_w[-1] / self.planned_w[0]) ** (1.0 / (len(self.planned_w) - 1)) - 1.0
        growth = min(max(growth, 0.0), 0.1)  # it plans for growth, never for a fall; at most 10% a month
        months = np.arange(1, lead_time + 1)
        needed = (draw_w + planned_w_per_month * float(((1.0 + growth) ** months).sum())) * (1.0 + reserve)
        self.site_orders_w += max(0.0, needed - self.site_w - sum(self.site_pipeline) - self.site_orders_w)

    def build_sites(self, allotted_w: float, lead_time: int) -> None:
        """Start building the site power the industry allotted it this month: on line after `lead_time` months."""
        self.site_orders_w -= allotted_w
        if lead_time <= 0:
            self.site_w += allotted_w
            return
        while len(self.site_pipeline) < lead_time:
            self.site_pipeline.append(0.0)
        self.site_pipeline[lead_time - 1] += allotted_w

    # --- fleet -------------------------------------------------------------------------------------

    def add_chips(self, chip_id: str, units: float, unit_price: float) -> None:
        held = self.fleet.get(chip_id, 0.0)
        if units <= 0:
            return
        self.paid[chip_id] = (self.paid.get(chip_id, 0.0) * held + unit_price * units) / (held + units)
        self.fleet[chip_id] = held + units

    def scale_fleet(self, scale: float) -> None:
        """Scale every chip type of its fleet by `scale` (the starting fleet, fitted to its share of useful work)."""
        self.fleet = {cid: units * scale for cid, units in self.fleet.items()}

    def start_demand(self, fleet_heq: float, utilisation_target: float) -> None:
        """Starting demand: its fleet (`fleet_heq`, HEq) used at `utilisation_target`, split between its own work and
        rentals by its internal share; month 1's demand growth is then growth, not the stock."""
        self.start_units = sum(self.fleet.values())
        self.internal_demand0 = self.internal_share * fleet_heq * utilisation_target
        self.internal_demand = self.internal_demand0
        self.expected_demand = self.internal_demand0
        self.rental_demand = (1.0 - self.internal_share) * fleet_heq * utilisation_target

    def retire(self, monthly_rate: float) -> None:
        """Exponential retirement of the fleet (1 / depreciation life per month)."""
        self.retirement_rate = monthly_rate
        self.units_retired += sum(self.fleet.values()) * monthly_rate
        for chip_id in self.fleet:
            self.fleet[chip_id] *= 1.0 - monthly_rate

    # --- decisions -----------------------------------------------------------------------------

    def plan_capex(self, fleet_heq: float, capex_per_heq: float, cost_ratio: float, adoption_index: float, demand,
                   clouds, demand_factor: float = 1.0, contracted_heq: float = 0.0) -> tuple[float, float]:
        """USD to spend on chips this month, and the share of it for its own AI work (the rest: rentals).

        Target fleet = (own demand + labs' spot rental demand + what it has sold labs under contract for the month
        its plan reaches, `contracted_heq`) / planned utilisation: a contract is ordered for before it is delivered.
        Own demand follows the economy's adoption of AI (`adoption_index`, 1 at the start: market/adoption.py) and
        responds to the market's cost of useful work with elasticity eta (`cost_ratio` = the cost of useful work in
        its market today / at the start, BuyingPhase.market_cost_ratio: AI services are priced from what they cost
        the industry to produce). The
        response is to the cost it expects, which follows the observed ratio over `capex_adjustment_months`
        (adaptive expectations: a launch that cuts the cost of new capacity raises planned work over months, not in
        one). Spend closes part of the gap (`capex_response`) and never exceeds cash. An insolvent cloud buys
        nothing.

        `demand` and `clouds` are the config's [demand] and [clouds] sections (market/config.py DemandConfig,
        CloudConfig); fleet and demand in HEq, money in USD.
        """
        self.expected_cost_ratio += (cost_ratio - self.expected_cost_ratio) / max(clouds.capex_adjustment_months, 1.0)
        self.internal_demand = (self.internal_demand0 * adoption_index * demand_factor
                                * self.expected_cost_ratio ** (-demand.demand_elasticity))
        target = (self.internal_demand + self.rental_demand + contracted_heq) / clouds.capex_utilisation_target
        # stock adjustment: replace retirements, follow the growth of the demand it expects, close the gap over
        # the adjustment time (ordering the whole gap every month would make capex oscillate). The demand it
        # expects follows its demand over the adjustment months, so a jump (the end of a bust) is ordered over
        # months, not in one
        previous = self.expected_demand
        self.expected_demand += (self.internal_demand - self.expected_demand) / max(clouds.capex_adjustment_months, 1.0)
        growth = max(0.0, self.expected_demand - previous) / clouds.capex_utilisation_target
        retirements = fleet_heq * self.retirement_rate
        wanted_heq = (target - fleet_heq) / clouds.capex_adjustment_months + growth + retirements
        desired = max(0.0, wanted_heq) * capex_per_heq
        self.planned_capex = self.planned_capex + clouds.capex_response * (desired - self.planned_capex)
        demand = self.internal_demand + self.rental_demand + contracted_heq
        internal = self.internal_demand / demand if demand > 0 else 1.0
        self.internal_fraction = internal
        if self.bankrupt:
            return 0.0, internal
        return max(0.0, min(self.planned_capex, self.cash + self.credit_limit(clouds))), internal

    def credit_limit(self, clouds) -> float:
        """USD it may owe: `credit_months` of its monthly AI cash flow (lenders lend against cash flows; a neocloud
        against its rental contracts; `HyperscalerSpec.credit_months` overrides the default). `clouds`: the config's
        [clouds] section."""
        months = self.spec.credit_months or clouds.credit_months
        return months * self.steady_cash_flow

    @property
    def steady_cash_flow(self) -> float:
        """USD a month: its AI cash flow averaged over the last 12 months (rentals swing month to month; lenders and
        its cash buffer look through that)."""
        return max(sum(self.ai_cash_flows) / len(self.ai_cash_flows), 0.0) if self.ai_cash_flows else 0.0

    @property
    def debt(self) -> float:
        """USD it owes (negative cash)."""
        return max(0.0, -self.cash)

    # --- rentals -----------------------------------------------------------------------------------

    def post_rental_price(self, cost_plus_price: float) -> float:
        """Its rental price this month (USD per HEq-hour): its cost-plus price times its scarcity premium."""
        cost_plus_price *= self.rental_premium
        self.rental_price = cost_plus_price
        return cost_plus_price

    def record_rentals(self, wanted: float, got: float, paid: float, offered: float, adjustment: float,
                       contracted: float = 0.0) -> None:
        """This month's rentals (HEq-hours labs `got` and USD `paid`, `contracted` HEq-hours of it on contracts), and
        next month's scarcity premium from what labs wanted of its spare fleet (`wanted` on the spot market plus the
        contracts) against what it had (`offered` on the spot market plus the contracts; market/rental.
        scarcity_premium). Its spot demand is what it plans its fleet for beside its contracts."""
        self.rental_demand = wanted / pricing.HOURS_PER_MONTH
        self.rental_supplied = got
        self.rental_revenue = paid
        if offered + contracted > 0:
            self.rental_premium = rental.scarcity_premium(self.rental_premium, wanted + contracted,
                                                          offered + contracted, adjustment)

    def pay_for_chips(self, amounts_by_vendor: dict[str, float]) -> None:
        total = sum(amounts_by_vendor.values())
        self.cash -= total
        self.capex = total
        self.vendor_spend.append(amounts_by_vendor)

    def trailing_spend(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for month in self.vendor_spend:
            for vendor, amount in month.items():
                out[vendor] = out.get(vendor, 0.0) + amount
        return out

    # --- in-house silicon (market/inhouse.py) ---------------------------------------------------------
    design_spend = 0.0  # USD paid for chip design last month (to design partners and teams outside the model)
    design_spend_total = 0.0  # USD paid for chip design since the start

    @property
    def has_programme(self) -> bool:
        """It runs a custom-silicon programme: one held from the start, or one it decided in the run."""
        return bool(self.inhouse_vendor) or self.programme_ready_month is not None

    @property
    def may_start_programme(self) -> bool:
        """It may decide on a programme: it can design chips, has none and is solvent."""
        return self.spec.can_design_chips and not self.has_programme and not self.bankrupt

    def spend_outlook(self, min_months: int) -> tuple[float, float] | None:
        """(its chip bill, USD a year, and the bill's growth a year) from its spend over the last months it
        remembers: the annualised total, and the growth between the first and the last third of those months.
        None with fewer than `min_months` months of spend or none in the first third."""
        months = [sum(m.values()) for m in self.vendor_spend]
        if len(months) < min_months:
            return None
        third = len(months) // 3
        first, last = sum(months[:third]), sum(months[-third:])
        if first <= 0:
            return None
        span = len(months) - third  # months between the middles of the first and last thirds
        return 12.0 * sum(months) / len(months), (last / first) ** (12.0 / span) - 1.0

    def wants_inhouse_programme(self, appraisal) -> bool:
        """Start a custom-silicon programme when it may and its `appraisal` (market/inhouse.Appraisal) finds that the
        present value of the saving on its chip bill exceeds that of the design costs."""
        return self.may_start_programme and appraisal.worth_it

    def start_programme(self, ready_month: int) -> None:
        """Start an in-house silicon programme whose first chip is ready in `ready_month` (model month)."""
        self.programme_ready_month = ready_month

    def take_inhouse_vendor(self, vendor_id: str) -> None:
        """Its in-house supplier (`vendor_id`) has delivered its first chip: its own chips are now on sale to it."""
        self.inhouse_vendor = vendor_id

    def pay_design(self, amount: float) -> None:
        """Pay this month's design cost of its programme (USD) out of its cash (below zero it is debt)."""
        self.cash -= amount
        self.design_spend = amount
        self.design_spend_total += amount

    def settle_month(self, running_cost: float, own_ai_revenue: float, clouds) -> None:
        """The month's cash: its business's cash flow left for AI (growing with the business, not with AI), any
        subsidy, rentals and its own AI work's value (`own_ai_revenue`, USD) in; fleet running costs, interest on
        its debt and debt service out. Cash below zero is debt; a cloud whose debt passes its credit limit is
        insolvent (the model then winds it up). `clouds`: the config's [clouds] section. A cloud wound up in an
        earlier month (insolvency is set only here, at the end) has no AI business left: nothing moves."""
        if self.bankrupt:
            return
        self.business_index *= (1.0 + clouds.business_growth_per_year) ** (1.0 / 12.0)
        self.own_ai_revenue = own_ai_revenue
        ai_cash_flow = (self.operating_cash_flow * self.business_index * clouds.ai_cash_share
                        + self.spec.subsidy_usd_per_month + self.rental_revenue + own_ai_revenue)
        self.ai_cash_flows.append(ai_cash_flow)
        self.interest_paid = self.debt * clouds.interest_rate_per_year / 12.0
        self.cash += ai_cash_flow - running_cost - self.spec.debt_service_usd_per_month - self.interest_paid
        buffer = clouds.cash_buffer_months * self.steady_cash_flow
        self.payouts = max(0.0, self.cash - buffer)  # what it does not keep for AI goes back to shareholders
        self.cash -= self.payouts
        self.payouts_total += self.payouts
        if self.cash < -self.credit_limit(clouds):
            self.bankrupt = True

    def sell_fleet_to(self, buyer: Hyperscaler, price_share: float) -> float:
        """Sell its whole fleet to `buyer` at `price_share` of what it paid (as much as the buyer's cash covers,
        pro rata); the proceeds go to its lenders, who write off the rest of its debt. Returns USD paid."""
        value = sum(units * self.paid[cid] for cid, units in self.fleet.items()) * price_share
        share = min(1.0, max(buyer.cash, 0.0) / value) if value > 0 else 0.0
        for cid, units in list(self.fleet.items()):
            moved = units * share
            if moved > 0:
                buyer.add_chips(cid, moved, self.paid[cid] * price_share)
                buyer.units_taken_over += moved
                self.units_sold_on += moved
                self.fleet[cid] = units - moved
        paid = value * share
        buyer.cash -= paid
        self.cash += paid
        self.write_off_debt()
        return paid

    def write_off_debt(self) -> None:
        """Lenders take what negative cash remains as a loss; the cloud goes on with none."""
        if self.cash < 0:
            self.debt_written_off += -self.cash
            self.cash = 0.0
