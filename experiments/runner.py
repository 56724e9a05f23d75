"""The ensemble runner: seeds on local worker processes or a Dask cluster, resumable run directories.

A run writes into `<out>.partial/`: every finished seed is stored atomically as `seeds/seed-NNNN/`
(Parquet tables + metrics.json), so an interrupted ensemble resumes by skipping stored seeds. When
all seeds are in, the aggregate tables, figures, summary and manifest are written and the folder is
renamed to `<out>`; only a complete run carries that name.

Both folders carry the fingerprint of their inputs (experiments.rundir): a stored run is reused, and an
interrupted one resumed, only for the same inputs; anything else is refused before computing.
"""

from __future__ import annotations

import atexit
import importlib.metadata
import json
import multiprocessing
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from hardware_catalog import Catalog, load_catalog
from market.config import MarketConfig

from . import rundir
from .config import Experiment, resolved_values
from .errors import Interrupted, UsageError
from .market_report import write_market_files
from .parameter_uncertainty import config_for_seed, stored_draws_for
from .seed import SeedResult, run_seed

SEED_TABLES = {
    "model_table": "model.parquet",
    "vendor_table": "vendors.parquet",
    "ledger_monthly": "ledger.parquet",
    "deals": "deals.parquet",
    "funds": "funds.parquet",
    "startups": "startups.parquet",
    "network": "network.parquet",
    "chip_table": "chips.parquet",
}
assert set(SEED_TABLES.values()) | {"metrics.json"} == set(rundir.SEED_FILES), "rundir.SEED_FILES is out of date"
PACKAGES = ("compute-market", "mesa", "numpy", "pandas", "networkx", "matplotlib", "scipy", "powerlaw", "pyarrow")


class BackendUnavailable(UsageError):
    """The requested backend cannot run here (message says how to install or reach it)."""


def seed_dir(seeds_dir: Path, seed: int) -> Path:
    return seeds_dir / f"seed-{seed:04d}"


def run_seed_to_dir(config: MarketConfig, catalog: Catalog, seed: int, seeds_dir: str,
                    draws: Sequence[dict[str, float]] = ()) -> int:
    """Run one seed and store it atomically (temporary folder, then rename), with the SHA-256 of each table in its
    metrics.json so a damaged seed is recognised on resume. With parameter `draws`, the seed runs with its draw
    (experiments.parameter_uncertainty.config_for_seed). Returns the seed."""
    result = run_seed(config_for_seed(config, draws, seed), seed, catalog)
    final = seed_dir(Path(seeds_dir), seed)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    with naming_failures(tmp):
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()  # not parents: if the run folder is gone (replaced meanwhile), this seed is not stored anywhere
        files = {}
        for attribute, name in SEED_TABLES.items():
            table = getattr(result, attribute)
            if table is not None:
                table.to_parquet(tmp / name, index=False)
                files[name] = rundir.file_sha256(tmp / name)
        meta = {"seed": seed, "metrics": result.metrics, "events": result.events, "seconds": result.seconds,
                "reputation": {str(k): v for k, v in (result.reputation or {}).items()}, "files": files}
        (tmp / "metrics.json").write_text(json.dumps(meta))
        if final.exists():  # another worker finished the same seed first (a re-submitted task): keep one copy
            shutil.rmtree(tmp)
        else:
            tmp.rename(final)
    return seed


@contextmanager
def naming_failures(folder: Path) -> Iterator[None]:
    """An OSError that names no file (a full disk seen by pyarrow, say) is re-raised naming `folder`."""
    try:
        yield
    except OSError as exc:
        if exc.filename:
            raise
        raise OSError(exc.errno, exc.strerror or str(exc) or type(exc).__name__, str(folder)) from None


def seed_is_intact(folder: Path) -> bool:
    """A stored seed whose metrics.json reads and whose tables have the bytes it recorded."""
    try:
        files = json.loads((folder / "metrics.json").read_text())["files"]
        return all(rundir.file_sha256(folder / name) == digest for name, digest in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def discard_damaged_seeds(seeds_dir: Path) -> list[int]:
    """Delete stored seeds of an interrupted run whose files are damaged (only the files a seed is made of; a
    seed folder holding anything else is refused), so they are computed again. Returns their numbers."""
    damaged = []
    for folder in sorted(seeds_dir.glob("seed-*")):
        if not folder.is_dir() or folder.is_symlink() or seed_is_intact(folder):
            continue
        names = {"metrics.json", *SEED_TABLES.values()}
        others = [p.name for p in folder.iterdir() if p.name not in names or not p.is_file()]
        if others:
            raise rundir.RunDirError(f"{folder}: a damaged stored seed that also holds files compute-market did not "
                                     f"write ({', '.join(others[:3])}); move them out and run the command again")
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
        damaged.append(int(folder.name.split("-")[1]))
    return damaged


def _seed_task(args: tuple) -> int:
    return run_seed_to_dir(*args)


def _ignore_sigint() -> None:
    """Worker processes leave Ctrl-C to the parent, which stops them (no traceback from each worker), and die with
    their parent (the fork server, which ends with the command): a worker of a killed command never goes on to
    store a seed into a folder that another command may by then own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    die_with_parent()


PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h)


def die_with_parent(signum: int = signal.SIGKILL) -> None:
    """Ask Linux to send `signum` to this process when its parent ends (no-op elsewhere)."""
    import ctypes
    import ctypes.util

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    except (OSError, AttributeError):
        return


def read_stored(path: Path, reader: Callable[[Path], Any]) -> Any:
    """Read one stored file of a run folder; a missing or damaged file is a one-line UsageError naming it."""
    try:
        return reader(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise UsageError(f"{path}: missing or damaged ({reason}); the run folder is unusable: "
                         f"re-run the command that made it with --force to recompute it") from None


def _read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def load_seed(folder: Path) -> SeedResult:
    meta = read_stored(folder / "metrics.json", _read_json)
    tables = {attr: (read_stored(folder / name, pd.read_parquet) if (folder / name).exists() else None)
              for attr, name in SEED_TABLES.items()}
    try:
        return SeedResult(
            seed=meta["seed"], metrics=meta["metrics"], events=meta["events"], seconds=meta["seconds"],
            reputation={int(k): v for k, v in meta["reputation"].items()} or None, **tables,
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UsageError(f"{folder / 'metrics.json'}: damaged (fields missing); re-run with --force to recompute "
                         "it") from None


def stored_seeds(seeds_dir: Path) -> set[int]:
    if not seeds_dir.exists():
        return set()
    return {int(p.name.split("-")[1]) for p in seeds_dir.iterdir()
            if p.name.startswith("seed-") and (p / "metrics.json").exists()}


def _quiet_orphan_start(kind, value, traceback) -> None:
    """The fork server's hook for a worker that fails while starting: one started for a pool its command has just
    stopped (Ctrl-C, SIGHUP) finds the pool's semaphores or pipes gone, and ends quietly instead of printing a
    traceback after the command's closing line. Any other failure is printed as usual."""
    if isinstance(value, FileNotFoundError | EOFError | ConnectionError):
        return
    sys.__excepthook__(kind, value, traceback)


if sys.argv == ["-c"] and "multiprocessing.forkserver" in sys.modules:  # this module preloaded into the fork server
    sys.excepthook = _quiet_orphan_start

_POOLS: dict[int, Any] = {}  # worker count -> a pool of worker processes kept for the rest of this process


def worker_pool(workers: int):
    """A pool of `workers` processes, started once and reused by every later run, report and sensitivity point of
    this process; closed at exit. Workers are forked from a fork server that has imported the model once
    (forkserver with a preload): each starts with its imports done, where a spawned worker spends ~2 s on them.
    Not plain fork: the parent may already run threads (pyarrow, Dask), and forking those can deadlock; the fork
    server is a fresh single-threaded process."""
    pool = _POOLS.get(workers)
    if pool is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["experiments.runner"])
        _start_helpers_deaf_to_the_terminal()
        pool = _POOLS[workers] = context.Pool(workers, initializer=_ignore_sigint)
    return pool


def _start_helpers_deaf_to_the_terminal() -> None:
    """Start multiprocessing's fork server and resource tracker with SIGINT and SIGHUP ignored (a disposition they
    keep across exec). Ctrl-C or a closed terminal signals the whole process group; the command handles it and
    stops its workers, and these helpers end when it does. Otherwise a Ctrl-C in the first seconds (while the fork
    server imports the model) or a SIGHUP prints their tracebacks after the command's one line."""
    import threading
    from multiprocessing import forkserver, resource_tracker

    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()
        return
    deaf = [s for s in (signal.SIGINT, getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in deaf}
    try:
        resource_tracker.ensure_running()
        forkserver.ensure_running()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def discard_pool(workers: int) -> None:
    """Stop a pool now (Ctrl-C or a failed task); the next call to worker_pool starts a fresh one."""
    pool = _POOLS.pop(workers, None)
    if pool is not None:
        pool.terminate()
        pool.join()


@atexit.register
def _close_pools() -> None:
    for workers in list(_POOLS):
        discard_pool(workers)


def _run_local(config, catalog, seeds, seeds_dir, workers, progress, draws=()):
    if workers <= 1:
        for seed in seeds:
            progress(run_seed_to_dir(config, catalog, seed, str(seeds_dir), draws))
        return
    pool = worker_pool(workers)
    try:
        for seed in pool.imap_unordered(_seed_task, [(config, catalog, s, str(seeds_dir), draws) for s in seeds]):
            progress(seed)
    except BaseException:
        discard_pool(workers)  # Ctrl-C or a failed seed: stop the other workers now
        raise


def _require_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise BackendUnavailable(
            "--backend dask needs Dask distributed: pip install 'compute-market[distributed]' "
            "(or pip install distributed)") from None


def _dask_client(scheduler: str | None, workers: int):
    from distributed import Client, LocalCluster

    if not scheduler:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout="10s"), None
    except (OSError, ValueError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BackendUnavailable(f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({reason}); "
                                 "check the address (e.g. tcp://host:8786) or leave --scheduler out for a local "
                                 "cluster") from None


def _run_dask(config, catalog, seeds, seeds_dir, workers, scheduler, progress, draws=()):
    from distributed import as_completed as dask_completed

    client, cluster = _dask_client(scheduler, workers)
    try:
        # the config and the catalog go to every worker once and stay there; each task then carries only its seed
        config_on_workers = client.scatter(config, broadcast=True)
        catalog_on_workers = client.scatter(catalog, broadcast=True)
        futures = [client.submit(run_seed_to_dir, config_on_workers, catalog_on_workers, seed, str(seeds_dir), draws,
                                 pure=False)
                   for seed in seeds]
        for future in dask_completed(futures):
            progress(future.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_inputs(experiment: Experiment, config: MarketConfig, seeds: Sequence[int], catalog: Catalog,
               draws: Sequence[dict[str, float]] = ()) -> dict[str, Any]:
    """The fingerprint of a run: resolved config with the effective months, seeds, parameter draws (if any),
    catalog, code."""
    values = resolved_values(experiment)
    resolved = {"market": {**values["market"], "months": config.months},
                "hardware": values["hardware"], "vendors": values["vendors"]}
    if draws:
        resolved["parameter_draws"] = [dict(d) for d in draws]
    return rundir.inputs_fingerprint(resolved, list(seeds), catalog)


def effective_config(experiment: Experiment, months: int | None) -> MarketConfig:
    return experiment.market if months is None else experiment.market.replace(months=months)


def run_experiment(
    experiment: Experiment,
    out: Path | None,
    *,
    seeds: Sequence[int] | None = None,
    months: int | None = None,
    workers: int = 2,
    backend: str = "local",
    scheduler: str | None = None,
    command: str = "",
    on_progress: Callable[[int, int, float], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    force: bool = False,
    default_out: Path | None = None,
    on_start: Callable[[Path], None] | None = None,
    parameter_draws: bool = False,
) -> Path:
    """Run (or resume, or reuse) the ensemble of `experiment` into `out`; returns the run directory.

    With `out` None the run goes to `default_out`, or to a numbered sibling of it when that holds another
    run (said through `on_note`). Raises RunDirError before computing when the target cannot be used;
    `on_start(run_dir)` is called once the target is settled and computing begins. With `parameter_draws`, seed
    s runs with parameter draw s mod D of the catalog's stored draws (history_calibration_draws.toml), for the
    fitted parameters the config leaves at their fitted values: the bands then hold parameter uncertainty as well
    as seed noise, and two configs run with the same seeds stay paired (same draw, same seed).
    """
    if backend not in ("local", "dask"):
        raise UsageError(f"--backend: unknown backend '{backend}'; valid: local, dask")
    if backend == "dask":
        _require_dask()
    note = on_note or (lambda _text: None)
    seeds = tuple(seeds if seeds is not None else experiment.seeds)
    config = effective_config(experiment, months)
    catalog = experiment.catalog()
    draws = stored_draws_for(config, catalog) if parameter_draws else ()
    inputs = run_inputs(experiment, config, seeds, catalog, draws)
    if out is None:
        out, why = (Path(os.path.abspath(default_out)), "") if force else rundir.numbered_default(default_out, inputs)
        if why:
            note(why)
    rundir.check_run_target(out, inputs, force=force)  # refusals before anything is made or locked
    out = Path(os.path.abspath(out))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise rundir.RunDirError(f"--out {out}: cannot create {exc.filename or out.parent} ({exc.strerror or exc}); "
                                 f"choose a folder you can write to") from None
    with rundir.FolderLock(out):  # first, before anything is replaced or deleted; it covers out and out.partial
        target = rundir.check_run_target(out, inputs, force=force)
        if target.reuse:
            note(f"reusing the stored run in {target.out} (same config, seeds, catalog and code; files intact)")
            return target.out
        return _compute_into(experiment, config, catalog, seeds, inputs, target, workers, backend, scheduler, command,
                             on_progress, on_start, note, draws)


def _compute_into(experiment, config, catalog, seeds, inputs, target, workers, backend, scheduler, command,
                  on_progress, on_start, note, draws=()) -> Path:
    """Compute (or resume) the run in `target.partial` and promote it to `target.out`; called under the lock."""
    out, partial = target.out, target.partial
    rundir.clear_leftovers(out)
    if target.discard_partial:
        rundir.remove_own(partial)
    created = not partial.exists() or rundir.is_empty_dir(partial)
    try:
        partial.mkdir(exist_ok=True)
    except OSError as exc:
        raise rundir.RunDirError(f"--out {out}: cannot create {exc.filename or partial} ({exc.strerror or exc}); "
                                 f"choose a folder you can write to") from None
    if created:
        rundir.write_marker(partial, "run", inputs)
    seeds_dir = partial / "seeds"
    try:
        if on_start:
            on_start(out)
        seeds_dir.mkdir(exist_ok=True)
        for stale in [*seeds_dir.glob(".seed-*.tmp"), *partial.glob(".tmp-*")]:  # left by a killed run
            shutil.rmtree(stale, ignore_errors=True)
        damaged = discard_damaged_seeds(seeds_dir)
        if damaged:
            note(f"stored seed(s) {', '.join(map(str, damaged))} in {partial} were damaged and are computed again")
        resumed = _compute(experiment, config, catalog, seeds, partial, workers, backend, scheduler, on_progress,
                           draws)
        _finalise(experiment, config, inputs, seeds, resumed, partial, out, backend, command, workers, len(draws))
    except BaseException:
        if created and partial.exists() and not stored_seeds(seeds_dir):
            with suppress(rundir.RunDirError):  # a file of the user's appeared in it: leave the folder
                rundir.remove_own(partial)  # nothing computed: leave no empty run folder behind
        raise
    return out


def _compute(experiment, config, catalog, seeds, partial, workers, backend, scheduler, on_progress,
             draws=()) -> list[int]:
    """Run the seeds not yet stored; returns the ones that were (resumed)."""
    seeds_dir = partial / "seeds"
    done = stored_seeds(seeds_dir) & set(seeds)
    todo = [s for s in seeds if s not in done]
    clock = time.perf_counter()
    finished = [len(done)]

    def progress(_seed: int) -> None:
        finished[0] += 1
        if on_progress:
            on_progress(finished[0], len(seeds), time.perf_counter() - clock)

    if not todo:
        return sorted(done)
    try:
        if backend == "dask":
            _run_dask(config, catalog, todo, seeds_dir, workers, scheduler, progress, draws)
        else:
            _run_local(config, catalog, todo, seeds_dir, workers, progress, draws)
    except KeyboardInterrupt:
        kept = len(stored_seeds(seeds_dir) & set(seeds))
        if not kept:
            raise Interrupted("stopped before any seed was stored, so nothing was kept; run the same command again "
                              "to start it") from None
        raise Interrupted(f"{kept}/{len(seeds)} seeds stored in {partial}; run the same command again to "
                          "resume") from None
    return sorted(done)


def _finalise(experiment, config, inputs, seeds, resumed, partial, out, backend, command, workers=1,
              draws: int = 0) -> None:
    """Aggregate the stored seeds into tables, figures and a manifest, record every file with its hash, then put
    the folder in place of `out` (called under the run's lock)."""
    seeds_dir = partial / "seeds"
    results = [load_seed(seed_dir(seeds_dir, s)) for s in seeds]
    staging = partial / ".tmp-results"  # aggregate files appear in the run folder only once all are written
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    # with local workers, their pool (still up from the seeds) draws the figures in parallel
    pool = worker_pool(workers) if (backend == "local" and workers > 1) else None
    try:
        with naming_failures(staging):
            write_results(results, config, staging, experiment.base_catalog, pool, draws)
    except BaseException:
        if pool is not None:
            discard_pool(workers)
        raise
    values = resolved_values(experiment)
    base = experiment.base_catalog
    manifest = {
        "name": experiment.name,
        "config": {**values, "market": {**values["market"], "months": config.months}},
        "config_file": os.path.realpath(experiment.path),
        "seeds": list(seeds),
        "inputs_hash": inputs["hash"],
        "catalog": os.path.realpath(base.data_dir),
        "catalog_fingerprint": rundir.catalog_fingerprint(base),
        "packages": _versions(),
        "python": sys.version.split()[0],
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "resumed_seeds": resumed,
        "seconds_per_seed": [round(r.seconds, 3) for r in results],
        "backend": backend,
        "command": command,
        "cwd": os.getcwd(),  # where the command ran: its relative paths are read from there
        "parameter_draws": draws,
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    seed_files = [f"seeds/{seed_dir(seeds_dir, s).name}/{name}" for s in seeds
                  for name in ("metrics.json", *SEED_TABLES.values()) if (seed_dir(seeds_dir, s) / name).is_file()]
    rundir.seal(partial, "run", inputs, seed_files)
    move_files_up(staging, partial, "run", inputs)
    rundir.mark_complete(partial)
    if out.exists():  # an empty folder, or (with --force) the tool's own run of other inputs or a damaged one
        rundir.check_replaceable(out, "run", why="--force: ")
    rundir.promote(partial, out)


def write_results(results: Sequence[SeedResult], config: MarketConfig, folder: Path, catalog=None,
                  pool=None, draws: int = 0) -> dict:
    """Aggregate tables, figures and summaries of stored seeds into `folder` (used by run and report), comparing the
    run with `catalog`'s history (its observations after the catalog's fit window held out); figures are drawn on
    `pool` when one is given. `draws`: how many parameter draws the seeds ran with (0: the fitted values)."""
    if catalog is None:
        return write_market_files(results, config, folder, (), pool, draws=draws)
    return write_market_files(results, config, folder, catalog.history, pool, catalog.fit_window_end, draws=draws)


def move_files_up(staging: Path, folder: Path, kind: str, inputs: dict[str, Any] | None) -> list[str]:
    """Move every file below `staging` to the same place below `folder`, one file at a time, replacing the tool's
    own older copies and leaving anything else in `folder`'s subfolders alone; returns their relative paths. The
    files are recorded in `folder`'s marker (with their hashes) before they are moved, so an interruption midway
    leaves files the next run knows as its own. Nothing is written through a symlink."""
    written = rundir.files_below(staging)
    recorded = set(rundir.recorded_files(folder))
    real = Path(os.path.realpath(folder))
    for rel in written:
        target = folder / rel
        if Path(os.path.realpath(target.parent)) != real / Path(rel).parent:
            raise rundir.RunDirError(f"{target.parent}: is a symlink (or below one) in the run folder, and "
                                     f"compute-market never writes through one; replace it by a plain folder or "
                                     f"move it out")
        if (target.exists() or target.is_symlink()) and (rel not in recorded or target.is_dir() or target.is_symlink()):
            raise rundir.RunDirError(f"{target}: is in the way of a file compute-market writes there and was not "
                                     f"written by it; move it out and run the command again")
    rundir.record_files(folder, kind, inputs, {rel: rundir.file_sha256(staging / rel) for rel in written})
    for rel in written:
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / rel, target)
    shutil.rmtree(staging, ignore_errors=True)
    return written


def rerun_hint(manifest: dict, folder: Path) -> str:
    """How to recompute the run in `folder` (its manifest's words): the recorded command, run from the folder it ran in
    (its relative paths were read from there) and, for a `run`, into `folder` itself with --force, since the folder
    may have been copied or moved since. Without a recorded command, the same in words."""
    command = manifest.get("command") if isinstance(manifest, dict) else None
    if not command:
        return f"run the command that made it again with --out {folder} --force"
    try:
        is_run = "run" in shlex.split(command)[1:]
    except ValueError:
        is_run = False
    where = manifest.get("cwd")
    line = f"{command} --out {shlex.quote(str(folder))} --force" if is_run else f"{command} --force"
    return f"run 'cd {shlex.quote(where)} && {line}'" if where else f"run '{line}' from the folder it was first run in"


def catalog_of(manifest: dict, folder: Path) -> Catalog:
    """The catalog a run was made with, as recorded in its manifest; refused if missing or changed since."""
    where, recorded = manifest.get("catalog"), manifest.get("catalog_fingerprint")
    rerun = f"{rerun_hint(manifest, folder)} to recompute the run"
    if not where or not recorded:
        raise UsageError(f"{folder}: its manifest does not record which catalog it was made with (an older run); "
                         f"{rerun}")
    if not Path(where).is_dir():
        raise UsageError(f"{folder}: was made with the catalog in {where}, which no longer exists; restore that "
                         f"folder, or {rerun}")
    catalog = load_catalog(where)
    if rundir.catalog_fingerprint(catalog) != recorded:
        raise UsageError(f"{folder}: was made with the catalog in {where}, whose contents have changed since; restore "
                         f"them, or {rerun}")
    return catalog


def open_complete_run(folder: Path) -> tuple[Path, dict, dict]:
    """(absolute folder, marker, manifest) of a complete, intact run directory; else a one-line UsageError that
    says what is wrong and what to do. Stored seeds and the manifest must be intact; aggregate files (figures,
    summaries) may be missing or changed, since `report` rewrites them."""
    folder = Path(os.path.abspath(folder))
    marker = rundir.read_marker(folder) if folder.is_dir() else None
    if marker is None or marker["kind"] != "run" or not (folder / "manifest.json").exists():
        raise UsageError(not_a_run(folder))
    if not rundir.is_legacy(marker) and not marker.get("complete"):
        raise UsageError(f"{folder}: an unfinished run (stopped while its results were being written); run the "
                         f"command that made it again to finish it")
    manifest = read_stored(folder / "manifest.json", _read_json)
    if not isinstance(manifest, dict):
        raise UsageError(f"{folder / 'manifest.json'}: damaged; re-run the command that made it with --force")
    if rundir.is_legacy(marker):
        raise UsageError(f"{folder}: made by an older compute-market that did not record its files' hashes, so it "
                         f"cannot be checked; run '{manifest.get('command') or 'the command that made it'}' again into "
                         f"a new --out to recompute it")
    damaged = [rel for rel in rundir.damaged_files(folder) if rel.startswith("seeds/") or rel == "manifest.json"]
    if damaged:
        raise UsageError(f"{folder}: damaged ({', '.join(damaged[:3])}{' ...' if len(damaged) > 3 else ''} missing or "
                         f"changed since it was written); {rerun_hint(manifest, folder)} to recompute it")
    return folder, marker, manifest


def not_a_run(folder: Path) -> str:
    """Why `folder` (absolute) holds no finished run, in one line that says what to do: a run is being written into
    it now (by whom), or one was interrupted and waits in `<folder>.partial`, or there is no such folder, or it is not
    a run's."""
    partial = rundir.partial_of(folder)
    holder = rundir.lock_holder(folder, option="report") if folder.parent.is_dir() else None
    if holder:
        return f"{folder}: a run is being written into it by {holder}; wait until it finishes, then ask again"
    if partial.is_dir():
        return (f"{folder}: holds no finished run; an interrupted one waits in {partial}: run the command that started "
                f"it again to finish it (the seeds stored are kept), then ask again")
    if not folder.exists():
        return f"{folder}: no such folder; give the --out folder of a finished 'compute-market run'"
    return (f"{folder}: not a finished compute-market run (no {rundir.MARKER} and manifest.json of a run); give the "
            f"--out folder of a finished 'compute-market run'")


def report(folder: Path) -> dict:
    """Regenerate figures and summaries of a complete run directory from its stored seed tables, replacing the
    tool's own files one by one (a file a user put in the folder, at any depth, is left alone)."""
    folder = Path(os.path.abspath(folder))
    open_complete_run(folder)
    with rundir.FolderLock(folder, option="report"):
        folder, marker, manifest = open_complete_run(folder)
        try:
            market = manifest["config"]["market"]
            config = MarketConfig(months=int(market["months"]), start=str(market["start"]))
            seeds = [int(s) for s in manifest["seeds"]]
        except (KeyError, TypeError, ValueError):
            raise UsageError(f"{folder / 'manifest.json'}: damaged (config or seeds missing); "
                             f"re-run the command that made it with --force") from None
        catalog = catalog_of(manifest, folder)
        results = [load_seed(seed_dir(folder / "seeds", s)) for s in seeds]
        staging = Path(tempfile.mkdtemp(prefix=".tmp-report-", dir=folder))
        try:
            with naming_failures(staging):
                summary = write_results(results, config, staging, catalog, draws=int(manifest.get("parameter_draws")
                                                                                     or 0))
            move_files_up(staging, folder, "run", marker.get("inputs"))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return summary


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
