"""Initial conditions of a ComputeMarket run (the scenario builder): the vendors in the market, the reference chip
and workloads, the clouds with their installed fleets, sites and starting demand, and the labs.

Each builder returns what it builds; the model's __init__ keeps it. Builders that draw random numbers draw from the
model's own generator (`model.rng`), in the order the model calls them.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from agents.chip_vendor import ChipVendor
from agents.hyperscaler import Hyperscaler
from agents.lab import Lab
from hardware_catalog import Accelerator, Catalog, Vendor, Workload

from . import performance
from .capacity import normalise_allocations

# Starting finances of a cloud, in months of its starting chip budget (`budget_share x start_budget_usd`):
# estimates (no source recorded)
START_CASH_MONTHS = 24.0
# installed base at the end of 2022: what was bought over a depreciation life, NVIDIA data-centre revenue
# FY21-FY23 $6.7B + $10.6B + $15.0B = $32.3B (10-K filings; includes networking, leaves out TPUs and others:
# der, est) = ~18 months of the starting budget
START_FLEET_MONTHS = 18.0
# the installed fleet's chip mix at the end of 2022 (est): mostly A100s, H100s ramping; a cloud with its own
# chips already on sale holds half its fleet in them
START_FLEET_MIX = (("a100-80gb", 0.7), ("h100-sxm", 0.3))
START_FLEET_MIX_WITH_OWN = (0.5, ("a100-80gb", 0.35), ("h100-sxm", 0.15))
LAB_AFFINITY_SD = 0.5  # spread of a lab's taste for each cloud (logit utility units; est)


class Reference(NamedTuple):
    """The reference the market measures training work against: the H100 on the reference workload (serving work is
    measured on the month's serving mix, market/serving.py)."""

    workload: Workload  # training workload of the reference
    chip: Accelerator  # the reference H100
    train: float  # its training rate on the reference workload


def vendors(model) -> tuple[dict[str, ChipVendor], list[str]]:
    """(the vendors in the market at the start by id, every vendor id a run can have: in-house programmes that may
    start included, for fixed report columns).

    With [policy] regional_catalog, regional.toml's parts join them (`Catalog.regional`): each vendor's export SKUs
    as its export line (offered next to its generations while controls are on, ChipVendor.put_on_sale), and the
    domestic vendors (Huawei) with their own supply, outside the shared packaging pool (market/capacity.py)."""
    cfg, cat = model.config, model.catalog
    owners = {h.inhouse_vendor: h.id for h in cfg.hyperscalers if h.inhouse_vendor}
    regional = cat.regional if cfg.policy.regional_catalog else None
    records = {**cat.vendors, **(regional.vendors if regional else {})}
    roadmaps = {**cat.roadmaps, **(regional.roadmaps if regional else {})}
    out: dict[str, ChipVendor] = {}
    for vid, record in records.items():
        if vid in cfg.vendors_disabled or (record.kind == "hyperscaler_inhouse" and not cfg.inhouse.inhouse_enabled):
            continue
        # its catalog generations, shipped and announced (the roadmap derives generations after the last of them)
        chips = [shipped(c, record) for c in cat.generations(vid)]
        export_line = []
        if regional is not None:
            parts = [shipped(c, record) for c in regional.chips_of(vid)]
            chips += [c for c in parts if not c.export_variant_of]
            export_line = [c for c in parts if c.export_variant_of]
        own = tuple((row.year, row.units) for row in regional.capacity.get(vid, ())) if regional else ()
        out[vid] = ChipVendor(
            model, vid, record.name, record.kind, chips, roadmaps[vid], record.cadence_months,
            record.software_maturity, record.packaging_share, owner=owners.get(vid, ""),
            start_margin=record.start_gross_margin, export_line=export_line, own_capacity=own,
        )
    normalise_allocations(out.values())
    potential = list(out) + [f"{h.id}-silicon" for h in cfg.hyperscalers
                             if not h.inhouse_vendor and cfg.inhouse.inhouse_enabled]
    return out, potential


def shipped(chip: Accelerator, vendor: Vendor) -> Accelerator:
    """`chip` at the cost of a shipped unit: its memory line plus the rest of its bill of materials times its vendor's
    unit_cost_factor (the factor was derived net of memory, vendors.toml)."""
    if vendor.unit_cost_factor == 1.0:
        return chip
    rest = chip.manufacturing_cost_usd - chip.memory_cost_usd
    return dataclasses.replace(chip, manufacturing_cost_usd=chip.memory_cost_usd + rest * vendor.unit_cost_factor)


def reference(cat: Catalog) -> Reference:
    workload = cat.workload(performance.REFERENCE_WORKLOAD)
    chip = cat.accelerator(performance.REFERENCE_CHIP)
    maturity = [cat.vendors["nvidia"].software_maturity]
    train = performance.training_rates([chip], maturity, workload, cat.efficiency)[0]
    return Reference(workload, chip, train)


def list_price(model, chip: Accelerator) -> float:
    """USD a chip cost at the start: an in-house chip at cost plus the design partner's margin, else its launch
    price."""
    vendor = model.vendors.get(chip.vendor)
    if vendor is not None and not vendor.prices_strategically:
        return vendor.unit_price(chip, model.config.inhouse.design_partner_margin)
    return chip.launch_price_usd


def hyperscalers(model) -> list[Hyperscaler]:
    """The clouds with their installed fleets (registered in `model.chip_index`), sites and starting demand."""
    cfg, cat = model.config, model.catalog
    h100 = cat.accelerator("h100-sxm")
    out: list[Hyperscaler] = []
    for spec in cfg.hyperscalers:
        budget = spec.budget_share * cfg.demand.start_budget_usd
        h = Hyperscaler(model, spec, cash=START_CASH_MONTHS * budget,
                        operating_cash_flow=spec.operating_cash_flow_usd_per_month, internal_demand_heq=0.0,
                        planned_capex=budget)
        fleet_value = START_FLEET_MONTHS * budget
        mix = [(cat.accelerator(cid), share) for cid, share in START_FLEET_MIX]
        if spec.inhouse_vendor in model.vendors:
            own = [c for c in model.vendors[spec.inhouse_vendor].chips if c.release <= cfg.start]
            if own:
                own_share, *others = START_FLEET_MIX_WITH_OWN
                mix = [(own[-1], own_share)] + [(cat.accelerator(cid), share) for cid, share in others]
        for chip, share in mix:
            price = list_price(model, chip)
            h.add_chips(chip.id, fleet_value * share / price, price)
            model.chip_index[chip.id] = chip
        out.append(h)
    rates = model.rates(list(model.chip_index.values()))
    # The budget shares (TrendForce) are shares of high-end AI servers, i.e. of installed compute rather than
    # of money: each cloud's fleet is scaled so that its share of useful work (HEq) equals its budget share,
    # keeping the industry's total. (Valued at list prices, a TPU-heavy fleet would otherwise hold ~30% of
    # the work for a 17% share.)
    heqs = np.array([model.fleets.heq(h, rates, model.inference_share()) for h in out])
    shares = np.array([h.spec.budget_share for h in out])
    if shares.sum() > 0 and heqs.sum() > 0:
        for h, heq, share in zip(out, heqs, shares, strict=True):
            h.scale_fleet((share / shares.sum()) * heqs.sum() / heq if heq > 0 else 0.0)
    if cfg.power.power_enabled:
        # sites at the end of 2022: the fleet's draw with headroom, and construction under way for the plan
        # of the time (the starting budget spent on H100s at list price, a month's worth a month)
        h100_w = model.fleets.facility_w(h100.id)
        for h in out:
            h.start_sites(model.fleets.draw_w(h), cfg.power.site_power_start_reserve,
                          h.planned_capex / list_price(model, h100) * h100_w, cfg.power.site_lead_time_months)
    for h in out:
        h.start_demand(model.fleets.heq(h, rates, model.inference_share()), cfg.clouds.capex_utilisation_target)
    return out


def labs(model, n_clouds: int) -> list[Lab]:
    """The labs of each configured kind, each with its affinity for each cloud (drawn from `model.rng`)."""
    out: list[Lab] = []
    for spec in model.config.labs:
        for i in range(spec.count):
            affinity = model.rng.normal(0.0, LAB_AFFINITY_SD, size=n_clouds)
            out.append(Lab(model, f"{spec.prefix}-{i + 1}", spec.frontier, spec.cash_usd, spec.revenue_usd, affinity))
    return out
