"""Shared fixtures: small synthetic markets and simulation inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine import kernels as k
from engine.data import MarketData


def make_market(close: np.ndarray, tickers=None, start_index: int = 1, macro=None,
                first_day: str = "2020-01-01") -> MarketData:
    """MarketData over business days from ``first_day`` for a (T, A) price array."""
    close = np.asarray(close, dtype=float)
    if close.ndim == 1:
        close = close[:, None]
    tickers = tuple(tickers or [f"A{i}" for i in range(close.shape[1])])
    dates = pd.bdate_range(first_day, periods=close.shape[0])
    return MarketData(dates, tickers, close, start_index, dict(macro or {}), {})


def settings(cost_bps: float = 0.0, rebalance: int = k.REBALANCE_ON_CHANGE, period: int = 0,
             band: float = 0.05, fixed_fee: float = 0.0, cash: float = 1000.0,
             integer_units: bool = False) -> k.SimSettings:
    return k.SimSettings(cash, cost_bps / 1e4, fixed_fee, rebalance, period, band, integer_units)


def random_walk(rng: np.random.Generator, n_days: int, n_assets: int, vol: float = 0.02):
    return 100.0 * np.cumprod(1.0 + rng.normal(0.0003, vol, (n_days, n_assets)), axis=0)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
