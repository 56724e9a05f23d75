"""`compute-market report`: redraw a run directory's figures and summaries from its tables."""

from __future__ import annotations

from pathlib import Path

from experiments.cli import _print_metrics, command_parser


def register(sub) -> None:
    p = command_parser(sub, "report", help="redraw figures and summaries of a run directory from its tables")
    p.add_argument("run_dir", type=Path, help="a complete run directory")
    p.set_defaults(handler=run)


def run(args, catalog) -> int:
    from experiments.runner import report

    summary = report(args.run_dir)
    _print_metrics(summary)
    print(f"rewrote figures and summaries in {args.run_dir}")
    return 0
