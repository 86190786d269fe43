"""Executors: where the chunks of a sweep run. Same chunks, same kernel, same results.

* :class:`LocalExecutor`: in this process, chunk after chunk; each chunk uses every core
  through the parallel kernel.
* :class:`DaskExecutor`: chunks are submitted to Dask distributed workers (a running scheduler
  at ``--scheduler ADDRESS`` or a ``LocalCluster`` of ``--workers N`` processes); the engine
  (market arrays and grid columns) is scattered to the workers once. Results come back as they
  finish and are placed by chunk index, so the table is identical to a local run, bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from engine.errors import BacktestError


def compute_chunk(engine, lo: int, hi: int, windows: list[tuple[int, int]], n_main: int,
                  metric: int) -> np.ndarray:
    """One chunk's row block: main windows' metrics then each fold's training objective.

    Returns (hi - lo, n_main * N_METRICS + n_folds) float64.
    """
    out = engine.metrics(lo, hi, windows)
    main = out[:, :n_main].reshape(hi - lo, -1)
    folds = out[:, n_main:, metric]
    return np.ascontiguousarray(np.concatenate([main, folds], axis=1))


class LocalExecutor:
    name = "local"

    def map(self, engine, tasks, windows, n_main: int, metric: int) -> Iterator:
        for i, lo, hi in tasks:
            yield i, compute_chunk(engine, lo, hi, windows, n_main, metric)

    def close(self) -> None:
        pass


class DaskExecutor:
    """Runs chunks on Dask workers; needs ``pip install 'iwm-backtest[dask]'``."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int | None = None):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise BacktestError("--executor dask needs the dask extra: "
                                "pip install 'iwm-backtest[dask]'") from None
        self._cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="10s")
            except OSError as exc:
                raise BacktestError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        else:
            self._cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1,
                                         processes=True, dashboard_address=None)
            self.client = Client(self._cluster)

    def map(self, engine, tasks, windows, n_main: int, metric: int) -> Iterator:
        from dask.distributed import as_completed

        shared = self.client.scatter(engine, broadcast=True)
        futures = {self.client.submit(compute_chunk, shared, lo, hi, windows, n_main, metric,
                                      pure=False): i for i, lo, hi in tasks}
        for future, result in as_completed(futures, with_results=True):
            yield futures[future], result

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(kind: str = "local", scheduler: str | None = None,
                  workers: int | None = None):
    """The executor for ``--executor``; ``--scheduler`` / ``--workers`` only with dask."""
    if kind == "local":
        if scheduler or workers:
            flag = "--scheduler" if scheduler else "--workers"
            raise BacktestError(f"{flag} needs --executor dask")
        return LocalExecutor()
    if kind == "dask":
        if workers is not None and workers < 1:
            raise BacktestError(f"--workers must be >= 1, got {workers}")
        return DaskExecutor(scheduler, workers)
    raise BacktestError(f"unknown executor '{kind}'; choose local or dask")
