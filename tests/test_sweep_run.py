"""Sweeps end to end on the bundled data: rows equal single runs, outputs, resume, --check."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from engine.cli import main
from engine.config import load_config
from engine.errors import ConfigError
from engine.results import METRIC_KEYS
from engine.run import prepare, run_backtest
from engine.sweep import executors, run_sweep
from engine.sweep.config import SweepConfig
from engine.sweep.engines import FusedRotation, Generic, make_engine
from engine.sweep.grid import build_grid
from engine.sweep.pipeline import checkpoint_root

ROTATION = {
    "name": "sweep-test", "strategy": "rotation",
    "data": {"tickers": ["IWM", "SPY"], "start": "2004-01-02", "end": "2012-12-31"},
    "params": {"signal": "ma", "window": 100, "band": 1.0, "min_hold": 5},
    "portfolio": {"cash_rate": "FEDFUNDS"}, "benchmark": "SPY",
    "report": {"html": False},
}
SMALL_GRID = {"window": {"start": 40, "stop": 200, "step": 40}, "band": [0.0, 1.0, 2.5],
              "min_hold": [0, 10]}


def _write(tmp_path, file="cfg.yaml", **changes):
    cfg = {**ROTATION, **changes}
    path = tmp_path / file
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _metrics_of_single_run(cfg, prep, params: dict, **data) -> np.ndarray:
    cfg = cfg.with_overrides(**data)
    p = prep.strategy.Params.model_validate({**cfg.params, **params})
    cfg = cfg.model_copy(update={"params": p.model_dump(mode="json")})
    result = run_backtest(cfg, dataclasses.replace(prepare(cfg), params=p) if data else
                          dataclasses.replace(prep, cfg=cfg, params=p))
    return np.array([result.metrics[k] for k in METRIC_KEYS])


# ----------------------------------------------------------------------------- exactness
@pytest.fixture(scope="module")
def rotation(tmp_path_factory):
    path = _write(tmp_path_factory.mktemp("cfg"))
    cfg = load_config(path)
    return cfg, prepare(cfg)


def test_fused_rows_equal_single_runs_for_every_signal(rotation):
    cfg, prep = rotation
    sweep = SweepConfig.model_validate({"grid": {
        "signal": ["ma", "crossover", "momentum"], "ma_type": ["sma", "ema"],
        "fast": [20, 60], "slow": [120], "lookback": [63], "band": [0.0, 2.0],
        "risk_off": ["SPY", "cash"]}})
    grid = build_grid(prep.strategy, cfg, sweep)
    engine = make_engine(prep.strategy, prep.data, prep.inputs, grid, 2**26)
    assert isinstance(engine, FusedRotation)
    start, n_days = prep.data.start_index, prep.data.close.shape[0]
    table = engine.metrics(0, grid.n, [(start, n_days)])[:, 0]
    for c in range(0, grid.n, 5):
        want = _metrics_of_single_run(cfg, prep, grid.combo(c))
        np.testing.assert_array_equal(table[c], want, err_msg=grid.label(c))


def test_window_rows_equal_single_runs_over_the_window(rotation):
    # a hold-out's in-sample row is a run ending at train_until; its out-of-sample row a fresh
    # account started on the first test day (warm-up history available)
    cfg, prep = rotation
    grid = build_grid(prep.strategy, cfg, SweepConfig.model_validate({"grid": SMALL_GRID}))
    dates, start = prep.data.dates, prep.data.start_index
    split = int(dates.searchsorted("2009-01-01"))
    engine = make_engine(prep.strategy, prep.data, prep.inputs, grid, 2**26)
    table = engine.metrics(0, grid.n, [(start, split), (split, len(dates))])
    for c in (0, 7, grid.n - 1):
        np.testing.assert_array_equal(table[c, 0], _metrics_of_single_run(
            cfg, prep, grid.combo(c), end=str(dates[split - 1].date())))
        np.testing.assert_array_equal(table[c, 1], _metrics_of_single_run(
            cfg, prep, grid.combo(c), start=str(dates[split].date())))


@pytest.mark.parametrize(("strategy", "params", "grid"), [
    ("rotation", {"signal": "rank", "universe": ["IWM", "SPY", "QQQ"]},
     {"lookback": [20, 60, 126], "band": [0.0, 2.0]}),
    ("reconstitution", {"hold": "IWM", "outside": "SPY"},
     {"entry_offset": [-30, -10], "exit_offset": [0, 5]}),
])
def test_generic_rows_equal_single_runs(tmp_path, strategy, params, grid):
    data = {**ROTATION["data"], "tickers": ["IWM", "SPY", "QQQ"]}
    cfg = load_config(_write(tmp_path, strategy=strategy, params=params, data=data))
    prep = prepare(cfg)
    g = build_grid(prep.strategy, cfg, SweepConfig.model_validate({"grid": grid}))
    engine = make_engine(prep.strategy, prep.data, prep.inputs, g, 3 * prep.data.close.size * 8)
    assert isinstance(engine, Generic) and engine.batch == 3  # chunked by the memory budget
    table = engine.metrics(0, g.n, [(prep.data.start_index, len(prep.data.dates))])[:, 0]
    for c in range(g.n):
        np.testing.assert_array_equal(table[c], _metrics_of_single_run(cfg, prep, g.combo(c)))


# ----------------------------------------------------------------------------- end to end
def _sweep(tmp_path, sweep: dict, **changes):
    return load_config(_write(tmp_path, sweep=sweep, **changes))


def test_walk_forward_sweep_writes_every_output(tmp_path):
    cfg = _sweep(tmp_path, {"grid": SMALL_GRID, "top": 2, "validation": {
        "walk_forward": {"train_years": 3, "test_years": 1}}})
    o = run_sweep(cfg, out=tmp_path / "res", progress=False, log=None)
    folder = tmp_path / "res"
    table = pq.read_table(folder / "sweep.parquet").to_pandas()
    assert len(table) == o.grid.n == 30
    assert list(table.columns[:4]) == ["combo", "window", "band", "min_hold"]
    assert {f"is_{k}" for k in METRIC_KEYS} | {f"oos_{k}" for k in METRIC_KEYS} <= set(table)
    for name in ("heatmap_window_band.png", "heatmap_window_min_hold.png",
                 "heatmap_band_min_hold.png", "top_sets.csv", "sweep_summary.md",
                 "walk_forward.csv", "oos_equity.csv", "sweep.json", "manifest.json"):
        assert (folder / name).is_file(), name
    tops = sorted(p.name for p in (folder / "top").iterdir())
    assert len(tops) == 2 and tops[0].startswith("01_window-")
    assert (folder / "top" / tops[0] / "metrics.json").is_file()
    summary = (folder / "sweep_summary.md").read_text()
    assert "deflated Sharpe ratio" in summary and "probability of backtest overfitting" in summary
    # each fold trades the best set of its own training window (checked by brute force)
    engine = make_engine(*_engine_args(cfg, o))
    for fold, row in zip(o.plan.folds, o.selection.walk.folds.itertuples(), strict=True):
        train = engine.metrics(0, o.grid.n, [fold.train])[:, 0, METRIC_KEYS.index("sharpe")]
        assert row.combo == int(np.nanargmax(train))
    n_days = engine.inputs.close.shape[0]
    assert len(o.selection.oos_returns) == n_days - o.plan.folds[0].test[0]  # stitched
    assert not checkpoint_root(folder).exists()  # removed after success


def _engine_args(cfg, o):
    prep = prepare(cfg)
    return prep.strategy, prep.data, prep.inputs, o.grid, 2**26


def test_sweep_table_is_byte_identical_for_the_same_config(tmp_path):
    cfg = _sweep(tmp_path, {"grid": SMALL_GRID, "top": 0})
    run_sweep(cfg, out=tmp_path / "a", progress=False, log=None)
    run_sweep(cfg, out=tmp_path / "b", progress=False, log=None)
    first, second = (tmp_path / "a/sweep.parquet"), (tmp_path / "b/sweep.parquet")
    assert first.read_bytes() == second.read_bytes()


def test_resume_after_an_interruption_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    cfg = _sweep(tmp_path, {"grid": SMALL_GRID, "top": 0, "chunk_size": 7, "validation": {
        "holdout": {"train_until": "2009-12-31"}}})
    run_sweep(cfg, out=tmp_path / "full", progress=False, log=None)
    real, calls = executors.compute_chunk, []

    def interrupted(*args):
        calls.append(args[1])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(executors, "compute_chunk", interrupted)
    target = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg, out=target, progress=False, log=None)
    assert not target.exists()  # nothing half-written
    saved = list(checkpoint_root(target).rglob("chunk-*.npy"))
    assert len(saved) == 2
    monkeypatch.setattr(executors, "compute_chunk", real)
    o = run_sweep(cfg, out=target, resume=True, progress=False, log=None)
    assert (o.chunks.n_resumed, o.chunks.n_chunks) == (2, 5)
    assert (target / "sweep.parquet").read_bytes() == (
        tmp_path / "full/sweep.parquet").read_bytes()
    assert not checkpoint_root(target).exists()


# ----------------------------------------------------------------------------- CLI
def _ci_config(tmp_path, ci: dict, file: str):
    return _write(tmp_path, file, name=file.removesuffix(".yaml"), sweep={
        "grid": {"window": [50, 100, 150], "band": [0.0, 2.0]}, "top": 0, "ci": ci,
        "overfitting": {"partitions": 4}, "validation": {"holdout": {"train_until": "2009-12-31"}}})


def test_check_exits_0_when_every_threshold_passes(tmp_path, capsys):
    path = _ci_config(tmp_path, {"min_oos_sharpe": -5, "max_pbo": 1.0,
                                 "max_drawdown_pct": 100}, "pass.yaml")
    code = main(["sweep", str(path), "--check", "--no-progress", "--out", str(tmp_path / "p")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "6 combos" in out and "combos/s" in out and "ci pass" in out


def test_check_exits_3_with_one_line_when_a_threshold_is_missed(tmp_path, capsys):
    path = _ci_config(tmp_path, {"min_oos_sharpe": 5.0, "min_deflated_sharpe": 0.999},
                      "fail.yaml")
    code = main(["sweep", str(path), "--check", "--no-progress", "--out", str(tmp_path / "f")])
    err = capsys.readouterr().err.strip()
    assert code == 3
    assert err.count("\n") == 0
    assert err.startswith("backtest: error: sweep check failed: out-of-sample Sharpe")
    assert "sweep.ci.min_oos_sharpe" in err and "sweep.ci.min_deflated_sharpe" in err
    assert (tmp_path / "f/sweep_summary.md").is_file()  # results are written first (for CI)
    # without --check the same sweep reports the miss and exits 0
    assert main(["sweep", str(path), "--no-progress", "--out", str(tmp_path / "g")]) == 0


@pytest.mark.parametrize(("sweep", "extra", "match"), [
    ({"grid": {"windw": [10]}}, [], "did you mean 'window'"),
    ({"grid": {"window": [50]}}, ["--check"], "--check needs thresholds in sweep.ci"),
    ({"grid": {"window": [50]}}, ["--workers", "2"], "--workers needs --executor dask"),
    (None, [], "no sweep: block"),
])
def test_user_errors_exit_2_with_one_line(tmp_path, capsys, sweep, extra, match):
    path = _write(tmp_path, sweep=sweep)
    assert main(["sweep", str(path), "--no-progress", "--out", str(tmp_path / "x"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and match in err


def test_dask_workers_give_the_same_table_bit_for_bit(tmp_path):
    pytest.importorskip("dask.distributed")
    cfg = _sweep(tmp_path, {"grid": SMALL_GRID, "top": 0, "chunk_size": 4, "validation": {
        "walk_forward": {"train_years": 3, "test_years": 2}}})
    local = run_sweep(cfg, out=tmp_path / "local", progress=False, log=None)
    dask = executors.make_executor("dask", workers=2)
    try:
        remote = run_sweep(cfg, out=tmp_path / "dask", progress=False, log=None, executor=dask)
    finally:
        dask.close()
    assert remote.chunks.n_chunks == 8
    assert (tmp_path / "dask/sweep.parquet").read_bytes() == (
        tmp_path / "local/sweep.parquet").read_bytes()
    np.testing.assert_array_equal(remote.chunks.fold_best.index, local.chunks.fold_best.index)


def test_interrupted_sweep_says_how_to_resume(tmp_path, monkeypatch, capsys):
    cfg = _sweep(tmp_path, {"grid": SMALL_GRID, "top": 0, "chunk_size": 10})

    def stop(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(executors, "compute_chunk", stop)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg, out=tmp_path / "r", progress=False, log=None)
    err = capsys.readouterr().err
    assert "0 of 3 chunks are checkpointed" in err and "rerun with --resume" in err


def test_a_sweep_file_can_extend_a_run_config(tmp_path):
    from engine.sweep.config import load_sweep_config

    _write(tmp_path, "run.yaml")
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump({
        "extends": "run.yaml", "name": "extended",
        "sweep": {"grid": {"window": [50, 100]}}}))
    cfg = load_sweep_config(tmp_path / "sweep.yaml")
    assert cfg.name == "extended" and cfg.strategy == "rotation"
    assert cfg.params["window"] == 100 and cfg.sweep == {"grid": {"window": [50, 100]}}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"extends": "run.yaml", "nam": "x"}))
    with pytest.raises(ConfigError, match="unknown key 'nam'"):
        load_sweep_config(tmp_path / "bad.yaml")
