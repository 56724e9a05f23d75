"""What the month's phases hand each other: the offer book (vendor phase), the orders (buyer phase), the fills
(clearing phase), the rental outcome (rental phase) and the ecosystem outcome (ecosystem phase), gathered in the
month's `MonthOutcome`. Plain, frozen data, built complete by the phase that returns it; the arithmetic lives in the
phases' pure-numpy modules.

Shapes: K chips on sale, V vendors in the market, R buyer rows (row 2i: cloud i's own AI work; 2i + 1: the
compute it buys to rent to labs).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from hardware_catalog import Accelerator

from . import choice


@dataclass(frozen=True)
class OfferBook:
    """The chips on sale this month, to whom, from whose supply, and (once vendors chose margins) at what
    price. Built by the vendor phase: first without prices (the margin choice reads it), then the posted book is a
    copy with prices (`dataclasses.replace`); neither is changed afterwards."""

    chips: list[Accelerator]  # (K,) chips on sale
    sellers: list  # (K,) the ChipVendor agent selling each chip
    owner: np.ndarray  # (K,) index of each chip's vendor among the model's vendors
    unit_cost: np.ndarray  # (K,) USD manufacturing cost per chip
    units_per_chip: np.ndarray  # (K,) packaging units (HBM-GB equivalents) one chip uses
    running_cost: np.ndarray  # (K,) USD per chip-hour of power and hosting
    facility_w: np.ndarray  # (K,) W each chip draws at the facility meter (market/power.facility_watts)
    maturity: np.ndarray  # (K,) software maturity of each chip's stack (after any open-stack floor)
    rates: dict[str, tuple[float, float]]  # chip id -> (training, serving) throughput relative to the H100
    inference_share: float  # share of inference in the clouds' workload mix this month
    work: np.ndarray  # (R, K) useful work per chip-hour (H100-equivalents) for each buyer row
    available: np.ndarray  # (R, K) bool: may buyer row r buy chip k (own chips, export rules)
    switching: np.ndarray  # (R, K) switching cost per unit of immaturity (the same on every move, own chips too)
    capacity_units: np.ndarray  # (V,) packaging units each vendor may make this month (allocation or own capacity)
    committed_units: np.ndarray  # (V,) packaging units of supply committed a lead time ago: made whether or not sold
    stock: np.ndarray  # (K,) chips held from earlier months
    in_production: np.ndarray  # (K,) bool: made this month (its vendor's line); False for old stock being sold off
    prices: np.ndarray | None = None  # (K,) USD per chip, in the book the vendor phase posts after the margin choice
    served_tokens: dict[str, float] | None = None  # output tokens/s of the month's serving mix, by chip id

    def __len__(self) -> int:
        return len(self.chips)

    def running_cost_at(self, power_price: np.ndarray | None) -> np.ndarray:
        """USD per chip-hour of power and hosting, (K,); with a shadow price of power per buyer row (R,, USD per
        facility kWh), plus each chip's power envelope at that price, (R, K) (or (..., R, K) for prices (..., R))."""
        if power_price is None:
            return self.running_cost
        return self.running_cost + power_price[..., None] * self.facility_w / 1e3

    def utilities(self, capital_per_price: float, alpha: float, available: np.ndarray, shocks: np.ndarray,
                  power_price: np.ndarray | None = None) -> np.ndarray:
        """(R, K) buyers' logit utilities of the chips at the posted prices (market/choice.py): the cost of useful
        work (capital at `capital_per_price` USD per chip-hour per USD of price, plus running cost with power at
        `power_price`), software maturity and switching cost, and this month's `shocks`."""
        cost_per_work = choice.cost_per_work(self.prices, self.work, capital_per_price=capital_per_price,
                                             running_cost=self.running_cost_at(power_price))
        return choice.utility(cost_per_work, self.maturity, available, alpha=alpha, switching_cost=self.switching,
                              shocks=shocks)


@dataclass(frozen=True)
class Orders:
    """What the buyers decided: budgets and how they split them (buyer phase)."""

    spend: np.ndarray  # (R,) USD each buyer row spends on chips this month
    shares: np.ndarray  # (R, K) expenditure shares over the chips (logit)
    shocks: np.ndarray  # (R, K) this month's utility shocks (reused for the spill-over round)
    cost_per_heq_hour: np.ndarray  # (R,) price index of a unit of useful work for each row
    committed: np.ndarray | None = None  # (R, K) chips under capacity deals (filled first), None without deals
    power_price: np.ndarray | None = None  # (R,) shadow price of power, USD per facility kWh (None: no cloud short)

    def free_spend(self, prices: np.ndarray) -> np.ndarray:
        """(R,) USD each row spends by its own choice: its spend less what its deals commit it to."""
        if self.committed is None:
            return self.spend
        return self.spend - (self.committed * prices[None, :]).sum(axis=1)

    def chosen(self, prices: np.ndarray) -> np.ndarray:
        """(R, K) chips ordered by choice at `prices`: the free spend split by the logit shares."""
        return self.free_spend(prices)[:, None] * self.shares / prices[None, :]

    def chips(self, prices: np.ndarray) -> np.ndarray:
        """(R, K) chips ordered at `prices`: deals' chips plus the chosen ones."""
        chosen = self.chosen(prices)
        return chosen if self.committed is None else self.committed + chosen


@dataclass(frozen=True)
class Fills:
    """What clearing delivered (clearing phase)."""

    ordered: np.ndarray  # (K,) chips ordered (first round)
    filled: np.ndarray  # (R, K) chips delivered to each buyer row, both rounds
    made: np.ndarray  # (K,) chips produced this month (committed supply allocated to the chip)

    @property
    def sold(self) -> np.ndarray:
        """(K,) chips delivered."""
        return self.filled.sum(axis=0)


@dataclass(frozen=True)
class RentalOutcome:
    """What the rental market did this month (rental phase): HEq-hours labs wanted and got, USD they paid, and
    per chip type (over all clouds) the chip-hours rented and the USD they brought in."""

    wanted: float  # HEq-hours labs wanted at the clouds' prices
    got: float  # HEq-hours rented
    paid: float  # USD labs paid for them
    chip_hours: dict[str, float]  # chip id -> chip-hours rented out (chips that were rented only)
    chip_usd: dict[str, float]  # chip id -> USD of rentals (spot and contracts, at the prices they were rented for)
    # chip id -> USD its rented hours are worth at the clouds' prices of the month (what a new rental pays)
    chip_market_usd: dict[str, float] = dataclasses.field(default_factory=dict)
    contracted: float = 0.0  # HEq-hours of `got` delivered on labs' contracts (market/commitments.py)

    @property
    def contract_share(self) -> float:
        """Share of the HEq-hours rented that were delivered on contracts (NaN if nothing was rented)."""
        return self.contracted / self.got if self.got else float("nan")

    def chip_price(self, chip_id: str) -> float:
        """USD per chip-hour an hour of `chip_id` rents for this month: its renting clouds' posted prices, weighted by
        the hours each rented (a contract signed earlier earns its own price: `chip_usd`); NaN if no cloud rented
        one."""
        hours = self.chip_hours.get(chip_id, 0.0)
        return self.chip_market_usd[chip_id] / hours if hours > 0 else float("nan")

    @property
    def fill_rate(self) -> float:
        """Share of what labs wanted that they got (NaN if they wanted nothing)."""
        return self.got / self.wanted if self.wanted else float("nan")


@dataclass(frozen=True)
class EcosystemOutcome:
    """The industry after the ecosystem phase: packaging capacity for next month (HBM-GB equivalents), the packaging
    units ordered this month that drove its growth, and each vendor's packaging allocation (vendor id -> share)."""

    capacity: float
    order_units: float
    allocations: dict[str, float]


@dataclass(frozen=True)
class MonthOutcome:
    """Everything the month's phases returned, in order (what the recorder reads)."""

    book: OfferBook
    orders: Orders
    fills: Fills
    rental: RentalOutcome
    ecosystem: EcosystemOutcome
