"""Field-by-field validation of TOML tables into plain dicts of checked values.

A schema is a list of `Field`s. `parse_table` rejects unknown keys, missing required keys, wrong
types, NaN/inf and values that fail a field's check, raising `CatalogError` with a message of the
form ``<file>: <where>: field '<name>': <problem>``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .records import CatalogError

Check = Callable[[Any], str | None]

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_KEBAB = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$")


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # "str", "float", "int", "bool", "table", "strings" (an array of strings)
    required: bool = True
    default: Any = None
    check: Check | None = None


def positive(value: float) -> str | None:
    return None if value > 0 else f"must be > 0, got {value}"


def non_negative(value: float) -> str | None:
    return None if value >= 0 else f"must be >= 0, got {value}"


def fraction(value: float) -> str | None:
    return None if 0.0 <= value <= 1.0 else f"must be in [0, 1], got {value}"


def open_fraction(value: float) -> str | None:
    return None if 0.0 < value < 1.0 else f"must be in (0, 1), got {value}"


def year_month(value: str) -> str | None:
    return None if _MONTH.match(value) else f"must be YYYY-MM, got '{value}'"


def kebab_id(value: str) -> str | None:
    return None if _KEBAB.match(value) else f"must be lowercase kebab-case, got '{value}'"


def non_empty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def year_month_or_empty(value: str) -> str | None:
    return None if value == "" else year_month(value)


def kebab_ids(values: list[str]) -> str | None:
    """An array of distinct lowercase kebab-case ids (region codes, for instance)."""
    for value in values:
        problem = kebab_id(value)
        if problem is not None:
            return problem
    return None if len(set(values)) == len(values) else f"must not repeat an entry, got {values}"


def one_of(options: tuple[str, ...]) -> Check:
    def check(value: str) -> str | None:
        return None if value in options else f"must be one of {', '.join(options)}; got '{value}'"

    return check


def _typed(value: Any, kind: str) -> tuple[Any, str | None]:
    """Coerce a TOML value to `kind`; return (value, error)."""
    if kind == "str":
        return (value, None) if isinstance(value, str) else (value, f"must be a string, got {value!r}")
    if kind == "bool":
        return (value, None) if isinstance(value, bool) else (value, f"must be true or false, got {value!r}")
    if kind == "table":
        return (value, None) if isinstance(value, Mapping) else (value, f"must be a table, got {value!r}")
    if kind == "strings":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return (value, None) if ok else (value, f"must be an array of strings, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value, f"must be a number, got {value!r}"
    if not math.isfinite(value):
        return value, f"must be finite, got {value}"
    if kind == "int":
        if isinstance(value, float) and not value.is_integer():
            return value, f"must be a whole number, got {value}"
        return int(value), None
    return float(value), None


def parse_table(table: Mapping[str, Any], fields: list[Field], where: str) -> dict[str, Any]:
    """Validate `table` against `fields`; `where` prefixes every error (file and row)."""
    if not isinstance(table, Mapping):
        raise CatalogError(f"{where}: must be a table, got {table!r}")
    known = {f.name for f in fields}
    for key in table:
        if key not in known:
            raise CatalogError(f"{where}: field '{key}': unknown field (known: {', '.join(sorted(known))})")
    out: dict[str, Any] = {}
    for f in fields:
        if f.name not in table:
            if f.required:
                raise CatalogError(f"{where}: field '{f.name}': missing")
            out[f.name] = f.default
            continue
        value, problem = _typed(table[f.name], f.kind)
        if problem is None and f.check is not None:
            problem = f.check(value)
        if problem is not None:
            raise CatalogError(f"{where}: field '{f.name}': {problem}")
        out[f.name] = value
    return out
