"""In-house (custom) silicon programmes: a cloud whose bill with one merchant vendor passes a threshold
starts a programme (its own decision, `Hyperscaler.wants_inhouse_programme`); after a design delay its first
chip ships and an in-house supplier agent joins the market, supplying its owner at cost plus the design
partner's margin."""

from __future__ import annotations

from agents.chip_vendor import ChipVendor, inhouse_first_chip
from hardware_catalog import add_months

from .capacity import normalise_allocations

INHOUSE_TEMPLATE = "trainium2"  # the first custom chip is this design carried along its roadmap
INHOUSE_CADENCE_MONTHS = 18.0
ALLOCATION_SHARE = 0.02  # packaging share a new programme takes from the vendors already in the market


def advance_programmes(model) -> None:
    """Start the programmes clouds decide on this month and launch those whose design delay has passed."""
    cfg = model.config
    merchants = {v.vendor_id for v in model.vendors.values() if v.prices_strategically}
    for cloud in model.hyperscalers:
        if cloud.wants_inhouse_programme(cfg.inhouse.inhouse_threshold_usd, merchants):
            cloud.start_programme(model.month + cfg.inhouse.inhouse_delay_months)
            model.events.append(f"{model.date}: {cloud.hyperscaler_id} starts an in-house silicon programme")
        if (cloud.programme_ready_month is not None and cloud.programme_ready_month <= model.month
                and not cloud.inhouse_vendor):
            launch(model, cloud)


def launch(model, cloud) -> ChipVendor:
    """The cloud's in-house supplier with its first chip, released next month; it takes a small packaging
    allocation from the others."""
    cfg, catalog = model.config, model.catalog
    vendor_id = f"{cloud.hyperscaler_id}-silicon"
    template = catalog.accelerator(INHOUSE_TEMPLATE)
    roadmap = catalog.roadmaps[template.vendor]
    first = inhouse_first_chip(template, roadmap, vendor_id, add_months(model.date, 1))
    vendor = ChipVendor(model, vendor_id, f"{cloud.spec.name} silicon", "hyperscaler_inhouse", [first], roadmap,
                        INHOUSE_CADENCE_MONTHS, cfg.inhouse.inhouse_start_maturity, ALLOCATION_SHARE,
                        owner=cloud.hyperscaler_id)
    for other in model.vendors.values():
        other.scale_allocation(1.0 - ALLOCATION_SHARE)
    model.vendors[vendor_id] = vendor
    normalise_allocations(model.vendors.values())
    cloud.take_inhouse_vendor(vendor_id)
    model.events.append(f"{model.date}: {vendor_id} delivers its first chip {first.id}")
    return vendor
