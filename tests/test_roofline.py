"""The vectorised roofline against the per-point reference, and its physical sanity."""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pytest
import reference_roofline as ref

from hardware_catalog import load_catalog
from market import roofline
from market.evaluation import evaluate_grid

CATALOG = load_catalog()

CHIP_KEYS = ("peak_flops", "hbm_bytes", "hbm_bandwidth", "link_bandwidth", "max_group", "mfu_train", "mfu_infer", "mbu",
             "link_latency", "switched", "layer_overhead", "prefill_layer_overhead", "sequence_overhead")
MODEL_KEYS = (
    "params_total", "params_active", "params_expert", "experts", "experts_per_token",
    "n_layers", "d_model", "attention_width", "kv_elements", "train_seq_len", "attention_layers", "state_elements",
)


def random_points(rng: np.random.Generator, n: int):
    """n random but physically shaped (chip, model) pairs as dicts and as stacked arrays."""
    chips, models = [], []
    for _ in range(n):
        chips.append({
            "peak_flops": rng.uniform(1e14, 5e15),
            "hbm_bytes": rng.uniform(16e9, 300e9),
            "hbm_bandwidth": rng.uniform(0.5e12, 10e12),
            "link_bandwidth": rng.uniform(50e9, 1e12),
            "max_group": float(2 ** rng.integers(0, 8)),
            "mfu_train": rng.uniform(0.2, 0.6),
            "mfu_infer": rng.uniform(0.2, 0.8),
            "mbu": rng.uniform(0.4, 0.95),
            "link_latency": rng.uniform(0, 50e-6),
            "switched": bool(rng.random() < 0.5),
            "layer_overhead": rng.uniform(0, 200e-6),
            "prefill_layer_overhead": rng.uniform(0, 200e-6),
            "sequence_overhead": rng.uniform(0, 30e-6),
        })
        moe = rng.random() < 0.4
        layers = int(rng.integers(16, 128))
        heads = int(2 ** rng.integers(4, 8))
        head_dim = 128
        kv_heads = int(heads // 2 ** rng.integers(0, 4))
        total = rng.uniform(1e9, 500e9)
        experts = int(rng.integers(4, 65)) if moe else 1
        top_k = int(rng.integers(1, 3)) if moe else 1
        expert_params = total * rng.uniform(0.6, 0.95) if moe else 0.0
        active = total - expert_params + expert_params * top_k / experts if moe else total
        models.append({
            "params_total": total, "params_active": active, "params_expert": expert_params,
            "experts": float(experts), "experts_per_token": float(top_k), "n_layers": float(layers),
            "d_model": float(heads * head_dim), "attention_width": float(heads * head_dim),
            "kv_elements": float(2 * kv_heads * head_dim), "train_seq_len": float(2 ** rng.integers(11, 14)),
            # a third are hybrids: attention in some layers, a recurrent state in the rest
            "attention_layers": float(layers if rng.random() < 0.67 else rng.integers(0, layers)),
            "state_elements": float(rng.uniform(1e4, 3e5)),
        })
    return chips, models


def as_arrays(chips, models, sharing, usable, expert=0.6):
    chip_arr = roofline.ChipArrays(
        **{k: np.array([c[k] for c in chips]) for k in CHIP_KEYS},
        gqa_sharing=sharing, usable_memory_fraction=usable, expert_efficiency=expert,
    )
    model_arr = roofline.ModelArrays(**{k: np.array([m[k] for m in models]) for k in MODEL_KEYS})
    return chip_arr, model_arr


@pytest.mark.parametrize("phase", roofline.PHASES)
@pytest.mark.parametrize("precision", ["bf16", "fp8", "fp4"])
@pytest.mark.parametrize("given_group", [False, True])
def test_vectorised_matches_reference_on_random_inputs(phase, precision, given_group):
    rng = np.random.default_rng(zlib.crc32(f"{phase}-{precision}-{given_group}".encode()))
    n = 120
    chips, models = random_points(rng, n)
    sharing, usable = rng.uniform(0, 1), 0.9
    batch = rng.integers(1, 512, size=n).astype(float)
    inp = rng.integers(1, 2048, size=n).astype(float)
    out = rng.integers(1, 200, size=n).astype(float)
    group = 2.0 ** rng.integers(0, 8, size=n) if given_group and phase != "train" else None
    # with a given group, pipeline stages too: a random power of two up to the group
    stages = 2.0 ** np.floor(rng.uniform(0, 1, size=n) * (np.log2(group) + 1)) if group is not None else None
    chip_arr, model_arr = as_arrays(chips, models, sharing, usable)
    res = roofline.evaluate(phase, model_arr, chip_arr, batch, precision=precision, group=group,
                            input_tokens=inp, output_tokens=out, pipeline=stages)
    for c in chips:
        c.update(gqa_sharing=sharing, usable=usable, expert_efficiency=0.6)
    feasible_seen = 0
    for i in range(n):
        expected = ref.evaluate_point(phase, chips[i], models[i], int(batch[i]), int(inp[i]), int(out[i]), precision,
                                      None if group is None else int(group[i]),
                                      None if stages is None else int(stages[i]))
        if expected is None:
            assert not res.feasible[i], f"point {i} should be infeasible"
            assert np.isnan(res.tokens_per_second[i])
            continue
        feasible_seen += 1
        assert res.feasible[i]
        assert res.chips[i] == expected["chips"]
        assert res.tokens_per_second[i] == pytest.approx(expected["tokens_per_second"], rel=1e-9)
        assert res.latency_s[i] == pytest.approx(expected["latency_s"], rel=1e-9)
        assert res.bound_name(i) == expected["bound"]
    assert feasible_seen >= n // 6, "the random inputs should exercise feasible points"


def test_sum_of_max_lines_matches_loop():
    rng = np.random.default_rng(7)
    for _ in range(300):
        a1, b1, a2, b2 = rng.normal(size=4) * [10, 1, 10, 1]
        if rng.random() < 0.2:
            b2 = b1  # parallel lines
        lo = int(rng.integers(-5, 50))
        hi = lo + int(rng.integers(-2, 80))
        expected = sum(max(a1 + b1 * j, a2 + b2 * j) for j in range(lo, hi + 1))
        assert roofline.sum_of_max_lines(a1, b1, a2, b2, lo, hi) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def _point(chip, model, phase, batch=1, precision="bf16", **kw):
    grid = evaluate_grid(CATALOG, [CATALOG.accelerator(chip)], [CATALOG.workload(model)], phase,
                         batches=None if batch is None else [batch], precision=precision, **kw)
    return grid.result, (0, 0, 0)


def test_batch1_decode_of_70b_on_h100_is_memory_bound():
    res, at = _point("h100-sxm", "llama-2-70b", "decode", 1, precision="fp8", input_tokens=512)
    assert res.bound_name(at) == "memory"
    # bandwidth-bound: tokens/s is about bandwidth x MBU / weight bytes, far below the compute roof
    assert res.memory_s[at] > 20 * res.compute_s[at]


def test_large_batch_prefill_is_compute_bound():
    for chip in ("h100-sxm", "mi300x", "b200", "tpu-v5p"):
        res, at = _point(chip, "llama-2-13b", "prefill", 8, input_tokens=2048)
        assert res.bound_name(at) == "compute", chip


def test_decode_crosses_to_compute_bound_at_large_batch():
    """Seed document: the H100 crossover from bandwidth- to compute-bound decode is a few hundred."""
    chip = CATALOG.accelerator("h100-sxm")
    grid = evaluate_grid(CATALOG, [chip], [CATALOG.workload("llama-2-7b")], "decode",
                         batches=[2**i for i in range(11)], input_tokens=1)
    # of the two roofline lines (fixed overheads and collectives aside), memory binds first, then compute
    compute_bound = list(grid.result.compute_s[0, 0, :] > grid.result.memory_s[0, 0, :])
    first_compute = compute_bound.index(True)
    assert not any(compute_bound[:first_compute]) and all(compute_bound[first_compute:])
    assert 64 <= 2**first_compute <= 1024


def test_doubling_bandwidth_never_lowers_decode_throughput():
    rng = np.random.default_rng(3)
    chips, models = random_points(rng, 200)
    chip_arr, model_arr = as_arrays(chips, models, 0.5, 0.9)
    faster = dataclasses.replace(chip_arr, hbm_bandwidth=chip_arr.hbm_bandwidth * 2)
    batch = rng.integers(1, 1024, size=200).astype(float)
    for phase in ("decode", "serve", "prefill"):
        slow = roofline.evaluate(phase, model_arr, chip_arr, batch, precision="bf16", input_tokens=256,
                                 output_tokens=64)
        fast = roofline.evaluate(phase, model_arr, faster, batch, precision="bf16", input_tokens=256, output_tokens=64)
        ok = slow.feasible
        assert ok.sum() > 20
        assert np.all(fast.tokens_per_second[ok] >= slow.tokens_per_second[ok] * (1 - 1e-12))
    assert np.any(fast.tokens_per_second[ok] > slow.tokens_per_second[ok] * 1.1)  # and it helps somewhere


def test_model_larger_than_one_chip_needs_more_chips():
    res, at = _point("h100-sxm", "llama-2-70b", "decode", 1, precision="bf16")  # 138 GB of weights
    assert res.chips[at] == 2
    res, at = _point("mi300x", "llama-2-70b", "decode", 1, precision="bf16")  # 192 GB holds it
    assert res.chips[at] == 1
    res, at = _point("h100-sxm", "llama-3.1-405b", "decode", 1, precision="bf16")  # 812 GB > 8 x 80 GB
    assert not res.feasible[at]
    assert res.infeasible_reason[at] == roofline.NO_FIT
    res, at = _point("h100-sxm", "llama-3.1-405b", "decode", 1, precision="fp8")  # 406 GB on 8
    assert res.chips[at] == 8


def test_unsupported_precision_is_infeasible_in_grids():
    res, at = _point("tpu-v5e", "llama-2-7b", "decode", 1, precision="fp8")
    assert not res.feasible[at] and res.infeasible_reason[at] == roofline.NO_PRECISION


def test_moe_reads_fewer_weight_bytes_at_small_batch():
    mixtral = roofline.model_arrays([CATALOG.workload("mixtral-8x7b")])
    one = roofline.weight_bytes_read(mixtral, 1, 2.0)[0]
    many = roofline.weight_bytes_read(mixtral, 4096, 2.0)[0]
    assert one == pytest.approx((46.7e9 - 45.1e9 + 45.1e9 * 2 / 8) * 2)
    assert many == pytest.approx(46.7e9 * 2, rel=1e-6)


def test_largest_batch_fills_memory_and_one_more_does_not_fit():
    res, at = _point("h100-sxm", "llama-2-70b", "serve", None, precision="fp8", input_tokens=512, output_tokens=256)
    b = res.batch[at]
    chips = res.chips[at]
    chip = roofline.chip_arrays([CATALOG.accelerator("h100-sxm")], "fp8", CATALOG.efficiency, [0.95])
    model = roofline.model_arrays([CATALOG.workload("llama-2-70b")])
    capacity = chips * chip.hbm_bytes[0] * chip.usable_memory_fraction
    assert roofline.memory_required(model, b, 768, 1.0, 1.0)[0] <= capacity
    assert roofline.memory_required(model, b + 1, 768, 1.0, 1.0)[0] > capacity


def test_tensor_parallel_adds_interconnect_time_and_splits_memory_time():
    one, at = _point("mi300x", "llama-2-70b", "decode", 1, precision="fp8", group=1)
    four, _ = _point("mi300x", "llama-2-70b", "decode", 1, precision="fp8", group=4)
    assert one.interconnect_s[at] == 0 and four.interconnect_s[at] > 0
    assert four.memory_s[at] == pytest.approx(one.memory_s[at] / 4)


def test_lower_software_maturity_lowers_throughput():
    chip = [CATALOG.accelerator("mi300x")]
    model = roofline.model_arrays([CATALOG.workload("llama-2-70b")])
    mature = roofline.chip_arrays(chip, "fp8", CATALOG.efficiency, [0.95])
    immature = roofline.chip_arrays(chip, "fp8", CATALOG.efficiency, [0.3])
    a = roofline.evaluate("serve", model, mature, 64, precision="fp8")
    b = roofline.evaluate("serve", model, immature, 64, precision="fp8")
    assert CATALOG.efficiency.maturity_sensitivity > 0
    assert b.tokens_per_second[0] < a.tokens_per_second[0]


def test_unknown_phase_is_an_error():
    chip = roofline.chip_arrays([CATALOG.accelerator("h100-sxm")], "bf16", CATALOG.efficiency, [1.0])
    with pytest.raises(ValueError, match="unknown phase"):
        roofline.evaluate("inference", roofline.model_arrays([CATALOG.workload("llama-2-7b")]), chip, precision="bf16")


# --- energy -----------------------------------------------------------------------------------------------


def test_energy_per_token_falls_as_batch_grows():
    """On a group of fixed size (the one the largest batch needs: a larger group adds chips drawing power)."""
    batches = [1, 2, 4, 8, 16, 32, 64, 128]
    for chip, model in (("h100-sxm", "llama-2-70b"), ("mi300x", "llama-3-70b"), ("b200", "llama-2-7b"),
                        ("tpu-v6e", "llama-2-13b")):
        largest = evaluate_grid(CATALOG, [CATALOG.accelerator(chip)], [CATALOG.workload(model)], "decode",
                                batches=[batches[-1]], precision="bf16", input_tokens=512)
        grid = evaluate_grid(CATALOG, [CATALOG.accelerator(chip)], [CATALOG.workload(model)], "decode",
                             batches=batches, precision="bf16", input_tokens=512,
                             group=float(largest.result.chips[0, 0, 0]))
        energy = grid.result.joules_per_token[0, 0]
        assert np.all(np.isfinite(energy)) and np.all(np.diff(energy) < 0), (chip, model, energy)


def test_power_lies_between_the_floor_and_tdp_and_training_draws_tdp():
    h100 = CATALOG.accelerator("h100-sxm")
    small, at = _point("h100-sxm", "llama-2-70b", "decode", 1, precision="fp8", input_tokens=512)
    large, _ = _point("h100-sxm", "llama-2-70b", "decode", None, precision="fp8", input_tokens=512)
    floor = roofline.POWER_FLOOR * h100.tdp_w
    assert floor <= small.power_w[at] < floor * 1.05  # memory-bound at batch 1: compute nearly idle
    assert small.power_w[at] < large.power_w[at] <= h100.tdp_w
    train, at = _point("h100-sxm", "llama-2-70b", "train", 1)
    assert train.power_w[at] == pytest.approx(h100.tdp_w)
    # a compute-bound training step: joules per FLOP = TDP / (peak x MFU)
    mfu = CATALOG.efficiency.mfu_train * CATALOG.efficiency.maturity_factor(CATALOG.vendors["nvidia"].software_maturity)
    assert train.joules_per_flop[at] == pytest.approx(h100.tdp_w / (h100.tflops["bf16"] * 1e12 * mfu))
    assert train.tokens_per_joule[at] == pytest.approx(1.0 / train.joules_per_token[at])


def test_energy_is_power_times_group_times_time_over_tokens():
    res, at = _point("mi300x", "llama-3-70b", "serve", None, input_tokens=512, output_tokens=256)
    produced = res.tokens_per_second[at] * res.latency_s[at]
    assert res.joules_per_token[at] == pytest.approx(res.power_w[at] * res.chips[at] * res.latency_s[at] / produced)


# --- architectures beyond the dense transformer --------------------------------------------------------------


def _model(workload_id):
    return roofline.model_arrays([CATALOG.workload(workload_id)])


def test_a_recurrent_state_model_decode_memory_does_not_grow_with_context():
    mamba = _model("mamba-2.8b")
    short, long = (roofline.memory_required(mamba, 16, ctx, 2.0, 2.0) for ctx in (1_024, 131_072))
    assert short == pytest.approx(long) and roofline.kv_bytes_per_token(mamba, 2.0) == 0
    assert roofline.state_bytes(mamba, 2.0)[0] == 64 * 97_280 * 2.0  # fixed per sequence, all 64 layers
    times = [_point("h100-sxm", "mamba-2.8b", "decode", 8, input_tokens=ctx)[0].latency_s[0, 0, 0] for ctx in (512,
                                                                                                               65_536)]
    assert times[0] == pytest.approx(times[1])  # the step reads the same state at any context
    # a hybrid keeps a cache only in its attention layers (Jamba: 4 of 32), so its memory grows 8x slower
    jamba = CATALOG.workload("jamba-v0.1")
    assert jamba.kv_bytes_per_token(2.0) == 4 * 2 * 8 * 128 * 2.0
    dense_equivalent = 2.0 * 32 * 8 * 128 * 2.0
    assert jamba.kv_bytes_per_token(2.0) == dense_equivalent / 8


def test_latent_attention_caches_its_compressed_latent_only():
    deepseek = CATALOG.workload("deepseek-v3")
    assert deepseek.kv_bytes_per_token(1.0) == 61 * 576  # not 2 x 128 heads x 192 per layer
    assert roofline.kv_bytes_per_token(_model("deepseek-v3"), 1.0)[0] == 61 * 576


def test_an_moe_reads_more_of_its_experts_as_the_batch_grows():
    deepseek = _model("deepseek-v3")
    reads = [float(roofline.weight_bytes_read(deepseek, b, 1.0)[0]) for b in (1, 8, 64, 512)]
    assert np.all(np.diff(reads) > 0)
    assert reads[0] == pytest.approx(37e9, rel=0.03)  # one token touches 8 of 256 experts: the active parameters
    assert reads[-1] > 0.99 * 671e9  # 512 tokens touch nearly every expert


# --- roofline v2: fabrics, pipelines, overheads ----------------------------------------------------------------


def _decode(chip_id, workload, group, batch=1, pipeline=None, precision="fp8", chip=None):
    chip = chip or roofline.chip_arrays([CATALOG.accelerator(chip_id)], precision, CATALOG.efficiency,
                                        [CATALOG.vendors[CATALOG.accelerator(chip_id).vendor].software_maturity])
    return roofline.evaluate("decode", roofline.model_arrays([CATALOG.workload(workload)]), chip, batch,
                             precision=precision, group=group, input_tokens=512, pipeline=pipeline)


def test_tp8_batch1_decode_is_not_slower_than_tp4_by_more_than_its_extra_communication():
    four, eight = _decode("h100-sxm", "llama-2-70b", 4), _decode("h100-sxm", "llama-2-70b", 8)
    extra_communication = eight.interconnect_s[0] - four.interconnect_s[0]
    assert eight.latency_s[0] <= four.latency_s[0] + max(extra_communication, 0.0) + 1e-12
    assert eight.memory_s[0] == pytest.approx(four.memory_s[0] / 2)  # twice the bandwidth on the weights
    # a small message on NVSwitch goes one-shot: one latency step, not the ring's 2 (k - 1)
    alpha = CATALOG.efficiency.link_latency_us * 1e-6
    message = 8192 * roofline.ACTIVATION_BYTES  # one sequence's activations, Llama-2-70B
    one_all_reduce = roofline.allreduce_time(message, 8, 450e9, alpha, True)
    assert one_all_reduce == pytest.approx(alpha + 7 * message / 450e9)
    assert roofline.allreduce_time(message, 8, 450e9, alpha, False) < 2 * 7 * alpha  # tree beats ring on a torus


def test_allreduce_algorithm_follows_message_size():
    alpha, bw = 10e-6, 100e9
    small, large = 1e3, 1e9
    # small messages: latency decides (one-shot on a switch); large ones: bandwidth (two-shot / ring)
    assert roofline.allreduce_time(small, 8, bw, alpha, True) == pytest.approx(alpha + 7 * small / bw)
    assert roofline.allreduce_time(large, 8, bw, alpha, True) == pytest.approx(2 * alpha + 2 * 7 / 8 * large / bw)
    assert roofline.allreduce_time(large, 8, bw, alpha, False) == pytest.approx(2 * 7 * alpha + 2 * 7 / 8 * large / bw)
    assert roofline.allreduce_time(small, 1, bw, alpha, True) == 0.0


def test_hardware_sequenced_collectives_pay_the_launch_latency_once():
    """On NeuronLink (Trainium's collective cores sequence the steps) a collective's first step costs the full
    latency and each further step the fabric's own step latency; on NVLink every step costs the full latency."""
    alpha, hop, bw, small = 74e-6, 2e-6, 640e9, 1e3
    tree_steps = 2 * 4  # a tree over 16 chips
    sequenced = roofline.allreduce_time(small, 16, bw, alpha, False, hop)
    assert sequenced == pytest.approx(min(alpha + (tree_steps - 1) * hop + 2 * small / bw,
                                          alpha + (2 * 15 - 1) * hop + 2 * 15 / 16 * small / bw))
    assert roofline.allreduce_time(small, 16, bw, alpha, False) == pytest.approx(tree_steps * alpha + 2 * small / bw)
    assert roofline.step_latencies(6.0, alpha) == pytest.approx(roofline.step_latencies(6.0, alpha, alpha))
    eff = CATALOG.efficiency
    trn2, h100 = CATALOG.accelerator("trn2-server"), CATALOG.accelerator("h100-sxm")
    arrays = roofline.chip_arrays([trn2, h100], "bf16", eff, {"aws": 0.5, "nvidia": 0.95})
    assert arrays.step_latency[0] == pytest.approx(eff.fabric_of(trn2).step_latency_us * 1e-6)
    assert arrays.step_latency[1] == pytest.approx(arrays.link_latency[1])  # NVLink: unchanged
    # so a Trn2 decode step at batch 1 is no longer several times its weights' read time in collectives
    res = _decode("trn2-server", "llama-3-70b", 16, precision="bf16")
    assert res.interconnect_s[0] < 4 * res.memory_s[0]


def test_a_pipeline_idles_at_small_batch_by_the_expected_bubble():
    """With communication and overheads removed, p stages decode a batch b < p at b / p of the throughput of the
    same chips splitting every layer (tensor parallel), and at the same throughput once b >= p."""
    base = roofline.chip_arrays([CATALOG.accelerator("h100-sxm")], "fp8", CATALOG.efficiency, [1.0])
    ideal = dataclasses.replace(base, link_latency=0.0, link_bandwidth=np.inf, layer_overhead=0.0,
                                prefill_layer_overhead=0.0, sequence_overhead=0.0)
    for batch in (1, 2, 4, 8, 16):
        pp = _decode("h100-sxm", "llama-2-70b", 8, batch, pipeline=8, chip=ideal)
        tp = _decode("h100-sxm", "llama-2-70b", 8, batch, pipeline=1, chip=ideal)
        ratio = pp.tokens_per_second[0] / tp.tokens_per_second[0]
        assert ratio == pytest.approx(min(batch, 8) / 8), batch


def test_sram_chips_are_pipelined_by_default_and_hbm_chips_are_not():
    groq = _decode("groq-lpu", "llama-2-7b", 128, precision="int8")
    assert groq.feasible[0]
    explicit = _decode("groq-lpu", "llama-2-7b", 128, pipeline=128, precision="int8")
    assert groq.latency_s[0] == explicit.latency_s[0]
    tensor = _decode("groq-lpu", "llama-2-7b", 128, pipeline=1, precision="int8")
    assert tensor.interconnect_s[0] > groq.interconnect_s[0]  # 2 all-reduces per layer vs 127 hops
    h100 = _decode("h100-sxm", "llama-2-70b", 4)
    assert h100.latency_s[0] == _decode("h100-sxm", "llama-2-70b", 4, pipeline=1).latency_s[0]


def test_stages_must_split_the_group():
    res = _decode("h100-sxm", "llama-2-70b", 4, pipeline=3)
    assert not res.feasible[0]


def test_grouped_query_kv_is_reread_as_far_as_attention_does_not_share_it():
    model = roofline.model_arrays([CATALOG.workload("llama-2-70b")])  # 64 query heads over 8 KV heads
    assert roofline.kv_rereads(model, 1.0)[0] == 1.0
    assert roofline.kv_rereads(model, 0.0)[0] == 8.0
    mha = roofline.model_arrays([CATALOG.workload("llama-2-7b")])  # one KV head per query head
    assert roofline.kv_rereads(mha, 0.0)[0] == 1.0


def test_routed_experts_cost_more_compute_than_their_dense_flop_count():
    """An MoE's prefill is compute-bound; at expert efficiency e its routed experts' FLOP count 1 / e times."""
    base = roofline.chip_arrays([CATALOG.accelerator("h100-sxm")], "fp8", CATALOG.efficiency, [1.0])
    model = roofline.model_arrays([CATALOG.workload("mixtral-8x7b")])
    times = {}
    for eff in (1.0, 0.5):
        chip = dataclasses.replace(base, expert_efficiency=eff)
        times[eff] = roofline.evaluate("prefill", model, chip, 8, precision="fp8", group=1,
                                       input_tokens=2048).compute_s[0]
    w = CATALOG.workload("mixtral-8x7b")
    active_expert = w.params_expert * w.experts_per_token / w.experts
    expected = (2 * w.params_active + 2 * active_expert) / (2 * w.params_active)  # attention FLOP aside
    assert times[0.5] / times[1.0] == pytest.approx(expected, rel=0.05)
    dense = roofline.model_arrays([CATALOG.workload("llama-2-7b")])
    assert roofline.expert_flop_penalty(dense, 0.5)[0] == 0.0


@pytest.mark.parametrize("phase", ["prefill", "decode", "serve"])
def test_vectorised_matches_reference_with_expert_and_data_parallelism_and_latent_caches(phase):
    rng = np.random.default_rng(zlib.crc32(f"layouts-{phase}".encode()))
    n = 120
    chips, models = random_points(rng, n)
    for m in models:  # some latent caches (one head, attended in its latent space), some GQA head counts
        m["n_heads"] = m["attention_width"] / 128
        m["latent"] = bool(rng.random() < 0.3)
        m["kv_heads"] = 1.0 if m["latent"] else m["kv_elements"] / 256
    sharing, usable = rng.uniform(0, 1), 0.9
    batch = rng.integers(1, 256, size=n).astype(float)
    inp = rng.integers(1, 1024, size=n).astype(float)
    out = rng.integers(1, 64, size=n).astype(float)
    group = 2.0 ** rng.integers(0, 5, size=n)
    data = 2.0 ** rng.integers(0, 4, size=n)
    expert = np.where(rng.random(n) < 0.2, 0.0, 2.0 ** rng.integers(1, 5, size=n))
    chip_arr, model_arr = as_arrays(chips, models, sharing, usable)
    model_arr = dataclasses.replace(model_arr, n_heads=np.array([m["n_heads"] for m in models]),
                                    latent=np.array([m["latent"] for m in models]),
                                    kv_heads=np.array([m["kv_heads"] for m in models]))
    res = roofline.evaluate(phase, model_arr, chip_arr, batch, precision="fp8", group=group, input_tokens=inp,
                            output_tokens=out, parallel=roofline.Parallel(data=data, expert=expert))
    for c in chips:
        c.update(gqa_sharing=sharing, usable=usable, expert_efficiency=0.6)
    feasible_seen = expert_seen = 0
    for i in range(n):
        layout = {"data": data[i], "expert": expert[i]}
        expected = ref.evaluate_point(phase, chips[i], models[i], int(batch[i]), int(inp[i]), int(out[i]), "fp8",
                                      int(group[i]), None, layout)
        if expected is None:
            assert not res.feasible[i], f"point {i} should be infeasible"
            continue
        feasible_seen += 1
        expert_seen += bool(models[i]["experts"] > 1 and expert[i] > 1)
        assert res.feasible[i] and res.chips[i] == expected["chips"]
        assert res.tokens_per_second[i] == pytest.approx(expected["tokens_per_second"], rel=1e-9)
        assert res.latency_s[i] == pytest.approx(expected["latency_s"], rel=1e-9)
        assert res.bound_name(i) == expected["bound"]
    assert feasible_seen >= n // 6 and expert_seen >= 5, (feasible_seen, expert_seen)


@pytest.mark.parametrize("phase", ["train", "serve", "decode", "prefill"])
def test_rates_only_gives_the_full_evaluations_throughput_per_chip_to_the_bit(phase):
    chips = list(CATALOG.accelerators.values())
    maturity = np.linspace(0.2, 1.0, len(chips))
    chip_arr = roofline.chip_arrays(chips, "fp8", CATALOG.efficiency, maturity, axis=0, ndim=3)
    model_arr = roofline.model_arrays(list(CATALOG.workloads.values())[:3], axis=1, ndim=3)
    groups = (2.0 ** np.arange(7))[None, None, :]
    kwargs = dict(precision="fp8", group=None if phase == "train" else groups, input_tokens=512, output_tokens=256)
    batch = 1 if phase == "train" else None
    full = roofline.evaluate(phase, model_arr, chip_arr, batch, **kwargs).tokens_per_second_per_chip
    lean = roofline.evaluate(phase, model_arr, chip_arr, batch, rates_only=True, **kwargs).tokens_per_second_per_chip
    assert np.isfinite(full).any() and np.isnan(full).any()  # feasible and infeasible points both checked
    np.testing.assert_array_equal(lean, full)


@pytest.mark.parametrize("phase", ["serve", "decode", "prefill"])
def test_chips_at_several_precisions_in_one_call_get_each_precisions_own_evaluation_to_the_bit(phase):
    chips = list(CATALOG.accelerators.values())
    maturity = np.linspace(0.2, 1.0, len(chips))
    precisions = ("fp8", "bf16", "fp4")
    stacked = roofline.chip_arrays_at_precisions(chips, precisions, CATALOG.efficiency, maturity, axis=0, ndim=3)
    groups = (2.0 ** np.arange(7))[None, None, :]
    for workload in ("llama-3-70b", "deepseek-v3", "jamba-v0.1"):
        model_arr = roofline.model_arrays([CATALOG.workload(workload)], axis=1, ndim=3)
        kwargs = dict(group=groups, input_tokens=512, output_tokens=256, rates_only=True)
        together = roofline.evaluate(phase, model_arr, stacked, None, precision="bf16", **kwargs)
        rows = together.tokens_per_second_per_chip.reshape(len(precisions), len(chips), *groups.shape[1:])
        for precision, block in zip(precisions, rows, strict=True):
            alone = roofline.evaluate(phase, model_arr, roofline.chip_arrays(chips, precision, CATALOG.efficiency,
                                                                            maturity, axis=0, ndim=3),
                                      None, precision=precision, **kwargs).tokens_per_second_per_chip
            assert np.isfinite(alone).any()
            np.testing.assert_array_equal(block, alone)


def test_decode_steps_at_several_contexts_are_each_contexts_own_to_the_bit():
    rng = np.random.default_rng(zlib.crc32(b"decode-steps"))
    n = 80
    chips, models = random_points(rng, n)
    chip_arr, model_arr = as_arrays(chips, models, sharing=0.4, usable=0.9)
    batch = rng.integers(1, 256, size=n).astype(float)
    group = 2.0 ** rng.integers(0, 5, size=n)
    parallel = roofline.Parallel(data=2.0 ** rng.integers(0, 3, size=n),
                                 expert=np.where(rng.random(n) < 0.5, 0.0, 2.0 ** rng.integers(1, 4, size=n)))
    contexts = (0.0, 1.0, rng.integers(1, 4096, size=n).astype(float))
    together = roofline.decode_steps(model_arr, chip_arr, batch, contexts, group, 1.0, 1.0, 1.0, parallel)
    for context, step in zip(contexts, together, strict=True):
        alone = roofline.decode_step_times(model_arr, chip_arr, batch, context, group, 1.0, 1.0, 1.0, parallel)
        for field in dataclasses.fields(step):
            np.testing.assert_array_equal(getattr(step, field.name), getattr(alone, field.name))
    assert not np.array_equal(together[0].memory, together[2].memory)  # the context moves the KV bytes read


def test_training_groups_searched_at_once_are_the_first_size_that_fits_one_size_at_a_time():
    chips = list(CATALOG.accelerators.values())
    chip_arr = roofline.chip_arrays(chips, "bf16", CATALOG.efficiency, np.linspace(0.2, 1.0, len(chips)), axis=0,
                                    ndim=3)
    tiny = np.where(np.arange(len(chips)) % 5 == 0, 1e-9, 1.0)[:, None, None]  # a fifth hold no run on 2^20 chips
    chip_arr = dataclasses.replace(chip_arr, hbm_bytes=chip_arr.hbm_bytes * tiny)
    model_arr = roofline.model_arrays(list(CATALOG.workloads.values()), axis=1, ndim=3)
    parallel = roofline.Parallel(data=np.array([1.0, 8.0])[None, None, :], zero=1)
    memory = chip_arr.hbm_bytes * chip_arr.usable_memory_fraction
    group = np.nan
    for power in range(21):  # one size at a time, the smallest that fits kept
        need = roofline.training_bytes_per_chip(model_arr.params_total, model_arr.n_layers, model_arr.d_model,
                                                model_arr.train_seq_len, 2.0**power, 1.0, parallel)
        group = np.where(np.isnan(group) & (need <= memory), 2.0**power, group)
    assert np.isfinite(group).any() and np.isnan(group).any()  # fitting and unfitting points both checked
    searched = roofline.evaluate("train", model_arr, chip_arr, 4, precision="bf16", parallel=parallel)
    given = roofline.evaluate("train", model_arr, chip_arr, 4, precision="bf16", parallel=parallel, group=group)
    for field in ("chips", "tokens_per_second_per_chip", "latency_s", "power_w"):
        np.testing.assert_array_equal(getattr(searched, field), getattr(given, field))
