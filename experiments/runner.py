"""The ensemble runner: seeds on local worker processes or a Dask cluster, resumable run directories.

A run writes into `<out>.partial/`: every finished seed is stored atomically as `seeds/seed-NNNN/`
(Parquet tables + metrics.json), so an interrupted ensemble resumes by skipping stored seeds. When
all seeds are in, the aggregate tables, figures, summary and manifest are written and the folder is
renamed to `<out>`; only a complete run carries that name.
"""

from __future__ import annotations

import importlib.metadata
import json
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from hardware_catalog import Catalog
from market.config import MarketConfig

from .config import Experiment, resolved_values
from .market_report import SeedResult, run_seed, write_market_files

SEED_TABLES = {
    "model_table": "model.parquet",
    "vendor_table": "vendors.parquet",
    "ledger_monthly": "ledger.parquet",
    "deals": "deals.parquet",
    "funds": "funds.parquet",
    "startups": "startups.parquet",
    "network": "network.parquet",
}
PACKAGES = ("compute-market", "mesa", "numpy", "pandas", "networkx", "matplotlib", "scipy", "powerlaw", "pyarrow")


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run here (message says how to install it)."""


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


def load_seed(folder: Path) -> SeedResult:
    meta = json.loads((folder / "metrics.json").read_text())
    tables = {attr: (pd.read_parquet(folder / name) if (folder / name).exists() else None) for attr, name in SEED_TABLES.items()}
    return SeedResult(
        seed=meta["seed"], metrics=meta["metrics"], events=meta["events"], seconds=meta["seconds"],
        reputation={int(k): v for k, v in meta["reputation"].items()} or None, **tables,
    )


def stored_seeds(seeds_dir: Path) -> set[int]:
    if not seeds_dir.exists():
        return set()
    return {int(p.name.split("-")[1]) for p in seeds_dir.iterdir() if p.name.startswith("seed-") and (p / "metrics.json").exists()}


def _run_local(config, catalog, seeds, seeds_dir, workers, progress):
    if workers <= 1:
        for seed in seeds:
            progress(run_seed_to_dir(config, catalog, seed, str(seeds_dir)))
        return
    # spawn, not fork: the parent may already run threads (pyarrow, Dask), and forking those can deadlock
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_seed_to_dir, config, catalog, seed, str(seeds_dir)) for seed in seeds]
        for future in as_completed(futures):
            progress(future.result())


def _run_dask(config, catalog, seeds, seeds_dir, workers, scheduler, progress):
    try:
        from distributed import Client, LocalCluster, as_completed as dask_completed
    except ImportError:
        raise BackendUnavailable(
            "--backend dask needs Dask distributed: pip install 'compute-market[distributed]' "
            "(or pip install distributed)") from None
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        futures = [client.submit(run_seed_to_dir, config, catalog, seed, str(seeds_dir), pure=False) for seed in seeds]
        for future in dask_completed(futures):
            progress(future.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_experiment(
    experiment: Experiment,
    out: Path,
    *,
    seeds: Sequence[int] | None = None,
    months: int | None = None,
    workers: int = 2,
    backend: str = "local",
    scheduler: str | None = None,
    command: str = "",
    on_progress: Callable[[int, int, float], None] | None = None,
) -> Path:
    """Run (or resume, or reuse) the ensemble of `experiment` into `out`; returns `out`."""
    out = Path(out)
    seeds = tuple(seeds if seeds is not None else experiment.seeds)
    config = experiment.market if months is None else MarketConfig(**{**experiment.market.__dict__, "months": months})
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("seeds") == list(seeds) and manifest.get("config", {}).get("market", {}).get("months") == config.months \
                and manifest.get("config", {}).get("file") == experiment.path:
            return out  # already complete with the same seeds: reuse
    partial = out.with_name(out.name + ".partial")
    seeds_dir = partial / "seeds"
    seeds_dir.mkdir(parents=True, exist_ok=True)
    done = stored_seeds(seeds_dir) & set(seeds)
    todo = [s for s in seeds if s not in done]
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    clock = time.perf_counter()
    finished = [len(done)]

    def progress(_seed: int) -> None:
        finished[0] += 1
        if on_progress:
            on_progress(finished[0], len(seeds), time.perf_counter() - clock)

    catalog = experiment.catalog()
    if todo:
        if backend == "dask":
            _run_dask(config, catalog, todo, seeds_dir, workers, scheduler, progress)
        elif backend == "local":
            _run_local(config, catalog, todo, seeds_dir, workers, progress)
        else:
            raise ValueError(f"unknown backend '{backend}'; valid: local, dask")
    results = [load_seed(seed_dir(seeds_dir, s)) for s in seeds]
    write_results(results, config, partial)
    manifest = {
        "name": experiment.name,
        "config": {**resolved_values(experiment), "market": {**resolved_values(experiment)["market"], "months": config.months}},
        "seeds": list(seeds),
        "packages": _versions(),
        "python": sys.version.split()[0],
        "started": started,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "resumed_seeds": sorted(done),
        "backend": backend,
        "command": command,
    }
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
    return out


def write_results(results: Sequence[SeedResult], config: MarketConfig, folder: Path) -> dict:
    """Aggregate tables, figures and summaries of stored seeds into `folder` (used by run and report)."""
    return write_market_files(results, config, folder)


def report(folder: Path) -> dict:
    """Regenerate figures and summaries of a run directory from its stored seed tables."""
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    config = MarketConfig(**{k: v for k, v in manifest["config"]["market"].items()
                             if k in ("months", "start")})
    results = [load_seed(seed_dir(folder / "seeds", s)) for s in manifest["seeds"]]
    return write_results(results, config, folder)


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
