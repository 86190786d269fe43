"""Fused sweep kernel for the rotation strategy: signal -> hysteresis -> weights -> simulation.

One pass per combo, nothing per combo kept but its metrics. The moving averages (or momentum
series) of the ratio are computed once per distinct window by the caller, with the same
indicator kernels as a single run (``strategies.indicators``), and passed in as a ``bank`` of
series; each combo then only points into the bank:

* kind 0 (``ma``): ``bank[ia]`` is the signal ratio / MA - 1 itself;
* kind 1 (``crossover``): the signal is ``bank[ia] / bank[ib] - 1`` (fast MA / slow MA - 1);
* kind 2 (``momentum``): ``bank[ia]`` is the signal (pct change over the lookback).

The combos are split into ``n_blocks`` blocks run in parallel; each block owns one (T, A) target
buffer and one signal buffer, reused combo after combo, so memory is flat in the number of
combos. The simulation is :func:`engine.kernels.simulate_combo`, the single-run kernel, called
once per window: a sweep row therefore equals a single run of that combo, bit for bit.

Written once as plain Python (``*_py``, runnable without numba for tests) and jitted (``*_nb``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from numba.extending import register_jitable

from engine.kernels import N_TRADE_FIELDS, simulate_combo
from strategies.indicators import STATE_OFF, STATE_ON, hysteresis_states

KIND_MA, KIND_CROSSOVER, KIND_MOMENTUM = 0, 1, 2


@register_jitable
def combo_targets(bank, kind, ia, ib, band, min_hold, on_col, off_col, signal, target):
    """Fill ``target`` (T, A) with the combo's 0/1 weights (``Rotation.weights``'s rule)."""
    n_days, n_assets = target.shape
    if kind == KIND_CROSSOVER:
        fast = bank[ia]
        slow = bank[ib]
        for t in range(n_days):
            signal[t] = fast[t] / slow[t] - 1.0
        states = hysteresis_states(signal, band, min_hold)
    else:
        states = hysteresis_states(bank[ia], band, min_hold)
    for t in range(n_days):
        col = -1  # the column held after row t (-1: cash)
        if states[t] == STATE_ON:
            col = on_col
        elif states[t] == STATE_OFF:
            col = off_col
        for a in range(n_assets):
            target[t, a] = 1.0 if a == col else 0.0


def rotation_metrics_py(close, bank, kind, ia, ib, band, min_hold, on_col, off_col, starts,
                        ends, cash_daily, bench_ret, month_start, s, n_blocks, out):
    """Metrics of C combos over W windows: ``out`` (C, W, N_METRICS), METRIC_KEYS order.

    Per-combo arrays (C,): ``kind``, ``ia``, ``ib`` (bank rows), ``band`` (decimal, 0.02 =
    2 %), ``min_hold`` (days), ``on_col`` / ``off_col`` (columns of ``close``, -1 = cash).
    ``starts`` / ``ends`` (W,): the windows' bar ranges ``[start, end)``.
    """
    n_combos = kind.shape[0]
    for b in prange(n_blocks):
        _metrics_block(close, bank, kind, ia, ib, band, min_hold, on_col, off_col, starts, ends,
                       cash_daily, bench_ret, month_start, s, b * n_combos // n_blocks,
                       (b + 1) * n_combos // n_blocks, out)
    return out


@register_jitable
def _metrics_block(close, bank, kind, ia, ib, band, min_hold, on_col, off_col, starts, ends,
                   cash_daily, bench_ret, month_start, s, lo, hi, out):
    """Combos ``lo .. hi - 1`` of :func:`rotation_metrics_py`, one after the other.

    The whole body of a ``prange`` iteration is this one call: with the combo loop written
    inside the ``prange`` body, numba's parfor lowering made every simulated bar ~3.7x slower
    (57 vs 15 ns per combo-day on one thread, identical results).
    """
    n_days, n_assets = close.shape
    no_equity = np.empty(0)
    no_held = np.empty((0, 0))
    no_trades = np.empty((0, N_TRADE_FIELDS))
    target = np.zeros((n_days, n_assets))
    signal = np.empty(n_days)
    for c in range(lo, hi):
        combo_targets(bank, kind[c], ia[c], ib[c], band[c], min_hold[c], on_col[c],
                      off_col[c], signal, target)
        for w in range(starts.shape[0]):
            simulate_combo(close, target, starts[w], ends[w], cash_daily, bench_ret,
                           month_start, s, out[c, w], no_equity, no_held, no_trades)


def rotation_equity_py(close, bank, kind, ia, ib, band, min_hold, on_col, off_col, start, end,
                       cash_daily, bench_ret, month_start, s, n_blocks, equity, metrics):
    """Equity curves (C, T) of C combos over ``[start, end)`` (bars outside are left as they
    are) and their metrics (C, N_METRICS): the subset of a sweep kept for DSR and PBO."""
    n_combos = kind.shape[0]
    for b in prange(n_blocks):
        _equity_block(close, bank, kind, ia, ib, band, min_hold, on_col, off_col, start, end,
                      cash_daily, bench_ret, month_start, s, b * n_combos // n_blocks,
                      (b + 1) * n_combos // n_blocks, equity, metrics)
    return equity


@register_jitable
def _equity_block(close, bank, kind, ia, ib, band, min_hold, on_col, off_col, start, end,
                  cash_daily, bench_ret, month_start, s, lo, hi, equity, metrics):
    """Combos ``lo .. hi - 1`` of :func:`rotation_equity_py` (see :func:`_metrics_block`)."""
    n_days, n_assets = close.shape
    no_trades = np.empty((0, N_TRADE_FIELDS))
    target = np.zeros((n_days, n_assets))
    held = np.zeros((n_days, n_assets))
    signal = np.empty(n_days)
    for c in range(lo, hi):
        combo_targets(bank, kind[c], ia[c], ib[c], band[c], min_hold[c], on_col[c],
                      off_col[c], signal, target)
        simulate_combo(close, target, start, end, cash_daily, bench_ret, month_start, s,
                       metrics[c], equity[c], held, no_trades)


rotation_metrics_nb = njit(cache=True, parallel=True)(rotation_metrics_py)
rotation_equity_nb = njit(cache=True, parallel=True)(rotation_equity_py)
