"""The regional availability rule (market/regions.py): export controls, export SKUs and domestic vendors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hardware_catalog import load_catalog
from market.config import MarketConfig
from market.regions import ChipTerms, ExportControls, availability

CATALOG = load_catalog()
CN = ExportControls(("cn",), 600.0)


def terms(bf16, merchant=None, vendor_region=None, sells_to=None, export_sku=None, compliant=None,
          lapsed=None) -> ChipTerms:
    k = len(bf16)
    return ChipTerms(
        bf16_tflops=np.asarray(bf16, dtype=float),
        merchant=np.ones(k, bool) if merchant is None else np.asarray(merchant, bool),
        vendor_region=np.array(["us"] * k if vendor_region is None else vendor_region, dtype=str),
        sells_to=tuple(() for _ in range(k)) if sells_to is None else tuple(tuple(s) for s in sells_to),
        export_sku=np.zeros(k, bool) if export_sku is None else np.asarray(export_sku, bool),
        compliant=np.zeros(k, bool) if compliant is None else np.asarray(compliant, bool),
        lapsed=np.zeros(k, bool) if lapsed is None else np.asarray(lapsed, bool),
    )


def todays_rule(regions, bf16, merchant, controlled_regions, min_tflops, active):
    """market/model.py vendor_phase's export rule, written out as it stands (buyer rows as given)."""
    available = np.ones((len(regions), len(bf16)), bool)
    if controlled_regions and active:
        controlled = merchant & (bf16 >= min_tflops)
        region = np.array([r in controlled_regions for r in regions])
        available = available & ~(region[:, None] & controlled[None, :])
    return available


@pytest.mark.parametrize("active", [True, False])
@pytest.mark.parametrize("min_tflops", [300.0, 600.0, 989.4])
def test_plain_chips_reproduce_todays_threshold_rule(active, min_tflops):
    rng = np.random.default_rng(7)
    bf16 = np.concatenate([rng.uniform(100, 2500, 30), [min_tflops, np.nextafter(min_tflops, 0)]])
    merchant = rng.random(len(bf16)) < 0.7
    regions = ["us", "cn", "us", "eu", "cn", "us"]
    got = availability(regions, terms(bf16, merchant=merchant), ExportControls(("cn", "eu"), min_tflops, active))
    assert np.array_equal(got, todays_rule(regions, bf16, merchant, ("cn", "eu"), min_tflops, active))
    assert got[:, -2].tolist() == [True, not active, True, not active, not active, True]  # "at or above" bars
    assert got[:, -1].all() or not merchant[-1]  # just below the line passes


def test_no_controls_means_every_plain_chip_for_everyone():
    chips = terms([3000.0, 100.0], merchant=[True, False])
    for controls in (None, ExportControls((), 600.0), ExportControls(("cn",), 600.0, active=False)):
        assert availability(["us", "cn"], chips, controls).all()


def test_export_skus_are_for_controlled_buyers_and_only_while_controls_last():
    chips = terms([989.4, 148.0, 148.0], export_sku=[False, True, True], compliant=[False, True, False])
    got = availability(["us", "cn"], chips, CN)
    assert got.tolist() == [[True, False, False], [False, True, True]]
    # outside controls nobody buys the crippled part: the full one is on sale
    off = availability(["us", "cn"], chips, replace(CN, active=False))
    assert off.tolist() == [[True, False, False], [True, False, False]]
    assert not availability(["cn"], chips, None)[:, 1:].any()


def test_compliance_lifts_the_threshold_and_its_end_restores_it():
    # an H800-like SKU at full H100 FLOP/s: compliant under the older rule, banned once it is not
    chips = terms([989.4], export_sku=[True], compliant=[True])
    assert availability(["cn"], chips, CN).tolist() == [[True]]
    ended = replace(chips, compliant=np.array([False]), lapsed=np.array([True]))
    assert availability(["cn", "us"], ended, CN).tolist() == [[False], [False]]


def test_a_part_a_later_rule_named_is_barred_below_the_threshold_too():
    # an H20-like SKU far under the line: fine while compliant, barred once a licence is required
    chips = terms([148.0, 148.0], export_sku=[True, True], compliant=[True, False], lapsed=[False, True])
    assert availability(["cn"], chips, CN).tolist() == [[True, False]]
    assert availability(["cn"], replace(chips, lapsed=np.array([False, False])), CN).tolist() == [[True, True]]
    # a domestic vendor is not bound by it
    assert availability(["cn"], replace(chips, vendor_region=np.array(["cn", "cn"])), CN).tolist() == [[True, True]]


def test_a_domestic_vendor_sells_at_home_only_and_the_threshold_does_not_bind_it():
    # a 780-TFLOP/s chip of a vendor at home in "cn", selling only there
    chips = terms([780.0, 780.0], vendor_region=["cn", "us"], sells_to=[["cn"], []])
    for controls in (None, replace(CN, active=False)):
        assert availability(["us", "cn", "eu"], chips, controls).tolist() == [[False, True], [True, True],
                                                                                 [False, True]]
    assert availability(["us", "cn", "eu"], chips, CN).tolist() == [[False, True], [True, False], [False, True]]


def test_a_vendor_abroad_selling_into_a_controlled_region_is_still_bound():
    chips = terms([780.0, 500.0], vendor_region=["eu", "eu"], sells_to=[["cn"], ["cn"]])
    assert availability(["cn", "us"], chips, CN).tolist() == [[False, True], [False, False]]


def test_in_house_chips_are_not_subject_to_the_threshold():
    chips = terms([2500.0, 2500.0], merchant=[False, True])
    assert availability(["cn"], chips, CN).tolist() == [[True, False]]


def test_rows_follow_the_buyers_in_their_order():
    chips = terms([148.0, 989.4], export_sku=[True, False], compliant=[True, False])
    regions = np.repeat(["cn", "us", "cn", "eu"], 2)  # two rows per cloud, as the model's offer book has
    got = availability(regions, chips, CN)
    assert got.shape == (8, 2)
    assert got[:, 0].tolist() == [True, True, False, False, True, True, False, False]
    assert got[:, 1].tolist() == [False, False, True, True, False, False, True, True]
    assert availability([], chips, CN).shape == (0, 2)


def test_terms_of_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="one entry per chip"):
        replace(terms([1.0, 2.0]), merchant=np.ones(3, bool))


def test_controls_from_the_market_config():
    cfg = MarketConfig().replace(export_control_regions=("cn",), export_control_min_tflops=600.0,
                                 export_control_start="2023-10")
    assert ExportControls.from_config(cfg, "2023-09") == ExportControls(("cn",), 600.0, active=False)
    assert ExportControls.from_config(cfg, "2023-10") == ExportControls(("cn",), 600.0, active=True)
    assert not ExportControls.from_config(MarketConfig(), "2030-01").active


def _catalog_matrix(month: str, controls: ExportControls | None):
    chips = [*CATALOG.accelerators.values(), *CATALOG.regional.accelerators.values()]
    vendors = {**CATALOG.vendors, **CATALOG.regional.vendors}
    merchant = [vendors[c.vendor].kind != "hyperscaler_inhouse" for c in chips]
    got = availability(["us", "cn"], ChipTerms.of(chips, vendors, merchant, month), controls)
    return {c.id: (bool(us), bool(cn)) for c, us, cn in zip(chips, got[0], got[1], strict=True)}


def test_the_catalog_under_the_export_controls_scenario():
    mid_2024 = _catalog_matrix("2024-06", CN)
    assert mid_2024["h100-sxm"] == (True, False) and mid_2024["b200"] == (True, False)
    assert mid_2024["h20"] == (False, True) and mid_2024["mi308x"] == (False, True)
    assert mid_2024["ascend-910b"] == (False, True) and mid_2024["ascend-910c"] == (False, True)
    assert mid_2024["h800"] == (False, False)  # its compliance ended with the 2023-10 rule
    # from 2025-04 a licence is needed for the H20 and the MI308X: only Huawei (and parts under the line) is left
    mid_2025 = _catalog_matrix("2025-06", CN)
    assert mid_2025["h20"] == (False, False) and mid_2025["mi308x"] == (False, False)
    assert mid_2025["ascend-910c"] == (False, True)
    # without controls no export SKU is bought, and Huawei sells at home only
    free = _catalog_matrix("2024-06", None)
    assert all(free[c.id] == (False, False) for c in CATALOG.regional.export_skus())
    assert free["ascend-910b"] == (False, True)
    assert all(free[cid] == (True, True) for cid in CATALOG.accelerators)
