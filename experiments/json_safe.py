"""Values made JSON-safe for the command line's --json output and the reports' JSON files."""

from __future__ import annotations

import math

import numpy as np


def clean(value):
    """JSON-safe: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def clean_tree(value):
    """`clean` applied through dicts and lists (for json.dumps)."""
    if isinstance(value, dict):
        return {k: clean_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_tree(v) for v in value]
    return clean(value)
