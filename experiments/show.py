"""Looking at a run without Parquet tools: its summary as text, its tables as CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from . import rundir
from .errors import UsageError
from .market_report import METRIC_NOTES
from .runner import catalog_of, open_complete_run, read_stored


def complete_run(folder: Path) -> Path:
    """`folder` as an absolute path if it is a complete, intact run directory of compute-market's, made with a
    catalog that is still there unchanged; else a one-line UsageError saying what to do."""
    folder, _marker, manifest = open_complete_run(folder)
    catalog_of(manifest, folder)
    return folder


def require_intact(folder: Path, names: list[str]) -> None:
    """The run's files `names` have the bytes the tool wrote; else one line saying which and what to do."""
    recorded = rundir.recorded_files(folder)
    changed = [name for name in names if name not in recorded or name in rundir.damaged_files(folder)]
    if changed:
        raise UsageError(f"{folder}: {', '.join(changed[:3])} changed or missing since the run wrote it; "
                         f"'compute-market report {folder}' rewrites the summaries and tables from the stored seeds")


def show_run(folder: Path) -> str:
    """What the run is (config, seeds, months, when, how), its headline metrics and where its files are."""
    folder = complete_run(folder)
    require_intact(folder, ["summary.json"])
    manifest = read_stored(folder / "manifest.json", lambda p: json.loads(p.read_text()))
    summary = read_stored(folder / "summary.json", lambda p: json.loads(p.read_text()))
    seeds = summary.get("seeds", [])
    lines = [
        f"run:      {folder}",
        f"config:   {manifest.get('name')} ({manifest.get('config', {}).get('file')})",
        f"seeds:    {len(seeds)} ({', '.join(map(str, seeds[:10]))}{', ...' if len(seeds) > 10 else ''}); "
        f"{summary.get('months')} months from {summary.get('start')}",
        f"made:     {manifest.get('finished')} by: {manifest.get('command') or '(library call)'}",
        f"inputs:   {str(manifest.get('inputs_hash', ''))[:12]} (fingerprint of config, seeds, catalog and code)",
        "",
        f"{'metric':<36} {'mean':>10} {'5%':>10} {'95%':>10}  meaning",
    ]
    for name, stats in summary.get("metrics", {}).items():
        lines.append(f"{name:<36} {stats['mean']:10.4g} {stats['p05']:10.4g} {stats['p95']:10.4g}  "
                     f"{METRIC_NOTES.get(name, '')}")
    figures = sorted(p.name for p in (folder / "figures").glob("*.png")) if (folder / "figures").is_dir() else []
    tables = sorted(p.name for p in folder.glob("*.parquet"))
    lines += ["", f"figures:  {folder / 'figures'}/ ({', '.join(figures)})",
              f"tables:   {', '.join(tables)} (export with --csv DIR)",
              f"summary:  {folder / 'summary.md'} (with the figures embedded)"]
    return "\n".join(lines)


def export_csv(folder: Path, target: Path) -> list[str]:
    """Write each top-level Parquet table of a run as CSV into the new (or empty) folder `target`."""
    folder = complete_run(folder)
    tables = sorted(name for name in rundir.recorded_files(folder) if "/" not in name and name.endswith(".parquet"))
    require_intact(folder, tables)
    names = []
    with rundir.atomic_directory(target, "csv-export", option="--csv") as tmp:
        for table in (folder / name for name in tables):
            frame = read_stored(table, pd.read_parquet)
            frame.to_csv(tmp / f"{table.stem}.csv", index=False)
            names.append(f"{table.stem}.csv")
    return names
