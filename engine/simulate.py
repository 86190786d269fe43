"""The Python face of the simulation kernels: checks arrays once, calls numba, labels results.

``simulate`` runs one set of target weights and returns equity, held weights, trades and
metrics as pandas objects; ``simulate_metrics`` runs C sets at once and returns only the
metrics table (nothing per day is allocated per combo). Conventions: see ``engine.kernels``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine import kernels as k
from engine.config import PortfolioConfig
from engine.data import MarketData
from engine.errors import BacktestError, ConfigError
from engine.metrics import daily_rate_from_annual_pct
from engine.results import METRIC_KEYS

_WEIGHT_TOL = 1e-9
_MODES = {"on_change": k.REBALANCE_ON_CHANGE, "periodic": k.REBALANCE_PERIODIC,
          "band": k.REBALANCE_BAND}


@dataclass(frozen=True)
class SimInputs:
    """Everything the kernel needs besides the weights (shared by all combos of a run)."""

    close: np.ndarray  # (T, A)
    start: int
    cash_daily: np.ndarray  # (T,) daily simple cash rate, decimal
    bench_ret: np.ndarray  # (T,) benchmark daily simple returns, NaN = no benchmark
    month_start: np.ndarray  # (T,) bool
    settings: k.SimSettings


def settings_from(portfolio: PortfolioConfig) -> k.SimSettings:
    every = portfolio.rebalance_every
    return k.SimSettings(
        initial_cash=float(portfolio.initial_cash),
        cost_rate=(portfolio.fees_bps + portfolio.slippage_bps) / 1e4,
        fixed_fee=float(portfolio.fixed_fee),
        rebalance_mode=_MODES[portfolio.rebalance],
        period=0 if every == "month" else int(every),
        band=portfolio.band_pct / 100.0,
        integer_units=bool(portfolio.integer_units),
    )


def cash_rate_series(data: MarketData, cash_rate: float | str | None) -> np.ndarray:
    """(T,) daily simple rate earned by cash: 0, a constant annual %, or a published series."""
    n_days = len(data.dates)
    if cash_rate is None:
        return np.zeros(n_days)
    if isinstance(cash_rate, int | float):
        return np.full(n_days, daily_rate_from_annual_pct(float(cash_rate)))
    if cash_rate not in data.macro:
        raise ConfigError(f"portfolio.cash_rate: series '{cash_rate}' is not loaded",
                          ("portfolio", "cash_rate"))
    annual = np.nan_to_num(data.macro[cash_rate], nan=0.0)
    return daily_rate_from_annual_pct(annual)


def benchmark_returns(data: MarketData, prices: np.ndarray | None) -> np.ndarray:
    """(T,) daily simple returns of ``prices`` (0 on the first day of the history; the kernel
    takes the one at the run's first bar as 0); all NaN when ``prices`` is None."""
    out = np.full(len(data.dates), np.nan)
    if prices is None:
        return out
    out[0] = 0.0
    out[1:] = prices[1:] / prices[:-1] - 1.0
    return out


def make_inputs(data: MarketData, portfolio: PortfolioConfig,
                benchmark_prices: np.ndarray | None = None) -> SimInputs:
    months = data.dates.year * 12 + data.dates.month
    month_start = np.ones(len(months), dtype=bool)
    month_start[1:] = np.diff(months) != 0
    return SimInputs(
        close=np.ascontiguousarray(data.close, dtype=np.float64),
        start=int(data.start_index),
        cash_daily=np.ascontiguousarray(cash_rate_series(data, portfolio.cash_rate)),
        bench_ret=benchmark_returns(data, benchmark_prices),
        month_start=month_start,
        settings=settings_from(portfolio),
    )


def check_weights(weights: np.ndarray, data: MarketData) -> np.ndarray:
    """Validate (T, A) or (C, T, A) weights: finite, >= 0, each row summing to <= 1."""
    w = np.ascontiguousarray(weights, dtype=np.float64)
    if w.shape[-2:] != data.close.shape:
        raise BacktestError(f"weights have shape {w.shape}, want (..., {data.close.shape[0]}, "
                            f"{data.close.shape[1]}) (days, tickers)")
    for name, bad in (("not finite", ~np.isfinite(w)), ("negative (no shorts)", w < 0)):
        if bad.any():
            idx = np.argwhere(bad)[0]
            raise BacktestError(f"target weight {name} on {data.dates[idx[-2]].date()} for "
                                f"{data.tickers[idx[-1]]}: {w[tuple(idx)]!r}")
    sums = w.sum(axis=-1)
    if (sums > 1.0 + _WEIGHT_TOL).any():
        idx = np.argwhere(sums > 1.0 + _WEIGHT_TOL)[0]
        raise BacktestError(f"target weights sum to {sums[tuple(idx)]:.6g} > 1 on "
                            f"{data.dates[idx[-1]].date()}: no leverage in this release")
    return w


@dataclass(frozen=True)
class SimOutput:
    """One run, labelled: equity and held weights per day, one row per filled order."""

    equity: pd.Series
    held_weights: pd.DataFrame
    trades: pd.DataFrame
    metrics: dict[str, float]


def simulate(data: MarketData, weights: np.ndarray, inputs: SimInputs) -> SimOutput:
    """Run one set of (T, A) target weights through the kernel and label the result."""
    w = check_weights(weights, data)
    n_days, n_assets = w.shape
    metrics = np.empty(k.N_METRICS)
    equity = np.full(n_days, np.nan)
    held = np.zeros((n_days, n_assets))
    trades = np.zeros(((n_days - inputs.start) * n_assets, k.N_TRADE_FIELDS))
    n_trades = k.simulate_combo_nb(inputs.close, w, inputs.start, n_days, inputs.cash_daily,
                                   inputs.bench_ret, inputs.month_start, inputs.settings,
                                   metrics, equity, held, trades)
    run = slice(inputs.start, None)
    dates = data.dates[run]
    rec = trades[:n_trades]
    bars = rec[:, k.TRADE_BAR].astype(np.int64)
    trade_frame = pd.DataFrame({
        "date": data.dates[bars],
        "ticker": np.asarray(data.tickers, dtype=object)[rec[:, k.TRADE_ASSET].astype(np.int64)],
        "units": rec[:, k.TRADE_UNITS],
        "price": rec[:, k.TRADE_PRICE],
        "notional": rec[:, k.TRADE_UNITS] * rec[:, k.TRADE_PRICE],
        "cost": rec[:, k.TRADE_COST],
    })
    return SimOutput(
        equity=pd.Series(equity[run], index=dates, name="equity"),
        held_weights=pd.DataFrame(held[run], index=dates, columns=list(data.tickers)),
        trades=trade_frame,
        metrics=dict(zip(METRIC_KEYS, (float(x) for x in metrics), strict=True)),
    )


def simulate_metrics(data: MarketData, weights: np.ndarray, inputs: SimInputs) -> pd.DataFrame:
    """Metrics for C sets of (C, T, A) weights, one row per set (columns METRIC_KEYS)."""
    w = check_weights(weights, data)
    if w.ndim != 3:
        raise BacktestError(f"weights for many combos must be (C, T, A), got shape {w.shape}")
    table = k.simulate_many_nb(inputs.close, w, inputs.start, w.shape[1], inputs.cash_daily,
                               inputs.bench_ret, inputs.month_start, inputs.settings)
    return pd.DataFrame(table, columns=list(METRIC_KEYS))
