"""`compute-market hardware-report`: catalog, roofline grid, costs per token and calibration with figures."""

from __future__ import annotations

from pathlib import Path

from experiments.cli import command_parser


def register(sub) -> None:
    p = command_parser(sub, "hardware-report",
                       help="catalog, roofline grid, costs per token and calibration with figures")
    p.add_argument("--out", type=Path, default=Path("results/hardware"),
                   help="output folder: new, empty, or an earlier hardware report (replaced atomically)")
    p.set_defaults(handler=run)


def run(args, catalog) -> int:
    from experiments.hardware_report import write_hardware_report

    path = write_hardware_report(catalog, args.out)
    print(f"wrote {path}")
    return 0
