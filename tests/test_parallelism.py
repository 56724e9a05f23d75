"""Roofline v3 mechanisms: expert parallelism and its all-to-all per fabric, data-parallel attention with a latent
cache, FP4 and a KV precision of its own, sharded optimizer state and context parallelism, rack-scale domains."""

from __future__ import annotations

import json

import numpy as np
import pytest

from experiments.cli import main as cli_main
from hardware_catalog import load_catalog
from market import roofline
from market.parallelism import Parallel, alltoall_time, training_bytes_per_chip

CATALOG = load_catalog()


def arrays(chip_id: str, workload_id: str, precision: str):
    chip = CATALOG.accelerator(chip_id)
    maturity = [CATALOG.vendors[chip.vendor].software_maturity]
    return (roofline.chip_arrays([chip], precision, CATALOG.efficiency, maturity),
            roofline.model_arrays([CATALOG.workload(workload_id)]))


def run(phase, chip_id, workload_id, precision="fp8", **kwargs):
    chip, model = arrays(chip_id, workload_id, precision)
    batch = kwargs.pop("batch", 1)
    return roofline.evaluate(phase, model, chip, batch, precision=precision, **kwargs)


# --- expert parallelism: all-to-all per fabric -------------------------------------------------------------


def test_alltoall_on_a_switch_stays_flat_and_on_a_torus_grows_with_the_ep_group():
    message, bandwidth, latency = 1e6, 450e9, 5e-6
    groups = np.array([4.0, 16.0, 64.0])
    switched = alltoall_time(message, groups, bandwidth, latency, switched=True)
    torus = alltoall_time(message, groups, bandwidth, latency, switched=False)
    assert switched[2] / switched[0] < 1.3  # (k - 1) / k of the message, one step: bounded
    assert torus[2] / torus[0] > 3.0  # messages share sqrt(k) / 2 links, 2 sqrt(k) steps
    assert np.all(torus > switched)
    assert alltoall_time(message, 1.0, bandwidth, latency) == 0.0


def test_ep_all_to_all_costs_more_on_a_torus_pod_than_in_a_switched_rack():
    def comm(chip_id, ep):
        r = run("decode", chip_id, "deepseek-v3", group=8, batch=32,
                parallel=Parallel(data=8.0, expert=float(ep)))
        assert r.feasible[0]
        return r.interconnect_s[0]

    rack_growth = comm("gb200-nvl72", 64) / comm("gb200-nvl72", 8)
    pod_growth = comm("tpu-v7-pod", 64) / comm("tpu-v7-pod", 8)
    assert pod_growth > rack_growth > 0.9


def test_expert_parallelism_spreads_the_experts_so_a_model_fits_one_chip_per_attention_group():
    # DeepSeek-V3 at fp8 (671 GB) on an 8-GPU B200 node: one chip per attention group needs the experts spread
    no_ep = run("decode", "hgx-b200", "deepseek-v3", group=1, parallel=Parallel(data=8.0))
    ep = run("decode", "hgx-b200", "deepseek-v3", group=1, parallel=Parallel(data=8.0, expert=8.0))
    assert not no_ep.feasible[0] and ep.feasible[0]
    assert ep.chips[0] == 8 and ep.tokens_per_second[0] == pytest.approx(8 / ep.latency_s[0])


def test_an_ep_group_must_divide_the_attention_chips_and_fit_the_scale_up_domain():
    assert not run("decode", "hgx-b200", "deepseek-v3", group=8, parallel=Parallel(expert=16.0)).feasible[0]
    assert not run("decode", "hgx-b200", "deepseek-v3", group=4, parallel=Parallel(data=3.0, expert=8.0)).feasible[0]
    assert run("decode", "gb200-nvl72", "deepseek-v3", group=8, parallel=Parallel(data=9.0, expert=8.0)).feasible[0]


# --- data-parallel attention and the latent (MLA) cache ------------------------------------------------------


def test_data_parallel_attention_keeps_a_latent_cache_from_being_copied_to_every_tensor_rank():
    tp8 = run("decode", "hgx-b200", "deepseek-v3", group=8, batch=None, input_tokens=4096)
    dp8 = run("decode", "hgx-b200", "deepseek-v3", group=1, batch=None, input_tokens=4096,
              parallel=Parallel(data=8.0, expert=8.0))
    # same 8 chips; the latent cache is held by all 8 ranks of a TP8 group, by one rank per DP replica
    assert tp8.chips[0] == dp8.chips[0] == 8
    assert dp8.batch[0] * 8 > 4 * tp8.batch[0]


def test_a_latent_cache_is_read_once_and_attended_in_its_latent_space():
    _, model = arrays("h100-sxm", "deepseek-v3", "fp8")
    assert roofline.kv_rereads(model, 0.0)[0] == 1.0  # FlashMLA-style: all heads in one pass
    w = CATALOG.workload("deepseek-v3")
    assert roofline.decode_attention_flop(model)[0] == pytest.approx(4.0 * w.n_layers * w.n_heads * 576)
    _, gqa = arrays("h100-sxm", "llama-3-70b", "fp8")
    w = CATALOG.workload("llama-3-70b")
    assert roofline.decode_attention_flop(gqa)[0] == pytest.approx(4.0 * w.n_layers * w.n_heads * w.head_dim)


# --- FP4 and the KV cache's own precision ---------------------------------------------------------------------


def test_fp4_speed_up_is_bounded_by_memory_in_decode_and_by_peak_in_prefill():
    fp8 = run("decode", "b200", "llama-3-70b", "fp8", group=1)
    fp4 = run("decode", "b200", "llama-3-70b", "fp4", group=1)
    speedup = fp4.tokens_per_second[0] / fp8.tokens_per_second[0]
    assert 1.3 < speedup <= 2.0  # half the weight bytes, the same fixed overheads
    big8 = run("prefill", "b200", "llama-3-70b", "fp8", group=1, batch=16, input_tokens=2048)
    big4 = run("prefill", "b200", "llama-3-70b", "fp4", group=1, batch=16, input_tokens=2048)
    assert big8.bound_name(0) == big4.bound_name(0) == "compute"
    assert 1.0 < big4.tokens_per_second[0] / big8.tokens_per_second[0] <= 9000 / 4500
    assert not run("decode", "h100-sxm", "llama-3-70b", "fp4", group=2).feasible[0]  # no FP4 on Hopper


def test_a_4_bit_kv_cache_doubles_the_sequences_that_fit_next_to_the_weights():
    fp8_kv = run("decode", "b200", "llama-3-70b", "fp4", group=1, batch=None, input_tokens=32768)
    fp4_kv = run("decode", "b200", "llama-3-70b", "fp4", group=1, batch=None, input_tokens=32768, kv_precision="fp4")
    assert fp4_kv.batch[0] >= 2 * fp8_kv.batch[0] - 1


# --- training: sharded optimizer state, context parallelism ----------------------------------------------------


def test_a_sharded_optimizer_makes_405b_training_fit_64_h100s_as_tp8_x_pp8():
    plain = run("train", "h100-sxm", "llama-3.1-405b", "bf16", group=64, pipeline=8, batch=512,
                parallel=Parallel(data=16.0))
    zero1 = run("train", "h100-sxm", "llama-3.1-405b", "bf16", group=64, pipeline=8, batch=512,
                parallel=Parallel(data=16.0, zero=1))
    assert not plain.feasible[0] and zero1.feasible[0]
    assert zero1.chips[0] == 64 * 16
    one = run("train", "h100-sxm", "llama-3.1-405b", "bf16", batch=512)  # the per-chip rate is the MFU's
    assert zero1.tokens_per_second_per_chip[0] == pytest.approx(one.tokens_per_second_per_chip[0])


def test_each_zero_stage_and_context_parallelism_lower_the_bytes_a_chip_holds():
    w = CATALOG.workload("llama-3.1-405b")
    held = [training_bytes_per_chip(w.params_total, w.n_layers, w.d_model, 131072, 8, 8, Parallel(data=16.0, zero=z))
            for z in (0, 1, 2, 3)]
    assert held[0] > held[1] > held[2] > held[3]
    cp = training_bytes_per_chip(w.params_total, w.n_layers, w.d_model, 131072, 8, 8,
                                 Parallel(data=16.0, context=16.0, zero=1))
    assert cp < held[1]


# --- rack-scale domains and the CLI ----------------------------------------------------------------------------


def test_nvl72_is_one_domain_where_an_hgx_node_is_not():
    assert run("decode", "gb200-nvl72", "llama-3.1-405b", group=72).feasible[0]
    assert not run("decode", "b200", "llama-3.1-405b", group=72).feasible[0]


def test_cli_runs_the_rack_scale_moe_layout(capsys):
    code = cli_main(["roofline", "--chip", "gb200-nvl72", "--model", "deepseek-v3", "--phase", "decode",
                     "--tensor-parallel", "8", "--expert-parallel", "8", "--data-parallel", "9", "--concurrency",
                     "576", "--precision", "fp4", "--json"])
    rec = json.loads(capsys.readouterr().out)
    assert code == 0 and rec["feasible"] and rec["chips"] == 72 and rec["batch"] == 64
    assert rec["tokens_per_second"] == pytest.approx(576 * rec["tokens_per_second_per_request"], rel=1e-9)


@pytest.mark.parametrize("args,message", [
    (["--model", "llama-3-70b", "--expert-parallel", "8", "--tensor-parallel", "8"], "dense model"),
    (["--model", "deepseek-v3", "--expert-parallel", "8"], "needs --tensor-parallel"),
    (["--model", "deepseek-v3", "--expert-parallel", "16", "--tensor-parallel", "8"], "must divide"),
    (["--model", "deepseek-v3", "--batch", "4", "--concurrency", "8"], "one of --concurrency and --batch"),
    (["--model", "deepseek-v3", "--zero", "1"], "apply to training"),
])
def test_cli_refuses_layouts_that_do_not_fit_together(capsys, args, message):
    code = cli_main(["roofline", "--chip", "hgx-b200", "--phase", "decode", *args])
    err = capsys.readouterr().err
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1
