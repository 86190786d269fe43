"""Executors: where the chunks of a sweep run. Same chunks, same kernel, same results.

* :class:`LocalExecutor`: in this process, chunk after chunk; each chunk uses every core
  through the parallel kernel.
* :class:`DaskExecutor`: chunks are submitted to Dask distributed workers (a running scheduler
  at ``--scheduler ADDRESS`` or a ``LocalCluster`` of ``--workers N`` processes); the engine
  (market arrays and grid columns) is scattered to every worker once. Each task runs one chunk
  through the same kernel; results come back as they finish, are checkpointed by the runner at
  once and placed by chunk index, so the table is identical to a local run, bit for bit.

Dask is an optional extra: nothing here imports it before a :class:`DaskExecutor` is made, so
``import engine.sweep`` and local sweeps never load it.

Faults on Dask:

* a worker that dies mid-task: the scheduler reruns its tasks on the other workers (up to
  ``distributed.scheduler.allowed-failures`` deaths per task); a task that raises an unexpected
  error is resubmitted ``RETRIES`` times (Dask ``retries``);
* a chunk that fails for a reason in the data or config (a :class:`BacktestError` in the task)
  is not retried: the task returns it as a value and the sweep stops with that one line;
* a cluster that loses the sweep (scheduler gone, every copy of the scattered data gone, a task
  that killed too many workers) raises :class:`ClusterLost`; the runner adds how many chunks are
  checkpointed, and ``--resume`` on the restarted cluster runs only the others.

Distributed's own logging (tracebacks of dead workers, reconnect attempts) is silenced while
the executor is open: what goes wrong reaches the user as one line through the CLI.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from engine.errors import BacktestError

CONNECT_TIMEOUT_S = 10  # --scheduler: give up connecting after this long
WORKER_WAIT_S = 30  # --scheduler: how long to wait for a first worker to join
RETRIES = 2  # resubmissions of a task that raised an unexpected error
DASK_EXTRA = "pip install 'iwm-backtest[dask]' (pip install '.[dask]' in the repository)"

# One chunk at a time per worker process: the parallel kernels already use every core given to
# the process, and numba's workqueue threading layer must not be entered by two threads at
# once (a worker started with --nthreads > 1 stays safe, just not faster).
_KERNEL_LOCK = threading.Lock()


class ClusterLost(BacktestError):
    """The Dask cluster lost the sweep's work; finished chunks are checkpointed (``--resume``)."""


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


# ------------------------------------------------------------------------------------ Dask
@dataclass
class ChunkFailed:
    """A chunk's :class:`BacktestError`, returned by the task as a value: not retried, not
    logged with a traceback by the worker, raised again on the client with its message."""

    error: BacktestError

    @classmethod
    def of(cls, exc: BacktestError) -> ChunkFailed:
        try:  # the exception travels pickled; keep only its message when it cannot
            pickle.loads(pickle.dumps(exc))
        except Exception:  # noqa: BLE001
            exc = BacktestError(str(exc))
        return cls(exc)


def run_chunk_task(lo: int, hi: int, *, engine, windows: list[tuple[int, int]], n_main: int,
                   metric: int, numba_threads: int | None = None):
    """The Dask task: :func:`compute_chunk` on a worker; a user error comes back as a value.

    ``numba_threads``: the parallel kernel's threads in this worker (a LocalCluster shares the
    machine's cores between its workers); None keeps the worker's ``NUMBA_NUM_THREADS``.
    """
    with _KERNEL_LOCK:
        if numba_threads:
            import numba

            numba.set_num_threads(max(1, min(numba_threads, numba.config.NUMBA_NUM_THREADS)))
        try:
            return compute_chunk(engine, lo, hi, windows, n_main, metric)
        except BacktestError as exc:
            return ChunkFailed.of(exc)


def warm_worker() -> int:
    """Run on every worker before the sweep: import the engine (numba and the kernels, which
    are ``cache=True``: their first call loads the machine code from the on-disk cache instead
    of compiling), so that a worker without this project installed fails here, clearly."""
    import engine.sweep.engines  # noqa: F401

    return os.getpid()


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


class _QuietLogs:
    """Raise the ``distributed.*`` and ``tornado.*`` loggers to CRITICAL; restore on exit."""

    PREFIXES = ("distributed", "tornado")

    def __init__(self) -> None:
        self._saved: dict[str, int] = {}

    def __enter__(self) -> _QuietLogs:
        names = [n for n in list(logging.root.manager.loggerDict)
                 if n.split(".")[0] in self.PREFIXES]
        for name in dict.fromkeys([*self.PREFIXES, *names]):
            log = logging.getLogger(name)
            self._saved[name] = log.level
            log.setLevel(logging.CRITICAL)
        return self

    def __exit__(self, *exc) -> None:
        for name, level in self._saved.items():
            logging.getLogger(name).setLevel(level)
        self._saved.clear()


class DaskExecutor:
    """Runs chunks on Dask workers; needs the ``dask`` extra (``pip install '.[dask]'``).

    ``scheduler``: address of a running scheduler (``tcp://HOST:PORT``); without it a
    ``LocalCluster`` of ``workers`` single-threaded worker processes on 127.0.0.1 (no
    dashboard), each given ``cores / workers`` numba threads.
    """

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int | None = None, *,
                 connect_timeout: float = CONNECT_TIMEOUT_S, retries: int = RETRIES):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise BacktestError(f"--executor dask needs the dask extra: {DASK_EXTRA}") from None
        self.retries = retries
        self.numba_threads: int | None = None
        self.client = self.cluster = None
        self.address = scheduler
        self._quiet = _QuietLogs().__enter__()
        try:
            if scheduler:
                self.client = self._connect(Client, scheduler, connect_timeout)
            else:
                n = workers or 2
                self.numba_threads = max(1, (os.cpu_count() or 1) // n)
                self.cluster = LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address=None, silence_logs=logging.CRITICAL,
                    # no dashboard; its health/metrics HTTP server on a free loopback port
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
                self.client = Client(self.cluster)
                self.address = self.cluster.scheduler_address
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _connect(Client, address: str, timeout: float):
        where = f"cannot reach the Dask scheduler at {address}"
        try:
            client = Client(address, timeout=f"{timeout:g}s")
        except OSError as exc:  # TimeoutError included
            reason = (f"no answer within {timeout:g} s" if "Timed out" in str(exc)
                      else _one_line(exc) or type(exc).__name__)
            raise BacktestError(f"{where}: {reason} (is `dask scheduler` running at that "
                                "address?)") from None
        except (ValueError, TypeError) as exc:
            raise BacktestError(f"{where}: {_one_line(exc)} (expected tcp://HOST:PORT)") from None
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except TimeoutError:
            client.close()
            raise BacktestError(f"the Dask scheduler at {address} has no workers after "
                                f"{WORKER_WAIT_S} s; start some with `dask worker {address}`"
                                ) from None
        except OSError as exc:
            client.close()
            raise BacktestError(f"lost the Dask scheduler at {address} while waiting for "
                                f"workers: {_one_line(exc) or type(exc).__name__}") from None
        return client

    def map(self, engine, tasks, windows, n_main: int, metric: int) -> Iterator:
        """Yield ``(chunk index, row block)`` as chunks finish (any order; the runner places
        each block by its index and checkpoints it at once)."""
        from dask.distributed import as_completed

        tasks = list(tasks)
        if not tasks:
            return
        client = self.client
        try:
            client.run(warm_worker)
            [shared] = client.scatter([engine], broadcast=True, hash=False)
            futures = client.map(run_chunk_task, [lo for _, lo, _ in tasks],
                                 [hi for _, _, hi in tasks], engine=shared, windows=windows,
                                 n_main=n_main, metric=metric,
                                 numba_threads=self.numba_threads, retries=self.retries,
                                 pure=False)
        except ImportError as exc:
            raise BacktestError(f"a Dask worker cannot import the engine ({_one_line(exc)}); "
                                f"install this project on every worker: {DASK_EXTRA}") from None
        except OSError as exc:
            raise ClusterLost(f"the Dask cluster at {self.address} failed while starting the "
                              f"sweep: {_one_line(exc) or type(exc).__name__}") from None
        where = {f.key: (i, lo, hi) for f, (i, lo, hi) in zip(futures, tasks, strict=True)}
        # loop= explicitly: as_completed otherwise runs on the *default* client's event loop,
        # which, with another client open in the process, is not ours (and it hangs)
        pending = as_completed(futures, loop=client.loop, with_results=True,
                               raise_errors=False)
        del futures  # as_completed holds each future until it is yielded, then lets it go
        try:
            for future, result in pending:
                i, lo, hi = where.pop(future.key)
                if future.status != "finished":
                    raise self._failure(future.status, result, lo, hi)
                if isinstance(result, ChunkFailed):
                    raise result.error
                yield i, result
        finally:
            pending.clear()  # a stopped sweep leaves no tasks behind on the cluster
            del shared

    def _failure(self, status: str, exc, lo: int, hi: int) -> Exception:
        from distributed import KilledWorker

        what = f"combos {lo:,}-{hi - 1:,}"
        if isinstance(exc, tuple):  # an erred future's (type, exception, traceback)
            exc = exc[1]
        if isinstance(exc, KilledWorker):
            return ClusterLost(f"{what}: Dask workers kept dying while running this chunk "
                               "(out of memory? lower sweep.chunk_size or sweep.chunk_mb)")
        if status == "cancelled" or exc is None or isinstance(exc, OSError):
            text = _one_line(exc) if exc is not None else ""
            reason = re.search(r"for reason: ([\w-]+)", text)
            why = reason.group(1) if reason else text or status
            return ClusterLost(f"the Dask cluster at {self.address} lost the sweep at {what} "
                               f"({why})")
        if isinstance(exc, ImportError):
            return BacktestError(f"{what}: a Dask worker cannot import the engine "
                                 f"({_one_line(exc)}); install this project on every worker: "
                                 f"{DASK_EXTRA}")
        return exc  # a BacktestError as it is; anything else is an internal error (exit 1)

    def close(self) -> None:
        try:
            if self.client is not None:
                self.client.close()
            if self.cluster is not None:
                self.cluster.close()
        except Exception:  # noqa: BLE001 - closing a broken cluster is best effort
            pass
        finally:
            self.client = self.cluster = None
            self._quiet.__exit__()


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
        if scheduler and workers is not None:
            raise BacktestError("--scheduler and --workers exclude each other: --workers starts "
                                "a local cluster, a scheduler's workers are started with "
                                "`dask worker ADDRESS`")
        return DaskExecutor(scheduler, workers)
    raise BacktestError(f"unknown executor '{kind}'; choose local or dask")
