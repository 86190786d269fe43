"""One backtest, end to end: config -> data -> weights -> simulation -> ``results/<name>/``.

Results are written into a temporary folder beside the target and swapped into place only
when complete, so an interrupted or failed run never leaves half a report and never destroys
the previous one.
"""

from __future__ import annotations

import ctypes
import errno
import glob
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from engine import regimes as rg
from engine.config import RunConfig
from engine.data import MarketData, available, file_sha256, load_market_data, resolve_data_dir
from engine.errors import BacktestError, DataError
from engine.metrics import summary as metrics_summary
from engine.results import RunResult
from engine.simulate import SimInputs, make_inputs, simulate
from strategies import get_strategy

RATE_SERIES = "FEDFUNDS"  # labels the report's rate-regime panel when the data has it


@dataclass(frozen=True)
class Prepared:
    """A config resolved against its data: what the simulation and the audit need."""

    cfg: RunConfig
    strategy: object
    params: object
    data: MarketData
    inputs: SimInputs
    data_dir: Path


def prepare(cfg: RunConfig) -> Prepared:
    """Load the data the config needs and build the kernel inputs."""
    strategy = get_strategy(cfg.strategy)
    params = strategy.Params.model_validate(cfg.params)
    data_dir = resolve_data_dir(cfg.data.dir)
    tickers = list(cfg.data.tickers)
    if cfg.benchmark and cfg.benchmark not in tickers:
        tickers.append(cfg.benchmark)
    macro = list(strategy.macro(params))
    if isinstance(cfg.portfolio.cash_rate, str):
        macro.append(cfg.portfolio.cash_rate)
    if RATE_SERIES in available(data_dir, "macro"):
        macro.append(RATE_SERIES)
    data = load_market_data(tickers, cfg.data.start, cfg.data.end, data_dir, macro,
                            cfg.data.monthly_lag_months, cfg.data.daily_lag_days)
    bench = data.price(cfg.benchmark) if cfg.benchmark else None
    return Prepared(cfg, strategy, params, data, make_inputs(data, cfg.portfolio, bench),
                    data_dir)


def target_weights(prep: Prepared) -> np.ndarray:
    """The strategy's (T, A) target weights over the loaded tickers."""
    return prep.strategy.weights(prep.data, prep.params)


def _regime_labels(prep: Prepared) -> pd.DataFrame | None:
    data, run = prep.data, slice(prep.data.start_index, None)
    frames = []
    if RATE_SERIES in data.macro:
        frames.append(rg.rate_regime_labels(data.macro[RATE_SERIES], data.dates))
    if {"IWM", "SPY"} <= set(data.tickers):
        frames.append(rg.ratio_trend_labels(data.price("IWM"), data.price("SPY"), data.dates))
    own = prep.strategy.regimes(data, prep.params)
    if own is not None:
        frames.append(own)
    return pd.concat(frames, axis=1).iloc[run] if frames else None


def run_backtest(cfg: RunConfig, prep: Prepared | None = None) -> RunResult:
    """Run one config and return its labelled result (nothing written)."""
    prep = prepare(cfg) if prep is None else prep
    weights = target_weights(prep)
    out = simulate(prep.data, weights, prep.inputs)
    data, run = prep.data, slice(prep.data.start_index, None)
    dates = data.dates[run]
    returns = out.equity.pct_change()
    returns.iloc[0] = out.equity.iloc[0] / cfg.portfolio.initial_cash - 1.0
    cash_ret = pd.Series(np.r_[0.0, prep.inputs.cash_daily[run][:-1]], index=dates)
    bench_eq = bench_ret = None
    bench_metrics = {}
    if cfg.benchmark:
        bench_ret = pd.Series(prep.inputs.bench_ret[run], index=dates, name=cfg.benchmark)
        bench_ret.iloc[0] = 0.0  # bought at the first close, as in the kernel
        bench_eq = cfg.portfolio.initial_cash * (1.0 + bench_ret).cumprod()
        bench_metrics = metrics_summary(bench_ret, cash_ret, bench_ret,
                                        initial_cash=cfg.portfolio.initial_cash,
                                        turnover_pct=0.0, n_orders=1.0, exposure_pct=100.0)
    return RunResult(
        name=cfg.name, equity=out.equity, returns=returns, benchmark_equity=bench_eq,
        benchmark_returns=bench_ret, cash_returns=cash_ret,
        target_weights=pd.DataFrame(weights[run], index=dates, columns=list(data.tickers)),
        held_weights=out.held_weights, trades=out.trades, metrics=out.metrics,
        benchmark_metrics=bench_metrics, regimes=_regime_labels(prep),
        config=cfg.model_dump(mode="json"),
    )


# --------------------------------------------------------------------------- writing results
def _clean(value):
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python numbers."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _dump_json(path: Path, obj) -> None:
    path.write_text(json.dumps(_clean(obj), indent=2, sort_keys=False) + "\n")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("iwm-backtest", "numpy", "pandas", "numba", "matplotlib", "pydantic", "PyYAML"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def output_dir(cfg: RunConfig, out: str | Path | None) -> Path:
    """Where a run writes: ``--out`` or ``<report.dir>/<name>``; checked before any work."""
    target = Path(out) if out else Path(cfg.report.dir) / cfg.name
    if target.exists() and not target.is_dir():
        raise BacktestError(f"output path is a file, not a folder: {target}")
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise BacktestError(f"cannot write results under {parent}: it is a file, not a folder")
    try:  # a real probe: os.access says yes to root on read-only or virtual file systems
        os.rmdir(tempfile.mkdtemp(prefix=f".{target.name}.probe-", dir=parent))
    except OSError as exc:
        raise BacktestError(f"output folder is not writable: {parent} ({exc.strerror})") from None
    return target


def write_result(result: RunResult, cfg: RunConfig, target: Path, files: dict[str, Path],
                 started: float, html: bool = True) -> Path:
    """Write every file of a run into a temporary folder, then swap it into ``target``."""
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(target)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        _write_files(result, cfg, tmp, files, started, html)
        swap_into_place(tmp, target)
    except OSError as exc:  # disk full, permissions changed under us: the old results stay
        shutil.rmtree(tmp, ignore_errors=True)
        raise BacktestError(f"cannot write results to {target}: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def swap_into_place(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``; an existing ``target`` is removed only afterwards.

    On Linux the two folders are exchanged in one atomic ``renameat2(RENAME_EXCHANGE)``, so
    even SIGKILL leaves either the old or the new results under ``target``. Elsewhere the old
    folder is first renamed aside to ``.<name>.old-<pid>`` (put back by :func:`remove_stale`
    if the process dies between the two renames).
    """
    if not target.exists():
        os.rename(tmp, target)
        return
    if _exchange(tmp, target):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the previous results
        return
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2``); False where that is not supported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def remove_stale(target: Path) -> None:
    """Clean up after runs on ``target`` that were killed (SIGKILL, power loss).

    ``.<name>.tmp-<pid>`` folders of dead processes are deleted; an ``.<name>.old-<pid>`` one
    is renamed back to ``target`` when ``target`` is missing (killed mid-swap), else deleted.
    """
    for path in sorted(target.parent.glob(f".{glob.escape(target.name)}.*-*")):
        kind, _, pid = path.name[len(target.name) + 2:].partition("-")
        if kind not in ("tmp", "old") or not pid.isdigit() or _alive(int(pid)):
            continue
        if kind == "old" and not target.exists():
            os.rename(path, target)
        else:
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but not ours, or cannot tell: leave it alone
        return True
    return True


def _write_files(result: RunResult, cfg: RunConfig, folder: Path, files: dict[str, Path],
                 started: float, html: bool) -> None:
    day = "%Y-%m-%d"
    result.equity.rename("equity").to_csv(folder / "equity.csv", index_label="date",
                                          date_format=day, float_format="%.10g")
    if result.benchmark_equity is not None:
        result.benchmark_equity.rename("equity").to_csv(
            folder / "benchmark.csv", index_label="date", date_format=day, float_format="%.10g")
    result.target_weights.to_csv(folder / "weights.csv", index_label="date", date_format=day,
                                 float_format="%.10g")
    result.trades.to_csv(folder / "trades.csv", index=False, date_format=day,
                         float_format="%.10g")
    start, end = result.equity.index[0].strftime(day), result.equity.index[-1].strftime(day)
    bench = ({"ticker": cfg.benchmark, "metrics": result.benchmark_metrics}
             if cfg.benchmark else None)
    _dump_json(folder / "metrics.json", {"name": cfg.name, "strategy": cfg.strategy,
                                         "start": start, "end": end,
                                         "metrics": result.metrics, "benchmark": bench})
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"),
                                                       sort_keys=False))
    if html:
        from engine.report import write_tearsheet

        write_tearsheet(result, folder)
    _dump_json(folder / "manifest.json", {
        "name": cfg.name, "config_hash": cfg.config_hash(), "start": start, "end": end,
        "data_files": {k: {"path": str(p), "sha256": file_sha256(p)} for k, p in files.items()},
        "versions": _versions(), "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "wall_time_s": round(time.perf_counter() - started, 3),
    })


def run_and_write(cfg: RunConfig, out: str | Path | None = None) -> tuple[RunResult, Path]:
    """Run a config and write ``results/<name>/``; returns the result and the folder."""
    started = time.perf_counter()
    target = output_dir(cfg, out)
    prep = prepare(cfg)
    result = run_backtest(cfg, prep)
    if result.equity.isna().any():
        raise DataError("the simulation produced NaN equity: check the price files")
    write_result(result, cfg, target, prep.data.files, started, cfg.report.html)
    return result, target
