"""Run directories that know what they hold, and never touch a folder the tool did not make.

Every folder compute-market writes (a run, its `.partial` twin while seeds are being computed, a compare
or sweep folder, a hardware report, a CSV export) carries a marker file, `.compute-market.json`, that
says which kind of folder it is, the fingerprint of the inputs it was made from (for runs) and which
entries the tool wrote into it. The rules built on it:

- a path that exists and lacks the marker is never written into, replaced or deleted (an empty folder
  is the one exception: it is used as asked);
- a stored run is reused, and an interrupted one resumed, only when its fingerprint equals the one asked
  for; otherwise the command is refused before any computation, with what differs and how to proceed;
- `--force` replaces only the tool's own folders, and only when they hold nothing the tool did not write;
- a lock (`fcntl.flock` on a file inside the folder, released by the kernel when the process dies) keeps
  two processes from writing one run directory at once.

The fingerprint (`inputs_fingerprint`) covers everything that decides a run's numbers: the resolved
config (months included), the seeds, the catalog contents after overrides (including `--catalog-dir`),
the package version and a hash of the model's source code.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hardware_catalog import Catalog

from .errors import UsageError

MARKER = ".compute-market.json"
LOCK = ".compute-market.lock"
TOOL_FILES = {MARKER, LOCK}
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
# Source that decides a run's numbers (presentation code such as plots and the CLI is left out, so
# editing a chart does not invalidate stored runs; figures are redrawn from stored tables anyway).
MODEL_SOURCES = ("market", "agents", "hardware_catalog", "experiments/market_report.py",
                 "experiments/venture_analysis.py")


class RunDirError(UsageError):
    """A folder cannot be used as asked; the message names it and says how to proceed."""


# ------------------------------------------------------------------------------------ fingerprints


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def catalog_fingerprint(catalog: Catalog) -> str:
    """Hash of the catalog's records (after any config overrides), wherever they were read from."""
    parts = [f"{f.name}={getattr(catalog, f.name)!r}" for f in dataclasses.fields(catalog) if f.name != "data_dir"]
    return _sha256("\n".join(parts))


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Hash of the model's source files (so an edited model never reuses runs of the old one)."""
    digest = hashlib.sha256()
    for name in MODEL_SOURCES:
        path = PACKAGE_ROOT / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(PACKAGE_ROOT)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def package_version() -> str:
    try:
        return importlib.metadata.version("compute-market")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def inputs_fingerprint(config: dict[str, Any], seeds: list[int], catalog: Catalog) -> dict[str, Any]:
    """Everything that decides a run's results, JSON-friendly, with its hash under "hash"."""
    inputs = {
        "config": json.loads(json.dumps(config, default=str)),  # tuples -> lists, as stored
        "seeds": list(seeds),
        "catalog": catalog_fingerprint(catalog),
        "code": code_fingerprint(),
        "version": package_version(),
    }
    return {**inputs, "hash": _sha256(json.dumps(inputs, sort_keys=True, default=str))}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _short(value: Any) -> str:
    if isinstance(value, list) and len(value) > 4:
        return f"[{value[0]}..{value[-1]}] ({len(value)})"
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value[:8]
    return json.dumps(value, default=str)


NAMES = {"code": "model code", "catalog": "catalog contents", "version": "package version"}


def describe_difference(stored: dict[str, Any], wanted: dict[str, Any], most: int = 3) -> str:
    """'config.market.months 36 -> 24; seeds [0..7] (8) -> [5]', for refusal messages."""
    old, new = _flatten({k: v for k, v in stored.items() if k != "hash"}), _flatten({k: v for k, v in wanted.items() if k != "hash"})
    keys = [k for k in sorted(set(old) | set(new)) if old.get(k, "(absent)") != new.get(k, "(absent)")]
    if not keys:
        return "stored inputs unreadable"
    shown = []
    for key in keys[:most]:
        label = NAMES.get(key, key.removeprefix("config."))
        if key in NAMES:
            shown.append(f"{label} changed")
        else:
            shown.append(f"{label} {_short(old.get(key, '(absent)'))} -> {_short(new.get(key, '(absent)'))}")
    more = f"; and {len(keys) - most} more" if len(keys) > most else ""
    return "; ".join(shown) + more


# ------------------------------------------------------------------------------------ markers


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The folder's marker, or None when it has none (an unreadable marker is treated as foreign)."""
    try:
        data = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "kind" in data else None


def write_marker(folder: Path, kind: str, inputs: dict[str, Any] | None = None, entries: list[str] | None = None) -> None:
    payload = {"kind": kind, "tool": "compute-market", "version": package_version(),
               "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "inputs": inputs, "entries": sorted(entries or [])}
    atomic_write_text(Path(folder) / MARKER, json.dumps(payload, indent=2, default=str))


def seal(folder: Path, kind: str, inputs: dict[str, Any] | None, written: Iterable[str]) -> None:
    """Record the entries the tool has written into `folder` (added to those it recorded before)."""
    before = (read_marker(folder) or {}).get("entries") or []
    write_marker(folder, kind, inputs, sorted(set(before) | set(written)))


def foreign_entries(folder: Path) -> list[str]:
    """Entries of a marked folder that the tool did not write (a user's notes dropped into a run, say)."""
    marker = read_marker(folder) or {}
    ours = set(marker.get("entries") or []) | TOOL_FILES
    return sorted(p.name for p in Path(folder).iterdir() if p.name not in ours and not p.name.startswith(".tmp-"))


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file by writing a temporary sibling and renaming it over the target."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------------------ checks


def is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def refuse_file(path: Path, option: str = "--out") -> None:
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{option} {path}: is a file, not a folder; choose a folder path")


def check_parent_writable(path: Path, option: str = "--out") -> None:
    parent = path.parent
    while not parent.exists():  # the first existing ancestor is where folders will be created
        parent = parent.parent
    if not parent.is_dir():
        raise RunDirError(f"{option} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RunDirError(f"{option} {path}: cannot write in {parent} (permission denied); choose a writable folder")


def _require_own(path: Path, kind: str, option: str) -> None:
    """Refuse a non-empty folder unless it is the tool's own folder of `kind`."""
    marker = read_marker(path)
    if marker is None:
        raise RunDirError(f"{option} {path}: folder exists and was not made by compute-market (no {MARKER}); "
                          f"it is left untouched: choose a new or empty folder")
    if marker["kind"] != kind:
        raise RunDirError(f"{option} {path}: holds a compute-market {marker['kind']} folder, not a {kind}; "
                          f"choose another folder")


def check_replaceable(path: Path, kind: str, *, option: str = "--out", why: str = "") -> None:
    """Refuse unless `path` is absent, an empty folder, or the tool's own `kind` folder holding only its files."""
    refuse_file(path, option)
    check_parent_writable(path, option)
    if not path.exists() or is_empty_dir(path):
        return
    _require_own(path, kind, option)
    foreign = foreign_entries(path)
    if foreign:
        raise RunDirError(f"{option} {path}: {why}it holds files compute-market did not write ({', '.join(foreign[:3])}"
                          f"{', ...' if len(foreign) > 3 else ''}), so it will not be replaced; move them or choose another folder")


def remove_own(path: Path) -> None:
    """Delete a folder the tool made (checked: marker present, nothing foreign), or an empty folder."""
    if is_empty_dir(path):
        path.rmdir()
        return
    marker = read_marker(path)
    if marker is None or foreign_entries(path):  # re-checked at the moment of deletion
        raise RunDirError(f"{path}: will not delete a folder holding files compute-market did not write")
    shutil.rmtree(path)


def check_collection(path: Path, kind: str, option: str = "--out") -> None:
    """A folder that gathers several runs (compare, sweep) must be absent, empty, or the tool's own of `kind`."""
    refuse_file(path, option)
    check_parent_writable(path, option)
    if path.exists() and not is_empty_dir(path):
        _require_own(path, kind, option)


def prepare_collection(path: Path, kind: str, option: str = "--out") -> Path:
    """Create and mark a collection folder, or reuse it if it is the tool's own of `kind`."""
    check_collection(path, kind, option)
    if not path.exists() or is_empty_dir(path):
        path.mkdir(parents=True, exist_ok=True)
        write_marker(path, kind)
    return path


@contextmanager
def atomic_directory(out: Path, kind: str, option: str = "--out") -> Iterator[Path]:
    """Yield a temporary folder that replaces `out` only if the block finishes without error.

    `out` must be absent, empty, or the tool's own `kind` folder with nothing foreign in it (checked before
    the block runs and again before replacing). An interrupted or failed block leaves `out` as it was.
    """
    out = Path(os.path.abspath(out))
    check_replaceable(out, kind, option=option)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield tmp
        seal(tmp, kind, None, [p.name for p in tmp.iterdir()])
        if out.exists():
            check_replaceable(out, kind, option=option)
            remove_own(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ------------------------------------------------------------------------------------ runs


@dataclasses.dataclass
class RunTarget:
    """Where a run goes and what is there now."""

    out: Path
    partial: Path
    reuse: bool  # `out` already holds a complete run of these inputs


def partial_of(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def _stored_inputs(folder: Path) -> dict[str, Any] | None:
    marker = read_marker(folder)
    return marker.get("inputs") if marker else None


def run_state(path: Path, inputs: dict[str, Any]) -> str:
    """'absent', 'empty', 'same' (a complete or resumable run of these inputs), 'different' or 'foreign'."""
    if not path.exists():
        return "absent"
    if not path.is_dir():
        return "foreign"
    if is_empty_dir(path):
        return "empty"
    marker = read_marker(path)
    if marker is None or marker["kind"] != "run":
        return "foreign"
    stored = marker.get("inputs") or {}
    return "same" if stored.get("hash") == inputs["hash"] else "different"


def check_run_target(out: Path, inputs: dict[str, Any], *, force: bool, option: str = "--out") -> RunTarget:
    """Decide, before any computation, whether a run may go to `out`; raise RunDirError if not."""
    out = Path(os.path.abspath(out))
    partial = partial_of(out)
    refuse_file(out, option)
    check_parent_writable(out, option)
    state = run_state(out, inputs)
    if state == "foreign":
        kind = (read_marker(out) or {}).get("kind")
        what = f"holds a compute-market {kind} folder, not a run" if kind else \
            f"folder exists and is not a compute-market run directory (no {MARKER})"
        raise RunDirError(f"{option} {out}: {what}; it is left untouched: choose a new or empty folder")
    if state == "same" and (out / "manifest.json").exists():
        return RunTarget(out, partial, reuse=True)
    if state == "different":
        if not force:
            diff = describe_difference(_stored_inputs(out) or {}, inputs)
            raise RunDirError(f"{option} {out}: holds a run of different inputs ({diff}); "
                              f"use --force to replace it, or choose another {option}")
        check_replaceable(out, "run", option=option, why="--force: ")
    if partial.exists():
        refuse_file(partial, "run folder")
        pstate = run_state(partial, inputs)
        if pstate == "foreign":
            raise RunDirError(f"{partial}: exists and was not made by compute-market; it is left untouched: "
                              f"move it or choose another {option}")
        if pstate == "different":
            if not force:
                diff = describe_difference(_stored_inputs(partial) or {}, inputs)
                raise RunDirError(f"{partial}: holds an interrupted run of different inputs ({diff}); "
                                  f"use --force to discard it, or choose another {option}")
            check_replaceable(partial, "run", option="run folder", why="--force: ")
    return RunTarget(out, partial, reuse=False)


def numbered_default(default: Path, inputs: dict[str, Any]) -> tuple[Path, str]:
    """For a default --out: the default itself if free or holding this run, else the first numbered sibling
    (`baseline-2`, `baseline-3`, ...) that is. Returns the path and, when it is not the default, why."""
    default = Path(os.path.abspath(default))
    candidate, n = default, 1
    while True:
        states = {run_state(candidate, inputs), run_state(partial_of(candidate), inputs)}
        if states <= {"absent", "empty", "same"}:
            if n == 1:
                return candidate, ""
            return candidate, (f"{default} holds a different run (or is not a run folder), so this run goes to "
                               f"{candidate}; pass --out to choose, or --force to replace the default")
        n += 1
        candidate = default.with_name(f"{default.name}-{n}")


class RunLock:
    """An exclusive lock on a run's partial folder, held while seeds are computed and the run is finalised."""

    def __init__(self, partial: Path, out: Path):
        self.partial, self.out, self.handle = partial, out, None

    def __enter__(self) -> RunLock:
        import fcntl

        self.handle = open(self.partial / LOCK, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self.handle.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise RunDirError(f"{self.out}: another compute-market process is writing this run now; "
                                  f"wait for it to finish (then re-run to reuse its results) or choose another --out") from None
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.handle is not None:
            self.handle.close()  # closing releases the flock
