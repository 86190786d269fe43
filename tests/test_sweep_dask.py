"""Sweeps on Dask distributed: a LocalCluster of 2 worker processes on 127.0.0.1.

The same table as the local executor, bit for bit; a worker killed mid-sweep; a user error
inside a task; resume on a restarted cluster; an unreachable scheduler; dask never imported
on the local path.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from engine.cli import main
from engine.config import load_config
from engine.errors import DataError
from engine.sweep import pipeline, run_sweep
from engine.sweep.executors import DaskExecutor, make_executor
from engine.sweep.pipeline import checkpoint_root

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {
    "name": "dask-test", "strategy": "rotation",
    "data": {"tickers": ["IWM", "SPY"], "start": "2008-01-02", "end": "2012-12-31"},
    "params": {"signal": "ma", "window": 100, "band": 1.0, "min_hold": 5},
    "portfolio": {"cash_rate": "FEDFUNDS"}, "benchmark": "SPY", "report": {"html": False},
    # 77 windows x 21 bands x 2 holds = 3,234 combos in 65 chunks of 50
    "sweep": {"grid": {"window": {"start": 20, "stop": 400, "step": 5},
                       "band": {"start": 0.0, "stop": 5.0, "step": 0.25},
                       "min_hold": [0, 10]},
              "top": 0, "chunk_size": 50,
              "validation": {"walk_forward": {"train_years": 2, "test_years": 1}}},
}
N_COMBOS, N_CHUNKS = 3234, 65


@pytest.fixture(scope="module")
def config_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "dask.yaml"
    path.write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def local(config_path, tmp_path_factory):
    """The reference: the same sweep on the local executor."""
    out = tmp_path_factory.mktemp("local") / "res"
    outcome = run_sweep(load_config(config_path), out=out, progress=False, log=None)
    assert outcome.chunks.n_chunks == N_CHUNKS and outcome.grid.n == N_COMBOS
    return outcome, (out / "sweep.parquet").read_bytes()


@pytest.fixture(scope="module")
def cluster():
    """2 single-threaded worker processes, loopback only, no dashboard."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.CRITICAL,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as lc, \
            Client(lc) as client:
        yield lc, client


def _on_cluster(cluster) -> DaskExecutor:
    lc, client = cluster
    client.wait_for_workers(2, timeout=60)  # after a kill, the nanny brings the worker back
    return make_executor("dask", scheduler=lc.scheduler_address)


def _same_as_local(outcome, out: Path, local) -> None:
    ref, ref_bytes = local
    assert outcome.grid.n == N_COMBOS and outcome.chunks.n_chunks == N_CHUNKS
    np.testing.assert_array_equal(outcome.chunks.table, ref.chunks.table)
    np.testing.assert_array_equal(outcome.chunks.fold_best.index, ref.chunks.fold_best.index)
    assert (out / "sweep.parquet").read_bytes() == ref_bytes


def _worker_pids(cluster) -> set[int]:
    _, client = cluster
    client.wait_for_workers(2, timeout=60)
    return set(client.run(os.getpid).values())


def _slowed(make_engine, delay_s: float, fail_from: int | None = None):
    """``make_engine`` whose engines sleep ``delay_s`` per chunk (so that a test can act
    mid-sweep) and, from combo ``fail_from`` on, raise a data error. The subclass is local, so
    it travels to the workers by value (cloudpickle) with the scattered engine."""

    def make(*args, **kwargs):
        real = make_engine(*args, **kwargs)

        class Slowed(type(real)):
            def metrics(self, lo, hi, windows):
                time.sleep(delay_s)
                if fail_from is not None and hi > fail_from:
                    raise DataError("prices/IWM.csv: close is NaN on 2010-05-06 (row 2,101)")
                return super().metrics(lo, hi, windows)

        engine = Slowed.__new__(Slowed)
        engine.__dict__.update(real.__dict__)
        return engine

    return make


# --------------------------------------------------------------------------------- tests
def test_a_dask_sweep_gives_the_local_table_bit_for_bit(config_path, local, cluster, tmp_path,
                                                        capsys):
    executor = _on_cluster(cluster)
    try:
        outcome = run_sweep(load_config(config_path), out=tmp_path / "dask", progress=True,
                            log=None, executor=executor)
    finally:
        executor.close()
    _same_as_local(outcome, tmp_path / "dask", local)

    def cache_stats():  # local: travels to the workers by value
        from engine.sweep import fused

        stats = fused.rotation_metrics_nb.stats
        return sum(stats.cache_hits.values()), sum(stats.cache_misses.values())

    # every worker ran chunks with the kernel loaded from numba's on-disk cache, not compiled
    for hits, misses in cluster[1].run(cache_stats).values():
        assert hits >= 1 and misses == 0
    err = capsys.readouterr().err  # the progress bar ran as chunks came back
    assert f"{N_COMBOS:,}/{N_COMBOS:,} combos" in err and "Traceback" not in err
    assert not checkpoint_root(tmp_path / "dask").exists()  # removed after a success


def test_a_worker_killed_mid_sweep_still_gives_the_full_identical_table(
        config_path, local, cluster, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pipeline, "make_engine", _slowed(pipeline.make_engine, 0.05))
    executor = _on_cluster(cluster)
    pids = executor.client.run(os.getpid)
    assert len(pids) == 2
    out = tmp_path / "killed"
    result: dict = {}

    def sweep() -> None:
        try:
            result["outcome"] = run_sweep(load_config(config_path), out=out, progress=False,
                                          log=None, executor=executor)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            result["error"] = exc

    thread = threading.Thread(target=sweep)
    thread.start()
    try:
        root, deadline = checkpoint_root(out), time.monotonic() + 60
        while len(list(root.glob("*/chunk-*.npy"))) < 5:  # a few chunks are in
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.01)
        victim = next(iter(pids.values()))
        os.kill(victim, signal.SIGKILL)
        done_at_kill = len(list(root.glob("*/chunk-*.npy")))
        thread.join(120)
    finally:
        executor.close()
    assert not thread.is_alive()
    assert done_at_kill < N_CHUNKS  # the kill landed mid-sweep
    assert "error" not in result, result.get("error")
    _same_as_local(result["outcome"], out, local)
    assert victim not in _worker_pids(cluster)  # that worker is gone (a new one replaced it)
    assert "Traceback" not in capsys.readouterr().err


def test_a_data_error_in_a_task_is_one_line_and_resume_works_on_a_new_cluster(
        config_path, local, cluster, tmp_path, monkeypatch, capsys):
    lc, client = cluster
    client.wait_for_workers(2, timeout=60)
    out = tmp_path / "res"
    # the data error comes from the last chunk: most chunks are done and checkpointed by then
    monkeypatch.setattr(pipeline, "make_engine",
                        _slowed(pipeline.make_engine, 0.0, fail_from=N_COMBOS - 1))
    args = ["sweep", str(config_path), "--no-progress", "--out", str(out), "--executor", "dask"]
    assert main([*args, "--scheduler", lc.scheduler_address]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.count("\n") == 0, err
    assert err == ("backtest: error: prices/IWM.csv: close is NaN on 2010-05-06 (row 2,101)")
    assert not out.exists()  # no half-written results
    saved = len(list(checkpoint_root(out).glob("*/chunk-*.npy")))
    assert 0 < saved < N_CHUNKS

    # the data is fixed and the cluster restarted (here: a fresh LocalCluster, --workers 2);
    # --resume runs only the chunks that were not checkpointed
    monkeypatch.undo()
    assert main([*args, "--workers", "2", "--resume"]) == 0
    captured = capsys.readouterr()
    assert f"resumed {saved} of {N_CHUNKS} chunks from checkpoints" in captured.out
    assert "Traceback" not in captured.err
    assert (out / "sweep.parquet").read_bytes() == local[1]


def test_an_unreachable_scheduler_is_one_line_and_exit_2_in_bounded_time(config_path,
                                                                        tmp_path):
    with socket.socket() as s:  # a free loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    script = Path(sys.executable).with_name("backtest")
    cli = [str(script)] if script.is_file() else [sys.executable, "-m", "engine.cli"]
    started = time.monotonic()
    proc = subprocess.run([*cli, "sweep", str(config_path), "--no-progress", "--out",
                           str(tmp_path / "x"), "--executor", "dask", "--scheduler", address],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr  # one line, no traceback
    assert proc.stderr.startswith(f"backtest: error: cannot reach the Dask scheduler at "
                                  f"{address}: no answer within 10 s")
    assert elapsed < 30
    assert proc.stdout == ""  # nothing ran


@pytest.mark.parametrize(("extra", "match"), [
    (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "exclude each other"),
    (["--workers", "0"], "--workers must be >= 1"),
    (["--scheduler", "127.0.0.1"], "missing port number"),
])
def test_dask_option_errors_are_one_line(config_path, tmp_path, capsys, extra, match):
    code = main(["sweep", str(config_path), "--no-progress", "--out", str(tmp_path / "x"),
                 "--executor", "dask", *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and match in err, err


def test_the_local_path_never_imports_dask(config_path, tmp_path):
    code = textwrap.dedent(f"""
        import sys
        import engine.sweep
        from engine.cli import main
        out = {str(tmp_path / "local")!r}
        assert main(["sweep", {str(config_path)!r}, "--no-progress", "--out", out]) == 0
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
        assert not loaded, loaded
        print("no dask")
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("no dask")


def test_chunk_errors_cross_the_wire_as_values():
    # a BacktestError returned by the task (not raised): Dask neither retries nor logs it
    from engine.sweep.executors import ChunkFailed, run_chunk_task

    class Broken:
        def metrics(self, lo, hi, windows):
            raise DataError("bad data")

    failed = run_chunk_task(0, 2, engine=Broken(), windows=[(0, 5)], n_main=1, metric=0)
    assert isinstance(failed, ChunkFailed) and isinstance(failed.error, DataError)
    assert str(failed.error) == "bad data"
