"""The simulation kernel: hand-computed cases, properties, plain-Python twin, metrics agreement."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine import kernels as k
from engine import metrics as m
from engine.errors import BacktestError
from engine.results import METRIC_KEYS
from engine.simulate import SimInputs, check_weights, simulate
from tests.conftest import make_market, random_walk, settings


def run_one(close, target, s, start=1, cash_daily=None, bench_ret=None, month_start=None,
            twin=False):
    """Equity (T,), held weights, trades and metrics of one combo through the kernel."""
    close = np.asarray(close, float)
    target = np.asarray(target, float)
    n_days, n_assets = close.shape
    cash_daily = np.zeros(n_days) if cash_daily is None else cash_daily
    bench_ret = np.full(n_days, np.nan) if bench_ret is None else bench_ret
    month_start = np.zeros(n_days, bool) if month_start is None else month_start
    out = np.empty(k.N_METRICS)
    equity = np.full(n_days, np.nan)
    held = np.zeros((n_days, n_assets))
    trades = np.zeros((n_days * n_assets, k.N_TRADE_FIELDS))
    fn = k.simulate_combo if twin else k.simulate_combo_nb
    n = fn(close, target, start, n_days, cash_daily, bench_ret, month_start, s, out, equity,
           held, trades)
    return equity, held, trades[:n], dict(zip(METRIC_KEYS, out, strict=True))


# ----------------------------------------------------------------- hand-computed cases
def test_three_days_one_asset_with_fees():
    # Decided at close 0: 100 % in A. At close 1 (price 11) buy with all 1000 of cash at
    # 10 bps: the buy is scaled so that units * 11 * 1.001 = 1000.
    close = [[10.0], [11.0], [12.1]]
    target = [[1.0], [1.0], [1.0]]
    equity, _, trades, met = run_one(close, target, settings(cost_bps=10.0, cash=1000.0))
    units = 1000.0 / 1.001 / 11.0
    np.testing.assert_allclose(equity[1:], [units * 11.0, units * 12.1], rtol=1e-14)
    np.testing.assert_allclose(trades[0, k.TRADE_COST], 1000.0 - 1000.0 / 1.001, rtol=1e-12)
    assert met["n_orders"] == 1
    np.testing.assert_allclose(met["final_value"], 1000.0 / 1.001 * 1.1, rtol=1e-14)
    # returns: first vs the initial cash (the cost), then +10 %
    r = np.array([1.0 / 1.001 - 1.0, 0.1])
    np.testing.assert_allclose(met["total_return_pct"], (np.prod(1 + r) - 1) * 100, rtol=1e-12)
    np.testing.assert_allclose(met["max_drawdown_pct"], (1.0 / 1.001 - 1.0) * 100, rtol=1e-12)
    assert met["max_drawdown_days"] == 1


def test_five_days_switch_sells_before_buying():
    # A doubles 10 % on day 2; the target switches to B at close 2 and trades at close 3.
    close = [[100, 50], [100, 50], [110, 50], [110, 55], [121, 55]]
    target = [[1, 0], [1, 0], [0, 1], [0, 1], [0, 1]]
    equity, _, trades, met = run_one(close, target, settings(cash=1000.0))
    np.testing.assert_allclose(equity[1:], [1000, 1100, 1100, 1100])
    assert trades[:, k.TRADE_ASSET].tolist() == [0, 0, 1]  # buy A; sell A before buying B
    np.testing.assert_allclose(trades[:, k.TRADE_UNITS], [10, -10, 20])

    f = 0.001  # with 10 bps: each buy is scaled to the cash left, each sale pays f
    equity, _, _, met = run_one(close, target, settings(cost_bps=10.0, cash=1000.0))
    expected = 1000 * 1.1 * (1 - f) / (1 + f) ** 2
    np.testing.assert_allclose(equity[-1], expected, rtol=1e-13)
    assert met["n_orders"] == 3
    # one-sided turnover: (1000 + 1098.9 + 1097.8) / value, halved, annualised over 4 days
    v1, v3 = 1000.0, 1000 / (1 + f) * 1.1
    traded = [1000 / (1 + f) / v1, (v3 + v3 * (1 - f) / (1 + f)) / v3]
    np.testing.assert_allclose(met["turnover_pct"], sum(traded) / 2 * 252 / 4 * 100, rtol=1e-12)


def test_cash_earns_the_published_rate():
    close = np.full((4, 1), 10.0)
    daily = m.daily_rate_from_annual_pct(np.full(4, 5.0))
    equity, _, _, met = run_one(close, np.zeros((4, 1)), settings(), cash_daily=daily)
    np.testing.assert_allclose(equity[1:], 1000 * (1 + daily[0]) ** np.arange(3), rtol=1e-14)
    assert met["exposure_pct"] == 0.0
    assert np.isnan(met["sharpe"])  # cash only: excess return is exactly 0 every day


def test_fixed_fee_and_integer_units():
    close = [[10.0], [30.0], [30.0]]
    equity, _, trades, _ = run_one(close, [[1.0]] * 3, settings(fixed_fee=5.0,
                                                                 integer_units=True))
    # 1000 of cash at 30: 33 whole units would need 990 + 5 fee; affordable
    assert trades[0, k.TRADE_UNITS] == 33.0
    np.testing.assert_allclose(equity[1], 1000 - 5.0)


def test_periodic_month_start_rebalances_only_on_schedule():
    rng = np.random.default_rng(1)
    close = random_walk(rng, 60, 2)
    target = np.full((60, 2), 0.5)
    month_start = np.zeros(60, bool)
    month_start[[1, 21, 43]] = True
    _, _, trades, _ = run_one(close, target, settings(rebalance=k.REBALANCE_PERIODIC),
                              month_start=month_start)
    assert set(trades[:, k.TRADE_BAR].astype(int)) == {1, 21, 43}


def test_band_trades_only_when_drift_exceeds_tolerance():
    close = np.array([[100, 100], [100, 100], [100, 100], [130, 100], [130, 100]], float)
    target = np.full((5, 2), 0.5)
    _, _, trades, _ = run_one(close, target, settings(rebalance=k.REBALANCE_BAND, band=0.1))
    assert set(trades[:, k.TRADE_BAR].astype(int)) == {1}  # drift 6.5 points < 10
    _, _, trades, _ = run_one(close, target, settings(rebalance=k.REBALANCE_BAND, band=0.05))
    assert set(trades[:, k.TRADE_BAR].astype(int)) == {1, 3}  # 56.5 % vs 50 %: > 5 points


def test_weights_above_one_are_refused_with_the_date():
    data = make_market(np.full((3, 2), 10.0))
    with pytest.raises(BacktestError, match="no leverage"):
        check_weights(np.full((3, 2), 0.6), data)
    with pytest.raises(BacktestError, match="negative"):
        check_weights(np.array([[0.5, -0.1]] * 3), data)


# ---------------------------------------------------------------------------- properties
@st.composite
def cases(draw):
    n_days = draw(st.integers(3, 30))
    n_assets = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    close = random_walk(rng, n_days, n_assets, vol=0.05)
    raw = rng.uniform(0, 1, (n_days, n_assets + 1))
    weights = raw[:, :n_assets] / raw.sum(axis=1, keepdims=True)
    hold = draw(st.integers(1, 5))
    weights = np.repeat(weights[::hold], hold, axis=0)[:n_days]
    cost = draw(st.floats(0.0, 100.0))
    mode = draw(st.sampled_from([0, 1, 2]))
    return close, weights, settings(cost_bps=cost, rebalance=mode, period=3)


@hyp_settings(max_examples=60, deadline=None)
@given(cases())
def test_equity_is_cash_plus_holdings_and_costs_are_non_negative(case):
    close, weights, s = case
    equity, held, trades, met = run_one(close, weights, s)
    assert (trades[:, k.TRADE_COST] >= 0).all()
    cash = s.initial_cash
    units = np.zeros(close.shape[1])
    for t in range(1, close.shape[0]):
        for row in trades[trades[:, k.TRADE_BAR] == t]:
            a = int(row[k.TRADE_ASSET])
            units[a] += row[k.TRADE_UNITS]
            cash -= row[k.TRADE_UNITS] * row[k.TRADE_PRICE] + row[k.TRADE_COST]
        assert cash >= -1e-9 * s.initial_cash
        np.testing.assert_allclose(equity[t], cash + units @ close[t], rtol=1e-10)
        np.testing.assert_allclose(held[t], units * close[t] / equity[t], atol=1e-10)


@hyp_settings(max_examples=30, deadline=None)
@given(cases())
def test_plain_python_twin_equals_numba(case):
    close, weights, s = case
    a = run_one(close, weights, s)
    b = run_one(close, weights, s, twin=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[2], b[2])
    np.testing.assert_array_equal(np.array(list(a[3].values())), np.array(list(b[3].values())))


@hyp_settings(max_examples=30, deadline=None)
@given(arrays(np.float64, st.integers(3, 40), elements=st.floats(0.5, 2.0)))
def test_zero_fee_buy_and_hold_equals_the_price_ratio(moves):
    close = np.cumprod(moves)[:, None] * 10.0
    equity, _, _, _ = run_one(close, np.ones_like(close), settings(cash=1000.0))
    np.testing.assert_allclose(equity[1:] / 1000.0, close[1:, 0] / close[1, 0], rtol=1e-12)


def test_a_combo_does_not_depend_on_its_neighbours(rng):
    close = random_walk(rng, 200, 3)
    raw = rng.uniform(0, 1, (5, 200, 4))
    weights = np.ascontiguousarray(raw[..., :3] / raw.sum(axis=-1, keepdims=True))
    s = settings(cost_bps=5.0)
    args = (1, 200, np.zeros(200), np.full(200, np.nan), np.zeros(200, bool), s)
    together = k.simulate_many_nb(close, weights, args[0], args[1], *args[2:])
    alone = k.simulate_many_nb(close, weights[3:4], args[0], args[1], *args[2:])
    reordered = k.simulate_many_nb(close, weights[::-1].copy(), args[0], args[1], *args[2:])
    np.testing.assert_array_equal(together[3], alone[0])
    np.testing.assert_array_equal(together, reordered[::-1])
    twin = k.simulate_many_py(close, weights, args[0], args[1], *args[2:])
    np.testing.assert_array_equal(together, twin)


# --------------------------------------------------------- streaming == pure functions
def test_streaming_metrics_equal_the_metrics_module(rng):
    n_days = 800
    close = random_walk(rng, n_days, 3)
    raw = rng.uniform(0, 1, (n_days, 4))
    weights = np.repeat((raw[:, :3] / raw.sum(axis=1, keepdims=True))[::15], 15, axis=0)[:n_days]
    rate_pct = np.linspace(0.5, 5.0, n_days)
    data = make_market(close, start_index=50, macro={"FF": rate_pct})
    bench = np.r_[0.0, close[1:, 0] / close[:-1, 0] - 1]
    from engine.config import PortfolioConfig
    from engine.simulate import make_inputs

    inputs = make_inputs(data, PortfolioConfig(initial_cash=1e5, fees_bps=3, slippage_bps=2,
                                               cash_rate="FF"), close[:, 0])
    assert isinstance(inputs, SimInputs)
    out = simulate(data, weights, inputs)
    run = slice(50, None)
    r = out.equity.pct_change().to_numpy().copy()
    r[0] = out.equity.iloc[0] / 1e5 - 1
    rf = np.r_[0.0, inputs.cash_daily[run][:-1]]
    b = bench[run].copy()
    b[0] = 0.0
    expected = m.summary(r, rf, b, initial_cash=1e5)
    for key in METRIC_KEYS:
        if key in ("turnover_pct", "n_orders", "exposure_pct"):
            continue
        np.testing.assert_allclose(out.metrics[key], expected[key], rtol=1e-10, atol=1e-12,
                                   err_msg=key)
    assert out.metrics["n_orders"] == len(out.trades)
    held_any = (out.held_weights.abs().sum(axis=1) > 0).mean() * 100
    np.testing.assert_allclose(out.metrics["exposure_pct"], held_any, rtol=1e-12)
