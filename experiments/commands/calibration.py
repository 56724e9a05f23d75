"""`compute-market calibration`: roofline predictions vs published measurements."""

from __future__ import annotations

import json
import sys

from experiments.cli import command_parser
from experiments.errors import UsageError
from experiments.json_safe import clean
from market import calibration


def register(sub) -> None:
    p = command_parser(sub, "calibration", help="roofline predictions vs published measurements")
    p.add_argument("--fit", action="store_true", help="re-fit the efficiency factors before reporting")
    p.add_argument("--write", action="store_true", help="with --fit: save them as the catalog defaults")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(handler=run)


def run(args, catalog) -> int:
    efficiency = catalog.efficiency
    if args.write and not args.fit:
        raise UsageError("--write needs --fit")
    if args.fit:
        efficiency, rms = calibration.fit_efficiency(catalog)
        print(f"fitted efficiency (RMS log error {rms:.3f})", file=sys.stderr)
        if args.write:
            path = catalog.data_dir / "efficiency.toml"
            calibration.write_efficiency(efficiency, path)
            print(f"wrote {path}", file=sys.stderr)
    table = calibration.calibration_table(catalog, efficiency)
    if args.json:
        payload = {
            "efficiency": {name: getattr(efficiency, name) for name in (*calibration.FITTED, "usable_memory_fraction")},
            "median_abs_pct_error_fitted": calibration.median_abs_pct_error(table),
            "median_abs_pct_error_all": calibration.median_abs_pct_error(table, fitted_only=False),
            "cases": [{k: clean(v) for k, v in row.items()} for row in table.to_dict(orient="records")],
        }
        print(json.dumps(payload, indent=2))
    else:
        print(calibration.format_table(table, efficiency))
    return 0
