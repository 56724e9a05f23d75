"""What a shipped chip costs its vendor: the vendor's cost factor on the non-memory bill of materials, the memory line
at its own price."""

import pytest

from hardware_catalog import load_catalog
from market import scenario

CATALOG = load_catalog()


def test_the_vendor_cost_factor_applies_to_the_non_memory_bill_of_materials():
    nvidia = CATALOG.vendors["nvidia"]
    ultra = CATALOG.accelerator("rubin-ultra")  # 1 TB of HBM: most of its bill of materials
    shipped = scenario.shipped(ultra, nvidia)
    rest = ultra.manufacturing_cost_usd - ultra.memory_cost_usd
    assert shipped.manufacturing_cost_usd == pytest.approx(ultra.memory_cost_usd + nvidia.unit_cost_factor * rest)
    assert shipped.memory_cost_usd == ultra.memory_cost_usd  # the memory passes through, charged once
    # the factor gives back what it was derived from: the H100's cost of sales per GPU, $26.5k ASP x (1 - 0.75)
    h100 = scenario.shipped(CATALOG.accelerator("h100-sxm"), nvidia)
    assert h100.manufacturing_cost_usd == pytest.approx(26_500 * (1 - 0.75), rel=0.01)
    mi355x = CATALOG.accelerator("mi355x")  # a vendor without a factor ships at the bill of materials
    assert scenario.shipped(mi355x, CATALOG.vendors["amd"]) is mi355x
