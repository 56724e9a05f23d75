"""Useful-work rates of chips for the market, from the roofline. Pure numpy.

The market values a chip by two rates relative to the reference H100 (at NVIDIA's starting software
maturity): training tokens/s on Llama-3-70B (bf16), and serving output tokens/s on each model of the month's
serving mix (market/serving.py; 512 tokens in, 256 out, fp8 where the chip has it, else bf16; the largest batch
that fits, at the tensor-parallel group, or for a mixture of experts the expert-parallel layout, with the most
tokens/s per chip). One H100-equivalent (HEq) is one reference
H100-hour of useful work on a buyer's mix.

The market values chips at their hardware bounds with the calibrated utilisation caps (MFU by platform family
and precision, MBU, maturity, collectives on each fabric, pipelines for SRAM chips), but without the roofline's
fixed software terms (per-layer and per-sequence overheads, grouped-query KV re-reads: `market_efficiency`).
Those were fitted to 2023 serving engines and were largely removed by the software that followed (CUDA graphs,
overlapped schedulers, TensorRT-LLM's XQA kernel: "2.4x more Llama-70B throughput", Jan 2024); kept fixed in
seconds for ten years they would make every future chip look alike, since a fixed overhead does not shrink with
a faster chip. With them the baseline's leader ends the decade with 22% of revenue and in-house chips with 68%
(2 seeds), against 55% and 32% without (README, Calibration).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from hardware_catalog import Accelerator, EfficiencyParams, Workload

from . import roofline
from .parallelism import Parallel

REFERENCE_CHIP = "h100-sxm"
REFERENCE_WORKLOAD = "llama-3-70b"
SERVE_INPUT, SERVE_OUTPUT = 512, 256
SERVE_PRECISIONS = ("fp8", "bf16")  # a chip serves at the better of the two it has


def market_efficiency(efficiency: EfficiencyParams) -> EfficiencyParams:
    """The calibrated efficiency without its fixed software terms (see the module docstring)."""
    return replace(efficiency, layer_overhead_us=0.0, prefill_layer_overhead_us=0.0, sequence_overhead_us=0.0,
                   gqa_sharing=1.0)


def training_rates(chips: Sequence[Accelerator], maturity, workload: Workload, efficiency: EfficiencyParams):
    """Training tokens/s per chip (K,)."""
    efficiency = market_efficiency(efficiency)
    chip_arr = roofline.chip_arrays(chips, "bf16", efficiency, maturity)
    model_arr = roofline.model_arrays([workload])
    res = roofline.evaluate("train", model_arr, chip_arr, 1, precision="bf16", rates_only=True)
    return np.nan_to_num(res.tokens_per_second_per_chip, nan=0.0)


def serving_rates(chips: Sequence[Accelerator], maturity, workload: Workload, efficiency: EfficiencyParams):
    """Best serving output tokens/s per chip (K,), over precisions (fp8 or bf16) and group sizes; for a mixture of
    experts also over expert-parallel layouts (one chip per attention replica, the routed experts spread over the
    replicas' chips, inside the chip's scale-up domain)."""
    return mix_serving_rates(chips, maturity, [workload], efficiency)[0]


def mix_serving_rates(chips: Sequence[Accelerator], maturity, workloads: Sequence[Workload],
                      efficiency: EfficiencyParams) -> np.ndarray:
    """`serving_rates` of each of `workloads` (W, K), in one roofline call: its rows are blocks of (workload, layout),
    each block the chips at each precision (a row per chip and precision); the layout is the tensor-parallel group,
    or for a mixture of experts also the expert-parallel one (group 1, `data` = `expert` = the group sizes).

    Only the points that can serve are evaluated, as one list of (row, group size) points: a row's group sizes up to
    its chip's scale-up domain, at a precision the chip has. The rest (about half of the grid: the group axis runs to
    the largest domain, thousands of chips for a TPU pod, while most chips stop at 8) serve nothing (NaN, read as 0),
    so each row's best is the same; every roofline operation is elementwise, so each point's rate is the grid's."""
    if not workloads:
        return np.zeros((0, len(chips)))
    efficiency = market_efficiency(efficiency)
    largest = max(c.max_group for c in chips)
    groups = 2.0 ** np.arange(int(np.log2(largest)) + 1)
    blocks = [(i, expert) for i, w in enumerate(workloads) for expert in ((False, True) if w.experts > 1 else (False,))]
    per_block = len(SERVE_PRECISIONS) * len(chips)
    chip_rows = roofline.chip_arrays_at_precisions(chips, SERVE_PRECISIONS, efficiency, maturity, axis=0, ndim=2)
    # the points: (row of a block, group size) where the group fits the chip's domain at a precision it has
    row, column = np.nonzero((groups[None, :] <= chip_rows.max_group) & np.isfinite(chip_rows.peak_flops))
    block = np.repeat(np.arange(len(blocks)), row.size)
    row, column = np.tile(row, len(blocks)), np.tile(column, len(blocks))
    chip_arr = roofline.take_rows(chip_rows, row)
    model_arr = roofline.take_rows(roofline.model_arrays([workloads[i] for i, _ in blocks], axis=0, ndim=2), block)
    expert = np.array([expert for _, expert in blocks])[block][:, None]
    size = groups[column][:, None]
    parallel = Parallel(data=np.where(expert, size, 1.0), expert=np.where(expert, size, 0.0))
    res = roofline.evaluate("serve", model_arr, chip_arr, None, precision=SERVE_PRECISIONS[0],
                            group=np.where(expert, 1.0, size), input_tokens=SERVE_INPUT,
                            output_tokens=SERVE_OUTPUT, parallel=parallel, rates_only=True)
    grid = np.zeros((len(blocks), per_block, groups.size))
    grid[block, row, column] = np.nan_to_num(res.tokens_per_second_per_chip, nan=0.0)[:, 0]
    per_row = grid.max(axis=2)
    best = np.zeros((len(workloads), len(chips)))
    for (i, _), block_rates in zip(blocks, per_row.reshape(len(blocks), len(SERVE_PRECISIONS), len(chips)),
                                   strict=True):
        for at_precision in block_rates:
            best[i] = np.maximum(best[i], at_precision)
    return best
