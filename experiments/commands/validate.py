"""`compute-market validate`: check a config and print its resolved values."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from experiments.cli import command_parser
from experiments.config import load_experiment, resolved_values


def register(sub) -> None:
    p = command_parser(sub, "validate", help="check a config and print its resolved values")
    p.add_argument("config", type=Path, help="experiment config (TOML)")
    p.set_defaults(handler=run)


def run(args, catalog) -> int:
    experiment = load_experiment(args.config, catalog)
    print(json.dumps(resolved_values(experiment), indent=2, default=str))
    print(f"{args.config}: valid", file=sys.stderr)
    return 0
