"""engine.sweep.fused: the plain-Python kernel and its jitted twin agree, and both equal the
strategy's own weights run through the single-run kernel, on a small synthetic market."""

from __future__ import annotations

import numpy as np
import pytest

from engine import kernels as k
from engine.sweep import fused
from strategies import indicators as ind
from strategies.rotation import Rotation, RotationParams
from tests.conftest import make_market, random_walk, settings

N_DAYS = 260


@pytest.fixture
def market(rng):
    return make_market(random_walk(rng, N_DAYS, 3), ["IWM", "SPY", "QQQ"], start_index=30)


def _bank_and_codes(ratio):
    # combos: ma(10, sma) band 1 %, ma(25, ema) band 0, crossover(5/20 sma) hold 3,
    # momentum(15) with risk_off cash
    ma10 = ratio / ind.moving_average_nb(ratio, 10, 0) - 1.0
    ma25 = ratio / ind.moving_average_nb(ratio, 25, 1) - 1.0
    bank = np.stack([ma10, ma25, ind.moving_average_nb(ratio, 5, 0),
                     ind.moving_average_nb(ratio, 20, 0), ind.pct_change_nb(ratio, 15)])
    codes = dict(kind=np.array([0, 0, 1, 2]), ia=np.array([0, 1, 2, 4]), ib=np.array([0, 0, 3, 0]),
                 band=np.array([0.01, 0.0, 0.0, 0.005]), min_hold=np.array([0, 0, 3, 0]),
                 on_col=np.array([0, 0, 0, 2]), off_col=np.array([1, 1, 1, -1]))
    params = [RotationParams(window=10, band=1.0), RotationParams(window=25, ma_type="ema"),
              RotationParams(signal="crossover", fast=5, slow=20, min_hold=3),
              RotationParams(signal="momentum", lookback=15, band=0.5, risk_on="QQQ",
                             risk_off="cash")]
    return bank, codes, params


def _run(fn, market, bank, c, starts, ends, s):
    n = c["kind"].size
    out = np.empty((n, starts.size, k.N_METRICS))
    cash = np.full(N_DAYS, 1e-4)
    bench = np.r_[0.0, market.close[1:, 1] / market.close[:-1, 1] - 1.0]
    month = np.zeros(N_DAYS, dtype=bool)
    fn(market.close, bank, c["kind"], c["ia"], c["ib"], c["band"], c["min_hold"], c["on_col"],
       c["off_col"], starts, ends, cash, bench, month, s, 2, out)
    return out, cash, bench, month


def test_plain_and_jitted_kernels_agree_and_equal_the_strategy(market):
    ratio = market.price("IWM") / market.price("SPY")
    bank, codes, params = _bank_and_codes(ratio)
    starts, ends = np.array([30, 30, 150]), np.array([N_DAYS, 150, N_DAYS])
    s = settings(cost_bps=3.0, cash=10_000.0)
    plain, cash, bench, month = _run(fused.rotation_metrics_py, market, bank, codes, starts,
                                     ends, s)
    jitted, *_ = _run(fused.rotation_metrics_nb, market, bank, codes, starts, ends, s)
    np.testing.assert_array_equal(plain, jitted)
    strategy = Rotation()
    for c, p in enumerate(params):
        weights = strategy.weights(market, p)
        for w in range(starts.size):
            want = np.empty(k.N_METRICS)
            k.simulate_combo_nb(market.close, weights, starts[w], ends[w], cash, bench, month,
                                s, want, np.empty(0), np.empty((0, 0)),
                                np.empty((0, k.N_TRADE_FIELDS)))
            np.testing.assert_array_equal(jitted[c, w], want)
    assert np.all(jitted[:, :, k.N_METRICS - 1] == (ends - starts))  # n_days per window


def test_equity_kernel_records_only_inside_the_window(market):
    ratio = market.price("IWM") / market.price("SPY")
    bank, codes, _ = _bank_and_codes(ratio)
    n = codes["kind"].size
    equity = np.full((n, N_DAYS), np.nan)
    metrics = np.empty((n, k.N_METRICS))
    s = settings(cash=10_000.0)
    zeros = np.zeros(N_DAYS)
    fused.rotation_equity_nb(market.close, bank, *codes.values(), 40, 200, zeros,
                             np.full(N_DAYS, np.nan), np.zeros(N_DAYS, dtype=bool), s, 2,
                             equity, metrics)
    assert np.isnan(equity[:, :40]).all() and np.isnan(equity[:, 200:]).all()
    assert np.isfinite(equity[:, 40:200]).all()
    np.testing.assert_array_equal(equity[:, 199], metrics[:, 0])  # final value
