"""Indicator kernels shared by strategies (numba; plain-Python twins via ``register_jitable``).

All take and return float64 arrays over trading days; values that need more history than
exists are NaN. A value at index t uses data up to and including t only.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import register_jitable

STATE_NONE = -1  # no valid signal yet (warm-up): hold cash
STATE_OFF = 0
STATE_ON = 1


@register_jitable
def sma(x, window):
    """Simple moving average of the last ``window`` values (NaN for the first window-1)."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    total = 0.0
    for t in range(n):
        total += x[t]
        if t >= window:
            total -= x[t - window]
        if t >= window - 1:
            out[t] = total / window
    return out


@register_jitable
def ema(x, window):
    """Exponential moving average, alpha = 2 / (window + 1), seeded with the SMA of the first
    ``window`` values (NaN before); pandas ``ewm(span=window, adjust=False)`` after the seed."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    if n < window:
        return out
    alpha = 2.0 / (window + 1.0)
    seed = 0.0
    for t in range(window):
        seed += x[t]
    out[window - 1] = seed / window
    for t in range(window, n):
        out[t] = alpha * x[t] + (1.0 - alpha) * out[t - 1]
    return out


@register_jitable
def moving_average(x, window, kind):
    """``kind`` 0 = SMA, 1 = EMA."""
    if kind == 1:
        return ema(x, window)
    return sma(x, window)


@register_jitable
def pct_change(x, lookback):
    """x[t] / x[t - lookback] - 1 (NaN for the first ``lookback`` values)."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    for t in range(lookback, n):
        out[t] = x[t] / x[t - lookback] - 1.0
    return out


@register_jitable
def hysteresis_states(signal, band, min_hold):
    """Regime states from a signal (e.g. ratio / MA - 1) with a band and a minimum hold.

    ON when signal > band, OFF when signal < -band; inside the band the previous state stays
    (at the first valid value the sign decides). A switch is allowed only after ``min_hold``
    days in the current state. NaN signal before the first valid value: STATE_NONE (cash);
    a NaN later keeps the state.
    """
    n = signal.shape[0]
    out = np.empty(n, dtype=np.int8)
    state = STATE_NONE
    held = 0
    for t in range(n):
        x = signal[t]
        if np.isnan(x):
            out[t] = state
            held += 1
            continue
        if state == STATE_NONE:
            state = STATE_ON if x > 0.0 else STATE_OFF
            held = 0
        elif held >= min_hold:
            new = state
            if x > band:
                new = STATE_ON
            elif x < -band:
                new = STATE_OFF
            if new != state:
                state = new
                held = 0
        out[t] = state
        held += 1
    return out


hysteresis_states_nb = njit(cache=True)(hysteresis_states)
moving_average_nb = njit(cache=True)(moving_average)
pct_change_nb = njit(cache=True)(pct_change)
