"""ComputeMarket: the monthly Mesa model of the AI compute economy.

One step = one month. The model owns the agents, the schedule and the records; each phase is an object of its own
(market/phases/) that hands the next an explicit, frozen object (market/offers.py):
1. selling    -> OfferBook   vendors put their lines on sale, receive their committed supply and adopt margins;
2. buying     -> Orders      clouds size their capex and split it over the chips, under their deals and site power;
3. trading    -> Fills       orders are filled, chips delivered and paid, vendors plan their supply;
4. renting    -> RentalOutcome  clouds rent spare compute to labs, labs earn and raise money, clouds settle;
5. ecosystem  -> EcosystemOutcome  software maturity, packaging capacity, in-house programmes, depreciation, sites;
6. the venture side (market/venture.py), then the month's records (market/recorder.py).

Randomness comes only from two numpy Generators spawned from the seed given through Mesa's `rng=`:
`self.rng` (chip market) and `self.venture_rng` (venture side).
"""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd

from agents.chip_vendor import ChipVendor
from agents.hyperscaler import Hyperscaler
from agents.lab import Lab
from hardware_catalog import Accelerator, Catalog, add_months, load_catalog, months_between

from . import performance, pricing, scenario
from .adoption import Adoption
from .capacity import next_capacity
from .commitments import CommitmentBook
from .config import MarketConfig
from .fleet import Fleets
from .ledger import Ledger
from .offers import MonthOutcome
from .phases.buying import BuyingPhase
from .phases.ecosystem import EcosystemPhase
from .phases.renting import RentingPhase
from .phases.selling import SellingPhase
from .phases.trading import TradingPhase
from .recorder import VENTURE_SERIES, MonthRecorder  # noqa: F401  (VENTURE_SERIES: importable here as before)
from .serving import ServingMix
from .venture import VenturePhase


class ComputeMarket(mesa.Model):
    """The compute market. `config` (MarketConfig) and `rng` (a seed) define a run completely."""

    def __init__(self, config: MarketConfig | None = None, *, catalog: Catalog | None = None, rng=None, **overrides):
        super().__init__(rng=rng)
        self.rng, self.venture_rng = self._spawn_streams()
        self.catalog = catalog or load_catalog()
        if config is None:  # the baseline: this catalog's history fit, and any fields given by name
            config = MarketConfig.build(self.catalog.fitted, **overrides)
        elif overrides:
            config = config.replace(**overrides)
        self.config = config
        self.month = 0
        self._date: tuple[tuple[str, int] | None, str] = (None, "")  # ((start, month), date): the last `date` answer
        self.ledger = Ledger()
        self.tco = self.catalog.tco
        self.capital_per_price = (
            (1.0 + self.tco.system_overhead_fraction)
            * pricing.capital_recovery_factor(self.tco.cost_of_capital, self.tco.depreciation_years)
            / pricing.HOURS_PER_YEAR
        )
        self.chip_index: dict[str, Accelerator] = {}
        self._memory_factor: dict[tuple[str, str], float] = {}  # (date, memory pricing date) -> memory_priced's factor
        self._memory_priced: dict[str, tuple] = {}  # chip id -> (chip, factor, memory_priced's last answer)
        self.fleets = Fleets(self.chip_index, self.tco, config.power.power_enabled)  # fleet arithmetic: market/fleet.py
        self.vendors, self.potential_vendor_ids = scenario.vendors(self)
        self.reference_workload, self.reference_chip, self.ref_train = scenario.reference(self.catalog)
        self.serving = ServingMix(self.catalog, config.policy)  # what buyers serve month by month (market/serving.py)
        self.hyperscalers: list[Hyperscaler] = scenario.hyperscalers(self)
        self.labs: list[Lab] = scenario.labs(self, len(self.hyperscalers))
        finance = config.lab_finance
        horizon = config.months + finance.commitment_lead_months + finance.commitment_term_months
        self.commitments = CommitmentBook(len(self.labs), len(self.hyperscalers), horizon)
        self.capacity = config.supply.start_capacity_hbm_gb * config.supply.capacity_scale
        demand = config.demand
        self.adoption = Adoption(demand.start_adoption, demand.adoption_speed, demand.capability_elasticity,
                                 demand.ai_value_potential_usd_per_year)
        self.venture = VenturePhase(self, config.venture) if config.venture.enabled else None
        self._lab_revenue_history: list[float] = []
        self._rental_price0: float | None = None
        self.events: list[str] = []
        # (date, chip, maturity, training rate, serving rate) of the month's in-house programme chip
        # (inhouse.programme_chip), priced with the month's chips at the selling phase's request (rates_and_tokens'
        # `extra`), or None
        self.extra_rates: tuple[str, Accelerator, float, float, float] | None = None
        self.last_month: MonthOutcome | None = None  # what the last month's phases returned (for inspection)
        self.recorder = MonthRecorder(self)
        self.selling = SellingPhase(self)
        self.buying = BuyingPhase(self)
        self.trading = TradingPhase(self, self.buying.utilities)
        self.renting = RentingPhase(self)
        self.ecosystem = EcosystemPhase(self)

    # ------------------------------------------------------------------------------ set-up

    def _spawn_streams(self) -> tuple[np.random.Generator, np.random.Generator]:
        """Two independent random streams spawned from the run's seed: `rng` for the chip market and
        `venture_rng` for the venture side, so a venture-only change leaves every chip-market draw (and,
        as long as startups' rental spend does not bind a cloud's cash, every chip-market figure) as it
        was, and scenario comparisons stay paired."""
        root = np.random.SeedSequence(self._seed)  # Mesa's integer seed (drawn by Mesa when rng is None)
        market, venture = root.spawn(2)
        return np.random.default_rng(market), np.random.default_rng(venture)

    @property
    def date(self) -> str:
        """This month (YYYY-MM), kept for the month it was computed for (the phases ask for it thousands of times)."""
        key = (self.config.start, self.month)
        if self._date[0] != key:
            self._date = (key, add_months(*key))
        return self._date[1]

    # ------------------------------------------------------------------------------ helpers

    def inference_share(self) -> float:
        cfg = self.config
        return cfg.demand.growth_at(cfg.demand.inference_share_start, cfg.demand.inference_share_end, self.date)

    def effective_maturity(self, vendor_id: str, floor: float | None = None) -> float:
        """Software maturity of `vendor_id`'s stack, at least the open-stack floor (`floor`: open_stack_floor(),
        when the caller has it already)."""
        vendor = self.vendors.get(vendor_id)
        maturity = vendor.maturity if vendor else self.catalog.vendors[vendor_id].software_maturity
        return max(maturity, self.open_stack_floor() if floor is None else floor)

    def chip_maturity(self, chips) -> list[float]:
        """effective_maturity of each chip's vendor."""
        floor = self.open_stack_floor()
        of_vendor = {vendor: self.effective_maturity(vendor, floor) for vendor in {c.vendor for c in chips}}
        return [of_vendor[c.vendor] for c in chips]

    def open_stack_floor(self) -> float:
        """Maturity every stack reaches through an open software stack (0 unless the policy is on)."""
        cfg = self.config
        if cfg.policy.open_stack_floor <= 0 or not cfg.active(cfg.policy.open_stack_start, self.date):
            return 0.0
        start = cfg.policy.open_stack_start or cfg.start
        elapsed = months_between(start, self.date) + 1
        return cfg.policy.open_stack_floor * min(1.0, elapsed / cfg.policy.open_stack_ramp_months)

    def demand_factor(self) -> float:
        """Multiplier on clouds' own AI demand and labs' revenue: below 1 during a demand shock."""
        cfg = self.config
        if (cfg.policy.demand_shock_scale == 1.0 or not cfg.policy.demand_shock_start
                or not cfg.active(cfg.policy.demand_shock_start, self.date)):
            return 1.0
        end = add_months(cfg.policy.demand_shock_start, cfg.policy.demand_shock_months)
        return cfg.policy.demand_shock_scale if self.date < end else 1.0

    def rates(self, chips: list[Accelerator]) -> dict[str, tuple[float, float]]:
        """(training, serving) throughput of each chip relative to the reference H100."""
        return self.rates_and_tokens(chips)[0]

    def chip_rates(self, chips: list[Accelerator], maturity) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(training, serving) throughput of `chips` at their stacks' `maturity` relative to the reference H100, and
        the output tokens/s of this month's serving mix each serves, (K,) each."""
        train = performance.training_rates(chips, maturity, self.reference_workload, self.catalog.efficiency)
        serve, tokens = self.serving.rates(chips, maturity, self.serving_mix())
        return train / self.ref_train, serve, tokens

    def rates_and_tokens(
        self, chips: list[Accelerator], extra: tuple[Accelerator, float] | None = None
    ) -> tuple[dict[str, tuple[float, float]], dict[str, float]]:
        """`rates`, and the output tokens/s of this month's serving mix each chip serves (for the price per token
        actually served). `extra` (chip, maturity): one more chip priced in the same roofline calls (each chip is a
        row of its own, so its rates are what it would get alone), its rates kept in `extra_rates` for the month."""
        maturity = self.chip_maturity(chips)
        if extra is None:
            train, serve, tokens = self.chip_rates(chips, maturity)
        else:
            train, serve, tokens = self.chip_rates([*chips, extra[0]], [*maturity, extra[1]])
            self.extra_rates = (self.date, *extra, float(train[-1]), float(serve[-1]))
            train, serve, tokens = train[:-1], serve[:-1], tokens[:-1]
        return ({c.id: (float(t), float(s)) for c, t, s in zip(chips, train, serve, strict=True)},
                {c.id: float(x) for c, x in zip(chips, tokens, strict=True)})

    def serving_mix(self) -> dict[str, float]:
        """Share of served tokens of each model this month (market/serving.py)."""
        return self.serving.shares(self.date, self.serving_shift())

    def serving_shift(self) -> float:
        """Share of buyers' serving moved to `serving_shift_workload` this month (0 without a shift)."""
        cfg = self.config
        if not cfg.policy.serving_shift_workload or not cfg.active(cfg.policy.serving_shift_start, self.date):
            return 0.0
        elapsed = months_between(cfg.policy.serving_shift_start or cfg.start, self.date) + 1
        return cfg.policy.serving_shift_share * min(1.0, elapsed / cfg.policy.serving_shift_months)

    def memory_priced(self, chip: Accelerator) -> Accelerator:
        """`chip` with its memory line at this month's HBM contract price (hardware_catalog/paths.py)."""
        key = (self.date, chip.memory_cost_date)
        factor = self._memory_factor.get(key)
        if factor is None:  # the same for every chip priced at the same date, this month
            factor = self._memory_factor[key] = self.catalog.paths.memory_price_factor(*key)
        kept = self._memory_priced.get(chip.id)  # the path is flat for months: the same factor, the same chip
        if kept is None or kept[0] is not chip or kept[1] != factor:
            kept = self._memory_priced[chip.id] = (chip, factor, chip.at_memory_price(factor))
        return kept[2]

    def packaging_units(self, chip: Accelerator) -> float:
        return max(chip.hbm_gb, self.config.supply.min_packaging_units_per_chip)

    def capacity_total(self) -> float:
        """Industry packaging capacity this month (HBM-GB equivalents)."""
        return self.capacity

    def grow_capacity(self, order_units: float) -> None:
        """This month's capacity growth (market/capacity.py), given the packaging units ordered."""
        self.capacity = next_capacity(self.capacity, self.date, order_units, self.config.supply)

    # ------------------------------------------------------------------------------ the month

    def step(self) -> None:
        """One month: the phases in order (market/phases/), each handed what the earlier ones returned, then the
        venture side and the month's records."""
        self.agents_by_type[ChipVendor].do("reset_month")
        book = self.selling()
        orders = self.buying(book)
        fills = self.trading(book, orders)
        rental_outcome = self.renting(book)
        ecosystem = self.ecosystem(book, orders)
        self.venture_phase()
        self.last_month = MonthOutcome(book, orders, fills, rental_outcome, ecosystem)
        self.recorder.record(self, self.last_month)
        self.month += 1

    # ------------------------------------------------------------------------------ the industry's state
    def installed_by_vendor(self) -> tuple[dict[str, float], dict[str, float]]:
        """(installed_base_by_vendor, installed_power_by_vendor), from one pass over the fleets."""
        units, gw = self.fleets.installed_by_vendor(self.hyperscalers)
        return {vid: units.get(vid, 0.0) for vid in self.vendors}, gw

    def installed_base_by_vendor(self) -> dict[str, float]:
        """Chips installed in clouds' fleets, for each vendor in the market."""
        return self.installed_by_vendor()[0]

    def installed_power_by_vendor(self) -> dict[str, float]:
        """GW of accelerator TDP installed in clouds' fleets, by vendor."""
        return self.installed_by_vendor()[1]

    def rental_price_index(self) -> float:
        """Mean rental price per HEq-hour across clouds that rent, relative to month 0."""
        prices = [h.rental_price for h in self.hyperscalers if np.isfinite(h.rental_price)]
        price = float(np.mean(prices))
        if self._rental_price0 is None:
            self._rental_price0 = price
        return price / self._rental_price0

    def venture_phase(self) -> None:
        """Startups and VC syndicates. The coupling is one-way: the chip market's rental price sets startups'
        compute burn, and their spend is recorded (`compute_spend`), but it is not fed back into clouds' cash
        (it is ~1% of labs' rental spend): so a venture-only change leaves the chip market identical for the
        same seed and venture scenarios compare paired."""
        lab_revenue = float(sum(lab.revenue for lab in self.labs))
        self._lab_revenue_history.append(lab_revenue)
        if self.venture is None:
            return
        history = self._lab_revenue_history
        growth = history[-1] / history[-13] - 1.0 if len(history) > 12 else 0.0
        price_index = self.rental_price_index() * self.config.policy.startup_compute_price_scale
        self.venture.step(self.month, price_index, growth)

    # ------------------------------------------------------------------------------ outputs

    def run(self, months: int | None = None, progress=None) -> None:
        for _ in range(months or self.config.months):
            self.step()
            if progress is not None:
                progress(self.month)

    @property
    def stats(self) -> dict[str, float]:
        """This month's model series (market/recorder.py); empty before the first month."""
        return self.recorder.stats

    @property
    def vendor_records(self) -> list[dict]:
        return self.recorder.vendor_records

    def model_table(self) -> pd.DataFrame:
        return self.recorder.collector.get_model_vars_dataframe().reset_index(drop=True)

    def vendor_table(self) -> pd.DataFrame:
        return pd.DataFrame(self.recorder.vendor_records)

    def chip_table(self) -> pd.DataFrame:
        """Per month and chip on sale: price (USD), units sold, revenue and unit cost."""
        return pd.DataFrame(self.recorder.chip_records)

    def agent_table(self) -> pd.DataFrame:
        return self.recorder.agent_collector.get_agent_vars_dataframe()
