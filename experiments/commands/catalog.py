"""`compute-market catalog`: the table of accelerators in the hardware catalog."""

from __future__ import annotations

import json
import math
from pathlib import Path

from experiments.cli import command_parser
from experiments.json_safe import clean


def register(sub) -> None:
    p = command_parser(sub, "catalog", help="table of accelerators in the hardware catalog")
    p.add_argument("--json", action="store_true", help="print the records (with sources) as JSON")
    p.set_defaults(handler=run)


def run(args, catalog) -> int:
    if args.json:
        records = [{k: clean(v) for k, v in chip.__dict__.items()} for chip in catalog.accelerators.values()]
        print(json.dumps(records, indent=2))
        return 0
    frame = catalog.accelerators_frame()
    header = (f"{'id':<11} {'vendor':<7} {'release':<8} {'bf16':>7} {'fp8':>7} {'HBM GB':>7} {'TB/s':>6} "
              f"{'link GB/s':>9} {'TDP W':>6} {'cost $':>7} {'price $':>8}")
    print(header)
    print("-" * len(header))
    for row in frame.itertuples():
        fp8 = f"{row.tflops_fp8:7.0f}" if math.isfinite(row.tflops_fp8) else f"{'-':>7}"
        print(
            f"{row.id:<11} {row.vendor:<7} {row.release:<8} {row.tflops_bf16:7.0f} {fp8} {row.hbm_gb:7.4g} "
            f"{row.hbm_tbps:6.3g} {row.interconnect_gbps:9.0f} {row.tdp_w:6.0f} "
            f"{row.manufacturing_cost_usd:6.0f}{'*' if row.manufacturing_cost_estimate else ' '} "
            f"{row.launch_price_usd:7.0f}{'*' if row.launch_price_estimate else ' '}"
        )
    print(f"\nTFLOP/s dense. * = estimate. Sources: {_shown(catalog.data_dir / 'accelerators.toml')} (or --json).")
    return 0


def _shown(path: Path) -> str:
    """`path` relative to the working folder when it is inside it (the packaged catalog from the repository reads
    hardware_catalog/data/...), else as it is."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
