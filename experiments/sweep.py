"""`compute-market sweep`: a grid over config values, one run directory per point and a table of their metrics."""

from __future__ import annotations

import itertools
import json
import tomllib
from pathlib import Path

from experiments.config import Experiment, with_value
from experiments.errors import UsageError


def parse_set(text: str) -> tuple[str, list]:
    """A --set argument: its config path and its values (TOML literals where they parse, else strings)."""
    path, sep, values = text.partition("=")
    if not sep or not path or not values:
        raise UsageError(f"--set takes PATH=V1,V2,..., got '{text}'")
    parsed = []
    for raw in top_level_items(values):
        try:
            parsed.append(tomllib.loads(f"v = {raw.strip()}")["v"])  # TOML literals: numbers, booleans, "strings"
        except tomllib.TOMLDecodeError:
            parsed.append(raw.strip())
    return path.strip(), parsed


def top_level_items(text: str) -> list[str]:
    """`text` split at the commas outside brackets, braces and quotes, so a TOML array (`["cn","ru"]`) or a quoted
    string holding a comma stays one value."""
    items, current, depth, quote, escaped = [], [], 0, "", False
    for char in text:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':  # a basic string's escape; a 'literal' string has none
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return items


def grid_points(experiment: Experiment, grid: list[tuple[str, list]], seeds_of, months: int | None,
                out: Path) -> list[tuple[dict, Experiment, tuple[int, ...], Path]]:
    """Every point of the grid (the product of the --set values): its values by path, its experiment, its seeds
    (`seeds_of(point)`) and its folder in `out`, named by the hash of all its inputs."""
    from experiments.runner import effective_config, run_inputs

    points = []
    for values in itertools.product(*(vals for _, vals in grid)):
        point = experiment
        for (path, _), value in zip(grid, values, strict=True):
            point = with_value(point, path, value, "--set")  # validated like the file itself
        seeds = seeds_of(point)
        inputs = run_inputs(point, effective_config(point, months), seeds, point.catalog())
        # a point's folder is named by the hash of all its inputs, so a folder can only ever hold its own values
        folder = out / f"point-{inputs['hash'][:12]}"
        points.append((dict(zip([p for p, _ in grid], values, strict=True)), point, seeds, folder))
    return points


def point_row(values: dict, run_dir: Path) -> dict:
    """A point's row of sweep.csv: its values, its run folder's name and the mean of each headline metric."""
    from experiments.runner import read_stored

    summary = read_stored(run_dir / "summary.json", lambda p: json.loads(p.read_text()))
    return {**values, "run_dir": run_dir.name, **{name: stats["mean"] for name, stats in summary["metrics"].items()}}


def write_table(out: Path, rows: list[dict], folders: list[Path]):
    """Write sweep.csv and seal the sweep folder (its points' folders and the table); returns the table."""
    import pandas as pd

    from experiments import rundir

    table = pd.DataFrame(rows)
    rundir.atomic_write_text(out / "sweep.csv", table.to_csv(index=False))
    rundir.seal(out, "sweep", None, [folder.name for folder in folders] + ["sweep.csv"])
    return table
