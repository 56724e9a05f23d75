"""Independent simulations side by side: the worker pool of the ensembles (experiments.runner) or a Dask cluster.

`map_tasks(function, tasks, ...)` returns the results in the order of `tasks`; `function` must be a module-level
function (it is pickled to the workers). With one worker the tasks run here, one after another.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def map_tasks(function: Callable[[Any], Any], tasks: Sequence[Any], *, workers: int = 1, backend: str = "local",
              scheduler: str | None = None, progress: Callable[[int], None] | None = None) -> list[Any]:
    """`[function(t) for t in tasks]`, computed on `workers` local processes or a Dask cluster (backend "dask",
    at `scheduler` or a local one); `progress(done)` after each finished task."""
    from . import runner

    results: list[Any] = [None] * len(tasks)
    finished = [0]

    def done(index: int, value: Any) -> None:
        results[index] = value
        finished[0] += 1
        if progress:
            progress(finished[0])

    if backend == "dask":
        runner._require_dask()
        from distributed import as_completed

        client, cluster = runner._dask_client(scheduler, workers)
        try:
            futures = {client.submit(function, task, pure=False): i for i, task in enumerate(tasks)}
            for future in as_completed(futures):
                done(futures[future], future.result())
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
        return results
    if workers <= 1 or len(tasks) <= 1:
        for i, task in enumerate(tasks):
            done(i, function(task))
        return results
    pool = runner.worker_pool(workers)
    try:
        for i, value in pool.imap_unordered(_indexed, [(function, i, task) for i, task in enumerate(tasks)]):
            done(i, value)
    except BaseException:
        runner.discard_pool(workers)  # Ctrl-C or a failed task: stop the other workers now
        raise
    return results


def _indexed(item: tuple) -> tuple[int, Any]:
    function, index, task = item
    return index, function(task)
