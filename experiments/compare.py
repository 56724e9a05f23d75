"""Comparing scenarios: paired per-seed differences of headline metrics with bootstrap intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import plots

KEY_SERIES = ("revenue_share_nvidia", "gross_margin_nvidia", "usd_per_million_tokens", "capex_total",
              "vc_deployed", "active_startups")
BOOTSTRAP_SAMPLES = 4000


def bootstrap_interval(differences: np.ndarray, level: float = 0.9, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of paired differences (resampling seeds)."""
    differences = np.asarray(differences, dtype=float)
    differences = differences[np.isfinite(differences)]
    if differences.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = rng.choice(differences, size=(BOOTSTRAP_SAMPLES, differences.size), replace=True).mean(axis=1)
    tail = (1.0 - level) / 2.0
    return float(np.quantile(means, tail)), float(np.quantile(means, 1.0 - tail))


def compare_runs(run_dirs: list[Path], min_seeds_for_significance: int = 5) -> pd.DataFrame:
    """One row per (scenario, metric): base and scenario means, the mean paired difference and its 90% interval.

    `excludes_zero` says whether the interval excludes 0; `significant` says so only with at least
    `min_seeds_for_significance` paired seeds (a bootstrap over one or two seeds excludes 0 for any difference).
    With a single seed there is no interval (NaN).
    """
    from .runner import read_stored

    metrics = [read_stored(Path(d) / "metrics_by_seed.parquet", pd.read_parquet).set_index("seed") for d in run_dirs]
    base = metrics[0]
    rows = []
    for folder, other in zip(run_dirs[1:], metrics[1:], strict=True):
        seeds = base.index.intersection(other.index)
        for metric in base.columns:
            if metric not in other.columns:
                continue
            diff = (other.loc[seeds, metric] - base.loc[seeds, metric]).to_numpy(dtype=float)
            lo, hi = bootstrap_interval(diff) if len(seeds) > 1 else (float("nan"), float("nan"))
            rows.append({
                "scenario": Path(folder).name, "metric": metric, "seeds": len(seeds),
                "base_mean": float(base.loc[seeds, metric].mean()), "scenario_mean": float(other.loc[seeds,
                                                                                                     metric].mean()),
                "difference": float(np.nanmean(diff)) if np.isfinite(diff).any() else float("nan"),
                "p05": lo, "p95": hi, "excludes_zero": bool(lo > 0 or hi < 0),
                "significant": bool((lo > 0 or hi < 0) and len(seeds) >= min_seeds_for_significance),
            })
    return pd.DataFrame(rows)


def comparison_figure(run_dirs: list[Path], path: Path) -> Path:
    from .runner import read_stored

    tables = {Path(d).name: read_stored(Path(d) / "model_monthly.parquet", pd.read_parquet) for d in run_dirs}
    return plots.scenario_bands_chart(tables, KEY_SERIES, path)
