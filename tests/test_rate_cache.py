"""The roofline rates kept between months (market/rate_cache.py): a cached run is the same run as one that evaluates
every chip every month at the same rounded maturity, and a chip evaluated apart has the rate it has in the set."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hardware_catalog import load_catalog
from market import performance
from market.config import VentureConfig, fitted_config
from market.model import ComputeMarket
from market.rate_cache import RateCache, bucketed

CATALOG = load_catalog()
EFFICIENCY = performance.market_efficiency(CATALOG.efficiency)


class EveryMonth(RateCache):
    """The uncached reference: every chip evaluated at its rounded maturity on every call."""

    def _lookup(self, kind, rates_of, chips, maturity, workload):
        self.evaluated += len(chips)
        return rates_of(chips, bucketed(maturity, self.bucket), workload, self.efficiency)


def run(bucket: float, cache_type=RateCache, months: int = 36) -> ComputeMarket:
    config = fitted_config(months=months, venture=VentureConfig(enabled=False), rate_maturity_bucket=bucket)
    model = ComputeMarket(config, rng=5)
    model.rate_cache = cache_type(model.rate_cache.efficiency, bucket)
    model.run()
    return model


@pytest.mark.parametrize("rates_of", [performance.training_rates, performance.serving_rates])
def test_a_chip_evaluated_apart_has_its_rate_in_the_whole_set_to_the_bit(rates_of):
    chips = list(CATALOG.accelerators.values())
    maturity = np.linspace(0.1, 1.0, len(chips))
    for workload in (CATALOG.workload("llama-3-70b"), CATALOG.workload("deepseek-v3")):
        whole = rates_of(chips, maturity, workload, EFFICIENCY)
        apart = [rates_of([chip], maturity[i:i + 1], workload, EFFICIENCY)[0] for i, chip in enumerate(chips)]
        assert (whole > 0).any()
        np.testing.assert_array_equal(apart, whole)


def test_a_cached_run_is_the_run_that_evaluates_every_chip_every_month():
    cached, uncached = run(0.01), run(0.01, EveryMonth)
    pd.testing.assert_frame_equal(cached.model_table(), uncached.model_table(), check_exact=True)
    pd.testing.assert_frame_equal(cached.vendor_table(), uncached.vendor_table(), check_exact=True)
    assert cached.rate_cache.evaluated < uncached.rate_cache.evaluated / 3  # and the cache did hit


def test_without_a_bucket_rates_are_the_roofline_at_the_exact_maturity():
    chips = list(CATALOG.accelerators.values())[:6]
    maturity = [0.61234567, 0.7, 0.80000001, 0.9, 0.95, 1.0]
    workload = CATALOG.workload("llama-3-70b")
    cache = RateCache(EFFICIENCY, 0.0)
    np.testing.assert_array_equal(cache.serving(chips, maturity, workload),
                                  performance.serving_rates(chips, maturity, workload, EFFICIENCY))
    coarse = RateCache(EFFICIENCY, 0.1)
    np.testing.assert_array_equal(coarse.training(chips, maturity, workload),
                                  performance.training_rates(chips, bucketed(maturity, 0.1), workload, EFFICIENCY))


def test_rates_are_kept_per_workload():
    chips = list(CATALOG.accelerators.values())[:6]
    maturity = np.full(len(chips), 0.8)
    cache = RateCache(EFFICIENCY, 0.01)
    dense, moe = CATALOG.workload("llama-3-70b"), CATALOG.workload("deepseek-v3")
    first = cache.serving(chips, maturity, dense)
    np.testing.assert_array_equal(cache.serving(chips, maturity, moe),
                                  performance.serving_rates(chips, maturity, moe, EFFICIENCY))
    np.testing.assert_array_equal(cache.serving(chips, maturity, dense), first)
    assert cache.evaluated == 2 * len(chips)
