"""What buyers serve in a month and how fast chips serve it, relative to the reference H100.

The mix follows the catalog's dated serving path (hardware_catalog/data/paths.toml: dense 70B-class in 2023,
mixture-of-experts-dominated from 2025) unless the config names one model (`policy.serving_workload`); an architecture
shift (`policy.serving_shift_*`) then moves its share of that mix to its model. A chip's serving work rate is its
tokens/s on each model over the reference H100's, weighted by the model's share of served tokens; the tokens it
serves per second are the same weights on its tokens/s (for the price per token actually served).
"""

from __future__ import annotations

import numpy as np

from hardware_catalog import Catalog

from . import performance


class ServingMix:
    """The month's mix of served models and chips' serving rates on it."""

    def __init__(self, catalog: Catalog, policy) -> None:
        self.catalog = catalog
        self.policy = policy
        self._reference: dict[str, float] = {}  # workload id -> the reference H100's tokens/s on it

    def shares(self, date: str, shifted: float = 0.0) -> dict[str, float]:
        """Share of served tokens of each model in `date` (YYYY-MM), `shifted` of it moved to the shift's model."""
        named = self.policy.serving_workload
        base = {named: 1.0} if named else (self.catalog.paths.serving_mix_at(date)
                                           or {performance.REFERENCE_WORKLOAD: 1.0})
        if shifted <= 0:
            return base
        out = {w: (1.0 - shifted) * s for w, s in base.items()}
        target = self.policy.serving_shift_workload
        out[target] = out.get(target, 0.0) + shifted
        return out

    def reference_rate(self, workload_id: str) -> float:
        """The reference H100's serving tokens/s on a model (at NVIDIA's starting maturity), computed once."""
        if workload_id not in self._reference:
            cat = self.catalog
            chip = cat.accelerator(performance.REFERENCE_CHIP)
            maturity = [cat.vendors[chip.vendor].software_maturity]
            rate = performance.serving_rates([chip], maturity, cat.workload(workload_id), cat.efficiency)[0]
            self._reference[workload_id] = float(rate)
        return self._reference[workload_id]

    def rates(self, chips, maturity, shares: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """(serving work rate relative to the H100, output tokens/s of the mix) of each chip (K,), K = len(chips)."""
        relative = np.zeros(len(chips))
        tokens = np.zeros(len(chips))
        served = [(workload_id, share) for workload_id, share in shares.items() if share > 0]
        rates = performance.mix_serving_rates(chips, maturity, [self.catalog.workload(w) for w, _ in served],
                                              self.catalog.efficiency)
        for (workload_id, share), rate in zip(served, rates, strict=True):
            relative += share * rate / self.reference_rate(workload_id)
            tokens += share * rate
        return relative, tokens
