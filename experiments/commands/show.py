"""`compute-market show`: print a run's summary; export its tables as CSV."""

from __future__ import annotations

from pathlib import Path

from experiments.cli import command_parser


def register(sub) -> None:
    p = command_parser(sub, "show", help="print a run's summary; export its tables as CSV")
    p.add_argument("run_dir", type=Path, help="a complete run directory")
    p.add_argument("--csv", type=Path, default=None, help="write every table of the run as CSV into this new folder")
    p.set_defaults(handler=run)


def run(args, catalog) -> int:
    from experiments.show import export_csv, show_run

    print(show_run(args.run_dir))
    if args.csv is not None:
        written = export_csv(args.run_dir, args.csv)
        print(f"wrote {len(written)} tables as CSV to {args.csv}: {', '.join(written)}")
    return 0
