"""In-house (custom) silicon programmes, started on need and capability and paid for.

**The decision** (`advance_programmes`, the cloud's own call in `Hyperscaler.wants_inhouse_programme`). Each month a
cloud that may design chips (`HyperscalerSpec.can_design_chips`) and has none appraises a programme:

- *What it would save*, as a share of its chip bill (`saving_share`): its own chip joins the offers it chose from last
  month, priced at cost plus the design partner's margin (the merchants' posted margins are what it avoids) and
  charged the switching cost of its immature stack, `switching_cost x (1 - inhouse_start_maturity)` in logit
  utility. The saving is the fall in its price index of useful work, exp(-logsumexp(U) / alpha)
  (market/choice.py `price_index`): the buyers' own logit turns the immaturity charge into a cost share through
  the price sensitivity alpha, and weighs the chip by the share of the work it would win rather than assuming the
  cloud moves all of it. (A cloud that only compared margins, 1 - (1 - merchant margin) / (1 - partner margin), would
  see ~38% at NVIDIA's 75% against a 60% partner; immaturity at the fitted switching cost takes most of that away.)
- *Its chip bill*: its spend over the last months, annualised, growing at its recent growth (at most
  `max_spend_growth_per_year`), from first delivery (`inhouse_delay_months`) for `programme_life_years`.
- *What it costs*: `design_cost_usd_per_generation` every generation (cadence `INHOUSE_CADENCE_MONTHS`), paid month
  by month from the start.

Both are discounted at the clouds' cost of capital (tco.toml). It starts when the saving's present value exceeds
the cost's: scale is the capability test, since the saving grows with the bill and the design cost does not.

**The money**: every cloud with a programme, decided in the run or held from the start (Google, AWS), pays its
design cost each month out of its cash (`Hyperscaler.pay_design`), to design partners and teams outside the model:
an outflow recorded on the cloud (`design_spend` this month, `design_spend_total`), revenue of no agent.

**Delivery** (`launch`): after the delay its first chip ships and an in-house supplier agent joins the market,
supplying its owner at cost plus the design partner's margin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.chip_vendor import ChipVendor, inhouse_first_chip
from hardware_catalog import Accelerator, add_months

from . import choice, pricing
from .capacity import normalise_allocations

INHOUSE_TEMPLATE = "trainium2"  # the first custom chip is this design carried along its roadmap
INHOUSE_CADENCE_MONTHS = 18.0  # est: Trainium1 2022-10 -> Trainium2 2024-12, TPU about yearly (vendors.toml)
ALLOCATION_SHARE = 0.02  # packaging share a new programme takes from the vendors already in the market
MIN_SPEND_MONTHS = 6  # months of chip spend a cloud needs before it appraises a programme (its growth needs them)


@dataclass(frozen=True)
class Appraisal:
    """A cloud's appraisal of a programme this month (USD; shares of its chip bill)."""

    month: int
    spend_per_year: float  # its chip bill now, annualised
    growth_per_year: float  # the growth of that bill it carries forward
    saving_share: float  # share of its bill its own chip would save (net of its stack's immaturity)
    margin_only_share: float  # the same without the immaturity charge (a mature stack)
    saving_pv: float  # present value of the saving over the programme's life
    cost_pv: float  # present value of the design costs over the same months

    @property
    def worth_it(self) -> bool:
        return self.saving_pv > self.cost_pv


def programme_value(spend_per_year: float, growth_per_year: float, saving_share: float, *, design_cost: float,
                    cadence_months: float, delay_months: int, life_years: float, discount_rate: float
                    ) -> tuple[float, float]:
    """(present value of the saving, present value of the design cost) of a programme decided now, USD.

    The bill grows at `growth_per_year` from `spend_per_year` now; `saving_share` of it is saved from the month after
    first delivery (`delay_months`) for `life_years`; `design_cost` a generation is paid evenly over each
    `cadence_months`, from now to the end of the life. Monthly flows discounted at `discount_rate` a year."""
    months = np.arange(1, delay_months + int(round(12 * life_years)) + 1)
    discount = (1.0 + discount_rate) ** (-months / 12.0)
    bill = spend_per_year / 12.0 * (1.0 + growth_per_year) ** (months / 12.0)
    saving = saving_share * float((bill * discount)[months > delay_months].sum())
    cost = design_cost / cadence_months * float(((1.0 + discount_rate) ** (-(months - 1) / 12.0)).sum())
    return saving, cost


def saving_share(utilities: np.ndarray, own_utility: float, alpha: float) -> float:
    """Share of a buyer's cost of useful work its own chip saves: 1 - (price index with it) / (price index without),
    the price index of a choice set being exp(-logsumexp(U) / alpha) (market/choice.py). `utilities` (K,): the offers
    it chooses from (-inf where unavailable); `own_utility`: its own chip's."""
    without = choice.price_index(utilities, alpha)
    with_own = choice.price_index(np.append(utilities, own_utility), alpha)
    if not np.isfinite(without):
        return 1.0 if np.isfinite(with_own) else 0.0  # nothing to buy but its own chip
    return float(1.0 - with_own / without)


class ProgrammeDesk:
    """This month's appraisals: prices the first chip a programme decided now would deliver (once a month) and judges
    it against the last month's offer book."""

    def __init__(self, model) -> None:
        self.model = model
        self._chip: tuple[Accelerator, float, float, float] | None = None  # chip, work, running cost, maturity

    def own_chip(self) -> tuple[Accelerator, float, float, float]:
        """(chip, useful work per chip-hour in HEq, running cost USD per chip-hour, maturity) of the first custom chip
        a programme would deliver, judged at today's technology (the in-house template carried to today, as the
        merchants' offers are today's): its rates at its stack's starting maturity, on the clouds' workload mix."""
        m = self.model
        if self._chip is None:
            kept = m.extra_rates  # this month's programme chip, priced with the month's chips by the selling phase
            if kept is not None and kept[0] == m.date:
                _, chip, maturity, train, serve = kept
            else:
                chip, maturity = programme_chip(m)
                train, serve = (rate[0] for rate in m.chip_rates([chip], [maturity])[:2])
            book = m.last_month.book
            work = float(choice.work_rate(train, serve, book.inference_share))
            running = float(pricing.hourly_cost(0.0, chip.tdp_w, m.tco).total)
            self._chip = (chip, work, running, maturity)
        return self._chip

    def appraise(self, cloud) -> Appraisal | None:
        """This month's appraisal of a programme by `cloud` (None before it has MIN_SPEND_MONTHS of spend or an offer
        book to judge by)."""
        m = self.model
        cfg = m.config
        outlook = cloud.spend_outlook(MIN_SPEND_MONTHS)
        if outlook is None or m.last_month is None or m.last_month.book.prices is None:
            return None
        spend, growth = outlook
        growth = min(max(growth, -cfg.inhouse.max_spend_growth_per_year), cfg.inhouse.max_spend_growth_per_year)
        book = m.last_month.book
        row = 2 * m.hyperscalers.index(cloud)  # its own work's row (its chips would serve its rentals too)
        alpha = cfg.choice.price_sensitivity
        cost = choice.cost_per_work(book.prices, book.work[row], capital_per_price=m.capital_per_price,
                                    running_cost=book.running_cost)
        offers = choice.utility(cost, book.maturity, book.available[row], alpha=alpha,
                                switching_cost=book.switching[row])
        chip, work, running, maturity = self.own_chip()
        price = chip.manufacturing_cost_usd / (1.0 - cfg.inhouse.design_partner_margin)
        own_cost = float(choice.cost_per_work(price, work, capital_per_price=m.capital_per_price,
                                              running_cost=running))
        if not (np.isfinite(own_cost) and own_cost > 0):
            return None

        def own_utility(stack_maturity: float) -> float:
            return float(-alpha * np.log(own_cost) - cfg.choice.switching_cost * (1.0 - stack_maturity))

        share = saving_share(offers, own_utility(maturity), alpha)
        saving_pv, cost_pv = programme_value(
            spend, growth, share, design_cost=cfg.inhouse.design_cost_usd_per_generation,
            cadence_months=INHOUSE_CADENCE_MONTHS, delay_months=cfg.inhouse.inhouse_delay_months,
            life_years=cfg.inhouse.programme_life_years, discount_rate=m.tco.cost_of_capital)
        return Appraisal(m.month, spend, growth, share, saving_share(offers, own_utility(1.0), alpha), saving_pv,
                         cost_pv)


def programme_chip(model) -> tuple[Accelerator, float]:
    """The first custom chip a programme would deliver, judged at today's technology (the in-house template carried
    to today), and its stack's starting maturity (at least the open-stack floor)."""
    template = model.catalog.accelerator(INHOUSE_TEMPLATE)
    chip = inhouse_first_chip(template, model.catalog.roadmaps[template.vendor], "programme", model.date)
    return chip, max(model.config.inhouse.inhouse_start_maturity, model.open_stack_floor())


def advance_programmes(model) -> None:
    """Programmes pay their design costs; clouds decide on new ones; those whose design delay has passed launch."""
    cfg = model.config
    desk = ProgrammeDesk(model)
    for cloud in model.hyperscalers:
        if cloud.has_programme:
            cloud.pay_design(design_cost_per_month(model, cloud))
        elif cloud.may_start_programme:
            appraisal = desk.appraise(cloud)
            if appraisal is not None and cloud.wants_inhouse_programme(appraisal):
                cloud.start_programme(model.month + cfg.inhouse.inhouse_delay_months)
                cloud.pay_design(design_cost_per_month(model, cloud))
                model.events.append(
                    f"{model.date}: {cloud.hyperscaler_id} starts an in-house silicon programme (saves "
                    f"{appraisal.saving_share:.1%} of a ${appraisal.spend_per_year / 1e9:.1f}B a year chip bill: "
                    f"${appraisal.saving_pv / 1e9:.1f}B against ${appraisal.cost_pv / 1e9:.1f}B of design, "
                    "present values)")
        if (cloud.programme_ready_month is not None and cloud.programme_ready_month <= model.month
                and not cloud.inhouse_vendor):
            launch(model, cloud)


def design_cost_per_month(model, cloud) -> float:
    """USD a month a cloud's programme pays for design: a generation's cost over its supplier's cadence (the
    programme's planned cadence before its first chip ships)."""
    vendor = model.vendors.get(cloud.inhouse_vendor)
    cadence = vendor.cadence_months if vendor is not None else INHOUSE_CADENCE_MONTHS
    return model.config.inhouse.design_cost_usd_per_generation / cadence


def launch(model, cloud) -> ChipVendor:
    """The cloud's in-house supplier with its first chip, released next month; it takes a small packaging
    allocation from the others."""
    cfg, catalog = model.config, model.catalog
    vendor_id = f"{cloud.hyperscaler_id}-silicon"
    template = catalog.accelerator(INHOUSE_TEMPLATE)
    roadmap = catalog.roadmaps[template.vendor]
    first = inhouse_first_chip(template, roadmap, vendor_id, add_months(model.date, 1))
    vendor = ChipVendor(model, vendor_id, f"{cloud.spec.name} silicon", "hyperscaler_inhouse", [first], roadmap,
                        INHOUSE_CADENCE_MONTHS, cfg.inhouse.inhouse_start_maturity, ALLOCATION_SHARE,
                        owner=cloud.hyperscaler_id)
    for other in model.vendors.values():
        other.scale_allocation(1.0 - ALLOCATION_SHARE)
    model.vendors[vendor_id] = vendor
    normalise_allocations(model.vendors.values())
    cloud.take_inhouse_vendor(vendor_id)
    model.events.append(f"{model.date}: {vendor_id} delivers its first chip {first.id}")
    return vendor
