"""Comparing scenarios: paired per-seed differences of headline metrics with bootstrap intervals, sign-flip
p-values and a Benjamini-Hochberg correction over the whole table."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from . import plots

KEY_SERIES = ("revenue_share_nvidia", "gross_margin_nvidia", "usd_per_million_tokens", "capex_total",
              "vc_deployed", "active_startups")
BOOTSTRAP_SAMPLES = 4000
# False discovery rate of the stars: among the starred differences of a table, at most about one in ten is expected
# to be a difference the scenario did not make. 10% rather than 5% because a comparison holds dozens of tests and
# 5-8 seeds: at 5% only the very largest effects would survive the correction.
FDR_LEVEL = 0.10
SIGN_FLIP_EXACT_SEEDS = 14  # up to this many paired seeds every sign pattern is enumerated (2**14 = 16384)
SIGN_FLIP_DRAWS = 20_000  # random sign patterns above that


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


def sign_flip_p_value(differences: np.ndarray, seed: int = 0) -> float:
    """Two-sided p-value of "no effect" for paired per-seed differences (scenario - base, in the metric's units):
    the share of sign patterns (each seed's difference kept or negated) whose mean is at least as far from zero as
    the observed mean. NaN differences are left out; NaN when none is left.

    Why a sign-flip permutation test and not a bootstrap p-value: with no effect, a seed's difference is as likely
    to be negative as positive (the pair differs only by the lever), and under that assumption the test is exact
    at any number of seeds. A bootstrap over 5-8 seeds is too narrow (its spread is the sample's, not the
    population's) and stars too much. The price of exactness is a floor: the smallest attainable p is 2 / 2**n
    (1/16 at 5 seeds, 1/128 at 8), so few seeds cannot star anything after a correction over many tests.
    Every pattern is enumerated up to SIGN_FLIP_EXACT_SEEDS seeds; above, SIGN_FLIP_DRAWS random patterns
    (seeded, so reproducible) with the observed one counted in, p = (1 + hits) / (1 + draws)."""
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan")
    observed = abs(d.mean())
    tolerance = 1e-12 * max(observed, float(np.abs(d).mean()))  # equal means computed in another order still tie
    if d.size <= SIGN_FLIP_EXACT_SEEDS:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=d.size)))
        return float(np.mean(np.abs(signs @ d) / d.size >= observed - tolerance))
    rng = np.random.default_rng(seed)
    signs = rng.choice((1.0, -1.0), size=(SIGN_FLIP_DRAWS, d.size))
    hits = int(np.sum(np.abs(signs @ d) / d.size >= observed - tolerance))
    return (1 + hits) / (1 + SIGN_FLIP_DRAWS)


def bh_q_values(p_values) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) of a family of tests; NaN p-values stay NaN and are not
    counted in the family. A test is a discovery at false discovery rate a when its q < a."""
    from scipy.stats import false_discovery_control

    p = np.asarray(p_values, dtype=float)
    q = np.full(p.shape, np.nan)
    tested = np.isfinite(p)
    if tested.any():
        q[tested] = false_discovery_control(p[tested], method="bh")
    return q


MATERIAL_CHANGE = 0.01  # a difference under 1% of the baseline's level is not starred however sure it is


def human(value: float) -> str:
    """A number as a reader says it: thousands, millions and billions by suffix, 3 significant digits, never in
    scientific notation; fractions of 1 as they are (a share 0.85 stays 0.85)."""
    if not np.isfinite(value):
        return "n/a"
    size = abs(value)
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= scale:
            return f"{value / scale:.3g}{suffix}"
    if size == 0 or size >= 0.01:
        return f"{value:.3g}"
    return f"{value:.2g}" if size >= 1e-4 else "~0"


def relative_change(difference: float, base: float) -> float:
    """The difference as a fraction of the baseline's level (NaN when the baseline is 0)."""
    return difference / abs(base) if base and np.isfinite(base) else float("nan")


def material(difference: float, base: float) -> bool:
    """Large enough to mention: at least MATERIAL_CHANGE of the baseline's level (any change from a zero level)."""
    change = relative_change(difference, base)
    return bool(abs(change) >= MATERIAL_CHANGE) if np.isfinite(change) else bool(difference)


def star_rule(tests: int, level: float = FDR_LEVEL) -> str:
    """The sentence a table's stars stand for."""
    return f"starred: BH-adjusted q < {level:.2f} over {tests} tests"


def mark_discoveries(table: pd.DataFrame, min_seeds: int, level: float = FDR_LEVEL) -> pd.DataFrame:
    """`table` (columns p_value and seeds) with q_value (Benjamini-Hochberg over every row with a p-value: the whole
    table is one family), significant_bh (q < level and at least `min_seeds` paired seeds: below that no row is
    starred) and star_rule (the sentence naming the rule and the number of tests)."""
    table = table.copy()
    if table.empty:
        return table.assign(q_value=pd.Series(dtype=float), significant_bh=pd.Series(dtype=bool),
                            star_rule=pd.Series(dtype=str))
    table["q_value"] = bh_q_values(table["p_value"])
    table["significant_bh"] = (table["q_value"] < level) & (table["seeds"] >= min_seeds)
    table["star_rule"] = star_rule(int(table["p_value"].notna().sum()), level)
    return table


def compare_runs(run_dirs: list[Path], min_seeds_for_significance: int = 5) -> pd.DataFrame:
    """One row per (scenario, metric): base and scenario means, the mean paired difference and its 90% interval,
    its sign-flip p-value and Benjamini-Hochberg q-value over the whole table.

    `excludes_zero` says whether the interval excludes 0 (uncorrected). `significant_bh` is the star: q < FDR_LEVEL
    with at least `min_seeds_for_significance` paired seeds (a bootstrap over one or two seeds excludes 0 for any
    difference); `significant` is the same star, kept under its old name for readers of older tables. With a
    single seed there is no interval (NaN)."""
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
                "p05": lo, "p95": hi, "excludes_zero": bool(lo > 0 or hi < 0), "p_value": sign_flip_p_value(diff),
            })
    rows = pd.DataFrame(rows) if rows else pd.DataFrame(columns=["scenario", "metric", "seeds", "p_value"])
    table = mark_discoveries(rows, min_seeds_for_significance)
    table["significant"] = table["significant_bh"]
    return table


def unchanged_scenarios(run_dirs: list[Path]) -> list[str]:
    """The scenarios (the run folders after the first, by name) whose headline metrics equal the first's in every
    paired seed and every metric: their change did nothing in the months run (it may begin after them)."""
    from .runner import read_stored

    metrics = [read_stored(Path(d) / "metrics_by_seed.parquet", pd.read_parquet).set_index("seed") for d in run_dirs]
    base = metrics[0]
    return [Path(folder).name for folder, other in zip(run_dirs[1:], metrics[1:], strict=True)
            if _same_results(base, other)]


def _same_results(base: pd.DataFrame, other: pd.DataFrame) -> bool:
    """Whether two per-seed metric tables hold the same seeds and metrics with equal values (NaN equal to NaN)."""
    if not base.index.equals(other.index) or list(base.columns) != list(other.columns):
        return False
    return all(np.array_equal(base[m].to_numpy(dtype=float), other[m].to_numpy(dtype=float), equal_nan=True)
               for m in base.columns)


def comparison_figure(run_dirs: list[Path], path: Path) -> Path:
    from .runner import read_stored

    tables = {Path(d).name: read_stored(Path(d) / "model_monthly.parquet", pd.read_parquet) for d in run_dirs}
    return plots.scenario_bands_chart(tables, KEY_SERIES, path)
