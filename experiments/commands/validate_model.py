"""`compute-market validate-model`: the validation report (experiments.validation): every stylized fact and
history observation, pass or miss, and what switching each mechanism off does to them."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from experiments.cli import _cap_workers, _check_targets, _ensemble, _ensemble_options, _seeds, command_parser
from experiments.config import BASELINE_CONFIG, load_experiment


def register(sub) -> None:
    p = command_parser(sub, "validate-model",
                       help="validation report: every stylized fact and history observation, pass or miss, and what "
                            "switching each mechanism off does to them")
    p.add_argument("config", type=Path, nargs="?", default=BASELINE_CONFIG,
                   help="the config to validate (default: the packaged baseline)")
    _ensemble_options(p, Path("results/validation"), "the report (validation.md/json, figures) and one run directory "
                      "per variant")
    p.add_argument("--force", action="store_true", help="replace variant run directories that hold runs of "
                   "different inputs")
    p.set_defaults(handler=run)


def run(args, catalog) -> int:
    from experiments import rundir, validation

    started = time.monotonic()
    facts = validation.load_facts()
    base = load_experiment(args.config, catalog)
    variants = validation.variants(base)
    seeds = _seeds(args, base)
    out = Path(os.path.abspath(args.out))
    rundir.check_collection(out, "validation")
    _check_targets([(e, out / name, seeds) for name, e in variants.items()], args)
    reused = validation.reused_variants(out, variants, seeds, args.months)
    _cap_workers(args, len(seeds), "seed(s) per variant")
    rundir.prepare_collection(out, "validation")
    runs = {}
    for i, (name, experiment) in enumerate(variants.items(), start=1):
        print(f"validate-model: ensemble {i} of {len(variants)}: {name}", file=sys.stderr)
        runs[name] = validation.RunTables(_ensemble(experiment, out / name, args, seeds))
    print("validate-model: computing the facts, the ablation table and the decomposition", file=sys.stderr)
    rows, runtime = validation.write_report(out, runs, facts, catalog, seeds, started, reused, str(args.config))
    counts = validation.summary_counts(rows)
    print(counts.to_string(index=False))
    print(f"wrote {out / 'validation.md'} ({runtime / 60:.1f} min)")
    return 0
