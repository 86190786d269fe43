"""IWM/SPY ratio-trend rotation.

The ratio of two adjusted prices (default IWM/SPY) is a regime signal: a rising ratio means small
caps lead (risk-on), a falling one that large caps lead (risk-off). No peer-reviewed rule exists
(see DOMAIN.md, thesis 1), so the variants practitioners use are all here, for sweeps to test:

* ``ma``: ratio / MA(ratio, window) - 1 (SMA or EMA);
* ``crossover``: MA(ratio, fast) / MA(ratio, slow) - 1;
* ``momentum``: ratio[t] / ratio[t - lookback] - 1;
* ``rank``: hold the ticker of ``universe`` with the highest ``lookback``-day return; a new
  leader replaces the held one only when it leads by more than ``band`` percent.

For the first three, risk-on when the signal is above +band %, risk-off below -band % and
unchanged inside the band (hysteresis), with at least ``min_hold`` days between switches.
The whole portfolio sits in ``risk_on`` or ``risk_off`` (a ticker or ``cash``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from numba import njit
from numba.extending import register_jitable
from pydantic import Field, model_validator

from engine.data import MarketData
from strategies import indicators as ind
from strategies.base import Params, Strategy

CASH = "cash"


class RotationParams(Params):
    numerator: str = Field("IWM", description="ratio numerator (small caps)")
    denominator: str = Field("SPY", description="ratio denominator (large caps)")
    signal: Literal["ma", "crossover", "momentum", "rank"] = "ma"
    ma_type: Literal["sma", "ema"] = "sma"
    window: int = Field(200, ge=2, le=2000, description="ma: moving-average window, days")
    fast: int = Field(50, ge=2, le=2000, description="crossover: fast window, days")
    slow: int = Field(200, ge=2, le=2000, description="crossover: slow window, days")
    lookback: int = Field(126, ge=1, le=2000, description="momentum / rank lookback, days")
    band: float = Field(0.0, ge=0.0, le=50.0, description="hysteresis band, percent")
    min_hold: int = Field(0, ge=0, le=2000, description="minimum days between switches")
    risk_on: str = Field("IWM", description="held while the ratio trends up (ticker or cash)")
    risk_off: str = Field("SPY", description="held while the ratio trends down (ticker or cash)")
    universe: list[str] = Field(["IWM", "SPY", "QQQ"], min_length=2, description="rank: tickers")

    @model_validator(mode="after")
    def _constraints(self):
        if self.signal == "crossover" and self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be smaller than slow ({self.slow})")
        if self.numerator == self.denominator and self.signal != "rank":
            raise ValueError(f"numerator and denominator are both '{self.numerator}'")
        return self


@register_jitable
def rotation_signal(ratio, kind, ma_kind, window, fast, slow, lookback):
    """The trend signal of the ratio (kind 0 ma, 1 crossover, 2 momentum); NaN in warm-up."""
    if kind == 0:
        return ratio / ind.moving_average(ratio, window, ma_kind) - 1.0
    if kind == 1:
        return ind.moving_average(ratio, fast, ma_kind) / ind.moving_average(
            ratio, slow, ma_kind) - 1.0
    return ind.pct_change(ratio, lookback)


@register_jitable
def rank_leaders(closes, lookback, band, min_hold):
    """Index (into the columns of ``closes``) of the held leader per day; -1 in warm-up."""
    n_days, n = closes.shape
    out = np.full(n_days, -1, dtype=np.int64)
    held, since = -1, 0
    for t in range(lookback, n_days):
        best, best_mom = -1, -np.inf
        for j in range(n):
            mom = closes[t, j] / closes[t - lookback, j] - 1.0
            if mom > best_mom:
                best, best_mom = j, mom
        if held == -1:
            held, since = best, 0
        elif best != held and since >= min_hold:
            held_mom = closes[t, held] / closes[t - lookback, held] - 1.0
            if (1.0 + best_mom) > (1.0 + held_mom) * (1.0 + band):
                held, since = best, 0
        out[t] = held
        since += 1
    return out


rank_leaders_nb = njit(cache=True)(rank_leaders)
rotation_signal_nb = njit(cache=True)(rotation_signal)

SIGNAL_CODES = {"ma": 0, "crossover": 1, "momentum": 2}
MA_CODES = {"sma": 0, "ema": 1}


class Rotation(Strategy):
    name = "rotation"
    Params = RotationParams
    summary = ("Holds IWM while the IWM/SPY price ratio trends up and SPY (or QQQ, or cash) "
               "while it trends down; MA, crossover, momentum or 3-way rank signals.")

    def ticker_params(self, p: RotationParams) -> list[tuple[str, str]]:
        if p.signal == "rank":
            return [(f"universe[{i}]", t) for i, t in enumerate(p.universe)]
        pairs = [("numerator", p.numerator), ("denominator", p.denominator)]
        return pairs + [(k, v) for k, v in (("risk_on", p.risk_on), ("risk_off", p.risk_off))
                        if v != CASH]

    def tickers(self, p: RotationParams) -> list[str]:
        return [t for _, t in self.ticker_params(p)]

    def states(self, data: MarketData, p: RotationParams) -> np.ndarray:
        """Per-day regime: 1 risk-on, 0 risk-off, -1 no signal yet (int8)."""
        ratio = data.price(p.numerator) / data.price(p.denominator)
        signal = rotation_signal_nb(ratio, SIGNAL_CODES[p.signal], MA_CODES[p.ma_type],
                                    p.window, p.fast, p.slow, p.lookback)
        return ind.hysteresis_states_nb(signal, p.band / 100.0, p.min_hold)

    def weights(self, data: MarketData, p: RotationParams) -> np.ndarray:
        n_days, n_assets = data.close.shape
        out = np.zeros((n_days, n_assets))
        if p.signal == "rank":
            cols = np.array([data.column(t) for t in p.universe])
            leaders = rank_leaders_nb(data.close[:, cols], p.lookback, p.band / 100.0,
                                      p.min_hold)
            valid = leaders >= 0
            out[np.flatnonzero(valid), cols[leaders[valid]]] = 1.0
            return out
        states = self.states(data, p)
        for state, ticker in ((ind.STATE_ON, p.risk_on), (ind.STATE_OFF, p.risk_off)):
            if ticker != CASH:
                out[states == state, data.column(ticker)] = 1.0
        return out

    def regimes(self, data: MarketData, p: RotationParams) -> pd.DataFrame | None:
        if p.signal == "rank":
            return None
        labels = np.array(["warm-up", "risk-off", "risk-on"])[self.states(data, p) + 1]
        return pd.DataFrame({"rotation_signal": labels}, index=data.dates)
