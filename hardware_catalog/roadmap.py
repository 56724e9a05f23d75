"""Derive a vendor's future generations from its newest chip and its roadmap factors."""

from __future__ import annotations

from dataclasses import replace

from .records import Accelerator, Roadmap


def add_months(year_month: str, months: int) -> str:
    """`"2024-12"` plus 14 months is `"2026-02"`."""
    year, month = (int(part) for part in year_month.split("-"))
    index = year * 12 + (month - 1) + int(months)
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_between(start: str, end: str) -> int:
    """Whole months from `start` to `end` (YYYY-MM): `"2023-01"` to `"2024-03"` is 14."""
    (y0, m0), (y1, m1) = ((int(p) for p in d.split("-")) for d in (start, end))
    return (y1 * 12 + m1) - (y0 * 12 + m0)


def next_generation(chip: Accelerator, roadmap: Roadmap, cadence_months: float) -> Accelerator:
    """The generation after `chip`, released `cadence_months` later.

    Roadmap factors are per year: each figure is multiplied by factor ** (cadence_months / 12). The
    derived chip keeps the parent's precisions and scale-up domain; its cost and launch price
    grow by `cost_growth` (the launch price is only a reference point: market prices are chosen by
    the vendor agent); its memory line (if the parent has one) grows with its capacity, at the parent's price per GB.
    Derived figures are marked as estimates. The derived chip is a full part: an export SKU's
    flags are not inherited (an export version of a future part is a decision of its own).
    """
    generation = chip.generation + 1
    stem = chip.id.split("+")[0]
    note = f"roadmap-derived generation {generation} after {stem} ({roadmap.source})"
    years = cadence_months / 12.0
    return replace(
        chip,
        id=f"{stem}+{generation}",
        name=f"{chip.vendor} next gen {generation} (after {stem})",
        release=add_months(chip.release, round(cadence_months)),
        tflops={p: v * roadmap.flops_growth**years for p, v in chip.tflops.items()},
        hbm_gb=chip.hbm_gb * roadmap.capacity_growth**years,
        hbm_tbps=chip.hbm_tbps * roadmap.bandwidth_growth**years,
        interconnect_gbps=chip.interconnect_gbps * roadmap.interconnect_growth**years,
        tdp_w=chip.tdp_w * roadmap.tdp_growth**years,
        process_node="next node (derived)",
        source=note,
        source_date=roadmap.source_date,
        manufacturing_cost_usd=chip.manufacturing_cost_usd * roadmap.cost_growth**years,
        manufacturing_cost_estimate=True,
        manufacturing_cost_source=note,
        launch_price_usd=chip.launch_price_usd * roadmap.cost_growth**years,
        launch_price_estimate=True,
        launch_price_source=note,
        generation=generation,
        memory_cost_usd=chip.memory_cost_usd * roadmap.capacity_growth**years,
        memory_cost_source=note if chip.memory_cost_usd else "",
        memory_cost_date=roadmap.source_date if chip.memory_cost_usd else "",
        variant_of="",
        announced=False,
        export_variant_of="",
        export_compliant=False,
        export_compliant_until="",
    )
