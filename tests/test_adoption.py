"""AI adoption (market/adoption.py): the frontier region's training sets AI's potential, and AI's economic potential
bounds it."""

from __future__ import annotations

import math

import mesa
import numpy as np
import pytest

from agents.lab import Lab
from market.adoption import TRAINING_HISTORY_MONTHS, Adoption, saturated
from market.config import LabFinanceConfig


def grown(adoption: Adoption, months: int, training) -> list[float]:
    """Adoption's index after each of `months` months of `training(month)` (HEq-hours by region)."""
    out = []
    for month in range(months):
        adoption.step(training(month))
        out.append(adoption.index)
    return out


def test_saturated_is_a_smooth_minimum():
    potentials = np.geomspace(0.01, 1e4, 200)
    capped = np.array([saturated(p, 100.0) for p in potentials])
    assert np.all(np.diff(capped) > 0)  # more capability is never worth less
    assert np.all(capped <= np.minimum(potentials, 100.0) + 1e-12)
    assert capped[0] == pytest.approx(potentials[0], rel=1e-6)  # far below the cap: about untouched
    assert capped[-1] == pytest.approx(100.0, rel=1e-4)  # far above it: the cap
    assert saturated(5.0, math.inf) == 5.0


def test_the_start_value_puts_the_potential_in_adoptions_units():
    adoption = Adoption(0.2, 0.3, 1.0, potential_usd_per_year=4.4e12)
    assert adoption.index_cap == math.inf and not adoption.start_measured  # not measured yet: no bound
    adoption.measure_start_value(1.5e10)
    assert adoption.start_measured
    assert adoption.cap == pytest.approx(0.2 * 4.4e12 / 1.5e10)
    assert adoption.index_cap == pytest.approx(4.4e12 / 1.5e10)
    adoption.measure_start_value(3e10)  # only the first month counts
    assert adoption.index_cap == pytest.approx(4.4e12 / 1.5e10)


def test_adoption_saturates_at_the_economic_potential_while_compute_compounds():
    bounded = Adoption(0.2, 0.3, 1.0, potential_usd_per_year=1e12)
    bounded.measure_start_value(1e10)  # the potential is 100x the start's use
    unbounded = Adoption(0.2, 0.3, 1.0)

    def training(month):  # compute that doubles every year, for 20 years
        return {"us": 1e9 * 2.0 ** (month / 12.0)}

    capped, free = grown(bounded, 240, training), grown(unbounded, 240, training)
    assert free[-1] > 1e3  # without the bound, use follows compute without end
    assert max(capped) <= 100.0 * (1.0 + 1e-9)
    assert capped[-1] > 95.0  # it does reach the bound
    assert capped[-1] / capped[-13] - 1.0 < 0.01  # and stops growing there
    far_below = max(m for m, value in enumerate(free) if value < 10.0)  # a tenth of the bound
    assert capped[far_below] == pytest.approx(free[far_below], rel=0.01)  # far below the bound the two agree


def test_the_frontier_region_sets_the_potential_not_the_worlds_total():
    """A region cut off from chips (its training falls to a tenth) slows nobody else: the potential follows the region
    that has trained with the most compute. Only when the frontier itself stops does the potential stop rising."""
    base, cut, frontier_stops = (Adoption(0.2, 0.3, 0.9) for _ in range(3))
    us = [1e9 * 1.05 ** m for m in range(120)]
    cn = [2e8 * 1.05 ** m for m in range(120)]
    base_path = grown(base, 120, lambda m: {"us": us[m], "cn": cn[m]})
    cut_path = grown(cut, 120, lambda m: {"us": us[m], "cn": cn[m] if m < 24 else cn[m] / 10.0})
    assert cut_path == base_path
    stop_path = grown(frontier_stops, 120, lambda m: {"us": us[m] if m < 24 else 0.0, "cn": cn[m]})
    assert stop_path[40] < base_path[40]
    # the history before the run counts: the frontier starts with TRAINING_HISTORY_MONTHS of its first month
    assert base.start_cumulative == pytest.approx(TRAINING_HISTORY_MONTHS * us[0])


def test_a_labs_revenue_is_bounded_by_the_same_potential():
    finance = LabFinanceConfig()
    lab = Lab(mesa.Model(rng=0), "lab", True, cash=1e9, revenue=1e8, affinity=np.ones(2))
    rng = np.random.default_rng(0)
    lab.update_business(1e6, finance, rng, index_cap=50.0)
    assert lab.revenue <= 1e8 * 50.0 * (1 + 1e-9)
    lab.update_business(2.0, finance, rng, index_cap=500.0)  # far below the bound: about as without it
    unbounded = 1e8 * 2.0 ** finance.lab_adoption_elasticity * 2.0 ** (finance.lab_revenue_elasticity * lab.capability)
    assert lab.revenue == pytest.approx(unbounded, rel=1e-5)
