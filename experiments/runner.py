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
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from hardware_catalog import Catalog, load_catalog
from market.config import MarketConfig

from . import rundir
from .config import Experiment, resolved_values
from .errors import Interrupted, UsageError
from .market_report import SeedResult, run_seed, write_market_files

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
PACKAGES = ("compute-market", "mesa", "numpy", "pandas", "networkx", "matplotlib", "scipy", "powerlaw", "pyarrow")


class BackendUnavailable(UsageError):
    """The requested backend cannot run here (message says how to install or reach it)."""


def seed_dir(seeds_dir: Path, seed: int) -> Path:
    return seeds_dir / f"seed-{seed:04d}"


def run_seed_to_dir(config: MarketConfig, catalog: Catalog, seed: int, seeds_dir: str) -> int:
    """Run one seed and store it atomically (temporary folder, then rename). Returns the seed."""
    result = run_seed(config, seed, catalog)
    final = seed_dir(Path(seeds_dir), seed)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for attribute, name in SEED_TABLES.items():
        table = getattr(result, attribute)
        if table is not None:
            table.to_parquet(tmp / name, index=False)
    meta = {"seed": seed, "metrics": result.metrics, "events": result.events, "seconds": result.seconds,
            "reputation": {str(k): v for k, v in (result.reputation or {}).items()}}
    (tmp / "metrics.json").write_text(json.dumps(meta))
    if final.exists():  # another worker finished the same seed first (a re-submitted task): keep one copy
        shutil.rmtree(tmp)
    else:
        tmp.rename(final)
    return seed


def _seed_task(args: tuple) -> int:
    return run_seed_to_dir(*args)


def _ignore_sigint() -> None:
    """Worker processes leave Ctrl-C to the parent, which stops them (no traceback from each worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


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
        raise UsageError(f"{folder / 'metrics.json'}: damaged (fields missing); re-run with --force to recompute it") from None


def stored_seeds(seeds_dir: Path) -> set[int]:
    if not seeds_dir.exists():
        return set()
    return {int(p.name.split("-")[1]) for p in seeds_dir.iterdir() if p.name.startswith("seed-") and (p / "metrics.json").exists()}


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
        pool = _POOLS[workers] = context.Pool(workers, initializer=_ignore_sigint)
    return pool


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


def _run_local(config, catalog, seeds, seeds_dir, workers, progress):
    if workers <= 1:
        for seed in seeds:
            progress(run_seed_to_dir(config, catalog, seed, str(seeds_dir)))
        return
    pool = worker_pool(workers)
    try:
        for seed in pool.imap_unordered(_seed_task, [(config, catalog, s, str(seeds_dir)) for s in seeds]):
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
                                 f"check the address (e.g. tcp://host:8786) or leave --scheduler out for a local cluster") from None


def _run_dask(config, catalog, seeds, seeds_dir, workers, scheduler, progress):
    from distributed import as_completed as dask_completed

    client, cluster = _dask_client(scheduler, workers)
    try:
        # the config and the catalog go to every worker once and stay there; each task then carries only its seed
        config_on_workers = client.scatter(config, broadcast=True)
        catalog_on_workers = client.scatter(catalog, broadcast=True)
        futures = [client.submit(run_seed_to_dir, config_on_workers, catalog_on_workers, seed, str(seeds_dir), pure=False)
                   for seed in seeds]
        for future in dask_completed(futures):
            progress(future.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_inputs(experiment: Experiment, config: MarketConfig, seeds: Sequence[int], catalog: Catalog) -> dict[str, Any]:
    """The fingerprint of a run: resolved config with the effective months, seeds, catalog, code."""
    values = resolved_values(experiment)
    resolved = {"market": {**values["market"], "months": config.months},
                "hardware": values["hardware"], "vendors": values["vendors"]}
    return rundir.inputs_fingerprint(resolved, list(seeds), catalog)


def effective_config(experiment: Experiment, months: int | None) -> MarketConfig:
    return experiment.market if months is None else MarketConfig(**{**experiment.market.__dict__, "months": months})


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
) -> Path:
    """Run (or resume, or reuse) the ensemble of `experiment` into `out`; returns the run directory.

    With `out` None the run goes to `default_out`, or to a numbered sibling of it when that holds another
    run (said through `on_note`). Raises RunDirError before computing when the target cannot be used;
    `on_start(run_dir)` is called once the target is settled and computing begins.
    """
    if backend not in ("local", "dask"):
        raise UsageError(f"--backend: unknown backend '{backend}'; valid: local, dask")
    if backend == "dask":
        _require_dask()
    note = on_note or (lambda _text: None)
    seeds = tuple(seeds if seeds is not None else experiment.seeds)
    config = effective_config(experiment, months)
    catalog = experiment.catalog()
    inputs = run_inputs(experiment, config, seeds, catalog)
    if out is None:
        out, why = (Path(os.path.abspath(default_out)), "") if force else rundir.numbered_default(default_out, inputs)
        if why:
            note(why)
    target = rundir.check_run_target(out, inputs, force=force)
    if target.reuse:
        note(f"reusing the stored run in {target.out} (same config, seeds, catalog and code)")
        return target.out
    out, partial = target.out, target.partial
    if rundir.run_state(partial, inputs) == "different":  # allowed only with --force (checked above)
        rundir.remove_own(partial)
    created = not partial.exists() or rundir.is_empty_dir(partial)
    try:
        partial.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise rundir.RunDirError(f"--out {out}: cannot create {exc.filename or partial} ({exc.strerror or exc}); "
                                 f"choose a folder you can write to") from None
    if created:
        rundir.write_marker(partial, "run", inputs, entries=["seeds"])
    seeds_dir = partial / "seeds"
    try:
        with rundir.RunLock(partial, out):
            if rundir.run_state(out, inputs) == "same" and (out / "manifest.json").exists():
                return out  # another process finished this very run while we waited
            if on_start:
                on_start(out)
            seeds_dir.mkdir(exist_ok=True)
            for stale in [*seeds_dir.glob(".seed-*.tmp"), *partial.glob(".tmp-*")]:  # left by a killed run
                shutil.rmtree(stale, ignore_errors=True)
            resumed = _compute(experiment, config, catalog, seeds, partial, workers, backend, scheduler, on_progress)
            _finalise(experiment, config, inputs, seeds, resumed, partial, out, backend, command, workers)
    except BaseException:
        if created and partial.exists() and not stored_seeds(seeds_dir):
            shutil.rmtree(partial, ignore_errors=True)  # nothing computed: leave no empty run folder behind
        raise
    return out


def _compute(experiment, config, catalog, seeds, partial, workers, backend, scheduler, on_progress) -> list[int]:
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
            _run_dask(config, catalog, todo, seeds_dir, workers, scheduler, progress)
        else:
            _run_local(config, catalog, todo, seeds_dir, workers, progress)
    except KeyboardInterrupt:
        kept = len(stored_seeds(seeds_dir) & set(seeds))
        raise Interrupted(f"{kept}/{len(seeds)} seeds stored in {partial}; run the same command again to resume") from None
    return sorted(done)


def _finalise(experiment, config, inputs, seeds, resumed, partial, out, backend, command, workers=1) -> None:
    """Aggregate the stored seeds into tables, figures and a manifest, then rename the folder into place."""
    seeds_dir = partial / "seeds"
    results = [load_seed(seed_dir(seeds_dir, s)) for s in seeds]
    staging = partial / ".tmp-results"  # aggregate files appear in the run folder only once all are written
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    # with local workers, their pool (still up from the seeds) draws the figures in parallel
    pool = worker_pool(workers) if (backend == "local" and workers > 1) else None
    try:
        write_results(results, config, staging, experiment.base_catalog.history, pool)
    except BaseException:
        if pool is not None:
            discard_pool(workers)
        raise
    values = resolved_values(experiment)
    manifest = {
        "name": experiment.name,
        "config": {**values, "market": {**values["market"], "months": config.months}},
        "seeds": list(seeds),
        "inputs_hash": inputs["hash"],
        "catalog": str(experiment.base_catalog.data_dir),
        "packages": _versions(),
        "python": sys.version.split()[0],
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "resumed_seeds": resumed,
        "seconds_per_seed": [round(r.seconds, 3) for r in results],
        "backend": backend,
        "command": command,
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    written = _move_up(staging, partial)
    rundir.seal(partial, "run", inputs, ["seeds", *written])
    if out.exists():
        rundir.remove_own(out)  # an empty folder, or (with --force) the tool's own run of other inputs
    partial.rename(out)


def write_results(results: Sequence[SeedResult], config: MarketConfig, folder: Path, observations=(), pool=None) -> dict:
    """Aggregate tables, figures and summaries of stored seeds into `folder` (used by run and report); figures are
    drawn on `pool` when one is given."""
    return write_market_files(results, config, folder, observations, pool)


def _move_up(staging: Path, folder: Path) -> list[str]:
    """Move every entry of `staging` into `folder` (replacing the tool's own older copies); returns their names."""
    names = []
    for entry in staging.iterdir():
        target = folder / entry.name
        if target.is_dir():
            shutil.rmtree(target)
        entry.replace(target)
        names.append(entry.name)
    staging.rmdir()
    return names


def report(folder: Path) -> dict:
    """Regenerate figures and summaries of a complete run directory from its stored seed tables."""
    folder = Path(os.path.abspath(folder))
    marker = rundir.read_marker(folder)
    if not folder.is_dir() or marker is None or marker["kind"] != "run" or not (folder / "manifest.json").exists():
        raise UsageError(f"{folder}: not a complete compute-market run directory (no {rundir.MARKER} or manifest.json)")
    manifest = read_stored(folder / "manifest.json", _read_json)
    try:
        market = manifest["config"]["market"]
        config = MarketConfig(months=int(market["months"]), start=str(market["start"]))
        seeds = [int(s) for s in manifest["seeds"]]
    except (KeyError, TypeError, ValueError):
        raise UsageError(f"{folder / 'manifest.json'}: damaged (config or seeds missing); "
                         f"re-run the command that made it with --force") from None
    results = [load_seed(seed_dir(folder / "seeds", s)) for s in seeds]
    catalog_dir = manifest.get("catalog")
    history = load_catalog(catalog_dir).history if catalog_dir and Path(catalog_dir).is_dir() else load_catalog().history
    staging = folder / ".tmp-report"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        summary = write_results(results, config, staging, history)
        written = _move_up(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    rundir.seal(folder, "run", marker.get("inputs"), written)
    return summary


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
