"""Fingerprint of what the model decides: the SHA-256 of every table one seed produces, for a few seeds.

A behaviour-preserving change (a refactor, a speed-up) must leave every hash unchanged; compare the output of
this script before and after the change:

    .venv/bin/python tests/benchmarks/output_hash.py --seeds 2 --months 120
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json

import pandas as pd

from experiments.market_report import run_seed
from experiments.runner import SEED_TABLES
from market.config import fitted_config


def table_hash(table: pd.DataFrame | None) -> str:
    if table is None:
        return "-"
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, float_format="%.17g")
    return hashlib.sha256(buffer.getvalue().encode()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--months", type=int, default=120)
    args = parser.parse_args()
    everything = hashlib.sha256()
    for seed in range(args.seeds):
        result = run_seed(fitted_config(months=args.months), seed)
        hashes = {name: table_hash(getattr(result, attribute)) for attribute, name in SEED_TABLES.items()}
        hashes["metrics"] = hashlib.sha256(json.dumps(result.metrics, sort_keys=True).encode()).hexdigest()[:16]
        for name, digest in hashes.items():
            print(f"seed {seed}  {name:<18} {digest}")
            everything.update(digest.encode())
    print(f"all tables: {everything.hexdigest()[:16]}")


if __name__ == "__main__":
    main()
