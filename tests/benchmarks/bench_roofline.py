"""Benchmark: roofline points per second, vectorised kernel vs the per-point reference.

Grid: every catalog chip x every catalog workload x batch 1..1024 (every integer), bf16, per phase.
The vectorised kernel evaluates the whole grid; the reference (tests/reference_roofline.py) is timed
on a random sample of the same points and its rate extrapolated. Both are timed in this one run, so
the speed-up ratio is meaningful on a shared machine even when absolute rates are not.

    .venv/bin/python tests/benchmarks/bench_roofline.py [--sample 3000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import reference_roofline as ref  # noqa: E402

from hardware_catalog import load_catalog  # noqa: E402
from market import roofline  # noqa: E402
from market.evaluation import maturity_of  # noqa: E402

INPUT, OUTPUT = 512, 128


def reference_inputs(catalog, chips, workloads):
    eff = catalog.efficiency
    chip_dicts = []
    for chip, maturity in zip(chips, maturity_of(catalog, chips), strict=True):
        factor = eff.maturity_factor(maturity)
        chip_dicts.append({
            "peak_flops": chip.tflops["bf16"] * 1e12, "hbm_bytes": chip.hbm_gb * 1e9,
            "hbm_bandwidth": chip.hbm_tbps * 1e12, "link_bandwidth": chip.interconnect_gbps * 1e9 / 2,
            "max_group": chip.max_group, "mfu_train": eff.training_mfu(chip.vendor) * factor,
            "mfu_infer": eff.inference_mfu("bf16") * factor,
            "mbu": eff.mbu * factor,
                           "link_latency": eff.link_latency_us * 1e-6 * eff.fabric(chip.vendor).latency_factor,
            "switched": eff.fabric(chip.vendor).switched, "layer_overhead": eff.layer_overhead_us * 1e-6 / factor,
            "prefill_layer_overhead": eff.prefill_layer_overhead_us * 1e-6 / factor,
            "sequence_overhead": eff.sequence_overhead_us * 1e-6 / factor, "gqa_sharing": eff.gqa_sharing,
            "expert_efficiency": eff.expert_efficiency,
            "usable": eff.usable_memory_fraction,
        })
    model_dicts = [{
        "params_total": w.params_total, "params_active": w.params_active, "params_expert": w.params_expert,
        "experts": w.experts, "experts_per_token": w.experts_per_token, "n_layers": w.n_layers,
        "d_model": w.d_model, "attention_width": w.n_heads * w.head_dim, "kv_elements": w.kv_elements,
        "train_seq_len": w.train_seq_len, "attention_layers": w.kv_layers, "state_elements": w.state_elements,
    } for w in workloads]
    return chip_dicts, model_dicts


def best_of(repeat, fn):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=3000, help="reference points timed per phase")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    catalog = load_catalog()
    chips = list(catalog.accelerators.values())
    workloads = list(catalog.workloads.values())
    batches = np.arange(1, 1025, dtype=float)
    chip_arr = roofline.chip_arrays(chips, "bf16", catalog.efficiency, maturity_of(catalog, chips), axis=0, ndim=3)
    model_arr = roofline.model_arrays(workloads, axis=1, ndim=3)
    batch_arr = batches.reshape(1, 1, -1)
    points = len(chips) * len(workloads) * len(batches)
    chip_dicts, model_dicts = reference_inputs(catalog, chips, workloads)
    rng = np.random.default_rng(0)

    print(f"grid: {len(chips)} chips x {len(workloads)} workloads x {len(batches)} batch sizes = {points:,} points per "
          "phase")
    print(f"{'phase':<8} {'vectorised pts/s':>17} {'reference pts/s':>16} {'speed-up':>9}  check")
    for phase in ("decode", "prefill", "serve", "train"):
        def vectorised(phase=phase):
            return roofline.evaluate(phase, model_arr, chip_arr, batch_arr, precision="bf16",
                                     input_tokens=INPUT, output_tokens=OUTPUT)

        seconds = best_of(args.repeat, vectorised)
        result = vectorised()
        idx = rng.integers(0, [len(chips), len(workloads), len(batches)], size=(args.sample, 3))

        def reference(phase=phase, idx=idx):
            return [ref.evaluate_point(phase, chip_dicts[c], model_dicts[w], int(batches[b]), INPUT, OUTPUT, "bf16")
                    for c, w, b in idx]

        ref_seconds = best_of(1, reference)
        expected = reference()
        mismatches = 0
        for (c, w, b), e in zip(idx, expected, strict=True):
            got = result.tokens_per_second[c, w, b]
            if (e is None) != (not result.feasible[c,
                                                   w,
                                                   b]) or (e is not None and not ref.is_close(got,
                                                                                              e["tokens_per_second"],
                                                                                              1e-9)):
                mismatches += 1
        vec_rate = points / seconds
        ref_rate = args.sample / ref_seconds
        print(f"{phase:<8} {vec_rate:17,.0f} {ref_rate:16,.0f} {vec_rate / ref_rate:8,.0f}x  "
              f"{'ok' if mismatches == 0 else f'{mismatches} MISMATCHES'} ({args.sample} sampled points)")


if __name__ == "__main__":
    main()
