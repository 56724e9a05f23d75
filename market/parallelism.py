"""How a deployment splits a model over chips beyond one tensor/pipeline group: expert parallelism (EP) with its
all-to-all dispatch and combine, data-parallel attention, and for training sharded optimizer state (ZeRO / FSDP) and
context parallelism. Pure numpy; every function broadcasts. Units: bytes, bytes/s, seconds.

Serving (as vLLM, SGLang and TensorRT-LLM deploy large mixtures of experts):
- a tensor group of `t` chips (per pipeline stage) runs attention for its own sequences; `data` such groups run
  side by side (data-parallel attention), each with its own batch;
- the routed experts are spread over `expert` chips (EP; 0 = no EP, every expert split across the tensor group as
  the dense layers are); the t x data chips then hold t x data / expert copies of the experts, so one copy serves
  the tokens of expert / t tensor groups: batch x expert / t;
- an MoE layer under EP sends each token's top-k activations to the chips holding its experts and back
  (dispatch and combine, two all-to-alls over the EP group) instead of the tensor group's second all-reduce;
- a KV head lives on t / min(t, kv_heads) chips of a tensor group; a latent (MLA) cache, shared by all heads,
  on every chip of it: data-parallel attention is what keeps a latent cache from being copied t times.

Training (Rajbhandari et al., ZeRO, 2020; Korthikanti et al., activation recomputation, 2022):
- a model-parallel group (tensor x pipeline) holds 16 bytes of state per parameter between its chips: 2 weights,
  2 gradients, 12 optimizer (fp32 master, momentum, variance); ZeRO stage 1 shards the optimizer state over the
  data-parallel (x context-parallel) ranks, stage 2 the gradients too, stage 3 (FSDP) the weights too;
- activations are kept as one 16-bit layer input per layer and microbatch in flight (full recomputation), plus one
  layer's working set (34 bytes per token and model dimension, Korthikanti et al.), split over tensor ranks
  (sequence parallelism) and context ranks (each holds 1 / context of a sequence).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTIVATION_BYTES = 2.0  # collectives move 16-bit activations
WEIGHT_AND_GRADIENT_BYTES = 4.0  # per parameter: 16-bit weights and gradients
OPTIMIZER_BYTES = 12.0  # per parameter: fp32 master weights, Adam momentum and variance
LAYER_WORKING_BYTES = 34.0  # per token x model dimension: one layer's activations while recomputed (Korthikanti)
CHECKPOINT_BYTES = 2.0  # per token x model dimension x layer: the 16-bit layer input kept for recomputation
ZERO_STAGES = (0, 1, 2, 3)


@dataclass(frozen=True)
class Parallel:
    """The parallelism beyond one tensor x pipeline group (numbers or broadcastable arrays).

    data: data-parallel replicas (serving: attention groups side by side; training: model replicas);
    expert: chips one copy of the routed experts is spread over (0: no expert parallelism);
    context: training, chips one sequence is split over (context parallelism);
    zero: training, 0 none, 1 optimizer state, 2 and gradients, 3 and weights sharded over data x context ranks.
    """

    data: np.ndarray | float = 1.0
    expert: np.ndarray | float = 0.0
    context: np.ndarray | float = 1.0
    zero: int = 0

    @property
    def is_default(self) -> bool:
        return (np.all(np.asarray(self.data) == 1) and np.all(np.asarray(self.expert) == 0)
                and np.all(np.asarray(self.context) == 1) and self.zero == 0)


def uses_experts(experts, parallel: Parallel) -> np.ndarray:
    """Whether the routed experts are expert-parallel (a mixture of experts and an EP group of more than one)."""
    return (np.asarray(experts) > 1) & (np.asarray(parallel.expert, dtype=float) > 1)


def expert_copies_share(experts, tensor, parallel: Parallel) -> np.ndarray:
    """Bytes of routed experts a tensor group holds, as a share of one copy of them: 1 when they are split over the
    group like the dense layers; tensor / expert under EP (each chip holds 1 / expert of a copy)."""
    ep = np.asarray(parallel.expert, dtype=float)
    return np.where(uses_experts(experts, parallel), np.asarray(tensor, dtype=float) / np.where(ep > 0, ep, 1.0), 1.0)


def routed_tokens_per_copy(experts, batch_tokens, tensor, parallel: Parallel) -> np.ndarray:
    """Tokens one copy of the experts serves when each tensor group routes `batch_tokens`: all of them without EP;
    batch_tokens x expert / tensor under EP (tensor x data chips hold tensor x data / expert copies)."""
    ep = np.asarray(parallel.expert, dtype=float)
    scale = np.where(uses_experts(experts, parallel), np.where(ep > 0, ep, 1.0) / np.asarray(tensor, dtype=float), 1.0)
    return np.asarray(batch_tokens, dtype=float) * scale


def kv_copies(kv_heads, tensor) -> np.ndarray:
    """Copies of each KV-cache byte a tensor group of `tensor` chips keeps: tensor / min(tensor, kv_heads) (a head
    is not split; a latent cache counts as one head, so every chip keeps it)."""
    t = np.asarray(tensor, dtype=float)
    return t / np.minimum(t, kv_heads)


def alltoall_time(message_bytes, group, link_bandwidth, latency, switched=True, step_latency=None) -> np.ndarray:
    """Seconds for one all-to-all in which each of `group` chips sends `message_bytes` spread evenly over all of
    them (its own share stays). On a switched fabric every pair has a direct path: one step, (k - 1) / k of the
    message over the chip's link. On a torus (no switch: TPU ICI, Trainium2 NeuronLink) messages cross on average
    sqrt(k) / 2 links of a square 2-D torus, sharing them, in 2 sqrt(k) steps (est: dimension-ordered routing).
    `step_latency`: roofline.step_latencies."""
    from .roofline import step_latencies  # roofline imports this module

    k = np.asarray(group, dtype=float)
    per_byte = np.asarray(message_bytes, dtype=float) / link_bandwidth
    with np.errstate(divide="ignore", invalid="ignore"):
        share = (k - 1.0) / k
        direct = latency + share * per_byte
        side = np.sqrt(np.maximum(k, 1.0))
        torus = step_latencies(2.0 * side, latency, step_latency) + share * per_byte * np.maximum(side / 2.0, 1.0)
    return np.where(k > 1, np.where(switched, direct, torus), 0.0)


def training_bytes_per_chip(params_total, n_layers, d_model, seq_len, tensor, stages, parallel: Parallel):
    """Bytes one chip of a training run holds: its share of weights, gradients and optimizer state (sharded by
    `parallel.zero` over data x context ranks) and of the activations of the microbatches in flight (one sequence
    each; a pipeline of p stages keeps p in flight, each stage 1 / p of the layers)."""
    shard = np.asarray(parallel.data, dtype=float) * np.asarray(parallel.context, dtype=float)
    model_parallel = np.asarray(tensor, dtype=float) * np.asarray(stages, dtype=float)
    zero = parallel.zero
    weights = 2.0 / (shard if zero >= 3 else 1.0)
    gradients = 2.0 / (shard if zero >= 2 else 1.0)
    optimizer = OPTIMIZER_BYTES / (shard if zero >= 1 else 1.0)
    state = np.asarray(params_total, dtype=float) * (weights + gradients + optimizer) / model_parallel
    tokens = np.asarray(seq_len, dtype=float) / np.asarray(parallel.context, dtype=float)
    per_token = tokens * np.asarray(d_model, dtype=float) / np.asarray(tensor, dtype=float)
    # p microbatches in flight x L / p layers each = L checkpoints, plus one layer being recomputed
    activations = per_token * (CHECKPOINT_BYTES * np.asarray(n_layers, dtype=float) + LAYER_WORKING_BYTES)
    return state + activations
