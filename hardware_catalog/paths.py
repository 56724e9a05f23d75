"""Dated paths the market follows month by month (paths.toml): the HBM contract price and the mix of models served.

Both are observed (or, after the last observation, estimated) series, not behaviour: each point carries a source and
a date. Between two points a path moves linearly by month; before the first and after the last it stays flat.

- `[[memory_price]]`: an index of the HBM contract price per GB (any base; only ratios are used). A chip's memory
  line (`memory_cost_usd`) was priced at its `memory_cost_date`; in month t it costs index(t) / index(that date) times
  as much (`memory_price_factor`).
- `[[serving_mix]]`: the share of the tokens buyers serve that each workload stands for, at a date (shares sum to
  one). `serving_mix_at` interpolates the shares of every workload named anywhere in the path.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from .records import CatalogError
from .roadmap import months_between
from .schema import Field, non_empty, parse_table, positive, year_month

PATHS_FILE = "paths.toml"
ORIGIN = "2000-01"  # months are counted from here to interpolate

MEMORY_PRICE_FIELDS = [
    Field("date", "str", check=year_month),
    Field("index", "float", check=positive),
    Field("estimate", "bool"),
    Field("source", "str", check=non_empty),
    Field("source_date", "str", check=year_month),
]
SERVING_MIX_FIELDS = [
    Field("date", "str", check=year_month),
    Field("shares", "table"),
    Field("estimate", "bool"),
    Field("source", "str", check=non_empty),
    Field("source_date", "str", check=year_month),
]


@dataclass(frozen=True)
class MarketPaths:
    """The memory price index and the serving mix, each as points sorted by date (empty: no such path)."""

    memory_price: tuple[tuple[str, float], ...] = ()  # (YYYY-MM, index)
    serving_mix: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = ()  # (YYYY-MM, ((workload, share), ...))

    def memory_price_factor(self, date: str, priced_at: str) -> float:
        """How many times its catalog figure a memory line priced at `priced_at` (YYYY-MM) costs in `date` (1 without
        a path or without a pricing date)."""
        if not self.memory_price or not priced_at:
            return 1.0
        months, index = self._memory_points
        at = np.interp([months_between(ORIGIN, date), months_between(ORIGIN, priced_at)], months, index)
        return float(at[0] / at[1])

    @cached_property
    def _memory_points(self) -> tuple[np.ndarray, np.ndarray]:
        """(months from ORIGIN, index) of the memory price path's points, parsed once (a month prices each memory
        pricing date of the chips on sale: ~500 calls a run)."""
        return (np.array([months_between(ORIGIN, d) for d, _ in self.memory_price], dtype=float),
                np.array([v for _, v in self.memory_price]))

    def serving_workloads(self) -> tuple[str, ...]:
        """Every workload the serving mix names, in order of first appearance."""
        names: dict[str, None] = {}
        for _, shares in self.serving_mix:
            names.update(dict.fromkeys(w for w, _ in shares))
        return tuple(names)

    def serving_mix_at(self, date: str) -> dict[str, float]:
        """Share of served tokens of each workload in `date` (sums to one; {} without a path)."""
        if not self.serving_mix:
            return {}
        names = self.serving_workloads()
        months = np.array([months_between(ORIGIN, d) for d, _ in self.serving_mix], dtype=float)
        now = months_between(ORIGIN, date)
        return {w: float(np.interp(now, months, [dict(s).get(w, 0.0) for _, s in self.serving_mix])) for w in names}


def _tables(doc: dict, kind: str, path: Path) -> list:
    rows = doc.get(kind, [])
    if not isinstance(rows, list):
        raise CatalogError(f"{path}: '{kind}' must be an array of tables ([[{kind}]])")
    return rows


def _sorted_dates(rows: list[dict], path: Path, kind: str) -> None:
    dates = [r["date"] for r in rows]
    if dates != sorted(dates) or len(set(dates)) != len(dates):
        raise CatalogError(f"{path}: [[{kind}]]: field 'date': rows must run forwards in time, one row a date")


def parse_paths(path: Path, workloads) -> MarketPaths:
    """paths.toml (no paths when the file is absent); `workloads`: the catalog's workload ids."""
    if not path.exists():
        return MarketPaths()
    from .loader import read_toml  # the loader imports this module

    doc = read_toml(path)
    unknown = set(doc) - {"memory_price", "serving_mix"}
    if unknown:
        raise CatalogError(f"{path}: unknown table(s) {', '.join(sorted(unknown))} (known: memory_price, serving_mix)")
    prices = [parse_table(r, MEMORY_PRICE_FIELDS, f"{path}: memory_price {i}")
              for i, r in enumerate(_tables(doc, "memory_price", path))]
    mixes = [parse_table(r, SERVING_MIX_FIELDS, f"{path}: serving_mix {i}")
             for i, r in enumerate(_tables(doc, "serving_mix", path))]
    _sorted_dates(prices, path, "memory_price")
    _sorted_dates(mixes, path, "serving_mix")
    for row in mixes:
        where = f"{path}: serving_mix {row['date']}: field 'shares'"
        for w, share in row["shares"].items():
            if w not in workloads:
                raise CatalogError(f"{where}: unknown workload '{w}' (known: {', '.join(sorted(workloads))})")
            if not isinstance(share, int | float) or not 0 <= share <= 1:
                raise CatalogError(f"{where}: share of '{w}' must be a number in [0, 1], got {share!r}")
        if abs(sum(row["shares"].values()) - 1.0) > 1e-6:
            raise CatalogError(f"{where}: shares must sum to 1, got {sum(row['shares'].values()):g}")
    return MarketPaths(
        memory_price=tuple((r["date"], r["index"]) for r in prices),
        serving_mix=tuple((r["date"], tuple((w, float(s)) for w, s in r["shares"].items())) for r in mixes),
    )
