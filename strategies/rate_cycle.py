"""Core-satellite: a large-cap core (SPY) plus an IWM satellite sized by the Fed rate cycle.

Thesis (DOMAIN.md, thesis 2): small caps carry more floating-rate debt, so hikes hurt them twice
and cuts help them more; practitioners hold a 5-15 % IWM satellite, overweighted in easing and
reduced in tightening. The regime comes only from published rates (``engine.regimes``):

* ``easing``: the fed funds rate is at least ``threshold_bps`` below its high of the last
  ``lookback_months``, or the last move of at least ``move_bps`` was a cut within that window;
  optionally (``use_gs2``) also when the 2-year Treasury yield is ``gs2_spread_bps`` or more
  below the fed funds rate (the market pricing cuts before the Fed moves);
* ``tightening``: the mirror image; ``neutral`` otherwise.

FEDFUNDS is monthly and usable from the first trading day of the next month; with
``use_daily`` the daily DFF series (published the next trading day) replaces it where it exists.
The satellite is ``satellite_easing`` / ``_neutral`` / ``_tightening``; the core takes the rest
(``core_weight`` fixes it instead, the remainder staying in cash). Trades happen when the regime
changes (with ``portfolio.rebalance: on_change``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from engine import regimes as rg
from engine.data import MarketData
from strategies.base import Params, Strategy


class RateCycleParams(Params):
    core: str = Field("SPY", description="core holding (large caps)")
    satellite: str = Field("IWM", description="satellite holding (small caps)")
    satellite_easing: float = Field(0.15, ge=0, le=1, description="satellite weight, easing")
    satellite_neutral: float = Field(0.10, ge=0, le=1, description="satellite weight, neutral")
    satellite_tightening: float = Field(0.05, ge=0, le=1, description="satellite, tightening")
    core_weight: float | None = Field(None, ge=0, le=1, description="fixed core weight")
    rate_series: str = Field("FEDFUNDS", description="published policy-rate series (percent)")
    use_daily: bool = Field(False, description="use DFF where it exists")
    lookback_months: int = Field(12, ge=1, le=120)
    threshold_bps: float = Field(50.0, gt=0, le=2000)
    move_bps: float = Field(25.0, gt=0, le=2000)
    use_gs2: bool = Field(False, description="2-year yield below fed funds = early easing")
    gs2_spread_bps: float = Field(25.0, ge=0, le=2000)

    @model_validator(mode="after")
    def _weights_fit(self):
        if self.core == self.satellite:
            raise ValueError(f"core and satellite are both '{self.core}'")
        if self.core_weight is not None:
            for name in ("satellite_easing", "satellite_neutral", "satellite_tightening"):
                total = self.core_weight + getattr(self, name)
                if total > 1.0 + 1e-9:
                    raise ValueError(
                        f"core_weight + {name} = {total:g} > 1 (no leverage in this release)")
        return self


class RateCycle(Strategy):
    name = "rate_cycle"
    Params = RateCycleParams
    summary = ("SPY core plus an IWM satellite of 5-15 %: overweight while the Fed is cutting, "
               "underweight while it is hiking (regime from the published fed funds rate).")

    def ticker_params(self, p):
        return [("core", p.core), ("satellite", p.satellite)]

    def tickers(self, p):
        return [p.core, p.satellite]

    def macro(self, p):
        return [p.rate_series] + (["DFF"] if p.use_daily else []) + (["GS2"] if p.use_gs2 else [])

    def regime_codes(self, data: MarketData, p: RateCycleParams) -> np.ndarray:
        rate = data.macro[p.rate_series].copy()
        if p.use_daily:
            daily = data.macro["DFF"]
            rate = np.where(np.isnan(daily), rate, daily)
        gs2 = data.macro["GS2"] if p.use_gs2 else np.full(len(rate), np.nan)
        return rg.rate_regimes_nb(rate, p.lookback_months * rg.DAYS_PER_MONTH,
                                  p.threshold_bps / 100.0, p.move_bps / 100.0, gs2,
                                  p.gs2_spread_bps / 100.0)

    def weights(self, data: MarketData, p: RateCycleParams) -> np.ndarray:
        codes = self.regime_codes(data, p)
        table = {rg.EASING: p.satellite_easing, rg.NEUTRAL: p.satellite_neutral,
                 rg.TIGHTENING: p.satellite_tightening}
        satellite = np.vectorize(table.get, otypes=[float])(codes)
        core = 1.0 - satellite if p.core_weight is None else np.full(len(codes), p.core_weight)
        out = np.zeros(data.close.shape)
        out[:, data.column(p.satellite)] = satellite
        out[:, data.column(p.core)] = core
        return out

    def regimes(self, data: MarketData, p: RateCycleParams) -> pd.DataFrame:
        labels = [rg.RATE_LABELS[int(c)] for c in self.regime_codes(data, p)]
        return pd.DataFrame({"strategy_regime": labels}, index=data.dates)
