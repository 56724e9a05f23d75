"""Useful-work rates of chips for the market, from the roofline. Pure numpy.

The market values a chip by two rates relative to the reference H100 (at NVIDIA's starting software
maturity): training tokens/s on Llama-3-70B (bf16), and serving output tokens/s on Llama-3-70B
(512 tokens in, 256 out, fp8 where the chip has it, else bf16; the largest batch that fits, at the
tensor-parallel group with the most tokens/s per chip). One H100-equivalent (HEq) is one reference
H100-hour of useful work on a buyer's mix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hardware_catalog import Accelerator, EfficiencyParams, Workload

from . import roofline

REFERENCE_CHIP = "h100-sxm"
REFERENCE_WORKLOAD = "llama-3-70b"
SERVE_INPUT, SERVE_OUTPUT = 512, 256


def training_rates(chips: Sequence[Accelerator], maturity, workload: Workload, efficiency: EfficiencyParams):
    """Training tokens/s per chip (K,)."""
    chip_arr = roofline.chip_arrays(chips, "bf16", efficiency, maturity)
    model_arr = roofline.model_arrays([workload])
    res = roofline.evaluate("train", model_arr, chip_arr, 1, precision="bf16")
    return np.nan_to_num(res.tokens_per_second_per_chip, nan=0.0)


def serving_rates(chips: Sequence[Accelerator], maturity, workload: Workload, efficiency: EfficiencyParams):
    """Best serving output tokens/s per chip (K,), over precisions (fp8 or bf16) and group sizes."""
    largest = max(c.max_group for c in chips)
    groups = (2.0 ** np.arange(int(np.log2(largest)) + 1))[None, :]
    model_arr = roofline.model_arrays([workload], axis=0, ndim=2)
    best = np.zeros(len(chips))
    for precision in ("fp8", "bf16"):
        chip_arr = roofline.chip_arrays(chips, precision, efficiency, maturity, axis=0, ndim=2)
        res = roofline.evaluate("serve", model_arr, chip_arr, None, precision=precision, group=groups,
                                input_tokens=SERVE_INPUT, output_tokens=SERVE_OUTPUT)
        best = np.maximum(best, np.nan_to_num(res.tokens_per_second_per_chip, nan=0.0).max(axis=1))
    return best
