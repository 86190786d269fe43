"""``backtest run --verify``: replay a run through vectorbt, the independent reference engine.

The run's targets are replayed at the bars where it traded with
``Portfolio.from_orders(size_type="targetpercent", cash_sharing=True, call_seq="auto")``,
fees = (fees_bps + slippage_bps) / 1e4, ``fixed_fees`` = the fixed fee, and the largest relative
difference in equity is reported. vectorbt is imported only here (its first call compiles
for about a minute on a fresh machine).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.errors import BacktestError
from engine.results import RunResult


def vectorbt_equity(close: pd.DataFrame, targets: pd.DataFrame, initial_cash: float,
                    cost_rate: float, fixed_fee: float = 0.0) -> pd.Series:
    """Equity of vectorbt's from_orders with ``targets`` (NaN = no order) as target percents."""
    import vectorbt as vbt

    pf = vbt.Portfolio.from_orders(
        close, targets, size_type="targetpercent", fees=cost_rate, fixed_fees=fixed_fee,
        cash_sharing=True, group_by=True, call_seq="auto", init_cash=initial_cash,
        direction="longonly", freq="1D")
    return pf.value()


def replay_orders(data, weights: np.ndarray, trade_dates) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Prices and target-percent orders over the run for vectorbt: at each bar that traded,
    the row decided at the previous close (warm-up row included); NaN (no order) elsewhere."""
    start = data.start_index
    executed = np.vstack([np.zeros((1, len(data.tickers))), weights])[start:-1]  # row t-1 at t
    dates = data.dates[start:]
    close = pd.DataFrame(data.close[start:], index=dates, columns=list(data.tickers))
    traded = dates.isin(pd.DatetimeIndex(trade_dates))
    targets = pd.DataFrame(np.where(traded[:, None], executed, np.nan), index=dates,
                           columns=close.columns)
    return close, targets


def verify_run(cfg, result: RunResult) -> str:
    """Replay ``result`` through vectorbt; returns a one-line report."""
    p = cfg.portfolio
    if p.cash_rate is not None:
        raise BacktestError("--verify needs portfolio.cash_rate unset: vectorbt pays no "
                            "interest on cash")
    if p.integer_units:
        raise BacktestError("--verify does not support portfolio.integer_units")
    from engine.run import prepare, target_weights

    prep = prepare(cfg)
    close, targets = replay_orders(prep.data, target_weights(prep), result.trades["date"])
    equity = vectorbt_equity(close, targets, p.initial_cash, (p.fees_bps + p.slippage_bps) / 1e4,
                             p.fixed_fee)
    rel = np.max(np.abs(equity.to_numpy() / result.equity.to_numpy() - 1.0))
    return (f"verify: vectorbt replay of {len(result.trades)} orders, largest relative equity "
            f"difference {rel:.2e}")
