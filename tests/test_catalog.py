"""Catalog contents, provenance, and the validator's error messages."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hardware_catalog import DATA_DIR, CatalogError, UnknownIdError, load_catalog, next_generation

CATALOG = load_catalog()

REQUIRED_CHIPS = {
    "a100-40gb", "a100-80gb", "h100-sxm", "h200", "b200", "mi300x", "mi325x", "gaudi2", "gaudi3",
    "tpu-v5e", "tpu-v5p", "tpu-v6e", "trainium2",
}
REQUIRED_WORKLOADS = {"llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3-70b", "llama-3.1-405b", "mixtral-8x7b"}


def test_required_ids_are_present():
    assert REQUIRED_CHIPS <= set(CATALOG.accelerators)
    assert {"groq-lpu", "cerebras-wse3"} & set(CATALOG.accelerators)
    assert REQUIRED_WORKLOADS <= set(CATALOG.workloads)
    assert {"nvidia", "amd", "intel", "google", "aws"} <= set(CATALOG.vendors)
    assert any(v.kind == "startup" for v in CATALOG.vendors.values())


def test_every_row_is_sourced_and_dated():
    for chip in CATALOG.accelerators.values():
        for field in ("source", "manufacturing_cost_source", "launch_price_source"):
            assert getattr(chip, field).strip(), (chip.id, field)
        assert isinstance(chip.manufacturing_cost_estimate, bool)
        assert isinstance(chip.launch_price_estimate, bool)
    for record in (*CATALOG.vendors.values(), *CATALOG.workloads.values(), *CATALOG.roadmaps.values()):
        assert record.source.strip() and len(record.source_date) == 7
    assert all(CATALOG.tco.sources.values())


def test_figures_match_the_reference_table():
    h100 = CATALOG.accelerator("h100-sxm")
    assert h100.tflops["bf16"] == 989.4 and h100.hbm_tbps == 3.35 and h100.hbm_gb == 80
    mi300x = CATALOG.accelerator("mi300x")
    assert mi300x.tflops["fp8"] == 2614.9 and mi300x.hbm_gb == 192
    mixtral = CATALOG.workload("mixtral-8x7b")
    assert mixtral.is_moe and mixtral.params_active < mixtral.params_total / 3
    # Llama-2-70B KV cache: 2 x 80 layers x 8 heads x 128 x 2 bytes = 320 KiB per token
    assert CATALOG.workload("llama-2-70b").kv_bytes_per_token(2) == 327_680


def test_packaging_shares_are_normalised():
    assert sum(v.packaging_share for v in CATALOG.vendors.values()) == pytest.approx(1.0)
    assert max(CATALOG.vendors.values(), key=lambda v: v.packaging_share).id == "nvidia"


def test_unknown_ids_list_the_valid_ones():
    with pytest.raises(UnknownIdError, match="unknown chip 'h900'; valid: a100-40gb"):
        CATALOG.accelerator("h900")
    with pytest.raises(UnknownIdError, match="unknown model 'gpt-5'"):
        CATALOG.workload("gpt-5")


def test_precision_a_chip_lacks_is_an_error():
    with pytest.raises(ValueError, match="chip 'tpu-v5e' has no fp8 rate"):
        CATALOG.accelerator("tpu-v5e").peak_flops("fp8")


def test_roadmap_grows_flops_faster_than_bandwidth():
    for vendor, roadmap in CATALOG.roadmaps.items():
        assert roadmap.flops_growth > roadmap.bandwidth_growth, vendor
    b200 = CATALOG.accelerator("b200")
    nxt = next_generation(b200, CATALOG.roadmaps["nvidia"], CATALOG.vendors["nvidia"].cadence_months)
    assert nxt.id == "b200+1" and nxt.generation == 1 and nxt.release == "2025-12"
    assert nxt.tflops["bf16"] == pytest.approx(2250 * CATALOG.roadmaps["nvidia"].flops_growth)  # one year

    def ridge(c):
        return c.tflops["bf16"] / c.hbm_tbps

    assert ridge(nxt) > ridge(b200)
    assert nxt.manufacturing_cost_estimate and nxt.launch_price_estimate
    assert next_generation(nxt, CATALOG.roadmaps["nvidia"], 26).id == "b200+2"


# --- validator: each bad case names the file, the row id and the field -------------------------


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(DATA_DIR, folder)
    return folder


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, count))


H100_BLOCK_START = 'id = "h100-sxm"'

BAD_ACCELERATORS = [
    ("hbm_tbps = 3.35", "hbm_tbps = -3.35", "h100-sxm", "hbm_tbps", "must be > 0"),
    ("hbm_tbps = 3.35", "hbm_tbps = 0", "h100-sxm", "hbm_tbps", "must be > 0"),
    ("hbm_tbps = 3.35", "hbm_tbps = nan", "h100-sxm", "hbm_tbps", "must be finite"),
    ("hbm_tbps = 3.35", 'hbm_tbps = "fast"', "h100-sxm", "hbm_tbps", "must be a number"),
    ("bf16 = 2250.0", "bf16 = 4500.0", "b200", "tflops.bf16", "sparse"),
    ('source = "NVIDIA H100 Tensor Core GPU datasheet"\n', "", "h100-sxm", "source", "missing"),
    ('source = "NVIDIA H100 Tensor Core GPU datasheet"', 'source = " "', "h100-sxm", "source", "must not be empty"),
    ('vendor = "amd"', 'vendor = "amdx"', "mi300x", "vendor", "unknown vendor 'amdx'"),
    ('id = "h200"', 'id = "h100-sxm"', "h100-sxm", "id", "duplicate id"),
    ('release = "2022-09"', 'release = "Sept 2022"', "h100-sxm", "release", "YYYY-MM"),
    ("tdp_w = 700", "tdp_w = 700\nwatts = 3", "h100-sxm", "watts", "unknown field"),
    ("fp8 = 1979.0, int8", "fp6 = 1979.0, int8", "h100-sxm", "tflops.fp6", "unknown precision"),
    ("launch_price_estimate = false", "launch_price_estimate = 0", "a100-80gb", "launch_price_estimate",
     "true or false"),
]


@pytest.mark.parametrize("old,new,row,field,message", BAD_ACCELERATORS)
def test_bad_accelerator_rows_are_rejected(data_copy, old, new, row, field, message):
    path = data_copy / "accelerators.toml"
    _edit(path, old, new)
    with pytest.raises(CatalogError) as err:
        load_catalog(data_copy)
    text = str(err.value)
    assert str(path) in text and f"'{row}'" in text and f"field '{field}'" in text and message in text, text
    assert "\n" not in text


@pytest.mark.parametrize("old,new,field,message", [
    ("attention_layers = 4  #", "attention_layers = 40  #", "attention_layers", "must be -1 (all) or 0..n_layers"),
    ("state_elements = 155648", "state_elements = 0", "state_elements", "recurrent (non-attention) layers need"),
])
def test_a_hybrid_workload_needs_consistent_layers_and_state(data_copy, old, new, field, message):
    _edit(data_copy / "workloads.toml", old, new)
    with pytest.raises(CatalogError) as err:
        load_catalog(data_copy)
    assert "jamba-v0.1" in str(err.value) and f"field '{field}'" in str(err.value) and message in str(err.value)


def test_malformed_toml_names_the_file(data_copy):
    path = data_copy / "workloads.toml"
    _edit(path, 'n_layers = 32', 'n_layers = = 32')
    with pytest.raises(CatalogError, match=r"workloads.toml: not valid TOML"):
        load_catalog(data_copy)


@pytest.mark.parametrize(
    "old,new,field,message",
    [
        ("params_active = 12.9e9", "params_active = 50e9", "params_active", "must not exceed params_total"),
        ("experts_per_token = 2", "experts_per_token = 9", "experts_per_token", "must not exceed experts"),
        ("n_kv_heads = 8\nhead_dim = 128\ntrain_seq_len = 4096\nsource = \"Jiang",
         "n_kv_heads = 7\nhead_dim = 128\ntrain_seq_len = 4096\nsource = \"Jiang", "n_kv_heads", "must divide n_heads"),
    ],
)
def test_bad_workload_rows_are_rejected(data_copy, old, new, field, message):
    _edit(data_copy / "workloads.toml", old, new)
    with pytest.raises(CatalogError, match=rf"mixtral-8x7b'.*field '{field}': {message}"):
        load_catalog(data_copy)


def test_bad_vendor_and_roadmap_rows_are_rejected(data_copy):
    _edit(data_copy / "vendors.toml", "software_maturity = 0.55", "software_maturity = 1.5")
    with pytest.raises(CatalogError, match=r"vendor 'amd': field 'software_maturity': must be in \[0, 1\]"):
        load_catalog(data_copy)


def test_a_starting_margin_needs_a_source_and_must_be_a_fraction(data_copy):
    _edit(data_copy / "vendors.toml", "start_gross_margin = 0.641", "start_gross_margin = 1.2")
    with pytest.raises(CatalogError, match=r"vendor 'nvidia': field 'start_gross_margin': must be in \(0, 1\)"):
        load_catalog(data_copy)
    _edit(data_copy / "vendors.toml", "start_gross_margin = 1.2", "start_gross_margin = 0.641")
    text = (data_copy / "vendors.toml").read_text()
    source_line = next(line for line in text.splitlines() if line.startswith("start_gross_margin_source"))
    _edit(data_copy / "vendors.toml", source_line, "")
    with pytest.raises(CatalogError, match=r"vendor 'nvidia': field 'start_gross_margin_source': missing"):
        load_catalog(data_copy)


def test_roadmap_for_unknown_vendor_is_rejected(data_copy):
    _edit(data_copy / "roadmaps.toml", "[vendor.amd]", "[vendor.nvidai]")
    with pytest.raises(CatalogError, match=r"roadmap 'nvidai': unknown vendor"):
        load_catalog(data_copy)


def test_bad_tco_value_is_rejected(data_copy):
    _edit(data_copy / "tco.toml", "value = 0.80", "value = 1.8")
    with pytest.raises(CatalogError, match=r"tco.toml: \[utilisation\]: field 'value': must be <= 1"):
        load_catalog(data_copy)


def test_measurement_with_unknown_chip_is_rejected(data_copy):
    _edit(data_copy / "measurements.toml", 'chip = "gaudi2"', 'chip = "gaudi9"')
    catalog = load_catalog(data_copy)
    with pytest.raises(CatalogError, match=r"measurements.toml: case 'C5': field 'chip': unknown chip 'gaudi9'"):
        catalog.measurements()


# --- the 2025-27 parts, systems and the memory line (issue 27) ----------------------------------------------

SHIPPED_2025 = {"b300", "gb200", "mi350x", "mi355x", "tpu-v7", "trainium3", "gaudi3-pcie"}
ANNOUNCED = {"rubin", "rubin-ultra", "mi455x", "trainium4"}


def test_the_catalog_is_current_to_2026_and_announced_parts_are_estimates():
    assert SHIPPED_2025 | ANNOUNCED <= set(CATALOG.accelerators)
    assert {c.id for c in CATALOG.accelerators.values() if c.announced} == ANNOUNCED
    for cid in ANNOUNCED:
        chip = CATALOG.accelerator(cid)
        assert chip.source.startswith("announcement (est)"), cid
        assert chip.manufacturing_cost_estimate and chip.launch_price_estimate and chip.memory_cost_estimate, cid
        assert chip.release > "2026-01", cid
    for cid in SHIPPED_2025:
        assert not CATALOG.accelerator(cid).announced and CATALOG.accelerator(cid).release <= "2025-12", cid


def test_each_vendor_line_ends_at_its_last_announced_part_and_the_roadmap_continues_after_it():
    last = {v: CATALOG.generations(v)[-1].id for v in ("nvidia", "amd", "google", "aws", "intel")}
    assert last == {"nvidia": "rubin-ultra", "amd": "mi455x", "google": "tpu-v7", "aws": "trainium4",
                    "intel": "gaudi3"}
    assert all(not c.variant_of for v in last for c in CATALOG.generations(v))  # variants are not generations
    after = next_generation(CATALOG.accelerator("rubin-ultra"), CATALOG.roadmaps["nvidia"], 12)
    assert after.id == "rubin-ultra+1" and after.release == "2028-09" and not after.announced


def test_memory_is_a_line_of_the_cost_that_a_memory_price_change_moves():
    b300 = CATALOG.accelerator("b300")
    assert 0 < b300.memory_cost_usd < b300.manufacturing_cost_usd
    dearer = b300.at_memory_price(1.5)  # HBM 50% dearer
    assert dearer.manufacturing_cost_usd == pytest.approx(b300.manufacturing_cost_usd + 0.5 * b300.memory_cost_usd)
    assert dearer.memory_cost_usd == pytest.approx(1.5 * b300.memory_cost_usd)
    mi300x = CATALOG.accelerator("mi300x")  # no memory line: unchanged
    assert mi300x.memory_cost_usd == 0 and mi300x.at_memory_price(2.0) is mi300x
    assert b300.at_memory_price(1.0) is b300
    nxt = next_generation(b300, CATALOG.roadmaps["nvidia"], 12)  # the line grows with capacity, at the same $/GB
    assert nxt.memory_cost_usd / nxt.hbm_gb == pytest.approx(b300.memory_cost_usd / b300.hbm_gb)


def test_a_system_is_its_chip_in_the_systems_scale_up_domain():
    nvl72 = CATALOG.accelerator("gb200-nvl72")
    gb200 = CATALOG.accelerator("gb200")
    assert nvl72.max_group == 72 and nvl72.tflops == gb200.tflops and nvl72.hbm_gb == gb200.hbm_gb
    assert CATALOG.efficiency.fabric_of(nvl72).name == "nvlink"
    assert CATALOG.efficiency.fabric_of(CATALOG.accelerator("helios")).name == "ualink"
    assert not CATALOG.efficiency.fabric_of(CATALOG.accelerator("tpu-v7-pod")).switched  # a torus
    assert "gb200-nvl72" not in CATALOG.accelerators  # the market trades chips, not systems
    with pytest.raises(UnknownIdError, match="gb200-nvl72"):
        CATALOG.accelerator("gb200-nvl73")


@pytest.mark.parametrize("path,old,new,message", [
    ("systems.toml", 'chip = "gb200"', 'chip = "gb201"', r"system 'gb200-nvl72': field 'chip': unknown chip 'gb201'"),
    ("systems.toml", 'fabric = "ualink"\nsource', 'fabric = "uallink"\nsource',
     r"system 'helios': field 'fabric': unknown fabric 'uallink'"),
    ("accelerators.toml", 'variant_of = "mi355x"', 'variant_of = "mi356x"',
     r"accelerator 'mi350x': field 'variant_of': 'mi356x' is not a generation"),
    ("accelerators.toml", 'memory_cost_usd = 4320', 'memory_cost_usd = 9000',
     r"accelerator 'b300': field 'memory_cost_usd': 9000.0 exceeds the manufacturing cost"),
    ("accelerators.toml", 'fp4 = 35000.0', 'fp4 = 70000.0', r"accelerator 'rubin': field 'tflops.fp4'.*sparse"),
])
def test_bad_systems_variants_and_memory_lines_are_rejected(data_copy, path, old, new, message):
    _edit(data_copy / path, old, new)
    with pytest.raises(CatalogError, match=message):
        load_catalog(data_copy)
