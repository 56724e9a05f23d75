"""Calibrate the roofline's efficiency factors against published measurements.

Thirteen shared parameters are fitted (per platform family, precision or fabric, never one per case): the
training MFU cap of GPUs and of TPUs; the inference compute-utilisation cap at 16-bit and at 8-bit and lower;
the memory-bandwidth-utilisation cap (bounded at 0.92, the best published batch-1 decode); how strongly
immature software lowers the caps and raises the fixed overheads; NVLink's latency per step of a collective
(other fabrics' latencies are fixed multiples of it, estimates in efficiency.toml); the fixed overhead per layer
of a decode step and of a prefill pass; the serving overhead per sequence per decode step (scheduling,
sampling, batching); how far decode attention shares a grouped-query KV read among a group's query heads; the
compute efficiency of routed-expert (MoE) matrices relative to dense ones; and how fast those fixed overheads fell
as serving engines matured (a yearly factor; each case is predicted at its source date's software, so 2023 and
2025 engine tables are fitted together, and the roofline reports today's software by default).
The fit minimises the sum of squared log errors over the cases marked `fit = true` (scipy's bounded least
squares). Cases marked `test_set = true` (MLPerf Inference v5.1 and later, Training v5.0 and later, independent
dashboards, AWS Neuron tutorial outputs) are never fitted and reported apart. The usable memory fraction is not
fitted (0.9, the common serving-engine default, e.g. vLLM's gpu_memory_utilization).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from hardware_catalog import Catalog, EfficiencyParams, MeasurementCase

from . import roofline

FITTED = ("mfu_train", "mfu_train_tpu", "mfu_infer", "mfu_infer_8bit", "mbu", "maturity_sensitivity", "link_latency_us",
          "layer_overhead_us", "prefill_layer_overhead_us",
          "sequence_overhead_us", "gqa_sharing", "expert_efficiency", "overhead_decline")
LOWER = (0.05, 0.05, 0.05, 0.05, 0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.05, 0.05)
UPPER = (0.9, 0.9, 0.95, 0.95, 0.92, 1.0, 100.0, 500.0, 500.0, 200.0, 1.0, 1.0, 1.0)
INFEASIBLE_PENALTY = 10.0  # log-error charged to a case the model cannot run at all


def predict(case: MeasurementCase, catalog: Catalog, efficiency: EfficiencyParams) -> float:
    """The roofline's figure for `case.metric` (NaN if the point is infeasible)."""
    chip = catalog.accelerator(case.chip)
    workload = catalog.workload(case.workload)
    maturity = [catalog.vendors[chip.vendor].software_maturity]
    chip_arr = roofline.chip_arrays([chip], case.precision, efficiency, maturity, software=case.source_date)
    model_arr = roofline.model_arrays([workload])
    if case.phase == "train":
        result = roofline.evaluate("train", model_arr, chip_arr, 1, precision=case.precision)
        achieved = result.tokens_per_second_per_chip[0] * roofline.training_flop_per_token(model_arr)[0]
        if case.metric == "mfu":
            return float(achieved / chip_arr.peak_flops[0])
        return float(achieved / 1e12)
    result = roofline.evaluate(
        case.phase,
        model_arr,
        chip_arr,
        None if case.batch == "max" else case.batch,
        precision=case.precision,
        group=case.tensor_parallel,
        input_tokens=case.input_tokens,
        output_tokens=case.output_tokens,
        parallel=roofline.Parallel(data=float(case.data_parallel), expert=float(case.expert_parallel)),
    )
    metric = {
        "output_tokens_per_s_per_chip": result.tokens_per_second_per_chip,
        "output_tokens_per_s": result.tokens_per_second,
        "output_tokens_per_s_system": result.tokens_per_second * case.system_chips / case.tensor_parallel,
        "latency_ms": result.latency_s * 1e3,
    }
    if case.metric not in metric:
        raise ValueError(f"case {case.id}: metric '{case.metric}' does not apply to phase '{case.phase}'")
    return float(metric[case.metric][0])


def calibration_table(catalog: Catalog, efficiency: EfficiencyParams | None = None) -> pd.DataFrame:
    """Predicted vs measured for every case, with signed and absolute percentage errors."""
    efficiency = catalog.efficiency if efficiency is None else efficiency
    cases = catalog.measurements()
    predictions = {case.id: predict(case, catalog, efficiency) for case in cases}
    by_id = {case.id: case for case in cases}
    rows = []
    for case in cases:
        predicted = predictions[case.id]
        if case.relative_to:  # error of the ratio to the reference case
            ref = by_id[case.relative_to]
            ratio_error = (predicted / predictions[ref.id]) / (case.measured / ref.measured) - 1.0
            error = ratio_error * 100.0
        else:
            error = (predicted - case.measured) / case.measured * 100.0
        rows.append(
            {
                "id": case.id,
                "chip": case.chip,
                "tp": case.tensor_parallel,
                "workload": case.workload,
                "precision": case.precision,
                "phase": case.phase,
                "metric": case.metric,
                "measured": case.measured,
                "predicted": predicted,
                "error_pct": error,
                "abs_error_pct": abs(error),
                "fit": case.fit,
                "test_set": case.test_set,
                "fit_on": ("test set, " if case.test_set else "")
                + (f"ratio to {case.relative_to}" if case.relative_to else "value"),
            }
        )
    return pd.DataFrame(rows)


def median_abs_pct_error(table: pd.DataFrame, fitted_only: bool = True) -> float:
    """Median absolute percentage error (fitted cases by default; NaN predictions count as 100%)."""
    rows = table[table["fit"]] if fitted_only else table
    return float(rows["abs_error_pct"].fillna(100.0).median())


def _log_error(predicted: float, measured: float) -> float:
    return math.log(predicted / measured) if np.isfinite(predicted) and predicted > 0 else INFEASIBLE_PENALTY


def _residuals(x: np.ndarray, cases: list[MeasurementCase], catalog: Catalog, base: EfficiencyParams) -> np.ndarray:
    params = replace(base, **dict(zip(FITTED, map(float, x), strict=True)))
    predictions = {case.id: predict(case, catalog, params) for case in cases}
    by_id = {case.id: case for case in cases}
    out = []
    for case in (c for c in cases if c.fit):
        error = _log_error(predictions[case.id], case.measured)
        if case.relative_to:
            error -= _log_error(predictions[case.relative_to], by_id[case.relative_to].measured)
        out.append(error)
    return np.asarray(out)


def fit_efficiency(catalog: Catalog) -> tuple[EfficiencyParams, float]:
    """Fit the shared efficiency parameters; returns them and the RMS log error of the fit."""
    base = catalog.efficiency
    cases = catalog.measurements()
    fitted_count = sum(c.fit for c in cases)
    x0 = np.clip([getattr(base, name) for name in FITTED], LOWER, UPPER)
    solution = least_squares(_residuals, x0, bounds=(LOWER, UPPER), args=(cases, catalog, base), x_scale="jac")
    fitted = replace(
        base,
        **dict(zip(FITTED, map(float, solution.x), strict=True)),
        software_date=max(c.source_date for c in cases if c.fit),
        source=f"fitted by `compute-market calibration --fit --write` to {fitted_count} cases of measurements.toml",
        source_date=date.today().strftime("%Y-%m"),
    )
    rms = float(np.sqrt(np.mean(solution.fun**2)))
    return fitted, rms


def write_efficiency(params: EfficiencyParams, path: Path) -> None:
    """Write `params` as the [efficiency] table of `path` (atomically: temporary file, then rename)."""
    lines = [
        "# Roofline efficiency factors, fitted by `compute-market calibration --fit --write`",
        "# (market/calibration.py) to hardware_catalog/data/measurements.toml. Do not edit by hand.",
        "[efficiency]",
    ]
    for name in (*FITTED, "usable_memory_fraction"):
        lines.append(f"{name} = {getattr(params, name):.6g}")
    lines.append(f'software_date = "{params.software_date}"')
    lines.append(f'source = "{params.source}"')
    lines.append(f'source_date = "{params.source_date}"')
    lines += ["", "# Scale-up fabrics (not fitted; NVLink's per-step latency is, "
                  "the others are multiples of it, estimates)."]
    for fabric in params.fabrics:
        vendors = ", ".join(f'"{v}"' for v in fabric.vendors)
        lines += [f"[fabric.{fabric.name}]", f"latency_factor = {fabric.latency_factor:g}",
                  f"switched = {'true' if fabric.switched else 'false'}", f"vendors = [{vendors}]"]
        if fabric.step_latency_us:
            lines.append(f"step_latency_us = {fabric.step_latency_us:g}")
        lines += [f'source = "{fabric.source}"', ""]
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # never write something the loader cannot read back
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def format_table(table: pd.DataFrame, efficiency: EfficiencyParams) -> str:
    """Human-readable calibration report."""
    out = [
        "Roofline calibration: predicted vs published measurements",
        "  efficiency: "
        + ", ".join(f"{name}={getattr(efficiency, name):.3g}" for name in FITTED)
        + f", usable_memory_fraction={efficiency.usable_memory_fraction:.3g}",
        "",
        f"{'id':<4} {'chip':<10} {'tp':>3} {'workload':<15} {'prec':<5} {'phase':<8} {'metric':<29} "
        f"{'measured':>10} {'predicted':>10} {'error':>8}  fitted on",
    ]
    for row in table.itertuples():
        predicted = f"{row.predicted:10.4g}" if np.isfinite(row.predicted) else f"{'infeasible':>10}"
        error = f"{row.error_pct:+7.1f}%" if np.isfinite(row.error_pct) else f"{'n/a':>8}"
        out.append(
            f"{row.id:<4} {row.chip:<10} {row.tp:>3} {row.workload:<15} {row.precision:<5} {row.phase:<8} "
            f"{row.metric:<29} {row.measured:10.4g} {predicted} {error}  {fitted_on_text(row)}"
        )
    out.append("")
    out.append("error: predicted vs measured; for cases fitted on a ratio, the error of that ratio.")
    out.append(f"median absolute percentage error, fitted cases: {median_abs_pct_error(table):.1f}%")
    out.append(f"median absolute percentage error, all cases:    {median_abs_pct_error(table, fitted_only=False):.1f}%")
    fitted = table[table["fit"]]["abs_error_pct"].fillna(100.0)
    out.append(f"largest absolute percentage error, fitted cases: {fitted.max():.1f}%")
    test = table[table["test_set"]]
    if len(test):
        out.append(f"median absolute percentage error, test set ({len(test)} cases, never fitted): "
                   f"{float(test['abs_error_pct'].fillna(100.0).median()):.1f}%")
    return "\n".join(out)


def fitted_on_text(row) -> str:
    """What a table row is fitted on: a value, a ratio, nothing (held out), or nothing as a reserved test case."""
    if row.fit:
        return row.fit_on
    return row.fit_on if row.test_set else "not fitted"
