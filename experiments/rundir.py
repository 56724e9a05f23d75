"""Run directories that know what they hold, and never touch a file the tool did not write.

Every folder compute-market writes (a run, its `.partial` twin while seeds are being computed, a compare,
sweep, validation or sensitivity folder, a hardware report, a CSV export) carries a marker file,
`.compute-market.json`, that says which kind of folder it is, the fingerprint of the inputs it was made from
(for runs) and every file the tool wrote into it, at every depth, with the SHA-256 of its bytes. The rules
built on it:

- a path that exists and lacks the marker is never written into, replaced or deleted (an empty folder is the
  one exception: it is used as asked); a folder whose marker is unreadable is treated the same way;
- a file the tool did not write (at any depth: a note in `figures/`, a spreadsheet in `seeds/`) is never
  deleted or replaced: `--force` and `hardware-report` refuse a folder holding one, `report` writes around it;
- a stored run is reused, and an interrupted one resumed, only when its fingerprint equals the one asked for
  and every file it recorded is still there with the bytes it wrote; a run whose files changed is *damaged*:
  it is refused, and `--force` recomputes it;
- one process at a time writes a folder: an exclusive lock (`fcntl.flock`) on a sibling file
  `.<name>.compute-market.lock`, taken before anything in the folder is checked, replaced or deleted, and
  released by the kernel if the process dies. A second writer is refused with the first one's PID and command.

The fingerprint (`inputs_fingerprint`) covers everything that decides a run's numbers: the resolved config
(months included), the seeds, the catalog contents after overrides (including `--catalog-dir`), the package
version and a hash of the model's source code.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import glob
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hardware_catalog import Catalog

from .errors import UsageError

MARKER = ".compute-market.json"
LEGACY_LOCK = ".compute-market.lock"  # the lock file inside a run folder, before the sibling lock
LOCK_SUFFIX = ".compute-market.lock"
MARKER_FORMAT = 2  # 2: "files" lists every file written, at every depth, with its SHA-256
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
# Source that decides a run's numbers: the model, the catalog, and every module of experiments/ a run's worker
# imports (tests/test_run_folders.py checks that list against what running a seed imports). Presentation code such as
# plots and the CLI is left out, so editing a chart does not invalidate stored runs (figures are redrawn from stored
# tables anyway), and so are the modules below, which a worker imports but which decide none of its numbers.
MODEL_SOURCES = ("market", "agents", "hardware_catalog", "experiments/config.py", "experiments/history_fit.py",
                 "experiments/market_report.py", "experiments/parameter_uncertainty.py", "experiments/runner.py",
                 "experiments/seed.py", "experiments/venture_analysis.py")
NOT_MODEL_SOURCES = ("experiments/__init__.py", "experiments/errors.py", "experiments/rundir.py")
SOURCE_PACKAGES = ("market", "agents", "hardware_catalog", "experiments", "tests")
# Files a worker writes into a stored seed (`seeds/seed-NNNN/`), and the temporary folder it writes them in first.
# The files a worker writes into a stored seed (`seeds/seed-NNNN/`; runner.SEED_TABLES and metrics.json), first in a
# temporary `seeds/.seed-NNNN.PID.tmp/`. They count as the tool's by this layout only in an unfinished run
# (`<name>.partial`): a finished run records every one of its files.
SEED_FILES = ("metrics.json", "model.parquet", "vendors.parquet", "ledger.parquet", "deals.parquet", "funds.parquet",
              "startups.parquet", "network.parquet", "chips.parquet")
_SEED_NAMES = "|".join(re.escape(name) for name in SEED_FILES)
# (file patterns, folder patterns) of what the tool writes below a folder of each kind outside its marker's list
KIND_PATTERNS = {
    "run-partial": ((re.compile(rf"seeds/seed-\d+/({_SEED_NAMES})"), re.compile(r"seeds/\.seed-\d+\.\d+\.tmp/.*")),
                    (re.compile(r"seeds(/seed-\d+|/\.seed-\d+\.\d+\.tmp)?"),)),
    "sensitivity": ((re.compile(r"points/point-\d+\.json"),), (re.compile(r"points"),)),
}
COLLECTIONS = ("compare", "sweep", "validation")  # kinds whose subfolders are runs with markers of their own
# Temporaries the tool makes for a moment at the top of a folder: staging folders and atomic-write files (mkstemp's
# ".tmp-" + 8 characters), and the sibling locks of runs inside a collection.
TRANSIENT = re.compile(r"\.tmp-(results|report-[a-z0-9_]{8}|[a-z0-9_]{8})(/.*)?")
NESTED_LOCK = re.compile(r"\.[^/]+\.compute-market\.lock")


class RunDirError(UsageError):
    """A folder cannot be used as asked; the message names it and says how to proceed."""


# ------------------------------------------------------------------------------------ fingerprints


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
        files = sorted(p for p in path.rglob("*.py") if p.is_file()) if path.is_dir() else [path]
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
        "layout": MARKER_FORMAT,  # runs stored before files were hashed are never reused as intact
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
    old = _flatten({k: v for k, v in stored.items() if k != "hash"})
    new = _flatten({k: v for k, v in wanted.items() if k != "hash"})
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
    return data if isinstance(data, dict) and isinstance(data.get("kind"), str) else None


def _unmarked_reason(folder: Path) -> str:
    """Why a folder without a usable marker is not the tool's: no marker, or a damaged one."""
    if (Path(folder) / MARKER).exists():
        return (f"its marker {MARKER} is damaged, so compute-market cannot tell which files in it are its own and "
                f"will not touch it (move or delete the folder yourself if it is an old run)")
    return f"folder exists and was not made by compute-market (no {MARKER})"


def write_marker(folder: Path, kind: str, inputs: dict[str, Any] | None = None,
                 files: dict[str, str] | None = None, complete: bool = False) -> None:
    """Write the marker; `complete` says a run (or report) finished writing everything it records."""
    payload = {"kind": kind, "tool": "compute-market", "format": MARKER_FORMAT, "version": package_version(),
               "written": datetime.now(UTC).isoformat(timespec="seconds"),
               "inputs": inputs, "complete": complete, "files": dict(sorted((files or {}).items()))}
    atomic_write_text(Path(folder) / MARKER, json.dumps(payload, indent=1, default=str))


def files_below(folder: Path) -> list[str]:
    """Relative POSIX paths of every regular file below `folder` (its marker and temporaries excluded)."""
    folder = Path(folder)
    out = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            rel = (Path(root) / name).relative_to(folder).as_posix()
            if rel != MARKER and not TRANSIENT.fullmatch(rel):
                out.append(rel)
    return out


def record_files(folder: Path, kind: str, inputs: dict[str, Any] | None, hashes: dict[str, str]) -> None:
    """Add files (relative path -> SHA-256) to those the marker of `folder` records as the tool's."""
    marker = read_marker(folder) or {}
    files = dict(marker.get("files") or {}) if marker.get("format") == MARKER_FORMAT else {}
    write_marker(folder, kind, inputs, {**files, **hashes}, complete=bool(marker.get("complete")))


def discard_recorded(folder: Path) -> None:
    """Delete every file the marker of `folder` records (the tool's own, checked by the caller under the lock) and
    forget them, so a replaced analysis leaves nothing of the old one behind."""
    marker = read_marker(folder) or {}
    for rel in recorded_files(folder):
        (Path(folder) / rel).unlink(missing_ok=True)
    write_marker(folder, marker.get("kind", "sensitivity"), marker.get("inputs"), {})


def mark_complete(folder: Path) -> None:
    """Say in the marker that everything the folder records has been written (the last step before promotion)."""
    marker = read_marker(folder) or {}
    write_marker(folder, marker["kind"], marker.get("inputs"), marker.get("files"), complete=True)


def seal(folder: Path, kind: str, inputs: dict[str, Any] | None, written: Iterable[str]) -> None:
    """Record files the tool has just written into `folder` (relative paths; a folder stands for every file
    below it, so pass only folders the tool wrote whole), with their hashes, added to those recorded before."""
    folder = Path(folder)
    hashes = {}
    for rel in written:
        path = folder / rel
        if path.is_dir() and read_marker(path) is not None:
            continue  # a run inside a collection: it records its own files
        if path.is_dir() and not path.is_symlink():
            names = [f"{Path(rel).as_posix()}/{sub}" for sub in files_below(path)]
        else:
            names = [Path(rel).as_posix()]
        hashes.update((name, file_sha256(folder / name)) for name in names)
    record_files(folder, kind, inputs, hashes)


def recorded_files(folder: Path) -> dict[str, str]:
    marker = read_marker(folder) or {}
    return dict(marker.get("files") or {}) if marker.get("format") == MARKER_FORMAT else {}


def _patterns(folder: Path, kind: str) -> tuple[tuple, tuple]:
    key = "run-partial" if kind == "run" and folder.name.endswith(".partial") else kind
    return KIND_PATTERNS.get(key, ((), ()))


def _is_transient(rel: str, kind: str) -> bool:
    return bool(TRANSIENT.fullmatch(rel)) or (kind in COLLECTIONS and bool(NESTED_LOCK.fullmatch(rel)))


def is_legacy(marker: dict[str, Any]) -> bool:
    """A marker of compute-market before files were recorded (format 1): which files are its own is unknown."""
    return marker.get("format") != MARKER_FORMAT


def foreign_entries(folder: Path) -> list[str]:
    """Paths (relative, at any depth) below a marked folder that the tool did not write: a user's note dropped
    into `figures/`, an empty folder of theirs, a symlink, a copy of a run folder. Only a collection (compare, sweep,
    validation) holds subfolders with markers of their own (its runs), each judged by its own marker. A folder of
    the first marker format cannot tell its files from a user's: everything in it counts as foreign."""
    folder = Path(folder)
    marker = read_marker(folder)
    if marker is None or is_legacy(marker):
        return sorted(p.name for p in folder.iterdir() if p.name != MARKER)
    kind = marker["kind"]
    owned = set(marker.get("files") or {})
    files, dirs = _patterns(folder, kind)
    owned_dirs = {ancestor for rel in owned for ancestor in _ancestors(rel)}
    foreign: list[str] = []
    for root, subdirs, names in os.walk(folder):
        here = Path(root).relative_to(folder).as_posix()
        prefix = "" if here == "." else f"{here}/"
        keep = []
        for name in sorted(subdirs):
            rel, path = prefix + name, Path(root) / name
            if not prefix and TRANSIENT.fullmatch(rel):
                continue
            nested = read_marker(path) if not path.is_symlink() else None
            if path.is_symlink():
                foreign.append(rel)
            elif not prefix and kind in COLLECTIONS and nested is not None and nested["kind"] == "run":
                foreign.extend(f"{rel}/{sub}" for sub in foreign_entries(path))
            else:
                if not any(path.iterdir()) and rel not in owned_dirs and not any(p.fullmatch(rel) for p in dirs):
                    foreign.append(rel + "/")
                keep.append(name)
        subdirs[:] = keep
        for name in sorted(names):
            rel = prefix + name
            if rel == MARKER or _is_transient(rel, kind) or rel in owned or any(p.fullmatch(rel) for p in files):
                continue
            foreign.append(rel)
    return foreign


def _ancestors(rel: str) -> list[str]:
    parts = rel.split("/")[:-1]
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def damaged_files(folder: Path) -> list[str]:
    """Recorded files that are missing or whose bytes are not the ones the tool wrote."""
    folder = Path(folder)
    bad = []
    for rel, digest in recorded_files(folder).items():
        path = folder / rel
        try:
            if path.is_symlink() or file_sha256(path) != digest:
                bad.append(rel)
        except OSError:
            bad.append(rel)
    return bad


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file (UTF-8) by writing a temporary sibling and renaming it over the target."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file (a PNG, say) by writing a temporary sibling and renaming it over the target."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are ordinary files
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------------------ checks


def is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def refuse_file(path: Path, option: str = "--out") -> None:
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise RunDirError(f"{option} {path}: is a file{' (a symlink)' if path.is_symlink() else ''}, not a folder; "
                          f"choose a folder path")


def refuse_source_tree(path: Path, option: str = "--out") -> None:
    """Results never go inside the model's own source folders (a folder named `x.py` there would break every run)."""
    resolved = Path(os.path.realpath(path))
    for name in SOURCE_PACKAGES:
        source = PACKAGE_ROOT / name
        if resolved == source or source in resolved.parents:
            raise RunDirError(f"{option} {path}: is inside compute-market's source folder {source}; "
                              f"write results elsewhere, e.g. results/")


def check_parent_writable(path: Path, option: str = "--out") -> None:
    refuse_source_tree(path, option)
    parent = path.parent
    while not parent.exists() and parent != parent.parent:  # the first existing ancestor is where folders will be made
        parent = parent.parent
    if not parent.is_dir():
        raise RunDirError(f"{option} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RunDirError(f"{option} {path}: cannot write in {parent} (permission denied); choose a writable folder")


def _require_own(path: Path, kind: str, option: str) -> None:
    """Refuse a non-empty folder unless it is the tool's own folder of `kind`."""
    marker = read_marker(path)
    if marker is None:
        raise RunDirError(f"{option} {path}: {_unmarked_reason(path)}; it is left untouched: choose a new or empty "
                          f"folder")
    if marker["kind"] != kind:
        raise RunDirError(f"{option} {path}: holds a compute-market {marker['kind']} folder, not a {kind}; "
                          f"choose another folder")


LEGACY_WHY = ("it was made by an older compute-market that did not record which files it wrote, so it cannot tell "
              "them from yours and will not replace or delete it: move or delete it yourself, or choose another folder")


def refuse_current_folder(path: Path, option: str = "--out") -> None:
    """A folder the tool would replace (rename aside, or remove when empty) must not be the shell's current folder or
    one that contains it: the user would be left in a deleted folder."""
    try:
        here = Path(os.path.realpath(os.getcwd()))
    except OSError:
        return
    target = Path(os.path.realpath(path))
    if target == here or target in here.parents:
        raise RunDirError(f"{option} {path}: is your current folder (or contains it), which compute-market would "
                          f"replace as a whole; run the command from another folder, or choose a folder below this one")


def _listing(paths: list[str], most: int = 3) -> str:
    return ", ".join(paths[:most]) + (f" and {len(paths) - most} more" if len(paths) > most else "")


def check_replaceable(path: Path, kind: str, *, option: str = "--out", why: str = "") -> None:
    """Refuse unless `path` is absent, an empty folder, or the tool's own `kind` folder holding only its files."""
    refuse_file(path, option)
    check_parent_writable(path, option)
    if not path.exists():
        return
    if is_empty_dir(path):
        refuse_current_folder(path, option)
        return
    _require_own(path, kind, option)
    if is_legacy(read_marker(path)):
        raise RunDirError(f"{option} {path}: {why}{LEGACY_WHY}")
    foreign = foreign_entries(path)
    if foreign:
        raise RunDirError(f"{option} {path}: {why}it holds files compute-market did not write ({_listing(foreign)}), "
                          f"so it will not be replaced; move them out or choose another folder")
    refuse_current_folder(path, option)


def remove_own(path: Path) -> None:
    """Delete a folder the tool made, file by file: only files it wrote (checked again now), then the folders
    they leave empty. Raises RunDirError, deleting nothing, if the folder holds anything else."""
    path = Path(path)
    if is_empty_dir(path):
        path.rmdir()
        return
    marker = read_marker(path)
    if marker is None:
        raise RunDirError(f"{path}: will not delete a folder compute-market cannot prove it made "
                          f"({_unmarked_reason(path)})")
    if is_legacy(marker):
        raise RunDirError(f"{path}: {LEGACY_WHY}")
    foreign = foreign_entries(path)
    if foreign:
        raise RunDirError(f"{path}: will not delete a folder holding files compute-market did not write "
                          f"({_listing(foreign)}); move them out and run the command again")
    for root, dirs, files in os.walk(path, topdown=False):
        here = Path(root)
        for name in files:
            if here == path and name == MARKER:
                continue  # last, so an interrupted deletion leaves a folder still known as the tool's
            (here / name).unlink()
        for name in dirs:
            sub = here / name
            if sub.is_symlink():  # never reached: a symlink is foreign
                continue
            try:
                sub.rmdir()
            except OSError:  # a file appeared since the check: leave it (and the folders above it)
                pass
    leftover = [p for p in path.iterdir() if p.name != MARKER]
    if leftover:
        names = _listing([p.name for p in leftover])
        raise RunDirError(f"{path}: files appeared while it was being deleted ({names}); "
                          f"they were kept: move them out and run the command again")
    (path / MARKER).unlink(missing_ok=True)
    path.rmdir()


def promote(source: Path, target: Path) -> None:
    """Put the finished folder `source` at `target` (absent, an empty folder, or the tool's own folder, checked by
    the caller under the lock): the old folder is renamed aside first, so `target` always names a whole folder."""
    aside = None
    if target.exists():
        if is_empty_dir(target):
            target.rmdir()
        else:
            aside = target.with_name(f".{target.name}.old-{os.getpid()}")
            target.rename(aside)
    source.rename(target)
    if aside is not None:
        remove_own(aside)


def clear_leftovers(target: Path) -> None:
    """Delete what a killed process left beside `target` (an old folder renamed aside, a staging folder), if it
    holds only the tool's files; called under the lock."""
    for stale in target.parent.glob(f".{glob.escape(target.name)}.old-*"):
        if stale.is_dir() and not stale.is_symlink() and read_marker(stale) is not None and not foreign_entries(stale):
            remove_own(stale)


def check_collection(path: Path, kind: str, option: str = "--out") -> None:
    """A folder that gathers several runs (compare, sweep) must be absent, empty, or the tool's own of `kind`."""
    refuse_file(path, option)
    check_parent_writable(path, option)
    holder = lock_holder(path)
    if holder:
        raise RunDirError(f"{option} {path}: {holder} is writing it now; wait for it to finish, or choose another "
                          f"{option}")
    if path.exists() and not is_empty_dir(path):
        _require_own(path, kind, option)


_COMMAND_LOCKS: list[FolderLock] = []  # locks held until the command ends (release_command_locks)


def lock_collection(path: Path, kind: str, option: str = "--out") -> Path:
    """Take the lock of a collection folder (compare, sweep, validation, sensitivity) for the rest of the command,
    before anything in it is replaced or deleted, and check it again under the lock."""
    path = Path(os.path.abspath(path))
    check_collection(path, kind, option)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FolderLock(path, option)
    lock.__enter__()
    _COMMAND_LOCKS.append(lock)
    check_collection(path, kind, option)
    return path


def release_command_locks() -> None:
    while _COMMAND_LOCKS:
        _COMMAND_LOCKS.pop().__exit__(None, None, None)


def prepare_collection(path: Path, kind: str, option: str = "--out") -> Path:
    """Lock a collection folder for the rest of the command, then create and mark it, or reuse it if it is the
    tool's own of `kind`."""
    path = lock_collection(path, kind, option)
    if not path.exists() or is_empty_dir(path):
        path.mkdir(parents=True, exist_ok=True)
        write_marker(path, kind)
    return path


def edited_files(folder: Path) -> list[str]:
    """Recorded files still there whose bytes are not the ones the tool wrote: someone changed them since."""
    edited = []
    for rel in damaged_files(folder):
        path = Path(folder) / rel
        if path.is_symlink() or path.exists():
            edited.append(rel)
    return edited


def refuse_edited(out: Path, option: str) -> None:
    """Refuse to replace the tool's folder `out` while a file it wrote there has been changed since (a user's edit is
    the user's work, though the file was the tool's)."""
    edited = edited_files(out) if out.is_dir() else []
    if edited:
        them = "it" if len(edited) == 1 else "them"
        raise RunDirError(f"{option} {out}: {_listing(edited)} changed since compute-market wrote {them}, so it will "
                          f"not replace the folder; move {them} out or choose another folder")


@contextmanager
def atomic_directory(out: Path, kind: str, option: str = "--out") -> Iterator[Path]:
    """Yield a temporary folder that replaces `out` only if the block finishes without error.

    `out` must be absent, empty, or the tool's own `kind` folder with nothing foreign in it at any depth and none of
    its files changed since it wrote them (checked before the block runs and again, under the folder's lock, before
    replacing). An interrupted or failed block leaves `out` as it was.
    """
    out = Path(os.path.abspath(out))

    def check() -> None:
        check_replaceable(out, kind, option=option)
        refuse_edited(out, option)

    check()
    out.parent.mkdir(parents=True, exist_ok=True)
    with FolderLock(out, option):
        clear_leftovers(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a report is an ordinary folder
        try:
            yield tmp
            seal(tmp, kind, None, files_below(tmp))
            mark_complete(tmp)
            check()
            promote(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


# ------------------------------------------------------------------------------------ one writer at a time


def lock_file(folder: Path) -> Path:
    """The lock of `folder`: a sibling file, so that nothing done to the folder itself can delete it."""
    folder = Path(os.path.realpath(folder))  # one lock per folder, whichever name (or symlink) it is reached by
    return folder.parent / f".{folder.name}{LOCK_SUFFIX}"


_HELD: dict[str, list] = {}  # lock path -> [fd, count] for the locks this process holds (re-entrant)


def _holder_text(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 65536).decode() or "{}")
        return f"another compute-market process (PID {info['pid']}: {info['command']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another compute-market process"


def _is_lock_text(fd: int) -> bool:
    """The lock file holds nothing, or the holder record the tool writes (so a user's file there is never taken)."""
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 65536)
    if not text:
        return True
    try:
        return "pid" in json.loads(text.decode())
    except (ValueError, UnicodeDecodeError, TypeError):
        return False


def _open_lock(path: Path, folder: Path, option: str, create: bool) -> int | None:
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    try:
        return os.open(path, flags, 0o644)
    except FileNotFoundError:
        if create:
            raise
        return None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise RunDirError(f"{option} {folder}: the folder name is too long (compute-market needs "
                              f"{len(path.name) - len(folder.name)} more characters beside it for its lock); "
                              f"choose a shorter name") from None
        if exc.errno in (errno.ELOOP, errno.EISDIR):
            raise RunDirError(f"{option} {folder}: {path} is in the way of compute-market's lock file (a symlink or "
                              f"a folder); move it, or choose another {option}") from None
        raise


def lock_holder(folder: Path, option: str = "--out") -> str | None:
    """Who holds `folder`'s lock now ("another compute-market process (PID ...)"), or None if nobody else does. A lock
    file left by a killed process is removed (under its lock, as a holder removes it)."""
    import fcntl

    path = lock_file(folder)
    if str(path) in _HELD:
        return None
    fd = _open_lock(path, Path(folder), option, create=False)
    if fd is None:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return _holder_text(fd)
        with suppress(OSError):
            if os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino and _is_lock_text(fd):
                path.unlink()  # stale: its holder died without removing it
        return None
    finally:
        os.close(fd)


class FolderLock:
    """An exclusive lock on writing `folder` (a run, its partial twin, a collection, a report), taken before the
    folder is checked, replaced or deleted. It is an flock on the sibling `.<name>.compute-market.lock`, which
    holds the holder's PID and command; the kernel releases it if the process dies. The file is removed on
    release (after checking it is still the one locked, so a waiting process never locks a deleted file)."""

    def __init__(self, folder: Path, option: str = "--out"):
        self.folder, self.option = Path(os.path.abspath(folder)), option
        self.path = lock_file(self.folder)

    def __enter__(self) -> FolderLock:
        import fcntl

        key = str(self.path)
        if key in _HELD:
            _HELD[key][1] += 1
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = _open_lock(self.path, self.folder, self.option, create=True)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _holder_text(fd)
                os.close(fd)
                other = f" or choose another {self.option}" if self.option.startswith("--") else ""
                raise RunDirError(f"{self.option} {self.folder}: {holder} is writing it now; wait for it to finish "
                                  f"(then run the same command again){other}") from None
            if not _is_lock_text(fd):
                os.close(fd)
                raise RunDirError(f"{self.option} {self.folder}: {self.path} is a file of yours in the way of "
                                  f"compute-market's lock file; move it, or choose another folder name")
            try:
                current = os.stat(self.path, follow_symlinks=False).st_ino
            except FileNotFoundError:
                current = None
            if current == os.fstat(fd).st_ino:
                break
            os.close(fd)  # the file was removed by the previous holder after we opened it: open it anew
        command = " ".join(["compute-market", *sys.argv[1:]])[:500]
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "command": command,
                                 "since": datetime.now(UTC).isoformat(timespec="seconds")}).encode())
        _HELD[key] = [fd, 1]
        return self

    def __exit__(self, *exc) -> None:
        key = str(self.path)
        held = _HELD.get(key)
        if held is None:
            return
        held[1] -= 1
        if held[1] == 0:
            del _HELD[key]
            try:
                if os.stat(self.path, follow_symlinks=False).st_ino == os.fstat(held[0]).st_ino:
                    self.path.unlink()
            except OSError:
                pass
            os.close(held[0])  # closing releases the flock


# ------------------------------------------------------------------------------------ runs


@dataclasses.dataclass
class RunTarget:
    """Where a run goes and what is there now."""

    out: Path
    partial: Path
    reuse: bool  # `out` already holds a complete, intact run of these inputs
    replace_out: bool = False  # `out` holds a run to be replaced (--force: other inputs, or damaged)
    discard_partial: bool = False  # `out.partial` holds an interrupted run to be discarded (--force)


def partial_of(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def _stored_inputs(folder: Path) -> dict[str, Any] | None:
    marker = read_marker(folder)
    return marker.get("inputs") if marker else None


def run_state(path: Path, inputs: dict[str, Any]) -> str:
    """'absent', 'empty', 'same' (a run, complete or resumable, of these inputs), 'different' or 'foreign'."""
    if not path.exists() and not path.is_symlink():
        return "absent"
    if path.is_symlink() or not path.is_dir():
        return "foreign"
    if is_empty_dir(path):
        return "empty"
    marker = read_marker(path)
    if marker is None or marker["kind"] != "run":
        return "foreign"
    stored = marker.get("inputs") or {}
    return "same" if stored.get("hash") == inputs["hash"] else "different"


def complete_and_intact(out: Path) -> tuple[bool, list[str]]:
    """(is `out` a finished, intact run; the recorded files of it that are missing or changed)."""
    damaged = damaged_files(out)
    if "manifest.json" not in recorded_files(out) or not (read_marker(out) or {}).get("complete"):
        damaged.insert(0, "manifest.json")
    return not damaged, damaged


def check_run_target(out: Path, inputs: dict[str, Any], *, force: bool, option: str = "--out") -> RunTarget:
    """Decide, before any computation, whether a run may go to `out`; raise RunDirError if not. Called once before
    the lock (so refusals cost nothing) and again under it (so the decision holds)."""
    out = Path(os.path.abspath(out))
    partial = partial_of(out)
    refuse_file(out, option)
    check_parent_writable(out, option)
    holder = lock_holder(out)
    if holder:
        raise RunDirError(f"{option} {out}: {holder} is writing this run now; wait for it to finish (then run the "
                          f"same command again to reuse its results) or choose another {option}")
    state = run_state(out, inputs)
    target = RunTarget(out, partial, reuse=False)
    if state == "foreign":
        kind = (read_marker(out) or {}).get("kind")
        what = f"holds a compute-market {kind} folder, not a run" if kind else _unmarked_reason(out).replace(
            "was not made by compute-market", "is not a compute-market run directory")
        raise RunDirError(f"{option} {out}: {what}; it is left untouched: choose a new or empty folder")
    if state in ("empty", "different"):
        refuse_current_folder(out, option)
    if state == "same":
        intact, damaged = complete_and_intact(out)
        if intact:
            target.reuse = True
            return target
        if not force:
            raise RunDirError(f"{option} {out}: holds a damaged run of these inputs ({_listing(damaged)} missing or "
                              f"changed since it was written); use --force to recompute it, or choose another {option}")
        check_replaceable(out, "run", option=option, why="--force: ")
        refuse_current_folder(out, option)
        target.replace_out = True
    if state in ("same", "different") and is_legacy(read_marker(out)):
        raise RunDirError(f"{option} {out}: {LEGACY_WHY}")
    if state == "different":
        if not force:
            diff = describe_difference(_stored_inputs(out) or {}, inputs)
            raise RunDirError(f"{option} {out}: holds a run of different inputs ({diff}); "
                              f"use --force to replace it, or choose another {option}")
        check_replaceable(out, "run", option=option, why="--force: ")
        target.replace_out = True
    if partial.exists() or partial.is_symlink():
        refuse_file(partial, "run folder")
        pstate = run_state(partial, inputs)
        if pstate == "foreign":
            raise RunDirError(f"{partial}: {_unmarked_reason(partial)}; it is left untouched: move it or choose "
                              f"another {option}")
        if pstate in ("same", "different") and is_legacy(read_marker(partial)):
            raise RunDirError(f"{partial}: {LEGACY_WHY}")
        if pstate == "different":
            if not force:
                diff = describe_difference(_stored_inputs(partial) or {}, inputs)
                raise RunDirError(f"{partial}: holds an interrupted run of different inputs ({diff}); "
                                  f"use --force to discard it, or choose another {option}")
            check_replaceable(partial, "run", option="run folder", why="--force: ")
            target.discard_partial = True
        elif pstate == "same" and force and target.replace_out:
            check_replaceable(partial, "run", option="run folder", why="--force: ")
            target.discard_partial = True  # recomputing a damaged run starts from nothing
    return target


def numbered_default(default: Path, inputs: dict[str, Any]) -> tuple[Path, str]:
    """For a default --out: the default itself if free or holding this run, else the first numbered sibling
    (`baseline-2`, `baseline-3`, ...) that is. Returns the path and, when it is not the default, why."""
    default = Path(os.path.abspath(default))
    candidate, n = default, 1
    while True:
        states = {run_state(candidate, inputs), run_state(partial_of(candidate), inputs)}
        if states <= {"absent", "empty", "same"} and not lock_holder(candidate):
            if n == 1:
                return candidate, ""
            return candidate, (f"{default} holds a different run (or is not a run folder, or another process is "
                               f"writing it), so this run goes to {candidate}; pass --out to choose, or --force to "
                               f"replace the default")
        n += 1
        candidate = default.with_name(f"{default.name}-{n}")
