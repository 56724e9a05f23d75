"""regional.toml: export SKUs and domestic vendors are loaded, sourced and validated, and kept out of the market unless
[policy] regional_catalog is on (tests/test_regions_market.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hardware_catalog import DATA_DIR, CatalogError, load_catalog, next_generation

CATALOG = load_catalog()
REGIONAL = CATALOG.regional


def test_the_regional_parts_are_loaded_apart_from_the_market_catalog():
    assert {"h20", "h800", "a800", "mi308x", "ascend-910b", "ascend-910c"} <= set(REGIONAL.accelerators)
    assert set(REGIONAL.vendors) == {"huawei"}
    assert set(REGIONAL.accelerators).isdisjoint(CATALOG.accelerators)
    assert "huawei" not in CATALOG.vendors and "huawei" not in CATALOG.roadmaps
    assert REGIONAL.roadmaps["huawei"] == CATALOG.roadmaps["intel"]  # the [default] roadmap
    assert [c.id for c in REGIONAL.chips_of("huawei")] == ["ascend-910b", "ascend-910c"]
    assert [c.id for c in REGIONAL.export_skus()] == ["a800", "h800", "h20", "mi308x"]


def test_existing_chips_and_vendors_keep_the_defaults():
    for chip in CATALOG.accelerators.values():
        assert (chip.export_variant_of, chip.export_compliant, chip.export_compliant_until) == ("", False, "")
    for vendor in CATALOG.vendors.values():
        assert vendor.region == "us" and vendor.sells_to_regions == ()


def test_every_regional_row_is_sourced_and_dated():
    for chip in REGIONAL.accelerators.values():
        for name in ("source", "manufacturing_cost_source", "launch_price_source"):
            assert getattr(chip, name).strip(), (chip.id, name)
        assert chip.manufacturing_cost_estimate and chip.launch_price_estimate, chip.id  # all are estimates here
    huawei = REGIONAL.vendors["huawei"]
    assert huawei.software_maturity_estimate and huawei.source.strip() and huawei.cadence_source.strip()
    assert (huawei.region, huawei.sells_to_regions, huawei.packaging_share) == ("cn", ("cn",), 0.0)


def test_export_skus_sit_under_the_line_they_were_made_for():
    h20, h100 = REGIONAL.accelerators["h20"], CATALOG.accelerator("h100-sxm")
    assert h20.export_variant_of == "h100-sxm" and h20.tflops["bf16"] * 16 < 4800  # TPP under the 2023 rule
    assert h20.hbm_tbps > h100.hbm_tbps and h20.tflops["bf16"] < h100.tflops["bf16"] / 6
    assert REGIONAL.accelerators["mi308x"].tflops["fp8"] * 8 < 4800
    assert REGIONAL.accelerators["h800"].interconnect_gbps < 600  # the 2022 rule's interconnect line
    assert h20.compliant_in("2025-03") and not h20.compliant_in("2025-04")
    assert not REGIONAL.accelerators["ascend-910c"].compliant_in("2025-06")


def test_a_roadmap_generation_is_a_full_part():
    nxt = next_generation(REGIONAL.accelerators["h20"], CATALOG.roadmaps["nvidia"], 12)
    assert (nxt.export_variant_of, nxt.export_compliant, nxt.export_compliant_until) == ("", False, "")


def test_the_market_offers_none_of_them_without_the_switch():
    from market.config import MarketConfig
    from market.model import ComputeMarket

    model = ComputeMarket(MarketConfig(months=1), rng=0)
    assert "huawei" not in model.vendors
    offered = {c.id for v in model.vendors.values() for c in v.chips} | set(model.chip_index)
    assert offered.isdisjoint(REGIONAL.accelerators)


# --- validation: each bad case names the file, the row and the field, on one line ------------------------------


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(DATA_DIR, folder)
    return folder


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _fails(folder: Path, file: str, row: str, field: str, message: str) -> None:
    with pytest.raises(CatalogError) as err:
        load_catalog(folder)
    text = str(err.value)
    assert str(folder / file) in text and f"'{row}'" in text and f"field '{field}'" in text and message in text, text
    assert "\n" not in text


BAD_REGIONAL = [
    ('export_variant_of = "h100-sxm"\nexport_compliant = true\nexport_compliant_until = "2025-04"',
     'export_variant_of = "h900"\nexport_compliant = true\nexport_compliant_until = "2025-04"',
     "h20", "export_variant_of", "unknown chip 'h900'"),
    ('export_variant_of = "mi300x"', 'export_variant_of = "h100-sxm"', "mi308x", "export_variant_of",
     "'h100-sxm' is a nvidia chip"),
    ('export_variant_of = "h100-sxm"\nexport_compliant = true\nexport_compliant_until = "2025-04"',
     'export_variant_of = "h800"\nexport_compliant = true\nexport_compliant_until = "2025-04"',
     "h20", "export_variant_of", "is itself an export SKU"),
    ('export_compliant_until = "2025-04"', 'export_compliant_until = "2023-12"', "h20", "export_compliant_until",
     "not after the release 2024-04"),
    ('export_compliant_until = "2025-04"', 'export_compliant_until = "April 2025"', "h20", "export_compliant_until",
     "must be YYYY-MM"),
    ('export_compliant = true\nexport_compliant_until = "2025-04"\n\n[[accelerator]]\nid = "mi308x"',
     'export_compliant = false\nexport_compliant_until = "2025-04"\n\n[[accelerator]]\nid = "mi308x"',
     "h20", "export_compliant_until", "only a compliant part"),
    ('launch_price_date = "2025-07"\n', 'launch_price_date = "2025-07"\nexport_compliant = true\n',
     "ascend-910c", "export_compliant", "true needs export_variant_of"),
    ('sells_to_regions = ["cn"]\n', "", "huawei", "sells_to_regions", "missing"),
    ('sells_to_regions = ["cn"]', 'sells_to_regions = ["CN"]', "huawei", "sells_to_regions", "kebab-case"),
    ('sells_to_regions = ["cn"]', 'sells_to_regions = ["cn", "cn"]', "huawei", "sells_to_regions", "must not repeat"),
    ('sells_to_regions = ["cn"]', 'sells_to_regions = "cn"', "huawei", "sells_to_regions", "array of strings"),
    ('id = "huawei"', 'id = "amd"', "amd", "id", "already in vendors.toml"),
    ('id = "h20"', 'id = "h100-sxm"', "h100-sxm", "id", "duplicate id"),
    ('id = "a800"\nvendor = "nvidia"', 'id = "a800"\nvendor = "nvidai"', "a800", "vendor", "unknown vendor 'nvidai'"),
    ('vendor = "huawei"\nname = "Huawei Ascend 910B', 'vendor = "amd"\nname = "Huawei Ascend 910B', "ascend-910b",
     "export_variant_of", "missing (a amd chip belongs in accelerators.toml"),
    ('region = "cn"', 'region = "China"', "huawei", "region", "kebab-case"),
]

# [[capacity]] rows: a domestic vendor's own supply (one line each, naming the file, the row and the field)
BAD_CAPACITY = [
    ('vendor = "huawei"\nyear = 2024', 'vendor = "huawai"\nyear = 2024', "capacity #2", "vendor",
     "unknown vendor 'huawai'"),
    ('vendor = "huawei"\nyear = 2025', 'vendor = "huawei"\nyear = 2027', "capacity #3", "year",
     "2027 does not follow 2024"),
    ('chips = 200000\nhbm_gb_per_chip = 64', 'chips = -5\nhbm_gb_per_chip = 64', "capacity #2", "chips",
     "must be >= 0"),
    ('hbm_gb_per_chip = 128', 'hbm_gb_per_chip = 0', "capacity #4", "hbm_gb_per_chip", "must be > 0"),
    ('source_date = "2025-02"\n\n[[capacity]]', '\n[[capacity]]', "capacity #2", "source_date", "missing"),
    ('packaging_share = 0.0\nregion = "cn"', 'packaging_share = 0.1\nregion = "cn"', "capacity #1", "vendor",
     "draws on the shared packaging pool"),
]


@pytest.mark.parametrize("old,new,row,field,message", BAD_CAPACITY)
def test_bad_capacity_rows_are_rejected(data_copy, old, new, row, field, message):
    _edit(data_copy / "regional.toml", old, new)
    with pytest.raises(CatalogError) as err:
        load_catalog(data_copy)
    text = str(err.value)
    where = f"{data_copy / 'regional.toml'}: {row}: field '{field}'"
    assert where in text and message in text and "\n" not in text, text


def test_a_vendor_outside_the_pool_needs_capacity_rows(data_copy):
    path = data_copy / "regional.toml"
    text = path.read_text()
    start, end = text.index("\n[[capacity]]") + 1, text.index('[[accelerator]]\nid = "ascend-910b"')
    path.write_text(text[:start] + text[end:])
    _fails(data_copy, "regional.toml", "huawei", "packaging_share", "needs [[capacity]] rows")


@pytest.mark.parametrize("old,new,row,field,message", BAD_REGIONAL)
def test_bad_regional_rows_are_rejected(data_copy, old, new, row, field, message):
    _edit(data_copy / "regional.toml", old, new)
    _fails(data_copy, "regional.toml", row, field, message)


def test_a_domestic_vendor_needs_a_chip(data_copy):
    path = data_copy / "regional.toml"
    text = path.read_text()
    path.write_text(text[:text.index('[[accelerator]]\nid = "ascend-910b"')])
    _fails(data_copy, "regional.toml", "huawei", "id", "no [[accelerator]] of this vendor")


def test_regional_fields_are_refused_in_the_main_files(data_copy):
    _edit(data_copy / "accelerators.toml", 'launch_price_source = "$65k 8-card kit / 8, Intel 2024 [EPP]"',
          'launch_price_source = "$65k 8-card kit / 8, Intel 2024 [EPP]"\nexport_compliant = true')
    _fails(data_copy, "accelerators.toml", "gaudi2", "export_compliant", "allowed only in regional.toml")
    shutil.copy(DATA_DIR / "accelerators.toml", data_copy / "accelerators.toml")
    _edit(data_copy / "vendors.toml", 'packaging_share = 0.08', 'packaging_share = 0.08\nsells_to_regions = ["us"]')
    _fails(data_copy, "vendors.toml", "amd", "sells_to_regions", "allowed only in regional.toml")


def test_unknown_top_level_tables_are_rejected(data_copy):
    path = data_copy / "regional.toml"
    path.write_text(path.read_text() + "\n[[chip]]\nid = \"x\"\n")
    with pytest.raises(CatalogError, match=r"regional.toml: unknown top-level key\(s\) chip"):
        load_catalog(data_copy)


def test_a_catalog_folder_without_the_file_has_no_regional_parts(data_copy):
    (data_copy / "regional.toml").unlink()
    catalog = load_catalog(data_copy)
    assert not catalog.regional.accelerators and not catalog.regional.vendors
    assert catalog.accelerators == CATALOG.accelerators


def test_a_roadmap_may_be_given_for_a_regional_vendor(data_copy):
    path = data_copy / "roadmaps.toml"
    text = path.read_text()
    block = text[text.index("[vendor.amd]"):]
    path.write_text(text + "\n" + block.replace("[vendor.amd]", "[vendor.huawei]", 1).split("\n[vendor.", 1)[0])
    catalog = load_catalog(data_copy)
    assert catalog.regional.roadmaps["huawei"] == catalog.roadmaps["amd"]
    assert "huawei" not in catalog.roadmaps
