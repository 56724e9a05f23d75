"""Errors the command line turns into one line on stderr (see experiments.cli.main)."""

from __future__ import annotations

import math


class UsageError(Exception):
    """Bad input from the user (a flag, a path, a file): one line, exit 2."""


class Interrupted(Exception):
    """Ctrl-C during a command; the message says what was kept and how to go on (exit 130)."""


def require_range(row: dict, where: str) -> None:
    """A data row's `low` and `high` are finite numbers with low < high; else a one-line UsageError naming `where`
    (the file and the row) and the field."""
    for name in ("low", "high"):
        value = row.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise UsageError(f"{where}: field '{name}': must be a finite number")
    if not row["low"] < row["high"]:
        raise UsageError(f"{where}: field 'low': must be below high ({row['low']} >= {row['high']})")


class NumericalError(UsageError):
    """A run whose arithmetic failed (overflow, 0/0) so a headline metric came out NaN or infinite: the inputs
    were outside what the model can compute with. One line naming the metric, the seed and the inputs to check."""
