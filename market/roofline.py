"""Vectorised roofline model of LLM training and inference on accelerators.

Pure numpy: every function takes arrays that broadcast against each other (typically chips on one
axis, workloads on another, batch sizes and tensor-parallel degrees on others) and returns arrays.
No Mesa, no pandas. Units: FLOP, FLOP/s, bytes, bytes/s, seconds, tokens.

Model (DESIGN.md section 4):
- training: 6 N_active FLOP per token plus the attention term 12 L H d_h S (PaLM's MFU convention);
  time = FLOP / (peak x MFU_train) over all chips (model-parallel group x context x data replicas). Each chip holds
  its share of 16 bytes of state per parameter (ZeRO stages shard it over data x context ranks) and of the
  recomputed activations (market/parallelism.py).
- prefill of b prompts of I tokens on g chips (t tensor-parallel x p pipeline stages):
  FLOP = b (2 N_active I + 2 L H d_h I^2); bytes = weights read + KV written;
  with T = max(FLOP / (g peak MFU_infer), bytes / (g bandwidth MBU)) and m = min(b, p) microbatches,
  time = (m + p - 1) x (T / m + per-stage all-reduces + per-stage layer overheads + a hop between stages).
- decode, one step at batch b with context c: FLOP = b (2 N_active + 4 L H d_h c);
  bytes = weights read + b c (KV bytes per token) x KV re-reads (a grouped-query cache is re-read by each
  query head of a group as far as the attention kernel does not share the read); with the pipeline kept full
  across steps a step takes (p / m) T + 2 L all-reduces of b / m sequences + L layer overheads + (p - 1) hops
  + a serving overhead per sequence (scheduling, sampling, batching): at small batch a pipeline idles (the
  bubble: throughput b / p of full).
- serve (I input, O output tokens): prefill (which yields the first token), then O - 1 decode steps
  at contexts I + 1 ... I + O - 1, summed in closed form (each step time is the max of two lines in c).
- weights read: all of a dense model; for a mixture of experts the shared part plus the expected
  fraction of experts that `t` routed tokens touch, 1 - (1 - top_k / E)^t; routed experts' small matrices run
  at `expert_efficiency` of the dense compute rate (their FLOP count 1 / efficiency times).
- tensor parallelism: 2 all-reduces of the activations per layer, costed per fabric with a latency per
  step (alpha) and the link bandwidth B, by the cheapest algorithm for the message size m: ring
  2 (k - 1) alpha + 2 (k - 1) / k m / B, tree 2 log2(k) alpha + 2 m / B, and on a switched fabric (every
  chip reaches every other) one-shot alpha + (k - 1) m / B and two-shot 2 alpha + 2 (k - 1) / k m / B. On a fabric
  whose collective steps are sequenced in hardware (Trainium's collective-communication cores), the first step costs
  alpha and each further one the fabric's own step latency.
- pipeline parallelism: the default for chips holding their weights in on-chip SRAM (they hold layers,
  not shards): all g chips are stages.
- memory: weights + KV cache for b sequences at the longest context must fit in
  k x HBM x usable fraction; without a given k, the smallest power of two that fits is chosen, up
  to the chip's scale-up domain (`max_group`); beyond it the point is infeasible and reported so.
- fixed overheads: a time per layer per forward pass (kernel launches; one for prefill, one for decode) and
  per sequence per decode step, divided by the software-maturity factor; they are the fourth bound.
- the binding bound of a point is the largest of its compute, memory, interconnect and overhead times.
- beyond one group (market/parallelism.py): data-parallel attention replicas (each its own batch), expert
  parallelism (each chip holds 1 / EP of a copy of the routed experts and reads the experts its copy's tokens touch;
  an MoE layer's second all-reduce becomes dispatch and combine all-to-alls over the EP group, costed per fabric),
  KV heads that a tensor group cannot split further (a latent MLA cache is held by every chip of the group, read
  once, and attended in its latent space: 4 H d_c FLOP per cached token), a KV-cache precision of its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hardware_catalog.records import Accelerator, EfficiencyParams, Workload

from .parallelism import (
    Parallel,
    alltoall_time,
    expert_copies_share,
    kv_copies,
    routed_tokens_per_copy,
    training_bytes_per_chip,
    uses_experts,
)

BYTES_PER_PARAM: dict[str, float] = {"bf16": 2.0, "fp8": 1.0, "int8": 1.0, "fp4": 0.5}
# KV cache: 16-bit at bf16, 8-bit at fp8/int8 (as TensorRT-LLM's FP8 KV cache); fp4 keeps an fp8 cache.
KV_BYTES_PER_ELEMENT: dict[str, float] = {"bf16": 2.0, "fp8": 1.0, "int8": 1.0, "fp4": 1.0}
# a KV-cache precision chosen apart from the weights' (`kv_precision`): 4-bit caches (NVFP4 KV) take half a byte
KV_CACHE_BYTES: dict[str, float] = {"bf16": 2.0, "fp8": 1.0, "int8": 1.0, "fp4": 0.5}
ACTIVATION_BYTES = 2.0  # tensor-parallel all-reduces move 16-bit activations
MAX_BATCH = 4096  # upper bound for "largest batch that fits"
# Power a chip draws, as a share of TDP: POWER_FLOOR while it streams memory with its compute units idle, rising
# linearly with the share of the step its compute units are busy to TDP when compute-bound (training draws about
# TDP). The floor is read from ML.ENERGY Benchmark v3.0 measurements on an H100 SXM: ~300 W of 700 W decoding at
# batch 1 (memory-bound), ~600 W at batch 128 (via the vLLM semantic-router fleet simulator's power-model notes,
# 2nd, 2025) (est: one chip's anchors stand for all).
POWER_FLOOR = 0.43

# The fixed overheads (per layer, per sequence) are fitted at this month's serving software (TensorRT-LLM v0.5, the
# date of the earliest engine measurements) and shrink by EfficiencyParams.overhead_decline a year after it.
OVERHEAD_EPOCH = "2023-10"

PHASES = ("train", "prefill", "decode", "serve")
BOUNDS = ("compute", "memory", "interconnect", "overhead")
TRAINING_GROUP_SIZES = 2.0 ** np.arange(21)  # the group sizes a training run's state is fitted into: 1 to 2^20 chips
SRAM_CHIP_BYTES = 1e9  # chips with less memory than this hold weights in on-chip SRAM: pipeline-parallel by default
# Infeasibility codes in RooflineResult.infeasible_reason
FEASIBLE, NO_PRECISION, NO_FIT = 0, 1, 2
INFEASIBLE_REASONS = ("", "precision not supported by the chip", "weights + KV cache do not fit the allowed group")


@dataclass(frozen=True)
class ChipArrays:
    """Chip figures as broadcastable float arrays (SI units)."""

    peak_flops: np.ndarray  # FLOP/s at the evaluated precision; NaN where the chip lacks it
    hbm_bytes: np.ndarray  # bytes per chip
    hbm_bandwidth: np.ndarray  # bytes/s per chip
    link_bandwidth: np.ndarray  # bytes/s per chip, one direction
    max_group: np.ndarray  # chips in the scale-up domain
    mfu_train: np.ndarray  # fraction of peak
    mfu_infer: np.ndarray  # fraction of peak
    mbu: np.ndarray  # fraction of peak bandwidth
    link_latency: np.ndarray | float  # seconds per step of a collective on the chip's fabric
    usable_memory_fraction: float
    tdp_w: np.ndarray | float = np.nan  # W per chip (thermal design power)
    switched: np.ndarray | bool = True  # fabric connects every chip to every other (one-shot / two-shot)
    layer_overhead: np.ndarray | float = 0.0  # seconds per layer per decode step (kernel launches)
    prefill_layer_overhead: np.ndarray | float = 0.0  # seconds per layer per prefill pass
    gqa_sharing: float = 1.0  # share of a grouped-query KV read decode attention shares among the group's query heads
    expert_efficiency: float = 1.0  # routed-expert (MoE) matrices run at this share of the dense compute efficiency
    # seconds per step after a collective's first where the fabric sequences steps in hardware (None: link_latency)
    step_latency: np.ndarray | float | None = None
    sequence_overhead: np.ndarray | float = 0.0  # seconds per sequence per decode step (scheduling, sampling, batching)
    # bytes per weight and per KV-cache element of each row when rows hold different number formats
    # (chip_arrays_at_precisions); None: those of the precision `evaluate` is given
    bytes_per_param: np.ndarray | None = None
    kv_bytes: np.ndarray | None = None


@dataclass(frozen=True)
class ModelArrays:
    """Workload figures as broadcastable float arrays."""

    params_total: np.ndarray
    params_active: np.ndarray
    params_expert: np.ndarray
    experts: np.ndarray
    experts_per_token: np.ndarray
    n_layers: np.ndarray
    d_model: np.ndarray
    attention_width: np.ndarray  # n_heads x head_dim
    # KV-cache elements one token keeps per attention layer (K and V: 2 x n_kv_heads x head_dim)
    kv_elements: np.ndarray
    train_seq_len: np.ndarray
    attention_layers: np.ndarray  # layers with attention (and a KV cache); the others are recurrent (state-space)
    state_elements: np.ndarray  # recurrent-state elements one sequence keeps per recurrent layer (0: none)
    kv_heads: np.ndarray | float = np.inf  # KV heads a tensor group can split the cache by (1: a latent cache)
    latent: np.ndarray | bool = False  # a latent (MLA) cache: decode attends in its latent space, all heads at once
    n_heads: np.ndarray | float = 1.0  # query heads (latent attention's cost per cached token)


def _on_axis(values: Sequence[float], axis: int, ndim: int) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = len(values)
    return np.asarray(values, dtype=float).reshape(shape)


def software_years(year_month: str) -> float:
    """Years of serving-software progress from OVERHEAD_EPOCH to `year_month` (YYYY-MM; "" = the epoch)."""
    if not year_month:
        return 0.0
    (y0, m0), (y1, m1) = ((int(p) for p in d.split("-")) for d in (OVERHEAD_EPOCH, year_month))
    return ((y1 * 12 + m1) - (y0 * 12 + m0)) / 12.0


def chip_arrays(
    chips: Sequence[Accelerator],
    precision: str,
    efficiency: EfficiencyParams,
    maturity: Mapping[str, float] | Sequence[float],
    axis: int = 0,
    ndim: int = 1,
    software: str | None = None,
) -> ChipArrays:
    """Stack `chips` along `axis` of an `ndim`-dimensional grid.

    `maturity` is software maturity in [0, 1] per vendor id (mapping) or per chip (sequence); each
    efficiency cap is scaled by `efficiency.maturity_factor(maturity)`. `software` (YYYY-MM): the serving software's
    date; the fixed overheads shrink by `efficiency.overhead_decline` a year after OVERHEAD_EPOCH (None: the
    efficiency's own software_date).
    """
    years = software_years(efficiency.software_date if software is None else software)
    decline = efficiency.overhead_decline**years
    factor = _maturity_factor(chips, efficiency, maturity)
    col = lambda values: _on_axis(values, axis, ndim)  # noqa: E731
    fabrics = [efficiency.fabric_of(c) for c in chips]
    return ChipArrays(
        **_at_precision(chips, precision, efficiency, factor, axis, ndim),
        hbm_bytes=col([c.hbm_gb * 1e9 for c in chips]),
        hbm_bandwidth=col([c.hbm_tbps * 1e12 for c in chips]),
        link_bandwidth=col([c.interconnect_gbps * 1e9 / 2.0 for c in chips]),
        max_group=col([c.max_group for c in chips]),
        mfu_train=col(np.array([efficiency.training_mfu(c.vendor) for c in chips]) * factor),
        mbu=col(efficiency.mbu * factor),
        link_latency=col([efficiency.link_latency_us * 1e-6 * f.latency_factor for f in fabrics]),
        usable_memory_fraction=efficiency.usable_memory_fraction,
        tdp_w=col([c.tdp_w for c in chips]),
        switched=col([f.switched for f in fabrics]).astype(bool),
        step_latency=(col([(f.step_latency_us or efficiency.link_latency_us * f.latency_factor) * 1e-6
                           for f in fabrics]) if any(f.step_latency_us for f in fabrics) else None),
        layer_overhead=col(efficiency.layer_overhead_us * 1e-6 * decline / factor),
        prefill_layer_overhead=col(efficiency.prefill_layer_overhead_us * 1e-6 * decline / factor),
        gqa_sharing=efficiency.gqa_sharing,
        expert_efficiency=efficiency.expert_efficiency,
        sequence_overhead=col(efficiency.sequence_overhead_us * 1e-6 * decline / factor),
    )


def _maturity_factor(chips: Sequence[Accelerator], efficiency: EfficiencyParams,
                     maturity: Mapping[str, float] | Sequence[float]) -> np.ndarray:
    """(K,) each chip's `efficiency.maturity_factor` at its `maturity` (per vendor id, or per chip)."""
    if isinstance(maturity, Mapping):
        maturity = [maturity[c.vendor] for c in chips]
    return efficiency.maturity_factor(np.asarray(maturity, dtype=float))


def _at_precision(chips: Sequence[Accelerator], precision: str, efficiency: EfficiencyParams, factor: np.ndarray,
                  axis: int, ndim: int) -> dict[str, np.ndarray]:
    """chip_arrays' figures that depend on the number format: peak FLOP/s at `precision` (NaN where a chip lacks it)
    and the inference MFU cap at it, scaled by each chip's maturity `factor`."""
    return {"peak_flops": _on_axis([c.tflops.get(precision, np.nan) * 1e12 for c in chips], axis, ndim),
            "mfu_infer": _on_axis(efficiency.inference_mfu(precision) * factor, axis, ndim)}


def chip_arrays_at_precisions(
    chips: Sequence[Accelerator],
    precisions: Sequence[str],
    efficiency: EfficiencyParams,
    maturity: Mapping[str, float] | Sequence[float],
    axis: int = 0,
    ndim: int = 1,
) -> ChipArrays:
    """`chips` at each of `precisions`, one block of rows after another along `axis` (row i x len(chips) + k: chip k
    at precisions[i]), each row carrying its number format's bytes per weight and per KV-cache element, so that one
    `evaluate` call prices every (chip, precision) pair; each row gets the values `chip_arrays(chips, precision, ...)`
    gives it."""
    first = chip_arrays(chips, precisions[0], efficiency, maturity, axis, ndim)
    factor = _maturity_factor(chips, efficiency, maturity)  # only the number format's own figures differ
    blocks = [first, *(dataclasses.replace(first, **_at_precision(chips, precision, efficiency, factor, axis, ndim))
                       for precision in precisions[1:])]
    rows = lambda values: _on_axis(np.repeat(values, len(chips)), axis, ndim)  # noqa: E731
    stacked = {
        f.name: np.concatenate([getattr(b, f.name) for b in blocks], axis=axis)
        for f in dataclasses.fields(ChipArrays) if isinstance(getattr(blocks[0], f.name), np.ndarray)
    }
    return dataclasses.replace(blocks[0], **stacked, bytes_per_param=rows([BYTES_PER_PARAM[p] for p in precisions]),
                               kv_bytes=rows([KV_BYTES_PER_ELEMENT[p] for p in precisions]))


def repeat_rows(arrays, times: int, each: bool = False):
    """`arrays` (ChipArrays or ModelArrays, rows along axis 0) with its rows repeated `times` times: the whole block
    after itself (np.tile), or with `each` every row after itself (np.repeat), so that one `evaluate` call prices
    several blocks of rows side by side. Fields that are not arrays, or hold one row, broadcast as they are."""
    repeat = (lambda a: np.repeat(a, times, axis=0)) if each else (lambda a: np.concatenate((a,) * times, axis=0))
    repeated = {f.name: repeat(value) for f in dataclasses.fields(arrays)
                if isinstance(value := getattr(arrays, f.name), np.ndarray) and value.ndim and len(value) > 1}
    return dataclasses.replace(arrays, **repeated)


def take_rows(arrays, rows: np.ndarray):
    """`arrays` (ChipArrays or ModelArrays, rows along axis 0) at the rows `rows` (an index array, repeats allowed),
    so that one `evaluate` call prices a list of points, each on its own row. Fields that are not arrays, or hold one
    row, broadcast as they are."""
    taken = {f.name: value[rows] for f in dataclasses.fields(arrays)
             if isinstance(value := getattr(arrays, f.name), np.ndarray) and value.ndim and len(value) > 1}
    return dataclasses.replace(arrays, **taken)


def model_arrays(workloads: Sequence[Workload], axis: int = 0, ndim: int = 1) -> ModelArrays:
    """Stack `workloads` along `axis` of an `ndim`-dimensional grid."""
    col = lambda attr: _on_axis([getattr(w, attr) for w in workloads], axis, ndim)  # noqa: E731
    return ModelArrays(
        params_total=col("params_total"),
        params_active=col("params_active"),
        params_expert=col("params_expert"),
        experts=col("experts"),
        experts_per_token=col("experts_per_token"),
        n_layers=col("n_layers"),
        d_model=col("d_model"),
        attention_width=_on_axis([w.n_heads * w.head_dim for w in workloads], axis, ndim),
        kv_elements=_on_axis([w.kv_elements for w in workloads], axis, ndim),
        train_seq_len=col("train_seq_len"),
        attention_layers=_on_axis([w.kv_layers for w in workloads], axis, ndim),
        state_elements=col("state_elements"),
        kv_heads=_on_axis([1.0 if w.kv_cache_elements else np.inf for w in workloads], axis, ndim),
        latent=_on_axis([bool(w.kv_cache_elements) for w in workloads], axis, ndim).astype(bool),
        n_heads=col("n_heads"),
    )


def check_precision(chips: Sequence[Accelerator], precision: str) -> None:
    """Raise UnsupportedPrecisionError for the first chip lacking `precision` (single-chip callers)."""
    for chip in chips:
        chip.peak_flops(precision)


# ---------------------------------------------------------------------------------------------
# Building blocks


def kv_bytes_per_token(model: ModelArrays, kv_bytes: float) -> np.ndarray:
    """KV-cache bytes one token of context occupies (all attention layers)."""
    return model.attention_layers * model.kv_elements * kv_bytes


def state_bytes(model: ModelArrays, kv_bytes: float) -> np.ndarray:
    """Recurrent-state bytes one sequence keeps (all recurrent layers, at the KV cache's precision); it does not
    grow with context."""
    return (model.n_layers - model.attention_layers) * model.state_elements * kv_bytes


def weight_bytes(model: ModelArrays, bytes_per_param: float) -> np.ndarray:
    """Bytes to hold all weights."""
    return model.params_total * bytes_per_param


def weight_bytes_read(model: ModelArrays, routed_tokens, bytes_per_param: float, expert_share=1.0) -> np.ndarray:
    """Weight bytes a forward pass over `routed_tokens` tokens reads from memory.

    Dense models read everything; a mixture of experts reads its shared weights plus the expected
    share of routed experts touched: 1 - (1 - top_k / E) ** tokens, of the `expert_share` of a copy of the experts
    the reading chips hold (parallelism.expert_copies_share; `routed_tokens` are then the tokens one copy serves).
    """
    untouched = (1.0 - model.experts_per_token / model.experts) ** np.asarray(routed_tokens, dtype=float)
    touched = np.where(model.experts > 1, 1.0 - untouched, 1.0)
    expert = model.params_expert * touched * expert_share
    return (model.params_total - model.params_expert + expert) * bytes_per_param


def step_latencies(steps, latency, step_latency=None):
    """Seconds of latency of a collective of `steps` algorithm steps: `latency` each, or, on a fabric whose steps
    after the first are sequenced by hardware (`step_latency` given: Neuron's collective cores), `latency` for the
    first and `step_latency` for each further step."""
    if step_latency is None:
        return steps * latency
    return latency + (steps - 1.0) * step_latency


def allreduce_time(message_bytes, group, link_bandwidth, latency, switched=True, step_latency=None) -> np.ndarray:
    """Seconds for one all-reduce of `message_bytes` over `group` chips (0 for one chip) by the cheapest
    algorithm the fabric allows: ring or tree anywhere; one-shot or two-shot where a switch connects every chip
    to every other (`switched`). `latency`: seconds per algorithm step (`step_latency`: see step_latencies);
    `link_bandwidth`: bytes/s one way."""
    k = np.asarray(group, dtype=float)
    per_byte = np.asarray(message_bytes, dtype=float) / link_bandwidth
    with np.errstate(divide="ignore", invalid="ignore"):
        share = (k - 1.0) / k
        ring = step_latencies(2.0 * (k - 1.0), latency, step_latency) + 2.0 * share * per_byte
        tree = step_latencies(2.0 * np.ceil(np.log2(np.maximum(k, 1.0))), latency, step_latency) + 2.0 * per_byte
        one_shot = latency + (k - 1.0) * per_byte
        two_shot = step_latencies(2.0, latency, step_latency) + 2.0 * share * per_byte
    best = np.minimum(ring, tree)
    best = np.where(switched, np.minimum(best, np.minimum(one_shot, two_shot)), best)
    return np.where(k > 1, best, 0.0)


def expert_flop_penalty(model: ModelArrays, efficiency) -> np.ndarray:
    """Extra FLOP-equivalents per token that routed experts cost when their small, routed matrices run at
    `efficiency` of the dense rate: 2 x active expert parameters x (1 / efficiency - 1) (0 for a dense model)."""
    active_expert = np.where(model.experts > 1, model.params_expert * model.experts_per_token / model.experts, 0.0)
    return 2.0 * active_expert * (1.0 / efficiency - 1.0)


def kv_rereads(model: ModelArrays, sharing) -> np.ndarray:
    """Times decode attention reads each KV-cache byte: once when the query heads that share a KV head (grouped-
    query attention, g = query heads per KV head) share the read, g times when each reads it alone; `sharing` in
    [0, 1] interpolates (1 for kernels built for GQA, such as TensorRT-LLM's XQA). A latent cache is read once: its
    kernels (FlashMLA) attend with all heads of a sequence in one pass."""
    group = np.maximum(2.0 * model.attention_width / np.where(model.kv_elements > 0, model.kv_elements, np.inf), 1.0)
    return np.where(model.latent, 1.0, 1.0 + (group - 1.0) * (1.0 - sharing))


def decode_attention_flop(model: ModelArrays) -> np.ndarray:
    """FLOP per cached token per sequence of one decode step's attention, all attention layers: 4 x heads x head
    dimension (scores and values); a latent cache is attended in its latent space (the absorbed form of multi-head
    latent attention: scores over the d_c-wide latent, values over it), 4 x heads x d_c."""
    width = np.where(model.latent, model.n_heads * model.kv_elements, model.attention_width)
    return 4.0 * model.attention_layers * width


def memory_required(model: ModelArrays, batch, context, bytes_per_param: float, kv_bytes: float, tensor=1.0,
                    parallel: Parallel | None = None) -> np.ndarray:
    """Bytes one tensor group of `tensor` chips (per pipeline stage: all of them hold the stages' shares) keeps:
    weights, with its share of the routed experts (parallelism.expert_copies_share), plus the KV cache and recurrent
    state of `batch` sequences at `context` tokens, a KV byte held by kv_copies chips of the group."""
    parallel = parallel or Parallel()
    per_sequence = (np.asarray(context) * kv_bytes_per_token(model, kv_bytes) * kv_copies(model.kv_heads, tensor)
                    + state_bytes(model, kv_bytes))
    experts = model.params_expert * (expert_copies_share(model.experts, tensor, parallel) - 1.0)
    return weight_bytes(model, bytes_per_param) + experts * bytes_per_param + np.asarray(batch) * per_sequence


def smallest_fitting_group(required_of, chip: ChipArrays, stages_of) -> np.ndarray:
    """Smallest power-of-two group, up to the chip's scale-up domain, whose usable HBM holds `required_of(group,
    tensor)` bytes, where tensor = group / stages_of(group); NaN where no group fits."""
    per_chip = chip.hbm_bytes * chip.usable_memory_fraction
    largest = float(np.nanmax(chip.max_group))
    found = np.nan
    for power in range(int(np.log2(max(largest, 1.0))) + 1):
        group = 2.0**power
        fits = required_of(group, group / stages_of(group)) <= group * per_chip
        found = np.where(np.isnan(found) & fits & (group <= chip.max_group), group, found)
    return found


def smallest_group(required_bytes, chip: ChipArrays, limit=None) -> np.ndarray:
    """Smallest power-of-two number of chips whose usable HBM holds `required_bytes`.

    NaN where even `limit` chips (default: the chip's scale-up domain `max_group`) are too few.
    """
    per_chip = chip.hbm_bytes * chip.usable_memory_fraction
    need = np.maximum(np.asarray(required_bytes, dtype=float) / per_chip, 1.0)
    group = 2.0 ** np.ceil(np.log2(need) - 1e-12)
    limit = chip.max_group if limit is None else limit
    return np.where(group <= limit, group, np.nan)


def largest_batch(model: ModelArrays, chip: ChipArrays, group, context, bytes_per_param: float, kv_bytes: float,
                  tensor=1.0, parallel: Parallel | None = None):
    """Largest batch (sequences at `context` tokens, per tensor group) whose KV cache fits next to the weights,
    <= MAX_BATCH (memory_required's accounting: `tensor` chips per stage, `parallel`'s expert share).

    0 where not even one sequence fits.
    """
    weights = memory_required(model, 0.0, context, bytes_per_param, kv_bytes, tensor, parallel)
    per_sequence = memory_required(model, 1.0, context, bytes_per_param, kv_bytes, tensor, parallel) - weights
    free = np.asarray(group) * chip.hbm_bytes * chip.usable_memory_fraction - weights
    batch = np.floor(np.maximum(free, 0.0) / per_sequence)
    return np.minimum(batch, MAX_BATCH)


@dataclass(frozen=True)
class StepTimes:
    """Seconds of one step along its critical path: compute and memory traffic (the larger binds; a pipeline's
    bubble included), collective communication and hops between stages, and fixed overheads. `busy` is the
    time each chip's compute units work (for its power draw)."""

    compute: np.ndarray
    memory: np.ndarray
    interconnect: np.ndarray
    overhead: np.ndarray
    busy: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return np.maximum(self.compute, self.memory) + self.interconnect + self.overhead


def microbatches(batch, stages):
    """Microbatches a pipeline of `stages` splits `batch` sequences into: as many as it has stages, at most."""
    return np.minimum(np.asarray(batch, dtype=float), np.asarray(stages, dtype=float))


def _step(model, chip, flop, moved, message, group, stages, batch, fill: bool, parallel: Parallel | None = None):
    """A forward pass over all layers on `group` chips in `stages` pipeline stages: `flop` and `moved` bytes in
    total, tensor-parallel all-reduces of `message` bytes (the whole batch's activations), two per layer; under
    expert parallelism an MoE layer's second all-reduce is replaced by the dispatch and combine all-to-alls over the
    EP group, each chip sending its share of the tensor group's tokens (message / tensor) top_k times. fill: the
    pipeline is filled and drained for this pass (prefill) rather than kept full across steps (decode)."""
    return _steps(model, chip, ((flop, moved),), message, group, stages, batch, fill, parallel)[0]


def _steps(model, chip, work, message, group, stages, batch, fill: bool,
           parallel: Parallel | None = None) -> list[StepTimes]:
    """`_step` for each (flop, moved) of `work` that share the rest (the same message, group, stages and batch): the
    communication, hops and overheads, which do not depend on them, computed once, by the same operations."""
    parallel = parallel or Parallel()
    group = np.asarray(group, dtype=float)
    stages = np.asarray(stages, dtype=float)
    tensor = group / stages
    m = microbatches(batch, stages)
    allreduce = allreduce_time(message / m, tensor, chip.link_bandwidth, chip.link_latency, chip.switched,
                               chip.step_latency)
    ep = uses_experts(model.experts, parallel)
    dispatch = message / m / tensor * model.experts_per_token
    alltoall = alltoall_time(dispatch, parallel.expert, chip.link_bandwidth, chip.link_latency, chip.switched,
                             chip.step_latency)
    collective = model.n_layers * (allreduce + np.where(ep, 2.0 * alltoall, allreduce))
    hops = (stages - 1.0) * chip.link_latency
    layers = model.n_layers * (chip.prefill_layer_overhead if fill else chip.layer_overhead)
    flop_rate, byte_rate = group * chip.peak_flops * chip.mfu_infer, group * chip.hbm_bandwidth * chip.mbu
    if fill:  # (m + p - 1) stage-times of one microbatch, each stage 1/p of the layers
        scale = (m + stages - 1.0) / m
        interconnect, overhead = (m + stages - 1.0) / stages * collective + hops, (m + stages - 1.0) / stages * layers
    else:
        scale = stages / m  # kept full across steps: idle stages while b < p
        interconnect, overhead = collective + hops, layers
    times = []
    for flop, moved in work:
        compute = flop / flop_rate
        times.append(StepTimes(scale * compute, scale * (moved / byte_rate), interconnect, overhead, compute))
    return times


def decode_step_times(
    model, chip, batch, context, group, bytes_per_param: float, kv_bytes: float, stages=1.0,
    parallel: Parallel | None = None,
) -> StepTimes:
    """One decode step: each of `batch` sequences with `context` cached tokens emits one token (on one tensor group
    of `group` chips; `parallel.data` such groups step side by side with batches of their own)."""
    return decode_steps(model, chip, batch, (context,), group, bytes_per_param, kv_bytes, stages, parallel)[0]


def decode_steps(
    model, chip, batch, contexts, group, bytes_per_param: float, kv_bytes: float, stages=1.0,
    parallel: Parallel | None = None,
) -> list[StepTimes]:
    """`decode_step_times` at each of `contexts` (cached tokens per sequence), what does not depend on the context
    (weights read, per-token KV and state bytes, communication) computed once, by the same operations."""
    parallel = parallel or Parallel()
    batch = np.asarray(batch, dtype=float)
    tensor = np.asarray(group, dtype=float) / np.asarray(stages, dtype=float)
    dense_flop, attention_flop = 2.0 * model.params_active, decode_attention_flop(model)
    penalty = expert_flop_penalty(model, chip.expert_efficiency)
    # weights (the group's share of the experts), the KV cache read (re-read by the query heads of a group as far
    # as the attention kernel does not share it: kv_rereads; held, so read, by kv_copies chips of the group), and
    # each sequence's recurrent state read and written back
    share = expert_copies_share(model.experts, tensor, parallel)
    routed = routed_tokens_per_copy(model.experts, batch, tensor, parallel)
    kv_read = kv_rereads(model, chip.gqa_sharing) * kv_copies(model.kv_heads, tensor)
    weights_read = weight_bytes_read(model, routed, bytes_per_param, share)
    kv_per_token, state = kv_bytes_per_token(model, kv_bytes), 2.0 * batch * state_bytes(model, kv_bytes)
    work = [(batch * (dense_flop + attention_flop * context + penalty),
             weights_read + batch * context * kv_per_token * kv_read + state) for context in contexts]
    message = batch * model.d_model * ACTIVATION_BYTES
    per_step = batch * chip.sequence_overhead
    return [StepTimes(step.compute, step.memory, step.interconnect, step.overhead + per_step, step.busy)
            for step in _steps(model, chip, work, message, group, stages, batch, fill=False, parallel=parallel)]


def prefill_times(
    model, chip, batch, prompt_tokens, group, bytes_per_param: float, kv_bytes: float, stages=1.0,
    parallel: Parallel | None = None,
) -> StepTimes:
    """Prefill of `batch` prompts of `prompt_tokens` tokens (causal attention) on one tensor group."""
    parallel = parallel or Parallel()
    batch = np.asarray(batch, dtype=float)
    prompt = np.asarray(prompt_tokens, dtype=float)
    tensor = np.asarray(group, dtype=float) / np.asarray(stages, dtype=float)
    tokens = batch * prompt
    flop = batch * ((2.0 * model.params_active + expert_flop_penalty(model, chip.expert_efficiency)) * prompt
                    + 2.0 * model.attention_layers * model.attention_width * prompt**2)
    share = expert_copies_share(model.experts, tensor, parallel)
    routed = routed_tokens_per_copy(model.experts, tokens, tensor, parallel)
    moved = (weight_bytes_read(model, routed, bytes_per_param, share)
             + tokens * kv_bytes_per_token(model, kv_bytes) * kv_copies(model.kv_heads, tensor)
             + batch * state_bytes(model, kv_bytes))
    message = tokens * model.d_model * ACTIVATION_BYTES
    return _step(model, chip, flop, moved, message, group, stages, batch, fill=True, parallel=parallel)


def training_flop_per_token(model: ModelArrays) -> np.ndarray:
    """Model FLOP per trained token: 6 N_active + 12 L_attn H d_h S (forward and backward; L_attn attention layers)."""
    return 6.0 * model.params_active + 12.0 * model.attention_layers * model.attention_width * model.train_seq_len


def _line_sum(intercept, slope, lo, hi):
    """Sum of intercept + slope * j over integers lo <= j <= hi (0 for an empty range)."""
    count = np.maximum(hi - lo + 1.0, 0.0)
    return count * intercept + slope * count * (lo + hi) / 2.0


def sum_of_max_lines(a1, b1, a2, b2, lo, hi):
    """Sum over integers lo <= j <= hi of max(a1 + b1 j, a2 + b2 j), vectorised and in closed form."""
    a1, b1, a2, b2, lo, hi = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (a1, b1, a2, b2, lo, hi)))
    d0, d1 = a1 - a2, b1 - b2
    with np.errstate(divide="ignore", invalid="ignore"):
        root = -d0 / d1
        # split: first integer of the second segment; the first segment uses `first` line
        split = np.where(d1 > 0, np.ceil(root), np.where(d1 < 0, np.floor(root) + 1.0, hi + 1.0))
    split = np.clip(np.nan_to_num(split, nan=hi + 1.0, posinf=hi + 1.0, neginf=lo), lo, hi + 1.0)
    line1_first = (d1 < 0) | ((d1 == 0) & (d0 >= 0))
    fa, fb = np.where(line1_first, a1, a2), np.where(line1_first, b1, b2)
    sa, sb = np.where(line1_first, a2, a1), np.where(line1_first, b2, b1)
    return _line_sum(fa, fb, lo, split - 1.0) + _line_sum(sa, sb, split, hi)


# ---------------------------------------------------------------------------------------------
# Phase evaluation


@dataclass(frozen=True)
class RooflineResult:
    """Outputs of `evaluate`, all arrays of the broadcast shape. Infeasible points hold NaN."""

    phase: str
    tokens_per_second: np.ndarray  # whole group (prefill: prompt tokens; decode/serve: output; train: trained)
    tokens_per_second_per_chip: np.ndarray
    latency_s: np.ndarray  # prefill: time to first token; decode: per output token; serve: whole request;
    #                        train: one optimiser step of `batch` sequences on `chips`
    bound: np.ndarray  # index into BOUNDS, -1 where infeasible
    chips: np.ndarray  # group size used
    batch: np.ndarray
    feasible: np.ndarray  # bool
    infeasible_reason: np.ndarray  # FEASIBLE, NO_PRECISION or NO_FIT
    compute_s: np.ndarray  # time components summed over the phase (serve: over all steps)
    memory_s: np.ndarray
    interconnect_s: np.ndarray
    overhead_s: np.ndarray  # fixed per-layer and per-step overheads
    arithmetic_intensity: np.ndarray  # FLOP per byte of memory traffic (decode/prefill/serve-decode step)
    power_w: np.ndarray = None  # W per chip drawn while running the phase (POWER_FLOOR..1 x TDP)
    joules_per_token: np.ndarray = None  # J per produced token, whole group
    tokens_per_joule: np.ndarray = None
    joules_per_flop: np.ndarray = None  # J per model FLOP done (training: per trained FLOP)

    def bound_name(self, index=()) -> str:
        code = int(np.asarray(self.bound)[index])
        return BOUNDS[code] if code >= 0 else "infeasible"


def _context_for_memory(phase: str, input_tokens, output_tokens):
    if phase == "prefill":
        return np.asarray(input_tokens, dtype=float)
    if phase == "decode":
        return np.asarray(input_tokens, dtype=float) + 1.0
    return np.asarray(input_tokens, dtype=float) + np.asarray(output_tokens, dtype=float)


@dataclass(frozen=True)
class RooflineRates:
    """What `evaluate(..., rates_only=True)` returns: the throughput per chip alone (all the market reads), the same
    values as RooflineResult's, without the time components, bounds, power and energy it skips."""

    tokens_per_second_per_chip: np.ndarray


def evaluate(
    phase: str,
    model: ModelArrays,
    chip: ChipArrays,
    batch=1,
    *,
    precision: str,
    group=None,
    input_tokens=128,
    output_tokens=128,
    pipeline=None,
    parallel: Parallel | None = None,
    kv_precision: str | None = None,
    rates_only: bool = False,
) -> RooflineResult | RooflineRates:
    """Evaluate `phase` on every broadcast point of (model, chip, batch, group, lengths).

    batch: sequences per step (per data-parallel replica); None means the largest batch that fits (inference).
    group: chips serving one model copy (one tensor x pipeline group); None means the smallest power of two that fits
        (for training, the chips needed to hold the training state). For decode, `input_tokens` is the context
        already in the KV cache; for serve, a request is `input_tokens` in and `output_tokens` out.
    pipeline: pipeline stages among the group's chips (the rest of the group is tensor-parallel within a
        stage); None: 1, except for chips that hold weights in on-chip SRAM, where every chip is a stage.
    parallel: data-parallel replicas, expert parallelism, context parallelism and ZeRO stage (market/parallelism.py);
        the result counts all chips and all replicas' tokens. Serving under expert parallelism needs the EP group
        (`parallel.expert` chips, dividing the replicas' tensor chips) inside the chip's scale-up domain.
    kv_precision: the KV cache's number format when it differs from the weights' (None: the weights' default).
    precision: the weights' number format; rows of `chip_arrays_at_precisions` carry their own (and their KV cache's).
    rates_only: return only the throughput per chip (RooflineRates), skipping the time components, bounds, power and
        energy (the market reads nothing else); the values are the full evaluation's to the bit.
    """
    if phase not in PHASES:
        raise ValueError(f"unknown phase '{phase}'; valid: {', '.join(PHASES)}")
    parallel = parallel or Parallel()
    bpp = BYTES_PER_PARAM[precision] if chip.bytes_per_param is None else chip.bytes_per_param
    if kv_precision is not None:
        kvb = KV_CACHE_BYTES[kv_precision]
    else:
        kvb = KV_BYTES_PER_ELEMENT[precision] if chip.kv_bytes is None else chip.kv_bytes
    supported = np.isfinite(chip.peak_flops)
    if phase == "train":
        return _evaluate_train(model, chip, 1 if batch is None else batch, group, supported, pipeline, parallel,
                               rates_only)

    context = _context_for_memory(phase, input_tokens, output_tokens)
    fit_batch = 1.0 if batch is None else batch

    def stages_of(chips):
        if pipeline is None:
            return np.where(chip.hbm_bytes < SRAM_CHIP_BYTES, chips, 1.0)
        return np.asarray(pipeline, dtype=float)

    if group is None and parallel.is_default:
        group = smallest_group(memory_required(model, fit_batch, context, bpp, kvb), chip)
    elif group is None:
        group = smallest_fitting_group(
            lambda g, t: memory_required(model, fit_batch, context, bpp, kvb, t, parallel), chip, stages_of)
    else:
        group = np.asarray(group, dtype=float)
        tensor = group / stages_of(group)
        fits = memory_required(model, fit_batch, context, bpp, kvb, tensor, parallel) <= (
            group * chip.hbm_bytes * chip.usable_memory_fraction
        )
        group = np.where(fits & (group <= chip.max_group), group, np.nan)
    stages = stages_of(group)
    if pipeline is not None:
        group = np.where(np.mod(group, stages) == 0, group, np.nan)  # stages must split the group evenly
    tensor = group / stages
    data = np.asarray(parallel.data, dtype=float)
    ep = np.asarray(parallel.expert, dtype=float)
    # the EP group spreads one copy of the experts over chips of the replicas' tensor groups, in one scale-up domain
    ep_ok = ~uses_experts(model.experts, parallel) | ((np.mod(tensor * data, np.maximum(ep, 1.0)) == 0)
                                                     & (ep <= chip.max_group))
    group = np.where(ep_ok, group, np.nan)
    if batch is None:
        batch = largest_batch(model, chip, group, context, bpp, kvb, tensor, parallel)
        batch = np.where(batch >= 1, batch, np.nan)
    batch = np.asarray(batch, dtype=float)

    def intensity(step):  # FLOP per byte of memory traffic
        return step.compute * chip.peak_flops * chip.mfu_infer / (step.memory * chip.hbm_bandwidth * chip.mbu)

    if phase in ("prefill", "decode"):
        if phase == "prefill":
            times = prefill_times(model, chip, batch, input_tokens, group, bpp, kvb, stages, parallel)
            produced = batch * np.asarray(input_tokens, dtype=float) * data
        else:
            times = decode_step_times(model, chip, batch, np.asarray(input_tokens, dtype=float), group, bpp, kvb,
                                      stages, parallel)
            produced = batch * data
        seconds = times.total
        if rates_only:
            return _rates(produced, seconds, group * data, batch, supported)
        compute_s, memory_s, comm_s, over_s, busy_s = (
            times.compute, times.memory, times.interconnect, times.overhead, times.busy
        )
        flop_per_byte = intensity(times)
    else:  # serve
        inp = np.asarray(input_tokens, dtype=float)
        out = np.asarray(output_tokens, dtype=float)
        pre = prefill_times(model, chip, batch, inp, group, bpp, kvb, stages, parallel)
        at0, at1 = decode_steps(model, chip, batch, (0.0, 1.0), group, bpp, kvb, stages, parallel)
        c1, m1, busy1 = at1.compute - at0.compute, at1.memory - at0.memory, at1.busy - at0.busy  # per token of context
        lo, hi = inp + 1.0, inp + out - 1.0  # decode contexts after the prefill's first token
        steps = np.maximum(out - 1.0, 0.0)
        decode_total = (sum_of_max_lines(at0.compute, c1, at0.memory, m1, lo, hi)
                        + steps * (at0.interconnect + at0.overhead))
        seconds = pre.total + decode_total
        produced = batch * out * data
        if rates_only:
            return _rates(produced, seconds, group * data, batch, supported)
        compute_s = pre.compute + _line_sum(at0.compute, c1, lo, hi)
        memory_s = pre.memory + _line_sum(at0.memory, m1, lo, hi)
        comm_s = pre.interconnect + steps * at0.interconnect
        over_s = pre.overhead + steps * at0.overhead
        busy_s = pre.busy + _line_sum(at0.busy, busy1, lo, hi)
        mid = inp + out / 2.0
        flop_per_byte = (at0.compute + c1 * mid) * chip.peak_flops * chip.mfu_infer / (
            (at0.memory + m1 * mid) * chip.hbm_bandwidth * chip.mbu
        )

    chips = group * data
    flop = busy_s * chips * chip.peak_flops * chip.mfu_infer  # model FLOP done (busy_s is at the achieved rate)
    return _finish(phase, produced, seconds, chips, batch, compute_s, memory_s, comm_s, flop_per_byte, supported,
                   flop, chip.tdp_w, over_s, busy_s)


def _evaluate_train(model, chip, batch, group, supported, pipeline=None, parallel: Parallel | None = None,
                    rates_only: bool = False) -> RooflineResult | RooflineRates:
    """Training: `group` chips hold one model copy (tensor x `pipeline` stages; None: the smallest power of two
    whose memory holds it, all tensor-parallel), `parallel.context` groups split each sequence and `parallel.data`
    copies split the batch; each chip must hold parallelism.training_bytes_per_chip. Time is the model FLOP at the
    calibrated MFU (the fitted MFU of large runs includes their communication)."""
    parallel = parallel or Parallel()
    flop_per_token = training_flop_per_token(model)
    stages = 1.0 if pipeline is None else np.asarray(pipeline, dtype=float)
    per_chip_memory = chip.hbm_bytes * chip.usable_memory_fraction

    def need(chips):
        return training_bytes_per_chip(model.params_total, model.n_layers, model.d_model, model.train_seq_len,
                                       chips / stages, stages, parallel)

    if group is None:  # smallest power of two whose chips hold their share (state shrinks, activations do not)
        # every size at once, on an axis of its own ahead of the points' axes (each point's need is elementwise, so
        # the same bytes as one size at a time), then each point's first size that fits (NaN: none up to 2^20)
        points = max(np.ndim(x) for x in (model.params_total, model.n_layers, model.d_model, model.train_seq_len,
                                          per_chip_memory, stages, parallel.data, parallel.context))
        sizes = TRAINING_GROUP_SIZES.reshape(-1, *(1,) * points)
        fits = need(sizes) <= per_chip_memory
        group = np.where(fits.any(axis=0), TRAINING_GROUP_SIZES[fits.argmax(axis=0)], np.nan)
    else:
        group = np.asarray(group, dtype=float)
        group = np.where((need(group) <= per_chip_memory) & (np.mod(group, stages) == 0), group, np.nan)
    chips = group * np.asarray(parallel.context, dtype=float) * np.asarray(parallel.data, dtype=float)
    batch = np.asarray(batch, dtype=float)
    tokens_per_step = batch * model.train_seq_len
    compute_s = tokens_per_step * flop_per_token / (chips * chip.peak_flops * chip.mfu_train)
    if rates_only:
        return _rates(tokens_per_step, compute_s, chips, batch, supported)
    zero = np.zeros_like(compute_s)
    return _finish(
        "train", tokens_per_step, compute_s, chips, batch, compute_s, zero, zero, np.full_like(compute_s, np.inf),
        supported,
        tokens_per_step * flop_per_token, chip.tdp_w, zero, compute_s,
    )


def chip_power(tdp_w, compute_s, seconds):
    """W one chip draws over a phase: POWER_FLOOR x TDP, plus the rest of TDP in proportion to the share of the
    time its compute units are busy (`compute_s` of `seconds`)."""
    busy = np.clip(np.asarray(compute_s, dtype=float) / np.asarray(seconds, dtype=float), 0.0, 1.0)
    return np.asarray(tdp_w, dtype=float) * (POWER_FLOOR + (1.0 - POWER_FLOOR) * busy)


def _feasible(produced, seconds, group, batch, supported):
    """The points' common shape as (broadcaster to it, group, batch, seconds, supported broadcast to it, fits,
    feasible): `fits` where the group and batch fit, `feasible` where also the precision is supported and the time
    finite."""
    shape = np.broadcast_shapes(*(np.shape(x) for x in (produced, seconds, group, batch, supported)))
    b = lambda x: np.broadcast_to(np.asarray(x, dtype=float), shape)  # noqa: E731
    group, batch, seconds = b(group), b(batch), b(seconds)
    supported = np.broadcast_to(supported, shape)
    fits = np.isfinite(group) & np.isfinite(batch)
    return b, group, batch, seconds, supported, fits, supported & fits & np.isfinite(seconds)


def _rates(produced, seconds, group, batch, supported) -> RooflineRates:
    """`_finish`'s throughput per chip alone, by the same operations."""
    b, group, _, seconds, _, _, feasible = _feasible(produced, seconds, group, batch, supported)
    tps = np.where(feasible, b(b(produced) / seconds), np.nan)
    return RooflineRates(tokens_per_second_per_chip=tps / np.where(feasible, group, np.nan))


def _finish(phase, produced, seconds, group, batch, compute_s, memory_s, comm_s, flop_per_byte, supported, flop, tdp_w,
            overhead_s, busy_s):
    b, group, batch, seconds, supported, fits, feasible = _feasible(produced, seconds, group, batch, supported)
    reason = np.where(~supported, NO_PRECISION, np.where(~fits, NO_FIT, FEASIBLE)).astype(np.int8)
    nan = lambda x: np.where(feasible, b(x), np.nan)  # noqa: E731
    tps = nan(b(produced) / seconds)
    parts = np.stack([b(compute_s), b(memory_s), b(comm_s), b(overhead_s)])
    bound = np.where(feasible, np.argmax(np.nan_to_num(parts, nan=-1.0), axis=0), -1).astype(np.int8)
    with np.errstate(divide="ignore", invalid="ignore"):
        power = nan(chip_power(tdp_w, b(busy_s), seconds))
        energy = power * group * seconds  # J per step (train) or per phase, whole group
        joules_per_token = energy / b(produced)
        joules_per_flop = energy / b(flop)
    return RooflineResult(
        phase=phase,
        tokens_per_second=tps,
        tokens_per_second_per_chip=tps / np.where(feasible, group, np.nan),
        latency_s=nan(seconds),
        bound=bound,
        chips=np.where(feasible, group, np.nan),
        batch=np.where(feasible, batch, np.nan),
        feasible=feasible,
        infeasible_reason=reason,
        compute_s=nan(compute_s),
        memory_s=nan(memory_s),
        interconnect_s=nan(comm_s),
        overhead_s=nan(overhead_s),
        arithmetic_intensity=nan(flop_per_byte),
        power_w=power,
        joules_per_token=joules_per_token,
        tokens_per_joule=1.0 / joules_per_token,
        joules_per_flop=joules_per_flop,
    )
