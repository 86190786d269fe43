"""The labelled result of one backtest run, as handed to reports and written to ``results/``.

Conventions: equity in the account currency after all costs; returns are daily *simple*
returns; the first return is the first day's equity against the initial cash (so the first
trade's costs count); weights are fractions of equity (0.25 = 25 %).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

# Keys of a metrics dict, with units in the names. The kernel streams exactly these per combo
# and engine.metrics.summary computes them from a return series; tests demand they agree.
METRIC_KEYS: tuple[str, ...] = (
    "final_value",  # currency
    "total_return_pct",  # (E_end / initial_cash - 1) * 100
    "cagr_pct",  # ((E_end / initial_cash) ** (252 / N) - 1) * 100, N daily returns
    "volatility_pct",  # std(r, ddof=1) * sqrt(252) * 100
    "sharpe",  # mean(r - rf) / std(r - rf, ddof=1) * sqrt(252)
    "sortino",  # mean(r - rf) / sqrt(mean(min(r - rf, 0) ** 2)) * sqrt(252)
    "calmar",  # cagr / |max drawdown|
    "max_drawdown_pct",  # min(E / cummax(E) - 1) * 100, <= 0
    "max_drawdown_days",  # longest stretch, in trading days, below a previous equity high
    "turnover_pct",  # annualised one-sided turnover: sum(|traded notional| / E) / 2 * 252 / N * 100
    "n_orders",  # number of filled orders
    "exposure_pct",  # share of days ending with any position held, * 100
    "beta",  # cov(r, b) / var(b) (ddof=1)
    "alpha_pct",  # (mean(r) - beta * mean(b)) * 252 * 100
    "tracking_error_pct",  # std(r - b, ddof=1) * sqrt(252) * 100
    "information_ratio",  # mean(r - b) / std(r - b, ddof=1) * sqrt(252)
    "n_days",  # N, the number of daily returns
)


@dataclass
class RunResult:
    """Everything one run produced, labelled by trading date.

    Attributes:
        name: run name (results folder name).
        equity: portfolio value after costs at each close of the run (DatetimeIndex).
        returns: daily simple returns of ``equity`` (first one vs. the initial cash).
        benchmark_equity: buy-and-hold of the benchmark ticker scaled to the initial cash,
            on the same dates, or None when the config has no benchmark.
        benchmark_returns: daily simple returns of ``benchmark_equity`` (same convention).
        cash_returns: daily simple return of cash (the risk-free rate used in Sharpe/Sortino).
        target_weights: targets decided at each close (date x ticker), fraction of equity.
        held_weights: weights actually held after trading at each close (date x ticker).
        trades: one row per filled order: date, ticker, units (+buy / -sell), price,
            notional (units * price, signed), cost (fees + slippage + fixed fee, >= 0).
        metrics: the run's metrics (keys :data:`METRIC_KEYS`).
        benchmark_metrics: the same metrics for the benchmark, or empty.
        regimes: per-date labels for the regime panel, columns ``rate_regime``
            (easing / neutral / tightening) and ``ratio_trend`` (up / down); may be None.
        config: the resolved config as a plain dict.
    """

    name: str
    equity: pd.Series
    returns: pd.Series
    benchmark_equity: pd.Series | None
    benchmark_returns: pd.Series | None
    cash_returns: pd.Series
    target_weights: pd.DataFrame
    held_weights: pd.DataFrame
    trades: pd.DataFrame
    metrics: dict[str, float]
    benchmark_metrics: dict[str, float] = field(default_factory=dict)
    regimes: pd.DataFrame | None = None
    config: dict = field(default_factory=dict)
