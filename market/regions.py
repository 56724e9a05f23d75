"""Who may buy which chip: export controls, export SKUs and domestic vendors, as one pure rule.

`availability(buyer_regions, chips, controls)` returns the (buyers x chips) matrix of what the regional rules allow.
Each buyer is in one region (a cloud's `HyperscalerSpec.region`); each chip is described by `ChipTerms`, built from
its catalog record and its vendor's (`ChipTerms.of`). A chip is available to a buyer unless one of these rules
forbids it:

1. **A vendor's reach.** A vendor with `sells_to_regions` (a domestic vendor, such as Huawei selling in "cn") sells
   only to buyers in those regions; an empty list means everywhere.
2. **Export SKUs exist for controlled buyers only.** A part cut down from a full one for export (`export_variant_of`)
   is offered only while controls are active and only to buyers in a controlled region. Outside controls nobody buys
   the crippled part, because the full one is on sale.
3. **The threshold.** While controls are active, a buyer in a controlled region may not buy a merchant chip with
   dense bf16 TFLOP/s at or above `controls.min_tflops`, unless the chip is export-compliant this month
   (`Accelerator.compliant_in`).
4. **Parts a later rule named.** While controls are active, a buyer in a controlled region may not buy a merchant
   chip whose compliance has ended (`export_compliant_until` has passed: the H20 and the MI308X from 2025-04),
   whatever its FLOP/s: the rule that ended it named the part, not a threshold.

Rules 3 and 4 bind only vendors at home outside the controlled regions (a country's export rule does not bind the
controlled region's own vendors). In-house chips (not merchant) are not subject to them, as in the model's rule
today: they are sold to their owner only, which the caller's own availability says.

With no export SKUs and every vendor at home in an uncontrolled region selling everywhere, rule 3 alone is left and
the result is exactly the rule `ComputeMarket.vendor_phase` applies today. The model does not call this module yet
(see hardware_catalog/README.md, "Regions").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hardware_catalog import Accelerator, Vendor

# The regions a buyer (`HyperscalerSpec.region`) or an export control (`[policy] export_control_regions`) may name:
# "us", every vendor's and cloud's home unless it says otherwise; "cn", the Chinese clouds and Huawei
# (regional.toml); "eu", the sovereign EU buyer of experiments/configs/sovereign_compute.toml. A catalog folder
# adds the regions its vendors are at home in or sell to (`known_regions`).
REGIONS = ("us", "cn", "eu")


def known_regions(vendors: Iterable[Vendor]) -> tuple[str, ...]:
    """REGIONS and every region `vendors` (a catalog's, regional ones included) are at home in or sell to, sorted."""
    named = {region for v in vendors for region in (v.region, *v.sells_to_regions)}
    return tuple(sorted({*REGIONS, *named}))


def region_problem(region: str, known: Sequence[str]) -> str | None:
    """Why `region` is not one of the `known` region ids (None if it is): names them, and says so when only the
    case differs (a control on an unknown region would bind nobody, silently)."""
    if region in known:
        return None
    same = [k for k in known if k.lower() == region.lower()]
    hint = f" (only the case differs: write '{same[0]}')" if same else ""
    return f"unknown region '{region}'{hint}; known regions: {', '.join(known)}"


@dataclass(frozen=True)
class ExportControls:
    """An export-control regime: buyer regions cut off from merchant chips at or above `min_tflops` dense bf16
    TFLOP/s, while `active`."""

    regions: tuple[str, ...]
    min_tflops: float
    active: bool = True

    @classmethod
    def from_config(cls, config, month: str) -> ExportControls:
        """The regime of a MarketConfig's [policy] (`export_control_regions`, `_min_tflops`, `_start`) in `month`
        (YYYY-MM)."""
        policy = config.policy
        regions = tuple(policy.export_control_regions)
        active = bool(regions) and config.active(policy.export_control_start, month)
        return cls(regions, float(policy.export_control_min_tflops), active)


@dataclass(frozen=True)
class ChipTerms:
    """What the regional rules need to know of each of K chips on sale, as arrays of length K."""

    bf16_tflops: np.ndarray  # float: dense bf16 TFLOP/s
    merchant: np.ndarray  # bool: sold on the open market (False: an in-house chip)
    vendor_region: np.ndarray  # str: home region of the chip's vendor
    sells_to: tuple[tuple[str, ...], ...]  # the vendor's buyer regions; () = everywhere
    export_sku: np.ndarray  # bool: cut down from a full part for export
    compliant: np.ndarray  # bool: export-compliant this month
    lapsed: np.ndarray  # bool: was compliant until a later rule named it (a licence is required this month)

    def __post_init__(self) -> None:
        k = len(self.bf16_tflops)
        sizes = [len(self.merchant), len(self.vendor_region), len(self.sells_to), len(self.export_sku),
                 len(self.compliant), len(self.lapsed)]
        if any(size != k for size in sizes):
            raise ValueError(f"ChipTerms: every field needs one entry per chip ({k}), got lengths {sizes}")

    @classmethod
    def of(cls, chips: Sequence[Accelerator], vendors: Mapping[str, Vendor], merchant: Sequence[bool],
           month: str) -> ChipTerms:
        """Terms of `chips` in `month` (YYYY-MM), their vendors looked up in `vendors` (a roadmap-derived in-house
        vendor missing from it counts as at home in "us", selling everywhere)."""
        records = [vendors.get(c.vendor) for c in chips]
        return cls(
            bf16_tflops=np.array([c.tflops["bf16"] for c in chips], dtype=float),
            merchant=np.asarray(merchant, dtype=bool),
            vendor_region=np.array([v.region if v is not None else "us" for v in records], dtype=str),
            sells_to=tuple(v.sells_to_regions if v is not None else () for v in records),
            export_sku=np.array([bool(c.export_variant_of) for c in chips], dtype=bool),
            compliant=np.array([c.compliant_in(month) for c in chips], dtype=bool),
            lapsed=np.array([c.export_compliant and not c.compliant_in(month) for c in chips], dtype=bool),
        )


def availability(buyer_regions: Sequence[str], chips: ChipTerms, controls: ExportControls | None) -> np.ndarray:
    """(R, K) bool: may buyer r (in region `buyer_regions[r]`) buy chip k under the regional rules (module
    docstring). `controls` None means no controls."""
    regions = np.asarray(buyer_regions, dtype=str)
    k = len(chips.bf16_tflops)
    # rule 1: the vendors' reach, computed once per distinct buyer region
    distinct, row_of = np.unique(regions, return_inverse=True)
    reach = np.array([[not sells or region in sells for sells in chips.sells_to] for region in distinct],
                     dtype=bool).reshape(len(distinct), k)
    allowed = reach[row_of.reshape(-1)]
    active = controls is not None and controls.active and bool(controls.regions)
    controlled_buyer = np.isin(regions, list(controls.regions)) if active else np.zeros(len(regions), dtype=bool)
    # rule 2: export SKUs only for controlled buyers while controls are active
    allowed &= ~(chips.export_sku[None, :] & ~controlled_buyer[:, None])
    if active:
        # rules 3 and 4, for merchant chips of vendors the controls bind
        bound = chips.merchant & ~np.isin(chips.vendor_region, list(controls.regions))
        over = ~chips.compliant & (chips.bf16_tflops >= controls.min_tflops)
        barred = bound & (over | chips.lapsed)
        allowed &= ~(controlled_buyer[:, None] & barred[None, :])
    return allowed
