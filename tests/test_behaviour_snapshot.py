"""Behaviour snapshot: two seeds of a 36-month run of the whole model (chip market and venture side), compared
with a stored copy of its headline metrics and a few monthly series (tests/snapshots/behaviour.json).

Any change to what agents decide shows up here. A deliberate change updates the snapshot in the same commit,
with the reason in the commit message:

    COMPUTE_MARKET_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest tests/test_behaviour_snapshot.py

Values are compared to a relative 1e-9 rather than bit for bit, so that a different numpy build or BLAS on
another machine (which may sum in another order) does not fail it; a change in any decision moves figures by
far more than that.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from experiments.market_report import headline_metrics
from market.config import fitted_config
from market.model import ComputeMarket

SNAPSHOT = Path(__file__).parent / "snapshots" / "behaviour.json"
SEEDS = (0, 1)
MONTHS = 36
SERIES = ("chip_revenue", "revenue_share_nvidia", "gross_margin_nvidia", "capex_total", "rental_price_heq_hour",
          "frontier_lab_revenue", "writedowns", "funded_rounds", "vc_deployed", "exits")
RELATIVE = 1e-9


def _clean(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def behaviour(seed: int) -> dict:
    model = ComputeMarket(fitted_config(months=MONTHS), rng=seed)
    model.run()
    monthly = model.model_table()
    return {
        "metrics": {k: _clean(v) for k, v in headline_metrics(monthly, model.vendor_table()).items()},
        "series": {name: [_clean(v) for v in monthly[name].to_numpy(dtype=float)] for name in SERIES},
        "ledger_usd": float(model.ledger.frame().eval("units * unit_price").sum()),
    }


def current() -> dict:
    return {"months": MONTHS, "seeds": list(SEEDS), "runs": {str(seed): behaviour(seed) for seed in SEEDS}}


def _differences(stored, now, path="") -> list[str]:
    if isinstance(stored, dict):
        keys = set(stored) | set(now)
        return [d for k in sorted(keys) for d in _differences(stored.get(k), now.get(k), f"{path}/{k}")]
    if isinstance(stored, list):
        if len(stored) != len(now):
            return [f"{path}: length {len(stored)} -> {len(now)}"]
        for i, (a, b) in enumerate(zip(stored, now, strict=True)):
            if _differences(a, b):
                return [f"{path}: first differs at month {i}: {a!r} -> {b!r}"]
        return []
    if stored is None or now is None or isinstance(stored, str):
        return [] if stored == now else [f"{path}: {stored!r} -> {now!r}"]
    return [] if math.isclose(stored, now, rel_tol=RELATIVE, abs_tol=1e-12) else [f"{path}: {stored!r} -> {now!r}"]


def test_behaviour_matches_the_stored_snapshot():
    now = current()
    if os.environ.get("COMPUTE_MARKET_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(now, indent=1) + "\n")
        pytest.skip(f"snapshot rewritten: {SNAPSHOT}")
    assert SNAPSHOT.exists(), f"no snapshot at {SNAPSHOT}: run with COMPUTE_MARKET_UPDATE_SNAPSHOT=1 to write it"
    differences = _differences(json.loads(SNAPSHOT.read_text()), now)
    assert not differences, "behaviour changed (update the snapshot if deliberate):\n" + "\n".join(differences[:20])


def test_the_comparison_notices_a_change_in_one_month():
    stored = {"series": {"x": [1.0, 2.0, None]}, "metrics": {"m": 0.5}}
    assert _differences(stored, stored) == []
    assert _differences(stored, {"series": {"x": [1.0, 2.0 * (1 + 1e-6), None]}, "metrics": {"m": 0.5}}) == [
        "/series/x: first differs at month 1: 2.0 -> 2.000002"]
    assert _differences(stored, {"series": {"x": [1.0, 2.0, 3.0]}, "metrics": {"m": 0.5}})
    assert _differences(stored, {"series": {"x": [1.0, 2.0, None]}, "metrics": {"m": 0.5 * (1 + 1e-12)}}) == []
