"""Baselines: buy-and-hold one ticker, and a static mix (e.g. 90 % SPY / 10 % IWM).

Both hold their weights from the first bar of the run. A static mix drifts between trades;
pair it with ``portfolio.rebalance: periodic`` or ``band`` to bring it back to target.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from engine.data import MarketData
from strategies.base import Params, Strategy


class BuyAndHoldParams(Params):
    ticker: str = Field("SPY", description="the ticker held, 100 %")


class StaticMixParams(Params):
    weights: dict[str, float] = Field(
        {"SPY": 0.9, "IWM": 0.1}, min_length=1, description="ticker -> fraction of equity"
    )

    @model_validator(mode="after")
    def _sum_at_most_one(self):
        bad = {k: v for k, v in self.weights.items() if not 0.0 <= v <= 1.0}
        if bad:
            raise ValueError(f"each weight must be between 0 and 1, got {bad}")
        total = sum(self.weights.values())
        if total > 1.0 + 1e-9:
            raise ValueError(f"weights sum to {total:g} > 1 (no leverage in this release)")
        return self


class BuyAndHold(Strategy):
    name = "buy_and_hold"
    Params = BuyAndHoldParams
    summary = "Buys one ticker with all the cash on the first day and holds it (a benchmark)."

    def ticker_params(self, p):
        return [("ticker", p.ticker)]

    def tickers(self, p):
        return [p.ticker]

    def weights(self, data: MarketData, p) -> np.ndarray:
        out = np.zeros(data.close.shape)
        out[:, data.column(p.ticker)] = 1.0
        return out


class StaticMix(Strategy):
    name = "static_mix"
    Params = StaticMixParams
    summary = ("Fixed weights, e.g. 90 % SPY / 10 % IWM, rebalanced by the portfolio's rule "
               "(a core-satellite benchmark).")

    def ticker_params(self, p):
        return [(f"weights.{t}", t) for t in p.weights]

    def tickers(self, p):
        return list(p.weights)

    def weights(self, data: MarketData, p) -> np.ndarray:
        out = np.zeros(data.close.shape)
        for ticker, weight in p.weights.items():
            out[:, data.column(ticker)] = weight
        return out
