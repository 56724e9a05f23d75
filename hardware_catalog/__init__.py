"""The hardware catalog: sourced data files (accelerators, vendors, workloads, roadmaps, TCO and
roofline efficiency defaults) and the loader that validates them into typed records. Knows no Mesa."""

from .loader import DATA_DIR, Catalog, RegionalCatalog, load_catalog
from .records import (
    PRECISIONS,
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
    UnsupportedPrecisionError,
    Vendor,
    Workload,
)
from .roadmap import add_months, months_between, next_generation

__all__ = [
    "DATA_DIR",
    "PRECISIONS",
    "Accelerator",
    "Catalog",
    "CatalogError",
    "EfficiencyParams",
    "Fabric",
    "HistoryObservation",
    "MeasurementCase",
    "OwnCapacity",
    "RegionalCatalog",
    "Roadmap",
    "TCOParams",
    "UnknownIdError",
    "UnsupportedPrecisionError",
    "Vendor",
    "Workload",
    "add_months",
    "load_catalog",
    "months_between",
    "next_generation",
]
