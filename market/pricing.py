"""Prices, margins and cloud total cost of ownership. Pure numpy; every function broadcasts.

Units: USD, hours, watts, kW, years. The economics (DESIGN.md section 5):
- vendor price p = c / (1 - m) for manufacturing cost c and gross margin m;
- cloud hourly cost of a chip = capital recovery of (p + system/network overhead) over the
  depreciation life at the cost of capital + power (TDP x (1 + host share) x PUE x USD/kWh)
  + hosting (USD per kW-month of IT load);
- rental price per billed hour = hourly cost / utilisation x (1 + cloud markup);
- value to a buyer = USD per unit of useful work = hourly price / roofline throughput.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from hardware_catalog.records import TCOParams

HOURS_PER_YEAR = 8766.0  # 365.25 days
HOURS_PER_MONTH = HOURS_PER_YEAR / 12.0


def vendor_price(manufacturing_cost, gross_margin):
    """Unit price (USD) at which a chip costing `manufacturing_cost` earns `gross_margin` (< 1)."""
    gross_margin = np.asarray(gross_margin, dtype=float)
    if np.any(gross_margin >= 1.0):
        raise ValueError("gross margin must be below 1")
    return np.asarray(manufacturing_cost, dtype=float) / (1.0 - gross_margin)


def gross_margin(price, manufacturing_cost):
    """Gross margin (fraction of price) of selling at `price` what costs `manufacturing_cost`."""
    price = np.asarray(price, dtype=float)
    return (price - np.asarray(manufacturing_cost, dtype=float)) / price


def capital_recovery_factor(annual_rate, years):
    """Share of an investment to recover per year to repay it with interest over `years` (annuity)."""
    annual_rate = np.asarray(annual_rate, dtype=float)
    years = np.asarray(years, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        annuity = annual_rate / (1.0 - (1.0 + annual_rate) ** -years)
    return np.where(annual_rate > 0, annuity, 1.0 / years)


@functools.lru_cache(maxsize=16)
def _recovery_factor(annual_rate: float, years: float) -> np.ndarray:
    """capital_recovery_factor of one (rate, years), computed once: hourly_cost asks for the run's TCO's about ten
    times a month."""
    return capital_recovery_factor(annual_rate, years)


@dataclass(frozen=True)
class HourlyCost:
    """Cloud cost of running one chip for one hour, by component (USD per chip-hour)."""

    capital: np.ndarray
    power: np.ndarray
    hosting: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return self.capital + self.power + self.hosting


def hourly_cost(chip_price, tdp_w, tco: TCOParams) -> HourlyCost:
    """USD per chip-hour for a cloud that paid `chip_price` for a chip drawing `tdp_w` watts."""
    capex = np.asarray(chip_price, dtype=float) * (1.0 + tco.system_overhead_fraction)
    capital = capex * _recovery_factor(tco.cost_of_capital, tco.depreciation_years) / HOURS_PER_YEAR
    it_kw = np.asarray(tdp_w, dtype=float) * (1.0 + tco.host_power_fraction) / 1000.0
    power = it_kw * tco.pue * tco.usd_per_kwh
    hosting = it_kw * tco.hosting_usd_per_kw_month / HOURS_PER_MONTH
    return HourlyCost(capital=capital, power=power, hosting=hosting)


def rental_price(hourly_cost_usd, tco: TCOParams, markup=None):
    """USD per billed chip-hour: cost per hour spread over billed hours, times (1 + markup)."""
    markup = tco.cloud_markup if markup is None else markup
    return np.asarray(hourly_cost_usd, dtype=float) / tco.utilisation * (1.0 + np.asarray(markup, dtype=float))


def usd_per_million_tokens(price_per_chip_hour, chips, tokens_per_second):
    """USD per 10^6 tokens for a group of `chips` rented at `price_per_chip_hour` producing `tokens_per_second`."""
    group_per_second = np.asarray(price_per_chip_hour, dtype=float) * np.asarray(chips, dtype=float) / 3600.0
    return group_per_second / np.asarray(tokens_per_second, dtype=float) * 1e6


def usd_per_exaflop(price_per_chip_hour, achieved_flops_per_chip):
    """USD per 10^18 useful training FLOP at `achieved_flops_per_chip` (FLOP/s, peak x MFU)."""
    per_second = np.asarray(price_per_chip_hour, dtype=float) / 3600.0
    return per_second / np.asarray(achieved_flops_per_chip, dtype=float) * 1e18
