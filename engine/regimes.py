"""Regime labels: the Fed rate cycle (from the published fed funds series) and the IWM/SPY trend.

Used by the rate-cycle strategy to size its satellite and by every report's regime panel.
Only published values are used: the inputs come from ``MarketData.macro``, which is already
lagged to publication (a monthly FEDFUNDS value for month M is usable from month M+1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit
from numba.extending import register_jitable

TIGHTENING, NEUTRAL, EASING = -1, 0, 1
RATE_LABELS = {TIGHTENING: "tightening", NEUTRAL: "neutral", EASING: "easing"}
DAYS_PER_MONTH = 21


@register_jitable
def rate_regimes(rate, lookback_days, threshold, move, gs2, gs2_spread):
    """Rate regime per day: EASING (1), NEUTRAL (0) or TIGHTENING (-1).

    Args (rates in annual percent; thresholds in percentage points, 0.25 = 25 bps):
        rate: (T,) published fed funds rate, NaN before the first publication.
        lookback_days: window for the cycle's high/low and for how long a move counts.
        threshold: easing when the rate is at least this far below its high over the window
            (tightening: above its low).
        move: a change of at least this much from the level of the last such move is a
            "move" (a cut or a hike); the last move, if inside the window, marks the regime too.
        gs2: (T,) published 2-year Treasury yield (all NaN to ignore). When it sits at least
            ``gs2_spread`` below the fed funds rate, the market prices cuts: a neutral day
            becomes easing (an early sign, before the Fed moves).

    When the window shows both a cut and a hike, the most recent move decides.
    """
    n = rate.shape[0]
    out = np.zeros(n, dtype=np.int8)
    anchor = np.nan
    last_dir, last_t = 0, -1
    for t in range(n):
        r = rate[t]
        if np.isnan(r):
            continue
        if np.isnan(anchor):
            anchor = r
        elif abs(r - anchor) >= move - 1e-12:
            last_dir = 1 if r > anchor else -1
            last_t = t
            anchor = r
        lo, hi = r, r
        for k in range(max(0, t - lookback_days), t + 1):
            v = rate[k]
            if not np.isnan(v):
                lo = min(lo, v)
                hi = max(hi, v)
        recent = last_t >= 0 and t - last_t <= lookback_days
        easing = hi - r >= threshold - 1e-12 or (recent and last_dir == -1)
        tightening = r - lo >= threshold - 1e-12 or (recent and last_dir == 1)
        if easing and tightening:
            regime = -last_dir if last_dir != 0 else NEUTRAL
            out[t] = EASING if regime == -1 else (TIGHTENING if regime == 1 else NEUTRAL)
        elif easing:
            out[t] = EASING
        elif tightening:
            out[t] = TIGHTENING
        if out[t] == NEUTRAL and not np.isnan(gs2[t]) and rate[t] - gs2[t] >= gs2_spread:
            out[t] = EASING
    return out


rate_regimes_nb = njit(cache=True)(rate_regimes)


def rate_regime_labels(rate: np.ndarray, dates: pd.DatetimeIndex, lookback_months: int = 12,
                       threshold_bps: float = 50.0, move_bps: float = 25.0,
                       gs2: np.ndarray | None = None, gs2_spread_bps: float = 25.0) -> pd.Series:
    """Labels 'easing' / 'neutral' / 'tightening' per day (see :func:`rate_regimes`)."""
    gs2 = np.full(len(rate), np.nan) if gs2 is None else np.asarray(gs2, float)
    codes = rate_regimes_nb(np.asarray(rate, float), lookback_months * DAYS_PER_MONTH,
                            threshold_bps / 100.0, move_bps / 100.0, gs2, gs2_spread_bps / 100.0)
    return pd.Series([RATE_LABELS[int(c)] for c in codes], index=dates, name="rate_regime")


def ratio_trend_labels(numerator: np.ndarray, denominator: np.ndarray, dates: pd.DatetimeIndex,
                       window: int = 200) -> pd.Series:
    """'up' where numerator/denominator is above its ``window``-day SMA, 'down' below,
    'warm-up' before the SMA exists (IWM/SPY: small caps leading or lagging)."""
    ratio = pd.Series(np.asarray(numerator) / np.asarray(denominator), index=dates)
    sma = ratio.rolling(window).mean()
    labels = np.where(ratio > sma, "up", "down")
    labels = np.where(sma.isna(), "warm-up", labels)
    return pd.Series(labels, index=dates, name="ratio_trend")
