"""What every strategy is: a parameter model and a pure function (data, params) -> weights.

Weights are float64 ``(T, A)`` over ``MarketData.tickers`` (columns) and trading days (rows);
row t is decided with data up to the close of day t and traded at the next bar, never on day t.
Each row sums to at most 1; the rest is cash. Rows before the first valid signal are 0 (cash).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from engine.data import MarketData
from engine.errors import ConfigError, did_you_mean


class Params(BaseModel):
    """Base of every strategy's parameter model: frozen, no unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Strategy:
    """Base class; subclasses set ``name``, ``Params``, ``summary`` and implement ``weights``."""

    name: ClassVar[str]
    Params: ClassVar[type[Params]]
    summary: ClassVar[str]  # two lines for the README

    def tickers(self, params) -> list[str]:
        """Tickers the strategy reads or holds (must be in ``data.tickers``)."""
        return []

    def macro(self, params) -> list[str]:
        """Macro series the strategy reads (loaded with their publication lag)."""
        return []

    def check(self, params, cfg) -> None:
        """Cross-checks against the run config; raise ConfigError naming the parameter."""
        for key, ticker in self.ticker_params(params):
            if ticker not in cfg.data.tickers:
                raise ConfigError(
                    f"params.{key}: ticker '{ticker}' is not in data.tickers "
                    f"({', '.join(cfg.data.tickers)}){did_you_mean(ticker, cfg.data.tickers)}",
                    ("params", key),
                )

    def ticker_params(self, params) -> list[tuple[str, str]]:
        """(parameter name, ticker) pairs to check against data.tickers."""
        return []

    def weights(self, data: MarketData, params) -> np.ndarray:
        raise NotImplementedError

    def weights_batch(self, data: MarketData, params_list: list) -> np.ndarray:
        """(C, T, A) weights for a chunk of parameter sets (override to vectorize)."""
        out = np.empty((len(params_list), *data.close.shape))
        for c, params in enumerate(params_list):
            out[c] = self.weights(data, params)
        return out

    def regimes(self, data: MarketData, params) -> pd.DataFrame | None:
        """Extra per-day labels for the report's regime panel (optional)."""
        return None


def one_hot(n_days: int, n_assets: int, column: int, mask: np.ndarray) -> np.ndarray:
    """(T, A) weights with 1.0 in ``column`` where ``mask`` is True (column -1 = cash)."""
    out = np.zeros((n_days, n_assets))
    if column >= 0:
        out[mask, column] = 1.0
    return out
