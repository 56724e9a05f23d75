"""Chips' roofline rates kept between months, so the roofline runs only for a chip whose inputs changed.

A chip's training or serving rate (market/performance.py) depends on the chip, the workload and the software
maturity of its vendor's stack (the run's efficiency parameters are fixed). The chip set grows when a chip is
released and the workload may change (a serving mix), but maturity moves a little every month for every vendor,
so a cache keyed on exact maturity never hits in a run (seed 0, 120 months: 0 hits in 3,445 chip-months). With
`bucket` > 0 maturity is rounded to the nearest multiple of `bucket` before the roofline sees it, and a chip is
evaluated again only when its rounded maturity (or the workload) changes; this changes outputs, by an amount the
closing note of issue 29 measures. With `bucket` = 0 rates are evaluated each month at the exact maturity, with no
cache (the baseline).

Each chip is evaluated on its own row of the roofline's arrays, so evaluating the missing chips alone gives each
the same rate, to the bit, as evaluating the whole set (tests/test_rate_cache.py). Chips are keyed by id: the cache
is for the model's chip index, where an id names one chip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from hardware_catalog import Accelerator, EfficiencyParams, Workload

from . import performance

RateFunction = Callable[[Sequence[Accelerator], np.ndarray, Workload, EfficiencyParams], np.ndarray]


def bucketed(maturity, bucket: float) -> np.ndarray:
    """Maturity rounded to the nearest multiple of `bucket` (unchanged for `bucket` = 0), as a float array."""
    maturity = np.asarray(maturity, dtype=float)
    return maturity if bucket <= 0 else np.round(maturity / bucket) * bucket


class RateCache:
    """Training and serving rates (tokens/s per chip, market/performance.py) by (workload, chip, rounded maturity)."""

    def __init__(self, efficiency: EfficiencyParams, bucket: float) -> None:
        self.efficiency = efficiency
        self.bucket = bucket
        self._rates: dict[tuple[str, str], dict[tuple[str, float], float]] = {}  # (kind, workload) -> key -> rate
        self.evaluated = 0  # chip rates the roofline computed (for tests and benchmarks)

    def training(self, chips: Sequence[Accelerator], maturity, workload: Workload) -> np.ndarray:
        """(K,) training tokens/s per chip at the (rounded) maturity of each chip's stack."""
        return self._lookup("train", performance.training_rates, chips, maturity, workload)

    def serving(self, chips: Sequence[Accelerator], maturity, workload: Workload) -> np.ndarray:
        """(K,) best serving output tokens/s per chip at the (rounded) maturity of each chip's stack."""
        return self._lookup("serve", performance.serving_rates, chips, maturity, workload)

    def _lookup(self, kind: str, rates_of: RateFunction, chips, maturity, workload: Workload) -> np.ndarray:
        maturity = bucketed(maturity, self.bucket)
        if self.bucket <= 0:
            self.evaluated += len(chips)
            return rates_of(chips, maturity, workload, self.efficiency)
        known = self._rates.setdefault((kind, workload.id), {})
        keys = [(c.id, float(m)) for c, m in zip(chips, maturity, strict=True)]
        missing = [i for i, key in enumerate(keys) if key not in known]
        if missing:
            fresh = rates_of([chips[i] for i in missing], maturity[missing], workload, self.efficiency)
            known.update(zip((keys[i] for i in missing), fresh.tolist(), strict=True))
            self.evaluated += len(missing)
        return np.array([known[key] for key in keys])
