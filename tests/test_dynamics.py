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
    """A quarter in which clouds' own AI demand and labs' revenue halve: its effect on chip revenue three years
    after it ended is small against its peak effect (paired seeds), and it leaves no lasting boom behind."""
    for seed in SEEDS:
        base = run(96, seed, supply_lead_time_months=lead_time)
        shock = run(96, seed, supply_lead_time_months=lead_time, demand_shock_start="2026-01", demand_shock_months=3,
                    demand_shock_scale=0.5)
        b, s = base.model_table()["chip_revenue"].to_numpy(), shock.model_table()["chip_revenue"].to_numpy()
        start = 36  # 2026-01
        quarterly = np.add.reduceat(s - b, np.arange(0, len(b), 3)) / np.add.reduceat(b, np.arange(0, len(b), 3))
        peak = np.max(np.abs(quarterly[start // 3: start // 3 + 4]))
        later = np.abs(quarterly[(start + 39) // 3: (start + 39) // 3 + 4])  # the year from three years after
        assert peak > 0.05, (seed, lead_time, quarterly)  # the shock bites
        assert np.all(later < 0.25 * peak), (seed, lead_time, peak, later)
