"""Economic dynamics without spurious loops (issue 24 item 3): with no growth in AI adoption the market settles, and
a one-quarter demand shock fades instead of flipping the market's path years later. Also with committed supply."""

from __future__ import annotations

import numpy as np
import pytest

from hardware_catalog import load_catalog
from market.config import VentureConfig, fitted_config
from market.model import ComputeMarket

pytestmark = pytest.mark.slow
CATALOG = load_catalog()
SEEDS = (0, 1)


def yearly(model: ComputeMarket, column: str) -> np.ndarray:
    table = model.model_table()
    return table.groupby(table.index // 12)[column].sum().to_numpy()


def run(months: int, seed: int, **overrides) -> ComputeMarket:
    model = ComputeMarket(fitted_config(CATALOG, months=months, venture=VentureConfig(enabled=False), **overrides),
                          catalog=CATALOG, rng=seed)
    model.run()
    return model


@pytest.mark.parametrize("lead_time", [0, 6])
def test_with_adoption_held_the_market_settles_to_a_steady_state(lead_time):
    """No diffusion and no growth of AI's potential, and demand of unit elasticity to the cost of work (so cheaper
    chips neither grow nor shrink what is spent on them): after the starting fleet has adjusted, chip spending
    stays within 10% from year to year and neither trends nor oscillates."""
    for seed in SEEDS:
        model = run(120, seed, adoption_speed=0.0, capability_elasticity=0.0, demand_elasticity=1.0,
                    supply_lead_time_months=lead_time)
        capex = yearly(model, "capex_total")[5:]  # years 6-10
        changes = capex[1:] / capex[:-1] - 1.0
        assert np.all(np.abs(changes) < 0.10), (seed, lead_time, capex)
        assert abs(capex[-1] / capex[0] - 1.0) < 0.15, (seed, lead_time, capex)


@pytest.mark.parametrize("lead_time", [0, 6])
def test_a_one_quarter_demand_shock_fades(lead_time):
    """A quarter in which clouds' own AI demand and labs' revenue halve: the effect on chip revenue in the year that
    starts three years after it (mean over paired seeds, relative to the baseline) is small against its peak
    quarterly effect, and it leaves no lasting boom or bust behind."""
    start = 36  # 2026-01, in months from the run's start
    peaks, later = [], []
    for seed in range(4):
        base = run(96, seed, supply_lead_time_months=lead_time)
        shock = run(96, seed, supply_lead_time_months=lead_time, demand_shock_start="2026-01", demand_shock_months=3,
                    demand_shock_scale=0.5)
        b, s = base.model_table()["chip_revenue"].to_numpy(), shock.model_table()["chip_revenue"].to_numpy()
        quarters = np.arange(0, len(b), 3)
        quarterly = np.add.reduceat(s - b, quarters) / np.add.reduceat(b, quarters)
        peaks.append(np.max(np.abs(quarterly[start // 3: start // 3 + 4])))
        year = slice(start + 3 + 36, start + 3 + 48)
        later.append((s[year].sum() - b[year].sum()) / b[year].sum())
    peak, lasting = float(np.mean(peaks)), float(np.mean(later))
    assert peak > 0.2, (lead_time, peaks)  # the shock bites
    assert abs(lasting) < 0.25 * peak, (lead_time, peak, later)
