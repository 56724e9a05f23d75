"""Experiment configs: TOML files validated into typed objects.

A config file has these tables (all optional except where a base provides them):

    extends = "baseline.toml"        # another config (relative path); its values are the defaults
    [simulation]  months, start (YYYY-MM), seeds (replicates: seeds first_seed .. first_seed+seeds-1), first_seed
    [choice] [demand] [clouds] [lab_finance] [supply] [power] [pricing] [software] [inhouse]
                  the sections of MarketConfig (market/config.py), each with its own fields
    [policy]      the policy levers (export controls, price cap, open stack, demand shock, ...)
    [venture]     any VentureConfig field
    [market]      agent_report_interval, vendors_disabled; and, as a shorthand (the format before sections), any
                  section field but a policy lever by its name alone: `[market] switching_cost = 8` is read as
                  `[choice] switching_cost = 8` (setting a field both ways in one file is an error)
    [[hyperscalers]] / [[labs]]   replace the buyer populations (HyperscalerSpec / LabSpec fields)
    [hardware.chips.ID]           override numeric fields of a catalog chip (hbm_tbps, tdp_w, ...)
    [vendors.ID]                  override software_maturity, cadence_months or packaging_share of a vendor

Every problem (unknown key, wrong type, out-of-range value, NaN/inf, a number too large or too small for the
model's arithmetic, unknown chip/vendor/workload/region id, a missing or cyclic `extends`) raises ConfigError
"<file>: <dotted.path>: <problem>" (a value given on the command line, `with_value(..., flag)`, is named by its
option instead: "--set <dotted.path>=<value>: <problem>"). A config and each file it extends must be a regular
local file of at most MAX_CONFIG_BYTES: a URL, a device, a pipe or standard input is refused before it is read.
Nothing in a config is evaluated as code.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import stat
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardware_catalog import Catalog, load_catalog
from market.config import (
    DEFAULT_HYPERSCALERS,
    SECTION_OF,
    SECTIONS,
    Bounds,
    DealSpec,
    HyperscalerSpec,
    LabSpec,
    MarketConfig,
    VentureConfig,
    bounds_of,
)
from market.regions import known_regions, region_problem

BASELINE_CONFIG = Path(__file__).resolve().parent / "configs" / "baseline.toml"  # the packaged baseline experiment
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class ConfigError(ValueError):
    """An invalid experiment config; the message names the file and the dotted field path."""


CHIP_OVERRIDES = ("hbm_gb", "hbm_tbps", "interconnect_gbps", "tdp_w", "manufacturing_cost_usd", "launch_price_usd",
                  "max_group")
VENDOR_OVERRIDES = ("software_maturity", "cadence_months", "packaging_share")
MARKET_TOP = ("agent_report_interval", "vendors_disabled")  # MarketConfig's own fields set in [market]
# [market] also takes any section field except the policy levers, by its flat name (the format before sections):
# it is moved into its section as the file is read
SHORTHAND = tuple(name for name, section in SECTION_OF.items() if section != "policy")

# Range rules of the fields that declare none of their own: the populations' records and the catalog overrides.
# (MarketConfig's sections and VentureConfig declare theirs as field metadata, market/config.py `Bounds`.)
FRACTIONS = {"internal_share", "budget_share", "software_maturity", "packaging_share"}
POSITIVE = {"months", "gigawatts", "count", "seeds", "cadence_months", "hbm_gb", "hbm_tbps", "interconnect_gbps",
            "tdp_w", "manufacturing_cost_usd", "launch_price_usd", "max_group"}
# Upper bounds on counts and sizes, so a typo cannot ask for billions of seeds, agents or months.
MAX_SEED = 2**31 - 1  # the largest seed (run --seed accepts the same range, so every seed can be re-run alone)
UPPER = {"seeds": 10_000, "gigawatts": 1000, "first_seed": MAX_SEED, "months": 1200, "count": 100_000,
         "max_group": 2**20}
LOWER: dict[str, float] = {}

# Numbers the model's arithmetic can hold. Every numeric field of MarketConfig, VentureConfig and the policy levers
# was run at 1e300, 1e-300 and -1e300 (and 1e6, 1e-9) for a few months: beyond the bounds declared with the
# fields, exp and powers overflowed or 0/0 turned metrics NaN, or the run crashed. Two general rules apply to every
# number in a file besides its own bounds:
MAX_MAGNITUDE = 1e6  # a number that is not money and has no upper bound of its own: at most 1e6 (the model's unit
# scales are USD, months, GW, GB, so no behavioural parameter needs more)
MIN_MAGNITUDE = 1e-9  # any number other than 0: at least 1e-9 in magnitude (smaller is a typo, or divides to inf)


# Money: no field may exceed a quadrillion USD (~10x world GDP); larger sums overflow the accounting
# (a budget of 1e308 simulated, then crashed drawing its figures).
MAX_USD = 1e15
# The catalog starts in 2020 (A100); a run that starts before any chip exists has nothing to trade.
# Runs end at most 1200 months later, inside what pandas' and matplotlib's date axes represent.
FIRST_START, LAST_START = "2020-01", "2100-12"
FIRST_DATE, LAST_DATE = "2000-01", "2299-12"  # policy start dates (after the run's end: never active)
MERCHANT_KINDS = ("merchant_gpu", "merchant_accelerator", "startup")


def is_money(name: str) -> bool:
    return name.endswith("_usd") or "_usd_" in name


@dataclass(frozen=True)
class Experiment:
    """A resolved config: what to simulate, with which seeds, on which (possibly overridden) catalog."""

    name: str
    path: str
    market: MarketConfig
    seeds: tuple[int, ...]
    chip_overrides: dict[str, dict[str, float]]
    vendor_overrides: dict[str, dict[str, float]]
    raw: dict[str, Any]  # the merged TOML tables, for the manifest
    base_catalog: Catalog  # the catalog the config was validated against (packaged, or --catalog-dir)

    def catalog(self) -> Catalog:
        """The base catalog with this config's hardware and vendor overrides applied."""
        return apply_overrides(self.base_catalog, self.chip_overrides, self.vendor_overrides)


def apply_overrides(catalog: Catalog, chips: dict, vendors: dict) -> Catalog:
    if not chips and not vendors:
        return catalog
    accelerators = dict(catalog.accelerators)
    for cid, fields in chips.items():
        accelerators[cid] = dataclasses.replace(accelerators[cid], **fields)
    vendor_records = dict(catalog.vendors)
    for vid, fields in vendors.items():
        vendor_records[vid] = dataclasses.replace(vendor_records[vid], **fields)
    return dataclasses.replace(catalog, accelerators=accelerators, vendors=vendor_records)


# ---------------------------------------------------------------------------------------------- loading


MAX_EXTENDS_DEPTH = 32  # a longer chain is almost surely a mistake (and would exhaust the stack)
# A config is a few KiB of TOML; the packaged ones are under 10 KiB. Anything over this is not a config (or is a
# device such as /dev/zero that never ends), so it is refused before it is read, and never read past this bound.
MAX_CONFIG_BYTES = 1 << 20  # 1 MiB
# `extends` names a local file. A URL scheme (https://..., file:..., s3://...) is refused by name rather than
# looked up as a folder called "https:".
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://|^(file|https?|ftp|s3|gs|az|hdfs|data):", re.IGNORECASE)
# Paths that name an open file descriptor (standard input, a shell's <(...)): not a file with a folder.
_DESCRIPTOR = re.compile(r"^/dev/(stdin|fd/\d+)$|^/proc/[^/]+/fd/\d+$")
_STDIN_HINT = "save the config to a .toml file and pass its path"


def _file_kind(mode: int) -> str:
    """What a non-regular file is, in words, from its st_mode."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _refuse_url(given: str) -> None:
    """Refuse a config named by a URL before it is taken for a folder called "https:" (a path argument has lost
    one of the URL's slashes by then: it is shown with them)."""
    if _URL.match(given):
        shown = re.sub(r"^(https?|ftp|s3|gs|az|hdfs):/(?!/)", r"\1://", given, flags=re.IGNORECASE)
        raise ConfigError(f"{shown}: a config must be a local file path (URLs are not fetched); download the file "
                          "and pass its path")


def _refuse_descriptor(given: str, where: str | None) -> None:
    """Refuse a path naming an open descriptor (/dev/stdin, /dev/fd/N, /proc/PID/fd/N): its messages would name
    a /proc path and a relative `extends` could not be resolved from it. `where` is None for the top-level file."""
    if not _DESCRIPTOR.match(os.path.abspath(given)):
        return
    if where is None:
        raise ConfigError(f"{given}: is standard input or a pipe, not a file: {_STDIN_HINT}")
    raise ConfigError(f"{where}: {given} is standard input or a pipe, not a file; give a path to a TOML file")


def _read_bounded(path: Path, where: str) -> bytes:
    """The bytes of `path`, a regular file of at most MAX_CONFIG_BYTES: checked with os.stat before it is
    opened (a pipe is never opened, so it cannot block), and read to at most MAX_CONFIG_BYTES + 1 bytes (so a
    file that grows meanwhile is still bounded). `where` prefixes errors: the file, or "<file>: extends"."""
    top = where == str(path)
    subject = f"{path}:" if top else f"{where}: {path}"
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ConfigError(f"{where}: file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{where}: {path} is a folder, not a config file")
    if stat.S_ISFIFO(info.st_mode) and top:
        raise ConfigError(f"{path}: is a pipe, not a file: {_STDIN_HINT}")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{subject} is not a regular file (it is {_file_kind(info.st_mode)}); give a path to a TOML "
                          "file")
    if info.st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{subject} is {info.st_size} bytes, over the {MAX_CONFIG_BYTES // 2**20} MiB a config may "
                          f"have; give a path to a TOML config file")
    try:
        # O_NONBLOCK: should the path have been swapped for a pipe since the stat, opening it does not wait
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise ConfigError(f"{subject} is not a regular file; give a path to a TOML file")
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{where}: file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{subject} grew past the {MAX_CONFIG_BYTES // 2**20} MiB a config may have while it was "
                          f"read; give a path to a TOML config file")
    return data


def _read(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    """Read `path` and everything it extends, merged (the file's own values win)."""
    where = f"{chain[-1]}: extends" if chain else f"{path}"
    if path in chain:
        cycle = " -> ".join(str(p) for p in (*chain, path))
        raise ConfigError(f"{chain[-1]}: extends: cyclic extends ({cycle})")
    if len(chain) >= MAX_EXTENDS_DEPTH:
        raise ConfigError(f"{chain[0]}: extends: chain deeper than {MAX_EXTENDS_DEPTH} files (at {path}); "
                          f"flatten it")
    data = _read_bounded(path, where)
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark (as some Windows editors write) is accepted
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte {exc.start}); a config is TOML text") from None
    if "\x00" in text:
        raise ConfigError(f"{path}: not a text file (it contains NUL bytes); a config is TOML text")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    doc = _sections_from_shorthand(doc, path)
    base = doc.pop("extends", None)
    if base is None:
        return {"__file__": str(path), **doc}
    if not isinstance(base, str):
        raise ConfigError(f"{path}: extends: must be a file name string, got {base!r}")
    if _URL.match(base):
        raise ConfigError(f"{path}: extends: must be a path to a local TOML file (relative to this file), "
                          f"not a URL: '{base}'")
    _refuse_descriptor(str(path.parent / base), f"{path}: extends")
    parent = _read((path.parent / base).resolve(), (*chain, path))
    # an alias names where a value was written: a value this file sets in its section replaces the base's alias
    inherited = {k: v for k, v in parent.get("__aliases__", {}).items()
                 if k.split(".")[1] not in doc.get(k.split(".")[0], {})}
    merged = {**_merge(parent, doc), "__file__": str(path)}
    merged.pop("__aliases__", None)
    aliases = {**inherited, **doc.get("__aliases__", {})}
    return {**merged, "__aliases__": aliases} if aliases else merged


def _sections_from_shorthand(doc: dict, path) -> dict:
    """Move the section fields a file sets in [market] by their flat names into their sections, remembering where
    they were written (`__aliases__`: "choice.switching_cost" -> "market.switching_cost", for error messages)."""
    market = doc.get("market")
    if not isinstance(market, dict):
        return doc
    doc = {**doc, "market": {k: v for k, v in market.items() if k not in SHORTHAND}}
    aliases = {}
    for key, value in market.items():
        if key not in SHORTHAND:
            continue
        section = SECTION_OF[key]
        table = doc.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {section}: must be a table, got {table!r}")
        if key in table:
            raise ConfigError(f"{path}: market.{key}: also set as {section}.{key}; set it once, in [{section}]")
        doc[section] = {**table, key: value}
        aliases[f"{section}.{key}"] = f"market.{key}"
    return {**doc, "__aliases__": aliases} if aliases else doc


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value  # scalars and arrays of tables replace the base's
    return out


def load_experiment(path: str | Path, catalog: Catalog | None = None) -> Experiment:
    """Read, merge, validate and resolve a config file."""
    _refuse_url(str(path))
    _refuse_descriptor(str(path), None)
    path = Path(path).resolve()
    doc = _read(path, ())
    file = doc.pop("__file__")
    catalog = catalog or load_catalog()
    return _resolve(path, doc, catalog, file)


def _resolve(path: Path, doc: dict, catalog: Catalog, file: str, flag: tuple[str, str] | None = None) -> Experiment:
    """The experiment of the merged tables `doc`; errors name `file` and the field, or, for a value given on the
    command line, `flag`: (the option and value as given, e.g. "--set supply.capacity_scale=-1", its table.key)."""
    aliases = doc.get("__aliases__", {})

    def err(where, message):
        if flag is None:
            return ConfigError(f"{file}: {aliases.get(where, where)}: {message}")
        given, dotted = flag
        return ConfigError(f"{given}: {message}" if where == dotted else f"{given}: {where}: {message}")

    known = {"simulation", "market", *SECTIONS, "venture", "hyperscalers", "labs", "deals", "hardware", "vendors"}
    for key in doc:
        if key not in known and key not in ("__aliases__", "__file__"):
            raise err(key, f"unknown table or key (known: extends, {', '.join(sorted(known))})")
    sim = _table(doc, "simulation", err)
    for key in sim:
        if key not in ("months", "start", "seeds", "first_seed"):
            raise err(f"simulation.{key}", "unknown key (known: months, start, seeds, first_seed)")
    kwargs: dict[str, Any] = {}  # MarketConfig fields by flat name
    if "months" in sim:
        kwargs["months"] = _value(sim["months"], int, "simulation.months", err, bounds_of(MarketConfig, "months"))
    if "start" in sim:
        kwargs["start"] = _value(sim["start"], str, "simulation.start", err)
    for key, value in _table(doc, "market", err).items():
        if key not in MARKET_TOP:
            raise err(f"market.{key}", f"unknown key (known: {', '.join(sorted((*MARKET_TOP, *SHORTHAND)))}; the "
                                       f"policy levers go in [policy])")
        kwargs[key] = _value(value, _hint(MarketConfig, key), f"market.{key}", err, bounds_of(MarketConfig, key))
    for section, cls in SECTIONS.items():
        names = [f.name for f in dataclasses.fields(cls)]
        for key, value in _table(doc, section, err).items():
            if key not in names:
                raise err(f"{section}.{key}", f"unknown key (known: {', '.join(sorted(names))})")
            kwargs[key] = _value(value, _hint(cls, key), f"{section}.{key}", err, bounds_of(cls, key))
    venture = {}
    for key, value in _table(doc, "venture", err).items():
        fields = {f.name for f in dataclasses.fields(VentureConfig)}
        if key not in fields:
            raise err(f"venture.{key}", f"unknown key (known: {', '.join(sorted(fields))})")
        venture[key] = _value(value, _hint(VentureConfig, key), f"venture.{key}", err, bounds_of(VentureConfig, key))
    kwargs["venture"] = VentureConfig(**venture)
    for table, cls in (("hyperscalers", HyperscalerSpec), ("labs", LabSpec), ("deals", DealSpec)):
        if table in doc:
            rows = doc[table]
            if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
                raise err(table, "must be a non-empty array of tables ([[" + table + "]])")
            kwargs["capacity_deals" if table == "deals" else table] = tuple(
                _record(cls, row, f"{table}[{i}]", err) for i, row in enumerate(rows))
    _check_ids(kwargs, catalog, err)
    try:  # the catalog folder's history fit gives the fitted fields the config leaves unset
        market = MarketConfig.build(catalog.fitted, **kwargs)
    except ValueError as exc:  # the sections' cross-field checks
        match = re.search(r"field '([a-z_]+)'", str(exc))
        field = match.group(1) if match else "market"
        where = f"{SECTION_OF[field]}.{field}" if field in SECTION_OF else f"market.{field}"
        raise err(where, str(exc).split(": ", 1)[-1]) from None
    seeds = _value(sim.get("seeds", 8), int, "simulation.seeds", err)
    first = _value(sim.get("first_seed", 0), int, "simulation.first_seed", err)
    if first < 0:
        raise err("simulation.first_seed", f"must be >= 0, got {first}")
    if first + seeds - 1 > MAX_SEED:
        raise err("simulation.first_seed", f"with seeds = {seeds} the last seed would be {first + seeds - 1}, beyond "
                                           f"{MAX_SEED}, the largest seed --seed can re-run; set first_seed to at "
                                           f"most {MAX_SEED - seeds + 1}")
    chips = _overrides(doc, ("hardware", "chips"), catalog.accelerators, CHIP_OVERRIDES, err, "chip")
    vendors = _overrides(doc, ("vendors",), catalog.vendors, VENDOR_OVERRIDES, err, "vendor")
    raw = {k: v for k, v in doc.items()}
    return Experiment(path.stem, str(path), market, tuple(range(first, first + seeds)), chips, vendors, raw, catalog)


def _table(doc, name, err) -> dict:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise err(name, f"must be a table, got {value!r}")
    return value


def _hint(cls, name):
    return typing.get_type_hints(cls)[name]


def _value(value: Any, hint, where: str, err, bounds: Bounds | None = None):
    """Check a TOML value against a type hint and its range: the field's declared `bounds`, else the range rules of
    its field name; then the general rules on magnitudes and money."""
    name = where.split(".")[-1].split("[")[0]
    origin = typing.get_origin(hint)
    if origin is tuple:
        inner = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise err(where, f"must be an array, got {value!r}")
        return tuple(_value(v, inner, f"{where}[{i}]", err, bounds) for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise err(where, f"must be true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise err(where, f"must be a string, got {value!r}")
        if (name.endswith("_start") or name == "start") and value:
            if not _MONTH.match(value):
                raise err(where, f"must be YYYY-MM, got '{value}'")
            low, high = (FIRST_START, LAST_START) if name == "start" else (FIRST_DATE, LAST_DATE)
            if not low <= value <= high:
                raise err(where, f"must be between {low} and {high}, got '{value}'")
        return value
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise err(where, f"must be a number, got {value!r}")
        if not math.isfinite(value):
            raise err(where, f"must be finite, got {value}")
        written = value  # errors quote the value as written in the file
        if hint is int:
            if isinstance(value, float) and not value.is_integer():
                raise err(where, f"must be a whole number, got {written}")
            value = int(value)
        else:
            value = float(value)
        if bounds is None:
            bounds = Bounds(LOWER.get(name, 0.0), 1.0 if name in FRACTIONS else UPPER.get(name), name in POSITIVE,
                            share=name in FRACTIONS)
        problem = bounds.problem(value)
        if problem:
            raise err(where, f"{problem}, got {written}")
        if is_money(name) and value > MAX_USD:
            raise err(where, f"must be <= {MAX_USD:.0e} USD, got {written}")
        _check_magnitude(value, written, bounds, name, where, err)
        return value
    raise err(where, f"unsupported type {hint}")


def _check_magnitude(value: float, written, bounds: Bounds, name: str, where: str, err) -> None:
    """The general rules: a non-zero number is at least MIN_MAGNITUDE in magnitude, and one that is neither money
    nor bounded above by its own range is at most MAX_MAGNITUDE (see where they are defined)."""
    if value != 0 and abs(value) < MIN_MAGNITUDE:
        allowed = "" if bounds.low_open else "0 or "
        raise err(where, f"must be {allowed}at least {MIN_MAGNITUDE:g} in magnitude (smaller underflows the "
                         f"model's arithmetic), got {written}")
    if abs(value) > MAX_MAGNITUDE and bounds.high is None and not is_money(name):
        raise err(where, f"must be at most {MAX_MAGNITUDE:g} in magnitude (larger overflows the model's "
                         f"arithmetic), got {written}")


def _record(cls, row: dict, where: str, err):
    hints = typing.get_type_hints(cls)
    required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
    for key in row:
        if key not in hints:
            raise err(f"{where}.{key}", f"unknown key (known: {', '.join(hints)})")
    for key in required:
        if key not in row:
            raise err(f"{where}.{key}", "missing")
    return cls(**{k: _value(v, hints[k], f"{where}.{k}", err) for k, v in row.items()})


def _check_ids(kwargs: dict, catalog: Catalog, err) -> None:
    for key in ("serving_workload", "serving_shift_workload"):
        if kwargs.get(key) and kwargs[key] not in catalog.workloads:
            raise err(f"policy.{key}",
                      f"unknown workload '{kwargs[key]}'; valid: {', '.join(sorted(catalog.workloads))}")
    vendor = kwargs.get("price_cap_vendor", "")
    if vendor and vendor not in catalog.vendors:
        raise err("policy.price_cap_vendor", f"unknown vendor '{vendor}'; valid: {', '.join(sorted(catalog.vendors))}")
    for i, spec in enumerate(kwargs.get("hyperscalers", ())):
        if spec.inhouse_vendor and spec.inhouse_vendor not in catalog.vendors:
            raise err(f"hyperscalers[{i}].inhouse_vendor",
                      f"unknown vendor '{spec.inhouse_vendor}'; valid: {', '.join(sorted(catalog.vendors))}")
    _check_regions(kwargs, catalog, err)
    names = [spec.id for spec in kwargs.get("hyperscalers", ())]
    if len(names) != len(set(names)):
        raise err("hyperscalers", f"duplicate id among {', '.join(names)}")
    clouds = names or [spec.id for spec in DEFAULT_HYPERSCALERS]
    disabled = kwargs.get("vendors_disabled", ())
    for i, deal in enumerate(kwargs.get("capacity_deals", ())):
        if deal.buyer not in clouds:
            raise err(f"deals[{i}].buyer", f"unknown cloud '{deal.buyer}'; valid: {', '.join(clouds)}")
        if deal.vendor not in catalog.vendors or deal.vendor in disabled:
            valid = sorted(v for v in catalog.vendors if v not in disabled)
            raise err(f"deals[{i}].vendor", f"unknown or disabled vendor '{deal.vendor}'; valid: {', '.join(valid)}")
    _check_can_trade(kwargs, catalog, err)


def _check_regions(kwargs: dict, catalog: Catalog, err) -> None:
    """Every region a cloud is in or an export control names is a known one (a typo would switch a control off)."""
    known = known_regions([*catalog.vendors.values(), *catalog.regional.vendors.values()])
    named = [(f"hyperscalers[{i}].region", spec.region) for i, spec in enumerate(kwargs.get("hyperscalers", ()))]
    named += [(f"policy.export_control_regions[{i}]", region)
              for i, region in enumerate(kwargs.get("export_control_regions", ()))]
    for where, region in named:
        problem = region_problem(region, known)
        if problem:
            raise err(where, problem)


def _check_can_trade(kwargs: dict, catalog: Catalog, err) -> None:
    """Reject a population that cannot trade before anything runs (it would simulate nothing, then fail)."""
    defaults = MarketConfig()
    clouds = kwargs.get("hyperscalers", defaults.hyperscalers)
    if sum(spec.budget_share for spec in clouds) <= 0:
        raise err("hyperscalers",
                  "every budget_share is 0, so no cloud ever buys a chip; give at least one a share > 0")
    disabled = kwargs.get("vendors_disabled", ())
    for i, vid in enumerate(disabled):
        if vid not in catalog.vendors:
            raise err(f"market.vendors_disabled[{i}]",
                      f"unknown vendor '{vid}'; valid: {', '.join(sorted(catalog.vendors))}")
    start = kwargs.get("start", defaults.start)
    sellers = [c for c in catalog.accelerators.values() if c.vendor not in disabled
               and catalog.vendors[c.vendor].kind in MERCHANT_KINDS and c.release <= start]
    if not sellers:
        raise err("simulation.start" if "start" in kwargs else "market.vendors_disabled",
                  f"no merchant chip is on the market at {start} with these vendors; nothing could be bought")


def _overrides(doc, keys, records, allowed, err, kind) -> dict[str, dict[str, float]]:
    table = doc
    for key in keys:
        table = table.get(key, {}) if isinstance(table, dict) else {}
    prefix = ".".join(keys)
    if not isinstance(table, dict):
        raise err(prefix, "must be a table")
    if keys == ("hardware", "chips"):
        extra = set(doc.get("hardware", {})) - {"chips"}
        if extra:
            raise err(f"hardware.{sorted(extra)[0]}", "unknown key (known: chips)")
    out: dict[str, dict[str, float]] = {}
    for rid, fields in table.items():
        where = f"{prefix}.{rid}"
        if rid not in records:
            raise err(where, f"unknown {kind} '{rid}'; valid: {', '.join(sorted(records))}")
        if not isinstance(fields, dict):
            raise err(where, "must be a table")
        out[rid] = {}
        for key, value in fields.items():
            if key not in allowed:
                raise err(f"{where}.{key}", f"not overridable (allowed: {', '.join(allowed)})")
            hint = int if key == "max_group" else float
            out[rid][key] = _value(value, hint, f"{where}.{key}", err)
    return out


def resolved_values(experiment: Experiment) -> dict[str, Any]:
    """Every resolved value (JSON-friendly), for `validate` and the manifest."""
    market = dataclasses.asdict(experiment.market)
    return {
        "name": experiment.name,
        "file": experiment.path,
        "seeds": list(experiment.seeds),
        "market": market,
        "hardware": {"chips": experiment.chip_overrides},
        "vendors": experiment.vendor_overrides,
    }


def with_value(experiment: Experiment, dotted: str, value: Any, flag: str | None = None) -> Experiment:
    """A copy with one value changed, validated as if written in the file (for sweeps). `flag` is the command-line
    option the value came from ("--set", "--param"): an error then names the option and the value as given
    ("--set supply.capacity_scale=-1: must be > 0, got -1"), not the config file, which is fine."""
    given = f"{flag} {dotted}={as_written(value)}" if flag else None
    table, _, key = dotted.partition(".")
    if not key:
        raise ConfigError(f"{given or experiment.path + ': ' + dotted}: config paths look like table.key (e.g. "
                          "choice.switching_cost)")
    if table == "market" and key in SHORTHAND:  # the shorthand names the field's section
        table = SECTION_OF[key]
    doc = _merge(experiment.raw, {table: _nest(key, value)})
    doc.get("__aliases__", {}).pop(f"{table}.{key}", None)  # the value is now set where the path says
    return _resolve(Path(experiment.path), doc, experiment.base_catalog, experiment.path,
                    (given, f"{table}.{key}") if given else None)


def as_written(value: Any) -> str:
    """A value as it would be typed on the command line (TOML literals: true, -1, 0.5, ["cn"])."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return "[" + ",".join(f'"{v}"' if isinstance(v, str) else as_written(v) for v in value) + "]"
    return str(value)


def _nest(dotted: str, value):
    head, _, rest = dotted.partition(".")
    return {head: _nest(rest, value) if rest else value}
