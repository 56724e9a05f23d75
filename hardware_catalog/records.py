"""Typed records of the hardware catalog.

Units are SI unless the field name says otherwise: `tflops` are 10^12 FLOP/s (dense), `hbm_gb` 10^9
bytes, `hbm_tbps` 10^12 bytes/s, `interconnect_gbps` 10^9 bytes/s summed over both directions,
`tdp_w` watts, prices and costs nominal USD, cadences months.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

PRECISIONS: tuple[str, ...] = ("bf16", "fp8", "int8", "fp4")
VENDOR_KINDS: tuple[str, ...] = ("merchant_gpu", "merchant_accelerator", "hyperscaler_inhouse", "startup")


@dataclass(frozen=True)
class Accelerator:
    """One accelerator model (a chip SKU) with its dense peak figures and economics."""

    id: str
    vendor: str
    name: str
    release: str  # YYYY-MM
    tflops: dict[str, float]  # dense TFLOP/s (TOPS for int8) by precision
    hbm_gb: float
    hbm_tbps: float
    interconnect_gbps: float
    max_group: int
    tdp_w: float
    process_node: str
    source: str
    source_date: str
    manufacturing_cost_usd: float
    manufacturing_cost_estimate: bool
    manufacturing_cost_source: str
    manufacturing_cost_date: str
    launch_price_usd: float
    launch_price_estimate: bool
    launch_price_source: str
    launch_price_date: str
    generation: int = 0  # 0 for catalog chips; n for the n-th roadmap generation after them
    # Export SKUs (regional.toml): the full part this one was cut down from to sell into export-controlled regions
    # ("" = not an export SKU), whether it was made to sit under the controls, and the month a later rule required
    # a licence for it all the same ("" = still compliant). See market/regions.py for how they are offered.
    export_variant_of: str = ""
    export_compliant: bool = False
    export_compliant_until: str = ""  # YYYY-MM or ""
    # another SKU of the same generation (a lower-power, PCIe or rack-scale part): the generation named here is the one
    # the market offers and the roadmap extends ("" = a generation of its own)
    variant_of: str = ""
    # an announced part not yet shipped: its figures are the announcement's (estimates by definition)
    announced: bool = False
    # the scale-up fabric its chips use (a [fabric.*] name of efficiency.toml; "" = the one its vendor's chips use)
    fabric: str = ""
    # the memory (HBM) part of manufacturing_cost_usd, so a memory price change moves the cost (0 = not broken out)
    memory_cost_usd: float = 0.0
    memory_cost_estimate: bool = True
    memory_cost_source: str = ""
    memory_cost_date: str = ""

    def compliant_in(self, month: str) -> bool:
        """Whether it is an export-compliant part in `month` (YYYY-MM): made compliant and not yet caught by a
        later rule."""
        return self.export_compliant and (not self.export_compliant_until or month < self.export_compliant_until)

    def at_memory_price(self, factor: float) -> Accelerator:
        """This chip when its memory costs `factor` times what `memory_cost_usd` assumed (a DRAM/HBM price change):
        the manufacturing cost moves by the memory line only. A chip without a memory line is returned unchanged."""
        if not self.memory_cost_usd or factor == 1.0:
            return self
        extra = self.memory_cost_usd * (factor - 1.0)
        return replace(self, manufacturing_cost_usd=self.manufacturing_cost_usd + extra,
                       memory_cost_usd=self.memory_cost_usd * factor)

    @property
    def release_month_index(self) -> int:
        """Months since January of year 0 (for ordering releases)."""
        year, month = self.release.split("-")
        return int(year) * 12 + int(month) - 1

    def peak_flops(self, precision: str) -> float:
        """Dense peak FLOP/s at `precision`; raises UnsupportedPrecisionError if the chip lacks it."""
        if precision not in self.tflops:
            raise UnsupportedPrecisionError(self.id, precision, tuple(self.tflops))
        return self.tflops[precision] * 1e12


@dataclass(frozen=True)
class Vendor:
    """A chip vendor and the starting state of its software ecosystem and supply."""

    id: str
    name: str
    kind: str
    software_maturity: float  # [0, 1] at the start of a run
    software_maturity_estimate: bool
    cadence_months: float
    cadence_source: str
    packaging_share: float  # normalised share of leading-edge packaging/HBM capacity
    source: str
    source_date: str
    # cost of a shipped unit relative to the non-memory part of the chip's bill of materials (die, packaging): boards,
    # NVLink switches and other system content sold with it, yields and warranty (derived where sourced); the memory
    # line passes through at its own price
    unit_cost_factor: float = 1.0
    unit_cost_source: str = ""
    # gross margin (share of price) the vendor was pricing at when the run starts, where a filing gives it;
    # None: implied by the catalog price and cost of its newest chip on sale when the run starts (its first if none)
    start_gross_margin: float | None = None
    start_gross_margin_source: str = ""
    # home region of the vendor (export rules made there bind it) and the buyer regions it sells to (() = all):
    # a domestic vendor sells only at home (regional.toml, market/regions.py)
    region: str = "us"
    sells_to_regions: tuple[str, ...] = ()


@dataclass(frozen=True)
class OwnCapacity:
    """A year of a vendor's own supply, outside the shared packaging pool (regional.toml `[[capacity]]`): the chips
    it can make in calendar `year` and the HBM per chip they take, so packaging units (HBM-GB equivalents, the unit
    of the market's capacity) = chips x hbm_gb_per_chip."""

    vendor: str
    year: int
    chips: float
    hbm_gb_per_chip: float
    estimate: bool
    source: str
    source_date: str

    @property
    def units(self) -> float:
        """Packaging units (HBM-GB equivalents) a year."""
        return self.chips * self.hbm_gb_per_chip


@dataclass(frozen=True)
class Workload:
    """A reference model: parameter counts and the shapes that size its KV cache."""

    id: str
    name: str
    params_total: float
    params_active: float
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    train_seq_len: int
    source: str
    source_date: str
    params_expert: float = 0.0
    experts: int = 1
    experts_per_token: int = 1
    attention_layers: int = -1  # layers with attention and a KV cache (-1: all); the rest are recurrent
    kv_cache_elements: float = 0.0  # elements cached per token per attention layer (0: 2 x n_kv_heads x head_dim)
    state_elements: float = 0.0  # recurrent-state elements per sequence per recurrent layer

    @property
    def is_moe(self) -> bool:
        return self.experts > 1

    @property
    def kv_layers(self) -> int:
        """Layers that keep a KV cache (attention layers)."""
        return self.n_layers if self.attention_layers < 0 else self.attention_layers

    @property
    def kv_elements(self) -> float:
        """KV-cache elements one token keeps per attention layer (latent attention caches fewer than K and V)."""
        return self.kv_cache_elements or 2.0 * self.n_kv_heads * self.head_dim

    def kv_bytes_per_token(self, bytes_per_element: float) -> float:
        """KV-cache bytes one token adds (all attention layers)."""
        return self.kv_layers * self.kv_elements * bytes_per_element


@dataclass(frozen=True)
class Roadmap:
    """Per-year growth factors used to derive a vendor's next chips."""

    flops_growth: float
    bandwidth_growth: float
    capacity_growth: float
    cost_growth: float
    tdp_growth: float
    interconnect_growth: float
    source: str
    source_date: str


@dataclass(frozen=True)
class Fabric:
    """A scale-up interconnect: its per-step collective latency relative to NVLink's (`latency_factor`), whether
    a switch connects every chip to every other (one-shot and two-shot all-reduces) or the chips form a ring or
    torus (ring and tree all-reduces), and the vendors whose chips use it."""

    name: str
    latency_factor: float
    switched: bool
    vendors: tuple[str, ...]
    source: str = ""
    # microseconds per collective step after the first, where the fabric's hardware sequences the steps (0: every step
    # costs the full per-step latency, as software-launched steps do)
    step_latency_us: float = 0.0


@dataclass(frozen=True)
class EfficiencyParams:
    """Roofline efficiency factors (fractions of peak), fixed overheads and collective latencies.

    A chip's factor is `cap * (1 - maturity_sensitivity * (1 - software_maturity))`; fixed overheads are divided by it.
    """

    mfu_train: float  # model FLOP utilisation cap for training (every platform without its own figure)
    mfu_infer: float  # FLOP utilisation cap for prefill/decode matrix work
    mbu: float  # memory-bandwidth utilisation cap
    maturity_sensitivity: float  # in [0, 1]: how much immature software costs
    link_latency_us: float  # NVLink's latency per step of a collective, microseconds (other fabrics: x latency_factor)
    usable_memory_fraction: float  # share of HBM usable for weights + KV cache
    mfu_train_tpu: float = float("nan")  # training MFU cap of Google's TPUs (NaN: mfu_train)
    layer_overhead_us: float = 0.0  # fixed time per layer per decode step (kernel launches), microseconds
    prefill_layer_overhead_us: float = 0.0  # fixed time per layer per prefill pass, microseconds
    gqa_sharing: float = 1.0  # share of a grouped-query KV read decode attention shares among a group's query heads
    expert_efficiency: float = 1.0  # routed-expert (MoE) matrices' compute efficiency relative to dense ones
    sequence_overhead_us: float = 0.0  # fixed time per sequence per decode step (sampling, bookkeeping), microseconds
    mfu_infer_8bit: float = float("nan")  # inference MFU cap at 8-bit and lower precisions (NaN: mfu_infer)
    # yearly factor on the fixed overheads as serving software improved (fitted across 2023-25 measurements, each at
    # its source date; market/roofline.software_years), and the software date the roofline uses by default (the
    # newest fitted measurement's; "" = the 2023-10 epoch, overheads as fitted)
    overhead_decline: float = 1.0
    software_date: str = ""
    fabrics: tuple[Fabric, ...] = ()
    source: str = ""
    source_date: str = ""

    def maturity_factor(self, software_maturity):
        """Multiplier in (0, 1] on every efficiency cap; works on floats and numpy arrays."""
        return 1.0 - self.maturity_sensitivity * (1.0 - software_maturity)

    def fabric(self, vendor: str) -> Fabric:
        """The fabric a vendor's chips use (the one listing no vendors for any vendor not named)."""
        for fabric in self.fabrics:
            if vendor in fabric.vendors:
                return fabric
        for fabric in self.fabrics:
            if not fabric.vendors:
                return fabric
        return Fabric("default", 1.0, True, ())

    def fabric_of(self, chip: Accelerator) -> Fabric:
        """The fabric `chip` scales up over: the one it names (a rack-scale system's), else its vendor's."""
        for fabric in self.fabrics:
            if chip.fabric and fabric.name == chip.fabric:
                return fabric
        return self.fabric(chip.vendor)

    def inference_mfu(self, precision: str) -> float:
        """Inference MFU cap at `precision` (8-bit and lower peaks are harder to reach)."""
        if precision in ("fp8", "int8", "fp4") and not math.isnan(self.mfu_infer_8bit):
            return self.mfu_infer_8bit
        return self.mfu_infer

    def training_mfu(self, vendor: str) -> float:
        """Training MFU cap of a vendor's platform family."""
        if vendor == "google" and not math.isnan(self.mfu_train_tpu):
            return self.mfu_train_tpu
        return self.mfu_train


@dataclass(frozen=True)
class MeasurementCase:
    """One published measurement the roofline is calibrated against."""

    id: str
    chip: str
    tensor_parallel: int
    workload: str
    precision: str
    phase: str
    batch: int | str  # int or "max"
    input_tokens: int
    output_tokens: int
    metric: str
    measured: float
    fit: bool
    source: str
    source_date: str
    system_chips: int = 0
    note: str = ""
    relative_to: str = ""  # fit the ratio of this case to another (their shared unknowns cancel)
    data_parallel: int = 1  # attention data-parallel replicas of the tensor group (system: tensor_parallel x this)
    expert_parallel: int = 0  # chips one copy of the routed experts is spread over (0: none)
    # reserved test set (MLPerf Inference v5.1+, Training v5.0+, independent dashboards, AWS Neuron tutorial outputs):
    # reported apart, never fitted
    test_set: bool = False


# What a history observation measures (hardware_catalog/data/history.toml), with its unit.
HISTORY_SERIES: dict[str, str] = {
    "vendor_revenue": "USD over the period (a vendor's accelerator revenue)",
    "vendor_gross_margin": "fraction (booked gross margin, revenue-weighted over the period)",
    "vendor_units": "chips sold over the period",
    "custom_revenue": "USD over the period (revenue of custom / in-house accelerators)",
    "capex": "USD over the period",
    "capex_growth": "fraction (growth of accelerator capex over the period against the year before)",
    "chip_price": "USD per chip (average selling price over the period)",
    "rental_price": "USD per chip-hour (mean over the period)",
    "installed_power_gw": "GW of accelerator TDP installed, at the period's end",
    "lab_revenue_annualised": "USD per year (monthly revenue x 12, at the period's end)",
    "lab_power_gw": "GW of data-centre power drawn by the frontier labs' compute, at the period's end",
}
HISTORY_STATS = ("sum", "mean", "last", "weighted", "growth")
HISTORY_TAGS = ("P", "2", "E", "D")
# The history calibration fits the observations that end on or before its window's last month (YYYY-MM); later ones
# are held out and only reported. This is the window when a fit does not record its own (history_calibration.toml's
# [fit] window_end) and the default of `compute-market calibrate-history --window-end`.
FIT_WINDOW_END = "2025-06"


@dataclass(frozen=True)
class HistoryObservation:
    """One sourced figure of the observed 2023 - 2025 path (see history.toml for the conventions)."""

    id: str
    series: str
    subject: str
    period_start: str
    period_end: str
    stat: str
    value: float
    tag: str
    fit: bool
    source: str
    source_date: str
    low: float = float("nan")
    high: float = float("nan")
    note: str = ""


@dataclass(frozen=True)
class TCOParams:
    """Cloud total-cost-of-ownership assumptions (see hardware_catalog/data/tco.toml)."""

    depreciation_years: float
    cost_of_capital: float  # per year
    system_overhead_fraction: float  # server + network capex as a fraction of chip price
    host_power_fraction: float  # server power on top of accelerator TDP
    pue: float
    usd_per_kwh: float
    hosting_usd_per_kw_month: float
    utilisation: float  # billed fraction of hours
    cloud_markup: float  # rental price = hourly cost / utilisation * (1 + markup)
    sources: dict[str, str] = field(default_factory=dict, compare=False)


class CatalogError(ValueError):
    """A catalog file or record is invalid; the message names the file, the row and the field."""


class UnknownIdError(KeyError):
    """An id (chip, vendor, workload) that the catalog does not hold."""

    def __init__(self, kind: str, given: str, valid: list[str] | tuple[str, ...]):
        self.kind, self.given, self.valid = kind, given, tuple(valid)
        super().__init__(f"unknown {kind} '{given}'; valid: {', '.join(self.valid)}")

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return self.args[0]


class UnsupportedPrecisionError(ValueError):
    """A chip asked for a precision it has no peak figure for."""

    def __init__(self, chip: str, precision: str, available: tuple[str, ...]):
        super().__init__(f"chip '{chip}' has no {precision} rate; it supports: {', '.join(available)}")
