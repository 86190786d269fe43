"""Numba kernels: target-weight portfolio simulation with streaming metrics.

Arrays and scalars in, arrays out; no pandas, no I/O. Each kernel is written once as plain
Python (``*_py`` or a ``register_jitable`` helper, which runs as plain Python when called from
Python) and jitted from it (``*_nb``); tests demand the two agree.

Conventions
-----------
* ``close`` is ``(T, A)`` float64 adjusted close (total return), ``target`` is ``(T, A)`` (one
  combo) or ``(C, T, A)`` float64 target weights, row t decided at the close of day t.
* Execution: the target decided at the close of day t-1 is traded at the close of day t
  (``next_close``). The run starts at bar ``start`` with ``initial_cash`` in cash; the row
  ``start - 1`` (computed on warm-up history) is the first target that can trade.
* Costs: ``cost_rate = (fees_bps + slippage_bps) / 1e4`` of traded notional, plus ``fixed_fee``
  per filled order. Traded at the close itself (slippage is a cost, not a price shift), which is
  vectorbt's ``fees`` argument with ``slippage=0``.
* Rebalance sizing follows vectorbt's ``Portfolio.from_orders(size_type="targetpercent",
  cash_sharing=True, call_seq="auto")`` with its default ``update_value=False``: every order of
  a rebalance is sized on the portfolio value at the close *before* that bar's trades; orders run
  in ascending order of their value (sells first); a buy that would overdraw cash is scaled down
  to the cash left (after fees), so cash never goes below zero. Float tolerances (1e-9 relative,
  1e-12 absolute) are vectorbt's, so the two engines agree to rounding.
* Cash earns ``cash_daily[t - 1]`` (a daily simple rate, decimal) from close t-1 to close t.
* Returns are daily simple returns of equity; the first one is against the initial cash, so the
  first trade's costs count. Metric formulas: see ``engine.results.METRIC_KEYS``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange
from numba.extending import register_jitable

REL_TOL = 1e-9
ABS_TOL = 1e-12
PERIODS_PER_YEAR = 252.0

# Rebalance modes
REBALANCE_ON_CHANGE = 0  # trade when the target row differs from the last traded one
REBALANCE_PERIODIC = 1  # trade every `period` bars (or at month starts when period == 0)
REBALANCE_BAND = 2  # trade on a target change or when any weight drifts beyond `band`

# Columns of the trade records
TRADE_BAR, TRADE_ASSET, TRADE_UNITS, TRADE_PRICE, TRADE_COST = 0, 1, 2, 3, 4
N_TRADE_FIELDS = 5

N_METRICS = 17  # len(engine.results.METRIC_KEYS), same order


class SimSettings(NamedTuple):
    """Scalar settings of a simulation (a NamedTuple numba can read)."""

    initial_cash: float
    cost_rate: float  # (fees_bps + slippage_bps) / 1e4
    fixed_fee: float  # currency per filled order
    rebalance_mode: int  # REBALANCE_*
    period: int  # bars between periodic rebalances; 0 = first trading day of each month
    band: float  # drift tolerance for REBALANCE_BAND, in weight units (0.05 = 5 points)
    integer_units: bool  # round order sizes down to whole units


@register_jitable
def _is_close(a, b):
    if a == b:
        return True
    return abs(a - b) <= max(REL_TOL * max(abs(a), abs(b)), ABS_TOL)


@register_jitable
def _add(a, b):
    """a + b, snapped to 0.0 when the two cancel within tolerance (as vectorbt does)."""
    if np.sign(a) != np.sign(b):
        if _is_close(abs(a), abs(b)):
            return 0.0
    elif _is_close(a + b, 0.0):
        return 0.0
    return a + b


@register_jitable
def _insert_argsort(values, order):
    """Stable insertion argsort of a short array, in place (vectorbt's call-seq sort)."""
    for j in range(1, values.shape[0]):
        v = values[j]
        o = order[j]
        i = j - 1
        while i >= 0 and values[i] > v:
            values[i + 1] = values[i]
            order[i + 1] = order[i]
            i -= 1
        values[i + 1] = v
        order[i + 1] = o


@register_jitable
def _trade_to_target(t, target_row, prices, units, cash, s, order_value, order, trades, n_trades):
    """Trade at bar t from ``units``/``cash`` to ``target_row``; returns (cash, traded, n_trades).

    ``units`` is updated in place; ``traded`` is the sum of |notional| filled. When ``trades``
    has rows, each filled order is recorded there.
    """
    n_assets = prices.shape[0]
    value = cash
    for a in range(n_assets):
        if units[a] != 0.0:
            value += units[a] * prices[a]
    for a in range(n_assets):
        order_value[a] = target_row[a] * value - units[a] * prices[a]
        order[a] = a
    _insert_argsort(order_value, order)
    traded = 0.0
    for k in range(n_assets):
        a = order[k]
        p = prices[a]
        size = target_row[a] * value / p - units[a]
        if s.integer_units and target_row[a] != 0.0:
            size = np.floor(size) if size > 0 else -np.floor(-size)
        if _is_close(size, 0.0):
            continue
        if size > 0.0:
            req = size * p
            total = req + req * s.cost_rate + s.fixed_fee
            if total <= cash or _is_close(total, cash):
                cost = req * s.cost_rate + s.fixed_fee
                cash = _add(cash, -total)
            else:
                max_req = (cash - s.fixed_fee) / (1.0 + s.cost_rate)
                if max_req <= 0.0:
                    continue
                size = max_req / p
                if s.integer_units:
                    size = np.floor(size)
                    if size <= 0.0:
                        continue
                    req = size * p
                    cost = req * s.cost_rate + s.fixed_fee
                    cash = _add(cash, -(req + cost))
                else:
                    cost = cash - max_req
                    cash = 0.0
            units[a] = _add(units[a], size)
        else:
            size = min(units[a], -size)
            if _is_close(size, 0.0):
                continue
            proceeds = size * p
            cost = proceeds * s.cost_rate + s.fixed_fee
            if proceeds - cost < 0.0:
                continue
            cash = cash + (proceeds - cost)
            units[a] = _add(units[a], -size)
            size = -size
        traded += abs(size) * p
        if n_trades < trades.shape[0]:
            trades[n_trades, TRADE_BAR] = t
            trades[n_trades, TRADE_ASSET] = a
            trades[n_trades, TRADE_UNITS] = size
            trades[n_trades, TRADE_PRICE] = p
            trades[n_trades, TRADE_COST] = cost
        n_trades += 1
    return cash, traded, n_trades


@register_jitable
def _finish_metrics(out, n, final_value, s, sums, max_dd, max_dd_days, turnover_sum,
                    n_orders, exposed_days):
    """Fill ``out`` (METRIC_KEYS order) from the streamed sums (see simulate_combo)."""
    (mean_r, m2_r, mean_x, m2_x, down_sq, mean_b, m2_b, c_rb, mean_d, m2_d, has_bench) = sums
    nan = np.nan
    ann = np.sqrt(PERIODS_PER_YEAR)
    growth = final_value / s.initial_cash
    out[0] = final_value
    out[1] = (growth - 1.0) * 100.0
    cagr = growth ** (PERIODS_PER_YEAR / n) - 1.0 if n > 0 and growth > 0.0 else nan
    out[2] = cagr * 100.0
    std_r = np.sqrt(m2_r / (n - 1)) if n > 1 else nan
    out[3] = std_r * ann * 100.0 if std_r > 0.0 else nan
    std_x = np.sqrt(m2_x / (n - 1)) if n > 1 else nan
    out[4] = mean_x / std_x * ann if std_x > 0.0 else nan
    down = np.sqrt(down_sq / n) if n > 1 else nan
    out[5] = mean_x / down * ann if down > 0.0 else nan
    out[6] = cagr / abs(max_dd) if max_dd < 0.0 else nan
    out[7] = max_dd * 100.0
    out[8] = max_dd_days
    out[9] = turnover_sum / 2.0 * PERIODS_PER_YEAR / n * 100.0 if n > 0 else nan
    out[10] = n_orders
    out[11] = exposed_days / n * 100.0 if n > 0 else nan
    if has_bench and n > 1 and m2_b > 0.0:
        beta = c_rb / m2_b
        out[12] = beta
        out[13] = (mean_r - beta * mean_b) * PERIODS_PER_YEAR * 100.0
    else:
        out[12] = nan
        out[13] = nan
    std_d = np.sqrt(m2_d / (n - 1)) if has_bench and n > 1 else nan
    out[14] = std_d * ann * 100.0 if std_d > 0.0 else nan
    out[15] = mean_d / std_d * ann if std_d > 0.0 else nan
    out[16] = n


@register_jitable
def simulate_combo(close, target, start, end, cash_daily, bench_ret, month_start, s,
                   out_metrics, equity_out, held_out, trades_out):
    """Simulate one combo over bars ``start .. end - 1``; returns the number of filled orders.

    Args:
        close: (T, A) prices. target: (T, A) weights, row t decided at close t.
        start, end: first bar of the run and one past its last (T for the whole history).
        cash_daily: (T,) daily simple cash rate (decimal).
        bench_ret: (T,) benchmark daily simple returns (the one at ``start`` is taken as 0:
            the benchmark is bought at the first close); all NaN = no benchmark.
        month_start: (T,) True on the first trading day of each month.
        s: SimSettings. out_metrics: (N_METRICS,) filled in METRIC_KEYS order.
        equity_out: (T,) or empty; held_out: (T, A) or empty; trades_out: (K, 5) or empty —
            filled only when they have rows (single runs, top-K of a sweep).
    """
    n_assets = close.shape[1]
    record = equity_out.shape[0] > 0
    units = np.zeros(n_assets)
    last_target = np.zeros(n_assets)
    order_value = np.empty(n_assets)
    order = np.empty(n_assets, dtype=np.int64)
    has_bench = not np.isnan(bench_ret[end - 1])
    cash = s.initial_cash
    prev_equity = s.initial_cash
    peak, peak_idx, max_dd, max_dd_days = s.initial_cash, 0, 0.0, 0
    mean_r = m2_r = mean_x = m2_x = down_sq = 0.0
    mean_b = m2_b = c_rb = mean_d = m2_d = 0.0
    turnover_sum = 0.0
    exposed_days = 0
    n_trades = 0
    n = 0
    # The rebalance test reads target[t - 1] in place and the bar's prices and target row are
    # copied into small buffers only when a rebalance is due (most bars have none): slicing
    # close[t] / target[t - 1] or passing arrays to a helper every bar costs NRT reference
    # counting (atomic increments shared by all threads), ~5x the rest of the bar's work.
    prices = np.empty(n_assets)
    row = np.zeros(n_assets)
    band_mode = s.rebalance_mode == REBALANCE_BAND
    for t in range(start, end):
        rf = 0.0
        if t > start:
            rf = cash_daily[t - 1]
            if cash > 0.0 and rf != 0.0:
                cash = cash * (1.0 + rf)
        changed = False
        if t > 0:  # else the target row is zeros, the initial last_target
            for a in range(n_assets):
                if target[t - 1, a] != last_target[a]:
                    changed = True
                    break
        if s.rebalance_mode == REBALANCE_ON_CHANGE:
            due = changed
        elif s.rebalance_mode == REBALANCE_PERIODIC:
            if t == start:
                due = True
            elif s.period > 0:
                due = (t - start) % s.period == 0
            else:
                due = month_start[t]
        else:
            due = changed
        if due or band_mode:
            for a in range(n_assets):
                prices[a] = close[t, a]
                row[a] = target[t - 1, a] if t > 0 else 0.0
            value = cash
            for a in range(n_assets):
                if units[a] != 0.0:
                    value += units[a] * prices[a]
            if not due and value > 0.0:
                for a in range(n_assets):
                    if abs(units[a] * prices[a] / value - row[a]) > s.band:
                        due = True
                        break
            if due:
                cash, traded, n_trades = _trade_to_target(
                    t, row, prices, units, cash, s, order_value, order, trades_out, n_trades)
                for a in range(n_assets):
                    last_target[a] = row[a]
                if value > 0.0:
                    turnover_sum += traded / value
        equity = cash
        invested = False
        for a in range(n_assets):
            if units[a] != 0.0:
                equity += units[a] * close[t, a]
                invested = True
        if invested:
            exposed_days += 1
        if record:
            equity_out[t] = equity
            for a in range(n_assets):
                held_out[t, a] = units[a] * close[t, a] / equity if equity != 0.0 else 0.0
        # streaming statistics (Welford's online mean/variance/covariance)
        r = equity / prev_equity - 1.0
        prev_equity = equity
        n += 1
        dr = r - mean_r
        mean_r += dr / n
        m2_r += dr * (r - mean_r)
        x = r - rf
        dx = x - mean_x
        mean_x += dx / n
        m2_x += dx * (x - mean_x)
        if x < 0.0:
            down_sq += x * x
        if has_bench:
            b = bench_ret[t] if t > start else 0.0  # benchmark bought at the first close
            db = b - mean_b
            mean_b += db / n
            m2_b += db * (b - mean_b)
            c_rb += dr * (b - mean_b)
            d = r - b
            dd_ = d - mean_d
            mean_d += dd_ / n
            m2_d += dd_ * (d - mean_d)
        if equity >= peak:
            peak, peak_idx = equity, n
        else:
            dd = equity / peak - 1.0
            if dd < max_dd:
                max_dd = dd
            if n - peak_idx > max_dd_days:
                max_dd_days = n - peak_idx
    sums = (mean_r, m2_r, mean_x, m2_x, down_sq, mean_b, m2_b, c_rb, mean_d, m2_d, has_bench)
    _finish_metrics(out_metrics, n, prev_equity, s, sums, max_dd, max_dd_days, turnover_sum,
                    n_trades, exposed_days)
    return n_trades


def simulate_many_py(close, targets, start, end, cash_daily, bench_ret, month_start, s):
    """Metrics (C, N_METRICS) for C combos of targets (C, T, A); nothing per day is kept."""
    n_combos = targets.shape[0]
    out = np.empty((n_combos, N_METRICS))
    no_equity = np.empty(0)
    no_held = np.empty((0, 0))
    no_trades = np.empty((0, N_TRADE_FIELDS))
    for c in prange(n_combos):
        simulate_combo(close, targets[c], start, end, cash_daily, bench_ret, month_start, s,
                       out[c], no_equity, no_held, no_trades)
    return out


simulate_combo_nb = njit(cache=True)(simulate_combo)
simulate_many_nb = njit(cache=True, parallel=True)(simulate_many_py)
