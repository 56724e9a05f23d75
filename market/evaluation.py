"""Evaluate catalog chips on catalog workloads: roofline throughput priced at catalog prices.

This joins the catalog's records to the pure roofline and pricing kernels for reports, the CLI and
calibration. The market model calls the kernels directly with its own (emergent) prices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd

from hardware_catalog import Accelerator, Catalog, EfficiencyParams, Workload

from . import pricing, roofline


@dataclass(frozen=True)
class Grid:
    """A roofline result over chips (axis 0) x workloads (axis 1) x batch sizes (axis 2), with prices."""

    chips: list[Accelerator]
    workloads: list[Workload]
    batches: np.ndarray
    result: roofline.RooflineResult
    price_per_chip_hour: np.ndarray  # USD, shape (C, 1, 1)
    usd_per_million_tokens: np.ndarray


def maturity_of(catalog: Catalog, chips: Sequence[Accelerator]) -> list[float]:
    """Starting software maturity of each chip's vendor."""
    return [catalog.vendors[c.vendor].software_maturity for c in chips]


def catalog_rental_price(catalog: Catalog, chips: Sequence[Accelerator]) -> np.ndarray:
    """USD per billed chip-hour if a cloud bought each chip at its catalog launch price."""
    price = np.array([c.launch_price_usd for c in chips])
    tdp = np.array([c.tdp_w for c in chips])
    return pricing.rental_price(pricing.hourly_cost(price, tdp, catalog.tco).total, catalog.tco)


def evaluate_grid(
    catalog: Catalog,
    chips: Sequence[Accelerator],
    workloads: Sequence[Workload],
    phase: str,
    *,
    batches=(1,),
    precision: str = "bf16",
    group=None,
    input_tokens: int = 128,
    output_tokens: int = 128,
    efficiency: EfficiencyParams | None = None,
    pipeline=None,
    parallel: roofline.Parallel | None = None,
    kv_precision: str | None = None,
) -> Grid:
    """Evaluate every chip x workload x batch point; `batches=None` means the largest batch that fits; `pipeline`:
    stages per group (None: the roofline's default, every chip a stage for SRAM chips, else 1); `parallel` and
    `kv_precision` as roofline.evaluate takes them."""
    efficiency = catalog.efficiency if efficiency is None else efficiency
    chip_arr = roofline.chip_arrays(chips, precision, efficiency, maturity_of(catalog, chips), axis=0, ndim=3)
    model_arr = roofline.model_arrays(workloads, axis=1, ndim=3)
    batch_arr = None if batches is None else np.asarray(batches, dtype=float).reshape(1, 1, -1)
    result = roofline.evaluate(
        phase,
        model_arr,
        chip_arr,
        batch_arr,
        precision=precision,
        group=group,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        pipeline=pipeline,
        parallel=parallel,
        kv_precision=kv_precision,
    )
    price = catalog_rental_price(catalog, chips).reshape(-1, 1, 1)
    usd = pricing.usd_per_million_tokens(price, result.chips, result.tokens_per_second)
    return Grid(
        list(chips),
        list(workloads),
        np.atleast_1d(np.asarray(batches if batches is not None else [np.nan], dtype=float)),
        result,
        price,
        usd,
    )


def group_candidates(chips: Sequence[Accelerator]) -> np.ndarray:
    """Powers of two from 1 up to the largest scale-up domain among `chips`."""
    largest = max(c.max_group for c in chips)
    return 2.0 ** np.arange(int(np.floor(np.log2(largest))) + 1)


def evaluate_cheapest_group(
    catalog: Catalog,
    chips: Sequence[Accelerator],
    workloads: Sequence[Workload],
    phase: str,
    *,
    batches=None,
    precision: str = "bf16",
    input_tokens: int = 128,
    output_tokens: int = 128,
    efficiency: EfficiencyParams | None = None,
) -> Grid:
    """Like `evaluate_grid`, but each point uses the tensor-parallel group (power of two within the
    chip's scale-up domain) with the lowest USD per million tokens. Vectorised over a 4th group axis."""
    efficiency = catalog.efficiency if efficiency is None else efficiency
    chip_arr = roofline.chip_arrays(chips, precision, efficiency, maturity_of(catalog, chips), axis=0, ndim=4)
    model_arr = roofline.model_arrays(workloads, axis=1, ndim=4)
    batch_arr = None if batches is None else np.asarray(batches, dtype=float).reshape(1, 1, -1, 1)
    groups = group_candidates(chips).reshape(1, 1, 1, -1)
    result = roofline.evaluate(phase, model_arr, chip_arr, batch_arr, precision=precision, group=groups,
                               input_tokens=input_tokens, output_tokens=output_tokens)
    price = catalog_rental_price(catalog, chips).reshape(-1, 1, 1, 1)
    usd = pricing.usd_per_million_tokens(price, result.chips, result.tokens_per_second)
    best = np.argmin(np.where(np.isfinite(usd), usd, np.inf), axis=3)[..., None]
    pick = lambda x: np.take_along_axis(np.broadcast_to(x, usd.shape), best, axis=3)[..., 0]  # noqa: E731
    chosen = {f.name: pick(getattr(result, f.name)) for f in fields(result) if f.name != "phase"}
    # a point infeasible at every group size reports why at the largest group
    chosen["infeasible_reason"] = np.where(chosen["feasible"], chosen["infeasible_reason"],
                                           np.broadcast_to(result.infeasible_reason, usd.shape)[..., -1])
    return Grid(
        list(chips),
        list(workloads),
        np.atleast_1d(np.asarray(batches if batches is not None else [np.nan], dtype=float)),
        replace(result, **chosen),
        price[..., 0],
        pick(usd),
    )


def grid_frame(grid: Grid) -> pd.DataFrame:
    """Long table: one row per (chip, workload, batch) point."""
    r = grid.result
    shape = r.tokens_per_second.shape
    c_idx, w_idx, b_idx = np.indices(shape)
    flat = lambda x: np.broadcast_to(x, shape).ravel()  # noqa: E731
    bound = np.broadcast_to(r.bound, shape).ravel()
    reason = np.broadcast_to(r.infeasible_reason, shape).ravel()
    return pd.DataFrame(
        {
            "chip": [grid.chips[i].id for i in c_idx.ravel()],
            "vendor": [grid.chips[i].vendor for i in c_idx.ravel()],
            "workload": [grid.workloads[i].id for i in w_idx.ravel()],
            "phase": r.phase,
            "batch": flat(r.batch),
            "chips": flat(r.chips),
            "feasible": flat(r.feasible),
            "tokens_per_second": flat(r.tokens_per_second),
            "tokens_per_second_per_chip": flat(r.tokens_per_second_per_chip),
            "latency_ms": flat(r.latency_s) * 1e3,
            "bound": [roofline.BOUNDS[b] if b >= 0 else "infeasible" for b in bound],
            "infeasible_reason": [roofline.INFEASIBLE_REASONS[x] for x in reason],
            "usd_per_million_tokens": flat(grid.usd_per_million_tokens),
            "power_w_per_chip": flat(r.power_w),
            "joules_per_token": flat(r.joules_per_token),
            "tokens_per_joule": flat(r.tokens_per_joule),
            "joules_per_flop": flat(r.joules_per_flop),
            "price_per_chip_hour": np.broadcast_to(grid.price_per_chip_hour, shape).ravel(),
        }
    )
