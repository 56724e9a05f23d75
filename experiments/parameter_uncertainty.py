"""How sure the history calibration is of its parameters: a sample of parameter sets around the fitted point.

Method: the Gauss-Newton (Laplace) approximation of the simulated-moments fit, the sandwich covariance of the
method of simulated moments with the efficient weighting. At the fitted point x* (the parameters scaled to [0, 1]
within their bounds, as the search sees them):

- each moment's residual is r_i = log(simulated / observed) / tolerance_i (the fit's own units:
  experiments.calibrate_history.tolerance), simulated as the mean over the fit's seeds (common random numbers);
- J = dr/dx by central finite differences (one-sided at a bound) with a step of STEP in scaled units: wide enough
  to step over the kinks a simulated market has (rationing, launch dates), small against the bounds;
- each residual's variance is the observation's (one tolerance unit: a figure known to +-25% has a standard error
  of about 25%) plus the seed noise of the seed mean (variance over seeds / seeds), all scaled up by the misfit
  RSS / (moments - parameters) when that exceeds 1: a model that cannot reach its data within their tolerance is
  less sure of its parameters than the tolerances alone say (the usual non-linear least squares estimate of the
  residual variance);
- the bounds enter as a weak prior: the uniform distribution on [0, 1] has variance 1/12, so a precision of 12
  per parameter is added. A parameter the moments do not pin down keeps a spread as wide as its range, instead
  of an infinite or arbitrary one;
- covariance C = (J' S^-1 J + 12 I)^-1; draws are multivariate normal around x*, truncated to [0, 1] by
  rejection (a draw outside is redrawn; after many rejections the draw is clipped), from a fixed random
  generator, so the same fit gives the same draws.

Cost: 2 x parameters extra evaluations of the objective's simulations (18 for 9 parameters), a minute next to the
~400 of the search, and they are independent, so they run on the worker pool (or a Dask cluster) side by side.
Why not ABC-SMC or a bootstrap: each needs thousands of simulations (a bootstrap refits per replicate: ~400
evaluations each), far beyond the 30 minutes on 2 cores the calibration must fit in; this uses what the fit
already measured, and states its assumption (locally linear moments) openly.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hardware_catalog import Catalog, HistoryObservation
from market.config import MarketConfig

from .errors import UsageError

STEP = 0.05  # finite-difference step in scaled units (5% of a parameter's range)
PRIOR_PRECISION = 12.0  # 1 / variance of the uniform distribution on [0, 1]
DRAWS_FILE = "history_calibration_draws.toml"  # beside history_calibration.toml


@dataclass(frozen=True)
class Uncertainty:
    """The fitted point, its covariance (scaled units) and a sample of parameter sets (MarketConfig field -> value)."""

    names: tuple[str, ...]
    lows: np.ndarray
    highs: np.ndarray
    centre: np.ndarray  # x*, scaled to [0, 1]
    covariance: np.ndarray  # of the scaled parameters
    misfit_scale: float  # the factor the residual variances were scaled by (>= 1)
    draws: tuple[dict[str, float], ...]

    def standard_errors(self) -> dict[str, float]:
        """Each parameter's standard error in its own units."""
        sd = np.sqrt(np.diag(self.covariance)) * (self.highs - self.lows)
        return dict(zip(self.names, (float(s) for s in sd), strict=True))


def residuals(moment_values: np.ndarray, moments: Sequence[HistoryObservation],
              tolerances: np.ndarray) -> np.ndarray:
    """Signed residuals in tolerance units from a (seeds x moments) array of simulated figures: log of the seed mean
    over the observed value, over the tolerance; NaN where a figure is missing or not positive."""
    positive = np.where(moment_values > 0, moment_values, np.nan)
    counts = np.isfinite(positive).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, np.nansum(positive, axis=0) / counts, np.nan)  # no warning for a missing moment
        observed = np.array([o.value for o in moments])
        return np.log(mean / observed) / tolerances


def seed_variance(moment_values: np.ndarray, tolerances: np.ndarray) -> np.ndarray:
    """The variance of the seed mean of each moment's log, in tolerance units (0 with one seed)."""
    seeds = moment_values.shape[0]
    if seeds < 2:
        return np.zeros(moment_values.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        logs = np.log(np.where(moment_values > 0, moment_values, np.nan)) / tolerances
    finite = np.isfinite(logs)
    counts = finite.sum(axis=0)
    filled = np.where(finite, logs, 0.0)
    means = filled.sum(axis=0) / np.maximum(counts, 1)
    variance = (np.where(finite, (logs - means) ** 2, 0.0)).sum(axis=0) / np.maximum(counts - 1, 1)
    return np.where(counts >= 2, variance / seeds, 0.0)


def difference_points(centre: np.ndarray, step: float = STEP) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Per parameter, the (upper, lower) scaled points of a central difference and their distance apart; one-sided
    (the centre itself as one end) where a step would leave [0, 1]."""
    points = []
    for k in range(len(centre)):
        up, down = centre.copy(), centre.copy()
        up[k] = min(centre[k] + step, 1.0)
        down[k] = max(centre[k] - step, 0.0)
        points.append((up, down, float(up[k] - down[k])))
    return points


def covariance(jacobian: np.ndarray, residual: np.ndarray, noise: np.ndarray, parameters: int) -> tuple[np.ndarray,
                                                                                                          float]:
    """C = (J' S^-1 J + 12 I)^-1 with S = diag(noise) scaled by max(1, RSS / (n - p)); moments whose residual or
    derivative is missing are left out. Returns C and the misfit scale."""
    usable = np.isfinite(residual) & np.all(np.isfinite(jacobian), axis=1)
    J, r, s = jacobian[usable], residual[usable], noise[usable]
    dof = max(len(r) - parameters, 1)
    scale = max(1.0, float(np.sum(r ** 2 / s) / dof)) if len(r) else 1.0
    precision = J.T @ (J / (s * scale)[:, None]) + PRIOR_PRECISION * np.eye(parameters)
    return np.linalg.inv(precision), scale


def truncated_draws(centre: np.ndarray, cov: np.ndarray, count: int, seed: int = 0,
                    tries: int = 200) -> np.ndarray:
    """`count` draws from N(centre, cov) truncated to [0, 1]^p by rejection (clipped after `tries` rejections)."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, len(centre)))
    for i in range(count):
        for _ in range(tries):
            x = rng.multivariate_normal(centre, cov)
            if np.all((x >= 0.0) & (x <= 1.0)):
                break
        out[i] = np.clip(x, 0.0, 1.0)
    return out


def estimate(values: dict[str, float], lows: np.ndarray, highs: np.ndarray,
             moments_at: Callable[[list[dict[str, float]]], list[np.ndarray]], moments: Sequence[HistoryObservation],
             tolerances: np.ndarray, draws: int, seed: int = 0, step: float = STEP) -> Uncertainty:
    """The covariance and `draws` parameter sets around the fitted `values`. `moments_at` maps a list of parameter
    sets to their (seeds x moments) arrays of simulated figures (it may compute them in parallel)."""
    names = tuple(values)
    centre = np.clip((np.array([values[n] for n in names]) - lows) / (highs - lows), 0.0, 1.0)

    def values_of(x: np.ndarray) -> dict[str, float]:
        return {n: float(lo + c * (hi - lo)) for n, lo, hi, c in zip(names, lows, highs, x, strict=True)}

    pairs = difference_points(centre, step)
    sets = [values_of(centre)] + [values_of(p) for up, down, _ in pairs for p in (up, down)]
    arrays = moments_at(sets)
    at_centre = arrays[0]
    r0 = residuals(at_centre, moments, tolerances)
    jacobian = np.column_stack([
        (residuals(arrays[1 + 2 * k], moments, tolerances) - residuals(arrays[2 + 2 * k], moments, tolerances)) / width
        for k, (_, _, width) in enumerate(pairs)])
    noise = 1.0 + seed_variance(at_centre, tolerances)
    cov, scale = covariance(jacobian, r0, noise, len(names))
    sample = truncated_draws(centre, cov, draws, seed)
    return Uncertainty(names, lows, highs, centre, cov, scale, tuple(values_of(x) for x in sample))


# ------------------------------------------------------------------------------------------- the stored draws


def write_draws(uncertainty: Uncertainty, path: Path, window_end: str) -> None:
    """Save the draws (and the standard errors) beside the fitted values; read back by `load_draws`."""
    se = uncertainty.standard_errors()
    lines = [
        f"# Parameter sets consistent with the observed path to {window_end}: draws around the fitted values of",
        "# history_calibration.toml from the Gauss-Newton covariance of the simulated-moments fit (see",
        "# experiments/parameter_uncertainty.py). Written by `compute-market calibrate-history --write`; forecasts",
        "# run each draw with each seed, so their bands hold parameter uncertainty as well as seed noise.",
        "",
        "[uncertainty]",
        'method = "simulated moments, Gauss-Newton covariance with misfit scaling and a uniform-bounds prior, '
        'truncated normal draws"',
        f'window_end = "{window_end}"',
        f"misfit_scale = {uncertainty.misfit_scale:.6g}",
        "",
        "[standard_error]",
        *(f"{name} = {value:.6g}" for name, value in se.items()),
    ]
    for draw in uncertainty.draws:
        lines += ["", "[[draw]]", *(f"{name} = {value:.6g}" for name, value in draw.items())]
    Path(path).write_text("\n".join(lines) + "\n")


def load_draws(path: Path) -> tuple[dict[str, float], ...]:
    """The stored parameter draws (empty if the file is absent); a malformed file is a one-line UsageError naming
    the file and the field."""
    path = Path(path)
    if not path.exists():
        return ()
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: not readable TOML ({exc})") from None
    from .calibrate_history import PARAMETERS

    known = {p.name for p in PARAMETERS}
    draws = []
    for i, draw in enumerate(data.get("draw", []), start=1):
        for name, value in draw.items():
            if name not in known:
                raise UsageError(f"{path}: draw {i}: field '{name}': not a fitted parameter "
                                 f"({', '.join(sorted(known))})")
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise UsageError(f"{path}: draw {i}: field '{name}': must be a positive number, got {value!r}")
        draws.append({name: float(value) for name, value in draw.items()})
    return tuple(draws)


def draws_path(catalog: Catalog) -> Path:
    return Path(catalog.data_dir) / DRAWS_FILE


def stored_draws_for(config: MarketConfig, catalog: Catalog) -> tuple[dict[str, float], ...]:
    """The catalog's stored draws, each restricted to the fitted parameters `config` leaves at their fitted values
    (a scenario that sets one keeps its value in every run). A UsageError naming the file if there are none."""
    draws = load_draws(draws_path(catalog))
    if not draws:
        raise UsageError(f"--parameter-draws: {draws_path(catalog)}: no parameter draws stored; make them with "
                         "`compute-market calibrate-history --write` (with --draws N)")
    fitted = dict(catalog.fitted)
    free = {name for name, value in fitted.items() if math.isclose(config.get(name), value, rel_tol=1e-9)}
    return tuple({name: value for name, value in draw.items() if name in free} for draw in draws)


def config_for_seed(config: MarketConfig, draws: Sequence[dict[str, float]], seed: int) -> MarketConfig:
    """The config seed `seed` runs with: its parameter draw (seed mod the number of draws) applied, so the same seed
    gets the same draw in every config of a comparison; `config` itself without draws."""
    return config.replace(**draws[seed % len(draws)]) if draws else config


__all__ = ["DRAWS_FILE", "Uncertainty", "config_for_seed", "draws_path", "estimate", "load_draws", "stored_draws_for",
           "write_draws"]
