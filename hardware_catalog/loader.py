"""Load and validate the catalog's TOML files into typed records.

`load_catalog()` reads `hardware_catalog/data/` (or another folder with the same files) and returns a
`Catalog`. Every problem raises `CatalogError` naming the file, the row id and the field.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from .paths import PATHS_FILE, MarketPaths, parse_paths
from .records import (
    FIT_WINDOW_END,
    HISTORY_SERIES,
    HISTORY_STATS,
    HISTORY_TAGS,
    PRECISIONS,
    VENDOR_KINDS,
    Accelerator,
    CatalogError,
    EfficiencyParams,
    Fabric,
    HistoryObservation,
    MeasurementCase,
    OwnCapacity,
    Roadmap,
    TCOParams,
    UnknownIdError,
    Vendor,
    Workload,
)
from .schema import (
    Field,
    fraction,
    kebab_id,
    kebab_ids,
    non_empty,
    non_negative,
    one_of,
    open_fraction,
    parse_table,
    positive,
    year_month,
    year_month_or_empty,
)

DATA_DIR = Path(__file__).parent / "data"

# Dense peak figures above these (TFLOP/s, TOPS for int8) look like 2:4-sparse marketing numbers for a chip
# released by 2025 (the densest 2025 parts: MI355X ~2,517 BF16, B300 15,000 FP4); the bound grows
# PLAUSIBLE_GROWTH_PER_YEAR a year after 2025, faster than the announced parts' own pace (B200's 9 PF dense FP4 in
# 2024-12 to Rubin Ultra's announced 100 PF in 2027: ~2.2x a year), so a 2x sparse figure still stands out.
PLAUSIBLE_DENSE_TFLOPS: dict[str, float] = {"bf16": 3000.0, "fp8": 6000.0, "int8": 6000.0, "fp4": 16000.0}
PLAUSIBLE_GROWTH_PER_YEAR = 3.5

_SOURCED = [Field("source", "str", check=non_empty), Field("source_date", "str", check=year_month)]

ACCELERATOR_FIELDS = [
    Field("id", "str", check=kebab_id),
    Field("vendor", "str", check=non_empty),
    Field("name", "str", check=non_empty),
    Field("release", "str", check=year_month),
    Field("tflops", "table"),
    Field("hbm_gb", "float", check=positive),
    Field("hbm_tbps", "float", check=positive),
    Field("interconnect_gbps", "float", check=positive),
    Field("max_group", "int", check=positive),
    Field("tdp_w", "float", check=positive),
    Field("process_node", "str", check=non_empty),
    *_SOURCED,
    Field("manufacturing_cost_usd", "float", check=positive),
    Field("manufacturing_cost_estimate", "bool"),
    Field("manufacturing_cost_source", "str", check=non_empty),
    Field("manufacturing_cost_date", "str", check=year_month),
    Field("launch_price_usd", "float", check=positive),
    Field("launch_price_estimate", "bool"),
    Field("launch_price_source", "str", check=non_empty),
    Field("launch_price_date", "str", check=year_month),
    # export SKUs (allowed in regional.toml only, see REGIONAL_FILE)
    Field("export_variant_of", "str", required=False, default=""),
    Field("export_compliant", "bool", required=False, default=False),
    Field("export_compliant_until", "str", required=False, default="", check=year_month_or_empty),
    Field("variant_of", "str", required=False, default=""),
    Field("announced", "bool", required=False, default=False),
    Field("fabric", "str", required=False, default=""),
    Field("memory_cost_usd", "float", required=False, default=0.0, check=non_negative),
    Field("memory_cost_estimate", "bool", required=False, default=True),
    Field("memory_cost_source", "str", required=False, default=""),
    Field("memory_cost_date", "str", required=False, default="", check=year_month_or_empty),
]

# A rack-scale or pod system: a catalog chip in a scale-up domain of its own size, bandwidth and fabric
SYSTEM_FIELDS = [
    Field("id", "str", check=kebab_id),
    Field("name", "str", check=non_empty),
    Field("chip", "str", check=kebab_id),
    Field("domain_chips", "int", check=positive),
    Field("interconnect_gbps", "float", check=positive),
    Field("fabric", "str", check=kebab_id),
    Field("tdp_w", "float", required=False, default=0.0, check=non_negative),
    *_SOURCED,
]
SYSTEMS_FILE = "systems.toml"

VENDOR_FIELDS = [
    Field("id", "str", check=kebab_id),
    Field("name", "str", check=non_empty),
    Field("kind", "str", check=one_of(VENDOR_KINDS)),
    Field("software_maturity", "float", check=fraction),
    Field("software_maturity_estimate", "bool"),
    Field("cadence_months", "float", check=positive),
    Field("cadence_source", "str", check=non_empty),
    Field("packaging_share", "float", check=non_negative),
    Field("unit_cost_factor", "float", required=False, default=1.0, check=positive),
    Field("unit_cost_source", "str", required=False, default=""),
    Field("start_gross_margin", "float", required=False, default=None, check=open_fraction),
    Field("start_gross_margin_source", "str", required=False, default=""),
    Field("region", "str", required=False, default="us", check=kebab_id),
    # a vendor that sells only to some regions (allowed in regional.toml only)
    Field("sells_to_regions", "strings", required=False, default=[], check=kebab_ids),
    *_SOURCED,
]

# a year of a vendor's own supply outside the shared packaging pool (regional.toml [[capacity]])
CAPACITY_FIELDS = [
    Field("vendor", "str", check=kebab_id),
    Field("year", "int", check=positive),
    Field("chips", "float", check=non_negative),
    Field("hbm_gb_per_chip", "float", check=positive),
    Field("estimate", "bool"),
    *_SOURCED,
]

WORKLOAD_FIELDS = [
    Field("id", "str", check=kebab_id),
    Field("name", "str", check=non_empty),
    Field("params_total", "float", check=positive),
    Field("params_active", "float", check=positive),
    Field("params_expert", "float", required=False, default=0.0, check=non_negative),
    Field("experts", "int", required=False, default=1, check=positive),
    Field("experts_per_token", "int", required=False, default=1, check=positive),
    Field("n_layers", "int", check=positive),
    Field("d_model", "int", check=positive),
    Field("n_heads", "int", check=positive),
    Field("n_kv_heads", "int", check=positive),
    Field("head_dim", "int", check=positive),
    Field("train_seq_len", "int", check=positive),
    Field("attention_layers", "int", required=False, default=-1),
    Field("kv_cache_elements", "float", required=False, default=0.0, check=non_negative),
    Field("state_elements", "float", required=False, default=0.0, check=non_negative),
    *_SOURCED,
]

ROADMAP_FIELDS = [
    Field("flops_growth", "float", check=positive),
    Field("bandwidth_growth", "float", check=positive),
    Field("capacity_growth", "float", check=positive),
    Field("cost_growth", "float", check=positive),
    Field("tdp_growth", "float", check=positive),
    Field("interconnect_growth", "float", check=positive),
    *_SOURCED,
]

EFFICIENCY_FIELDS = [
    Field("mfu_train", "float", check=open_fraction),
    Field("mfu_infer", "float", check=open_fraction),
    Field("mbu", "float", check=open_fraction),
    Field("maturity_sensitivity", "float", check=fraction),
    Field("link_latency_us", "float", check=non_negative),
    Field("usable_memory_fraction", "float", check=open_fraction),
    Field("mfu_train_tpu", "float", check=open_fraction),
    Field("layer_overhead_us", "float", check=non_negative),
    Field("prefill_layer_overhead_us", "float", check=non_negative),
    Field("gqa_sharing", "float", check=fraction),
    Field("sequence_overhead_us", "float", check=non_negative),
    Field("expert_efficiency", "float", check=open_fraction),
    Field("mfu_infer_8bit", "float", check=open_fraction),
    Field("overhead_decline", "float", required=False, default=1.0, check=open_fraction),
    Field("software_date", "str", required=False, default="", check=year_month_or_empty),
    *_SOURCED,
]
FABRIC_FIELDS = [
    Field("latency_factor", "float", check=positive),
    Field("switched", "bool"),
    Field("vendors", "strings", required=False, default=[]),
    Field("source", "str"),
    Field("step_latency_us", "float", required=False, default=0.0, check=non_negative),
]

PHASES = ("train", "prefill", "decode", "serve")
METRICS = (
    "output_tokens_per_s_per_chip",
    "output_tokens_per_s",
    "output_tokens_per_s_system",
    "latency_ms",
    "achieved_tflops_per_chip",
    "mfu",
)

MEASUREMENT_FIELDS = [
    Field("id", "str", check=non_empty),
    Field("chip", "str", check=non_empty),
    Field("tensor_parallel", "int", check=positive),
    Field("system_chips", "int", required=False, default=0, check=non_negative),
    Field("workload", "str", check=non_empty),
    Field("precision", "str", check=one_of(PRECISIONS)),
    Field("phase", "str", check=one_of(PHASES)),
    Field("batch", "str"),  # replaced below: int or "max"
    Field("input_tokens", "int", check=non_negative),
    Field("output_tokens", "int", check=non_negative),
    Field("metric", "str", check=one_of(METRICS)),
    Field("measured", "float", check=positive),
    Field("fit", "bool"),
    Field("note", "str", required=False, default=""),
    Field("relative_to", "str", required=False, default=""),
    Field("data_parallel", "int", required=False, default=1, check=positive),
    Field("expert_parallel", "int", required=False, default=0, check=non_negative),
    Field("test_set", "bool", required=False, default=False),
    *_SOURCED,
]


HISTORY_FIELDS = [
    Field("id", "str", check=kebab_id),
    Field("series", "str", check=one_of(tuple(HISTORY_SERIES))),
    Field("subject", "str", check=non_empty),
    Field("period_start", "str", check=year_month),
    Field("period_end", "str", check=year_month),
    Field("stat", "str", check=one_of(HISTORY_STATS)),
    Field("value", "float", check=positive),
    Field("low", "float", required=False, default=math.nan, check=positive),
    Field("high", "float", required=False, default=math.nan, check=positive),
    Field("tag", "str", check=one_of(HISTORY_TAGS)),
    Field("fit", "bool"),
    Field("note", "str", required=False, default=""),
    *_SOURCED,
]


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a syntax error becomes a CatalogError naming the file."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise CatalogError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: not valid TOML: {exc}") from None


def _rows(doc: dict[str, Any], key: str, path: Path) -> list[dict[str, Any]]:
    rows = doc.get(key)
    extra = set(doc) - {key}
    if extra:
        raise CatalogError(f"{path}: unknown top-level key(s) {', '.join(sorted(extra))} (expected [[{key}]])")
    if not isinstance(rows, list) or not rows:
        raise CatalogError(f"{path}: expected at least one [[{key}]] table")
    return rows


def _where(path: Path, kind: str, row: Any, index: int) -> str:
    row_id = row.get("id") if isinstance(row, dict) else None
    return f"{path}: {kind} '{row_id}'" if isinstance(row_id, str) else f"{path}: {kind} #{index + 1}"


def _unique(ids: Iterable[str], path: Path, kind: str) -> None:
    seen: set[str] = set()
    for row_id in ids:
        if row_id in seen:
            raise CatalogError(f"{path}: {kind} '{row_id}': field 'id': duplicate id")
        seen.add(row_id)


REGIONAL_FILE = "regional.toml"
# Why a field is refused outside regional.toml: the market offers the main files' parts in every run, and applies
# the regional sales rules to them (market/regions.py); the regional parts are offered only with [policy]
# regional_catalog = true. An export SKU or a domestic vendor in the main files would be on sale in the baseline.
_REGIONAL_ONLY = (f"allowed only in {REGIONAL_FILE} (regional parts are offered only with [policy] "
                  "regional_catalog = true)")


def _vendor_rows(path: Path, rows: list[Any], regional: bool) -> list[dict[str, Any]]:
    parsed = [parse_table(row, VENDOR_FIELDS, _where(path, "vendor", row, i)) for i, row in enumerate(rows)]
    _unique((p["id"] for p in parsed), path, "vendor")
    for i, p in enumerate(parsed):
        where = _where(path, "vendor", rows[i], i)
        if p["start_gross_margin"] is not None and not p["start_gross_margin_source"].strip():
            raise CatalogError(f"{where}: field 'start_gross_margin_source': missing (a starting margin needs its "
                               "source)")
        if p["sells_to_regions"] and not regional:
            raise CatalogError(f"{where}: field 'sells_to_regions': {_REGIONAL_ONLY}")
        p["sells_to_regions"] = tuple(p["sells_to_regions"])
    return parsed


def parse_vendors(path: Path) -> dict[str, Vendor]:
    rows = _rows(read_toml(path), "vendor", path)
    parsed = _vendor_rows(path, rows, regional=False)
    total = sum(p["packaging_share"] for p in parsed)
    if total <= 0:
        raise CatalogError(f"{path}: field 'packaging_share': shares sum to {total}, must be > 0")
    for p in parsed:
        p["packaging_share"] /= total
    return {p["id"]: Vendor(**p) for p in parsed}


def _parse_tflops(value: dict[str, Any], where: str, release: str) -> dict[str, float]:
    out: dict[str, float] = {}
    growth = PLAUSIBLE_GROWTH_PER_YEAR ** max(int(release[:4]) - 2025, 0)
    for precision, figure in value.items():
        name = f"tflops.{precision}"
        if precision not in PRECISIONS:
            raise CatalogError(f"{where}: field '{name}': unknown precision (known: {', '.join(PRECISIONS)})")
        if isinstance(figure, bool) or not isinstance(figure, int | float) or not math.isfinite(figure):
            raise CatalogError(f"{where}: field '{name}': must be a finite number, got {figure!r}")
        if figure <= 0:
            raise CatalogError(f"{where}: field '{name}': must be > 0, got {figure}")
        bound = PLAUSIBLE_DENSE_TFLOPS[precision] * growth
        if figure > bound:
            raise CatalogError(
                f"{where}: field '{name}': {figure} TFLOP/s exceeds the dense plausibility bound {bound}; "
                "is it a 2:4-sparse figure? the catalog takes dense figures only"
            )
        out[precision] = float(figure)
    if "bf16" not in out:
        raise CatalogError(f"{where}: field 'tflops.bf16': missing (every chip needs a 16-bit rate)")
    return out


def _accelerator_rows(path: Path, rows: list[Any], vendors: dict[str, Vendor], regional: bool,
                      taken: Iterable[str] = ()) -> dict[str, tuple[str, Accelerator]]:
    """Parse accelerator rows: id -> (where, record). `taken`: ids another file already holds."""
    taken = set(taken)
    out: dict[str, tuple[str, Accelerator]] = {}
    for i, row in enumerate(rows):
        where = _where(path, "accelerator", row, i)
        p = parse_table(row, ACCELERATOR_FIELDS, where)
        if p["vendor"] not in vendors:
            raise CatalogError(f"{where}: field 'vendor': unknown vendor '{p['vendor']}' (known: {', '.join(vendors)})")
        p["tflops"] = _parse_tflops(p["tflops"], where, p["release"])
        if p["id"] in out or p["id"] in taken:
            raise CatalogError(f"{where}: field 'id': duplicate id")
        if not regional:
            for name in ("export_variant_of", "export_compliant", "export_compliant_until"):
                if p[name]:
                    raise CatalogError(f"{where}: field '{name}': {_REGIONAL_ONLY}")
        if p["memory_cost_usd"] and not (p["memory_cost_source"] and p["memory_cost_date"]):
            raise CatalogError(f"{where}: field 'memory_cost_source': a memory cost needs a source and a date")
        if p["memory_cost_usd"] > p["manufacturing_cost_usd"]:
            raise CatalogError(f"{where}: field 'memory_cost_usd': {p['memory_cost_usd']} exceeds the manufacturing "
                               f"cost {p['manufacturing_cost_usd']} it is part of")
        out[p["id"]] = (where, Accelerator(**p))
    for where, chip in out.values():
        if not chip.variant_of:
            continue
        parent = out.get(chip.variant_of, (None, None))[1]
        if parent is None or parent.vendor != chip.vendor or parent.variant_of:
            raise CatalogError(f"{where}: field 'variant_of': '{chip.variant_of}' is not a generation of "
                               f"{chip.vendor} in this file (it names the part this SKU is a variant of)")
    return out


def parse_accelerators(path: Path, vendors: dict[str, Vendor]) -> dict[str, Accelerator]:
    rows = _rows(read_toml(path), "accelerator", path)
    return {cid: chip for cid, (_, chip) in _accelerator_rows(path, rows, vendors, regional=False).items()}


def _check_export_sku(where: str, chip: Accelerator, chips: dict[str, Accelerator]) -> None:
    """An export SKU names a full part of the same vendor that is not itself an export SKU; compliance needs it."""
    full = chip.export_variant_of
    if full:
        parent = chips.get(full)
        if parent is None or full == chip.id:
            raise CatalogError(f"{where}: field 'export_variant_of': unknown chip '{full}' (it names the full part "
                               "this SKU was cut down from)")
        if parent.vendor != chip.vendor:
            raise CatalogError(f"{where}: field 'export_variant_of': '{full}' is a {parent.vendor} chip, this one is "
                               f"{chip.vendor}'s")
        if parent.export_variant_of:
            raise CatalogError(f"{where}: field 'export_variant_of': '{full}' is itself an export SKU; name the full "
                               "part")
    if chip.export_compliant and not full:
        raise CatalogError(f"{where}: field 'export_compliant': true needs export_variant_of (the full part it was "
                           "cut down from)")
    if chip.export_compliant_until and not chip.export_compliant:
        raise CatalogError(f"{where}: field 'export_compliant_until': only a compliant part (export_compliant = "
                           "true) can stop being compliant")
    if chip.export_compliant_until and chip.export_compliant_until <= chip.release:
        raise CatalogError(f"{where}: field 'export_compliant_until': {chip.export_compliant_until} is not after "
                           f"the release {chip.release}")


def parse_systems(path: Path, accelerators: dict[str, Accelerator], efficiency: EfficiencyParams
                  ) -> dict[str, Accelerator]:
    """Rack-scale and pod systems (systems.toml; none when absent), each as its chip with the system's scale-up
    domain (`max_group`), per-chip scale-up bandwidth and fabric, and its id and name: `--chip gb200-nvl72` then
    evaluates a GB200 GPU in a 72-GPU NVLink domain. Systems are for the roofline; the market trades chips."""
    if not path.exists():
        return {}
    rows = _rows(read_toml(path), "system", path)
    fabrics = {f.name for f in efficiency.fabrics}
    out: dict[str, Accelerator] = {}
    for i, row in enumerate(rows):
        where = _where(path, "system", row, i)
        p = parse_table(row, SYSTEM_FIELDS, where)
        if p["id"] in out or p["id"] in accelerators:
            raise CatalogError(f"{where}: field 'id': duplicate id (a chip or system already has it)")
        chip = accelerators.get(p["chip"])
        if chip is None:
            raise CatalogError(f"{where}: field 'chip': unknown chip '{p['chip']}' (valid: "
                               f"{', '.join(sorted(accelerators))})")
        if p["fabric"] not in fabrics:
            raise CatalogError(f"{where}: field 'fabric': unknown fabric '{p['fabric']}' (valid: "
                               f"{', '.join(sorted(fabrics))})")
        out[p["id"]] = replace(
            chip, id=p["id"], name=p["name"], max_group=p["domain_chips"], interconnect_gbps=p["interconnect_gbps"],
            fabric=p["fabric"], tdp_w=p["tdp_w"] or chip.tdp_w,
            source=f"{p['source']}; chip figures: {chip.source}", source_date=p["source_date"], variant_of=chip.id)
    return out


def check_fabrics(path: Path, accelerators: dict[str, Accelerator], efficiency: EfficiencyParams) -> None:
    """Every chip's named fabric is one of efficiency.toml's."""
    fabrics = {f.name for f in efficiency.fabrics}
    for chip in accelerators.values():
        if chip.fabric and chip.fabric not in fabrics:
            raise CatalogError(f"{path}: accelerator '{chip.id}': field 'fabric': unknown fabric '{chip.fabric}' "
                               f"(valid: {', '.join(sorted(fabrics))})")


def parse_regional(path: Path, vendors: dict[str, Vendor], accelerators: dict[str, Accelerator]
                   ) -> tuple[dict[str, Vendor], dict[str, Accelerator], dict[str, tuple[OwnCapacity, ...]]]:
    """The vendors, chips and own capacity of regional.toml (none when the file is absent): vendors that sell only to
    some regions, export SKUs of any vendor, and the yearly supply of a vendor outside the shared packaging pool.
    Their packaging shares are not normalised with vendors.toml's: a vendor with its own supply chain has 0 and its
    [[capacity]] rows instead."""
    if not path.exists():
        return {}, {}, {}
    doc = read_toml(path)
    extra = set(doc) - {"vendor", "accelerator", "capacity"}
    if extra:
        raise CatalogError(f"{path}: unknown top-level key(s) {', '.join(sorted(extra))} (expected [[vendor]], "
                           "[[accelerator]], [[capacity]])")
    tables = {}
    for key in ("vendor", "accelerator", "capacity"):
        tables[key] = doc.get(key, [])
        if not isinstance(tables[key], list):
            raise CatalogError(f"{path}: expected [[{key}]] tables")
    parsed = _vendor_rows(path, tables["vendor"], regional=True)
    for i, p in enumerate(parsed):
        where = _where(path, "vendor", tables["vendor"][i], i)
        if p["id"] in vendors:
            raise CatalogError(f"{where}: field 'id': duplicate id (already in vendors.toml)")
        if not p["sells_to_regions"]:
            raise CatalogError(f"{where}: field 'sells_to_regions': missing (a vendor here sells only to some "
                               "regions; one that sells everywhere belongs in vendors.toml)")
    regional_vendors = {p["id"]: Vendor(**p) for p in parsed}
    rows = _accelerator_rows(path, tables["accelerator"], {**vendors, **regional_vendors}, regional=True,
                             taken=accelerators)
    every = {**accelerators, **{cid: chip for cid, (_, chip) in rows.items()}}
    for where, chip in rows.values():
        if chip.vendor in vendors and not chip.export_variant_of:
            raise CatalogError(f"{where}: field 'export_variant_of': missing (a {chip.vendor} chip belongs in "
                               "accelerators.toml unless it is an export SKU)")
        _check_export_sku(where, chip, every)
    for i, vid in enumerate(regional_vendors):
        if not any(chip.vendor == vid for _, chip in rows.values()):
            raise CatalogError(f"{_where(path, 'vendor', tables['vendor'][i], i)}: field 'id': no [[accelerator]] "
                               "of this vendor in the file")
    capacity = _capacity_rows(path, tables["capacity"], regional_vendors)
    for i, (vid, vendor) in enumerate(regional_vendors.items()):
        if vendor.packaging_share == 0 and vid not in capacity:
            raise CatalogError(f"{_where(path, 'vendor', tables['vendor'][i], i)}: field 'packaging_share': 0 needs "
                               "[[capacity]] rows of its own supply (else it could never make a chip)")
    return regional_vendors, {cid: chip for cid, (_, chip) in rows.items()}, capacity


def _capacity_rows(path: Path, rows: list[Any], vendors: dict[str, Vendor]) -> dict[str, tuple[OwnCapacity, ...]]:
    """regional.toml's [[capacity]] rows by vendor, oldest year first: only for its vendors with packaging_share 0
    (own supply, outside the shared pool), one row a year, consecutive years."""
    out: dict[str, list[OwnCapacity]] = {}
    for i, row in enumerate(rows):
        where = f"{path}: capacity #{i + 1}"
        record = OwnCapacity(**parse_table(row, CAPACITY_FIELDS, where))
        vendor = vendors.get(record.vendor)
        if vendor is None:
            raise CatalogError(f"{where}: field 'vendor': unknown vendor '{record.vendor}' (a [[vendor]] of this "
                               f"file: {', '.join(sorted(vendors)) or 'none'})")
        if vendor.packaging_share != 0:
            raise CatalogError(f"{where}: field 'vendor': '{record.vendor}' draws on the shared packaging pool "
                               f"(packaging_share {vendor.packaging_share:g}); own capacity needs packaging_share = 0")
        years = [r.year for r in out.get(record.vendor, [])]
        if years and record.year != years[-1] + 1:
            raise CatalogError(f"{where}: field 'year': {record.year} does not follow {years[-1]} (one row a year, "
                               "in order)")
        out.setdefault(record.vendor, []).append(record)
    return {vid: tuple(records) for vid, records in out.items()}


def parse_workloads(path: Path) -> dict[str, Workload]:
    rows = _rows(read_toml(path), "workload", path)
    out: dict[str, Workload] = {}
    for i, row in enumerate(rows):
        where = _where(path, "workload", row, i)
        p = parse_table(row, WORKLOAD_FIELDS, where)
        problems = [
            ("params_active", p["params_active"] > p["params_total"], "must not exceed params_total"),
            ("params_expert", p["params_expert"] >= p["params_total"], "must be below params_total"),
            ("experts_per_token", p["experts_per_token"] > p["experts"], "must not exceed experts"),
            ("n_kv_heads", p["n_heads"] % p["n_kv_heads"] != 0, "must divide n_heads"),
            ("params_expert", p["experts"] > 1 and p["params_expert"] <= 0,
             "a mixture of experts needs params_expert > 0"),
            ("attention_layers", not -1 <= p["attention_layers"] <= p["n_layers"], "must be -1 (all) or 0..n_layers"),
            ("state_elements", 0 <= p["attention_layers"] < p["n_layers"] and p["state_elements"] <= 0,
             "recurrent (non-attention) layers need state_elements > 0"),
        ]
        for name, bad, message in problems:
            if bad:
                raise CatalogError(f"{where}: field '{name}': {message}")
        if p["id"] in out:
            raise CatalogError(f"{where}: field 'id': duplicate id")
        out[p["id"]] = Workload(**p)
    return out


def parse_roadmaps(path: Path, vendors: dict[str, Vendor]) -> dict[str, Roadmap]:
    """Return one Roadmap per vendor: its own entry, else `[default]`."""
    doc = read_toml(path)
    extra = set(doc) - {"default", "vendor"}
    if extra:
        raise CatalogError(f"{path}: unknown top-level key(s) {', '.join(sorted(extra))} (expected [default], "
                           "[vendor.ID])")
    if "default" not in doc:
        raise CatalogError(f"{path}: missing [default] table")
    default = Roadmap(**parse_table(doc["default"], ROADMAP_FIELDS, f"{path}: roadmap 'default'"))
    out = {vid: default for vid in vendors}
    for vid, table in doc.get("vendor", {}).items():
        if vid not in vendors:
            raise CatalogError(f"{path}: roadmap '{vid}': unknown vendor (known: {', '.join(vendors)})")
        out[vid] = Roadmap(**parse_table(table, ROADMAP_FIELDS, f"{path}: roadmap '{vid}'"))
    return out


def parse_efficiency(path: Path) -> EfficiencyParams:
    doc = read_toml(path)
    fabrics = []
    for name, table in (doc.get("fabric") or {}).items():
        values = parse_table(table, FABRIC_FIELDS, f"{path}: [fabric.{name}]")
        fabrics.append(Fabric(name, values["latency_factor"], values["switched"], tuple(values["vendors"]),
                              values["source"], values["step_latency_us"]))
    return EfficiencyParams(**parse_table(doc.get("efficiency"), EFFICIENCY_FIELDS, f"{path}: [efficiency]"),
                            fabrics=tuple(fabrics))


def parse_tco(path: Path) -> TCOParams:
    doc = read_toml(path)
    names = [f.name for f in dataclass_fields(TCOParams) if f.name != "sources"]
    entry = [
        Field("value", "float", check=non_negative),
        Field("source", "str", check=non_empty),
        Field("date", "str", check=year_month),
        Field("estimate", "bool"),
    ]
    unknown = set(doc) - set(names)
    if unknown:
        raise CatalogError(f"{path}: unknown field(s) {', '.join(sorted(unknown))} (known: {', '.join(names)})")
    values, sources = {}, {}
    for name in names:
        if name not in doc:
            raise CatalogError(f"{path}: field '{name}': missing")
        p = parse_table(doc[name], entry, f"{path}: [{name}]")
        values[name], sources[name] = p["value"], p["source"]
    for name in ("depreciation_years", "pue", "utilisation"):
        if values[name] <= 0:
            raise CatalogError(f"{path}: [{name}]: field 'value': must be > 0, got {values[name]}")
    if values["utilisation"] > 1:
        raise CatalogError(f"{path}: [utilisation]: field 'value': must be <= 1, got {values['utilisation']}")
    return TCOParams(**values, sources=sources)


def parse_history(path: Path) -> tuple[HistoryObservation, ...]:
    """The observed path the baseline is compared with; each period must run forwards. Which observations the
    calibration fits is not the file's business: the fit window is a parameter (FIT_WINDOW_END, --window-end)."""
    rows = _rows(read_toml(path), "observation", path)
    out = []
    for i, row in enumerate(rows):
        where = _where(path, "observation", row, i)
        p = parse_table(row, HISTORY_FIELDS, where)
        if p["period_end"] < p["period_start"]:
            raise CatalogError(f"{where}: field 'period_end': {p['period_end']} is before period_start "
                               f"{p['period_start']}")
        low, high = p["low"], p["high"]
        if math.isfinite(low) != math.isfinite(high) or (math.isfinite(low) and not low <= p["value"] <= high):
            raise CatalogError(f"{where}: field 'low': low and high go together and must bracket value {p['value']}")
        if p["series"] == "vendor_gross_margin" and not p["value"] < 1:
            raise CatalogError(f"{where}: field 'value': a gross margin must be < 1, got {p['value']}")
        out.append(HistoryObservation(**p))
    _unique((o.id for o in out), path, "observation")
    return tuple(out)


def parse_measurements(path: Path, catalog: Catalog) -> list[MeasurementCase]:
    rows = _rows(read_toml(path), "case", path)
    out = []
    for i, row in enumerate(rows):
        where = _where(path, "case", row, i)
        batch = row.get("batch") if isinstance(row, dict) else None
        if isinstance(row, dict) and "batch" in row:
            row = {**row, "batch": "max"}  # checked by hand just below
        p = parse_table(row, MEASUREMENT_FIELDS, where)
        if batch != "max" and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
            raise CatalogError(f"{where}: field 'batch': must be a positive integer or \"max\", got {batch!r}")
        p["batch"] = batch
        for name, lookup in (("chip", catalog.accelerator), ("workload", catalog.workload)):
            try:
                lookup(p[name])
            except UnknownIdError as exc:
                raise CatalogError(f"{where}: field '{name}': {exc}") from None
        if p["test_set"] and p["fit"]:
            raise CatalogError(f"{where}: field 'fit': a test-set case (test_set = true) is never fitted")
        out.append(MeasurementCase(**p))
    _unique((c.id for c in out), path, "case")
    ids = {c.id for c in out}
    for case in out:
        if case.relative_to and (case.relative_to not in ids or case.relative_to == case.id):
            raise CatalogError(f"{path}: case '{case.id}': field 'relative_to': unknown case '{case.relative_to}'")
    return out


@dataclass(frozen=True)
class RegionalCatalog:
    """The chips and vendors of regional.toml: export SKUs of the main vendors (H20, MI308X, ...) and vendors that
    sell only in some regions (Huawei), with the own supply of those outside the shared packaging pool. Validated
    with the rest of the catalog but kept apart from `Catalog.accelerators` and `Catalog.vendors`: the market offers
    them only with [policy] regional_catalog = true (market/scenario.py), under the regional rule of
    market/regions.py."""

    accelerators: dict[str, Accelerator] = field(default_factory=dict)
    vendors: dict[str, Vendor] = field(default_factory=dict)
    roadmaps: dict[str, Roadmap] = field(default_factory=dict)  # of the regional vendors
    # a vendor's own supply outside the shared packaging pool, a row a calendar year, oldest first
    capacity: dict[str, tuple[OwnCapacity, ...]] = field(default_factory=dict)

    def export_skus(self) -> list[Accelerator]:
        """The export SKUs, oldest first."""
        return sorted((c for c in self.accelerators.values() if c.export_variant_of),
                      key=lambda c: c.release_month_index)

    def chips_of(self, vendor_id: str) -> list[Accelerator]:
        """A vendor's chips in this file, oldest first."""
        return sorted((c for c in self.accelerators.values() if c.vendor == vendor_id),
                      key=lambda c: c.release_month_index)


@dataclass(frozen=True)
class Catalog:
    """All catalog records, keyed by id."""

    accelerators: dict[str, Accelerator]
    vendors: dict[str, Vendor]
    workloads: dict[str, Workload]
    roadmaps: dict[str, Roadmap]
    efficiency: EfficiencyParams
    tco: TCOParams
    data_dir: Path
    history: tuple[HistoryObservation, ...] = ()  # the observed 2023 - 2025 path (history.toml)
    # behavioural parameters fitted to that path (history_calibration.toml of this folder), (name, value) pairs:
    # the defaults of the market config for runs made with this catalog
    fitted: tuple[tuple[str, float], ...] = ()
    # the last month (YYYY-MM) of the observations that fit used; later observations are held out in reports
    fit_window_end: str = FIT_WINDOW_END
    # regional.toml: export SKUs and domestic vendors, offered only with [policy] regional_catalog = true
    regional: RegionalCatalog = field(default_factory=RegionalCatalog)
    # systems.toml: rack-scale and pod systems by id, each as its chip in the system's scale-up domain (roofline only)
    systems: dict[str, Accelerator] = field(default_factory=dict)
    # paths.toml: the HBM contract price and the mix of models served, month by month (market only)
    paths: MarketPaths = field(default_factory=MarketPaths)

    def accelerator(self, chip_id: str) -> Accelerator:
        """A chip, or a system (its chip in the system's scale-up domain), by id."""
        found = self.accelerators.get(chip_id) or self.systems.get(chip_id)
        if found is None:
            raise UnknownIdError("chip", chip_id, sorted(self.accelerators) + sorted(self.systems))
        return found

    def generations(self, vendor_id: str) -> list[Accelerator]:
        """A vendor's catalog generations, oldest first: its chips that are not variants of another (the parts the
        market offers and the roadmap extends)."""
        return sorted((c for c in self.accelerators.values() if c.vendor == vendor_id and not c.variant_of),
                      key=lambda c: c.release_month_index)

    def workload(self, workload_id: str) -> Workload:
        try:
            return self.workloads[workload_id]
        except KeyError:
            raise UnknownIdError("model", workload_id, sorted(self.workloads)) from None

    def vendor(self, vendor_id: str) -> Vendor:
        try:
            return self.vendors[vendor_id]
        except KeyError:
            raise UnknownIdError("vendor", vendor_id, sorted(self.vendors)) from None

    def measurements(self) -> list[MeasurementCase]:
        return parse_measurements(self.data_dir / "measurements.toml", self)

    def accelerators_frame(self) -> pd.DataFrame:
        """One row per chip with peak figures flattened (tflops_bf16, ...) and the vendor's maturity."""
        records = []
        for chip in self.accelerators.values():
            row = {k: v for k, v in chip.__dict__.items() if k != "tflops"}
            for precision in PRECISIONS:
                row[f"tflops_{precision}"] = chip.tflops.get(precision, float("nan"))
            row["software_maturity"] = self.vendors[chip.vendor].software_maturity
            records.append(row)
        return pd.DataFrame.from_records(records)


HISTORY_CALIBRATION = "history_calibration.toml"


def load_history_calibration(data_dir: str | Path | None = None) -> dict[str, float]:
    """Behavioural parameters fitted to the history (name -> value); {} when none have been fitted yet."""
    path = Path(data_dir or DATA_DIR) / HISTORY_CALIBRATION
    if not path.exists():
        return {}
    values = read_toml(path).get("values", {})
    out = {}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise CatalogError(f"{path}: [values]: field '{name}': must be a positive number, got {value!r}")
        out[name] = float(value)
    return out


def load_fit_window_end(data_dir: str | Path | None = None) -> str:
    """The last month (YYYY-MM) of the observations the stored history fit used: `window_end` of the [fit] table of
    history_calibration.toml; FIT_WINDOW_END for a fit that does not record it (or when none is stored)."""
    path = Path(data_dir or DATA_DIR) / HISTORY_CALIBRATION
    if not path.exists():
        return FIT_WINDOW_END
    fit = read_toml(path).get("fit", {})
    if not isinstance(fit, dict):
        raise CatalogError(f"{path}: [fit]: must be a table, got {fit!r}")
    value = fit.get("window_end", FIT_WINDOW_END)
    problem = year_month(value) if isinstance(value, str) else f"must be YYYY-MM, got {value!r}"
    if problem:
        raise CatalogError(f"{path}: [fit]: field 'window_end': {problem}")
    return value


def load_catalog(data_dir: str | Path | None = None) -> Catalog:
    """Load and validate every catalog file in `data_dir` (default: the packaged data)."""
    if data_dir is None:
        return _default_catalog()
    return _load(Path(data_dir))


@lru_cache(maxsize=1)
def _default_catalog() -> Catalog:
    return _load(DATA_DIR)


def _load(folder: Path) -> Catalog:
    vendors = parse_vendors(folder / "vendors.toml")
    accelerators = parse_accelerators(folder / "accelerators.toml", vendors)
    regional_vendors, regional_chips, own_capacity = parse_regional(folder / REGIONAL_FILE, vendors, accelerators)
    roadmaps = parse_roadmaps(folder / "roadmaps.toml", {**vendors, **regional_vendors})
    efficiency = parse_efficiency(folder / "efficiency.toml")
    check_fabrics(folder / "accelerators.toml", accelerators, efficiency)
    workloads = parse_workloads(folder / "workloads.toml")
    return Catalog(
        accelerators=accelerators,
        vendors=vendors,
        workloads=workloads,
        roadmaps={vid: roadmaps[vid] for vid in vendors},
        efficiency=efficiency,
        tco=parse_tco(folder / "tco.toml"),
        data_dir=folder,
        history=parse_history(folder / "history.toml"),
        fitted=tuple(sorted(load_history_calibration(folder).items())),
        fit_window_end=load_fit_window_end(folder),
        regional=RegionalCatalog(regional_chips, regional_vendors, {vid: roadmaps[vid] for vid in regional_vendors},
                                 own_capacity),
        systems=parse_systems(folder / SYSTEMS_FILE, accelerators, efficiency),
        paths=parse_paths(folder / PATHS_FILE, workloads),
    )
