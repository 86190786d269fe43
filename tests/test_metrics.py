"""engine.metrics: tiny hand-computed cases, invariances, edge cases, summary keys."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine import metrics as m
from engine.errors import BacktestError
from engine.results import METRIC_KEYS

# Any warning (e.g. "Degrees of freedom <= 0", divide by zero) fails a test here.
pytestmark = pytest.mark.filterwarnings("error")

SQRT_YEAR = np.sqrt(252)

# Named series. five_returns, by hand:
#   equity 1, 1.1, 1.045, 1.0659, 0.95931, 1.0072755 -> total return 0.0072755
#   mean = 0.02 / 5 = 0.004; deviations .096 -.054 .016 -.104 .046, squares sum 0.02532
#   var(ddof=1) = 0.00633 -> sharpe = 0.004 / sqrt(0.00633) * sqrt(252)
#   downside: min(r, 0)^2 = 0.0025, 0.01 -> mean over 5 = 0.0025, sqrt = 0.05
#     -> sortino = 0.004 / 0.05 * sqrt(252) = 0.08 * sqrt(252)
#   max drawdown: peak 1.1 (index 1), trough 0.95931 -> 0.95931 / 1.1 - 1 = -0.1279
#   duration: the 1.1 high (index 1) is never regained -> 5 - 1 = 4 bars
five_returns = np.array([0.10, -0.05, 0.02, -0.10, 0.05])
flat_line = np.zeros(5)
constant_positive = np.full(10, 0.01)  # float mean is off by an ulp: np.std gives ~1.8e-18, not 0
one_return = np.array([0.01])
empty = np.array([])
# Powers of two keep the equity exact: 1, 1.5, 0.75, 1.5 (recovered at index 3), 0.75, 0.375.
recover_then_fall = np.array([0.5, -0.5, 1.0, -0.5, -0.5])


def test_daily_rate_from_annual_pct_compounds_back():
    assert m.daily_rate_from_annual_pct(5.33) == pytest.approx(1.0533 ** (1 / 252) - 1)
    assert (1 + m.daily_rate_from_annual_pct(5.33)) ** 252 == pytest.approx(1.0533)
    assert m.daily_rate_from_annual_pct(0.0) == 0.0
    rates = m.daily_rate_from_annual_pct(np.array([0.0, 5.33, -1.0]))
    np.testing.assert_allclose(rates, [0.0, 1.0533 ** (1 / 252) - 1, 0.99 ** (1 / 252) - 1])


def test_five_returns_by_hand():
    r = five_returns
    assert m.total_return(r) == pytest.approx(0.0072755)
    assert m.cagr(r) == pytest.approx(1.0072755 ** (252 / 5) - 1)
    assert m.volatility(r) == pytest.approx(np.sqrt(0.00633) * SQRT_YEAR)
    assert m.sharpe(r) == pytest.approx(0.004 / np.sqrt(0.00633) * SQRT_YEAR)
    assert m.sortino(r) == pytest.approx(0.08 * SQRT_YEAR)
    assert m.max_drawdown(r) == pytest.approx(-0.1279)
    assert m.max_drawdown_days(r) == 4
    assert m.calmar(r) == pytest.approx((1.0072755 ** (252 / 5) - 1) / 0.1279)


def test_equity_and_drawdown_series():
    np.testing.assert_allclose(
        m.equity_curve(five_returns), [1, 1.1, 1.045, 1.0659, 0.95931, 1.0072755]
    )
    np.testing.assert_allclose(m.equity_curve(five_returns, start=100.0)[-1], 100.72755)
    np.testing.assert_allclose(m.drawdown_series(np.array([1.0, 2.0, 1.0, 3.0])), [0, 0, -0.5, 0])
    dd = m.drawdown_series(pd.Series([1.0, 2.0, 1.5], index=list("abc")))
    assert list(dd.index) == list("abc")
    np.testing.assert_allclose(dd.to_numpy(), [0.0, 0.0, -0.25])


def test_drawdown_counts_first_day_loss():
    # Equity 1, 0.9, 0.945: the start value 1.0 is the high, never regained.
    assert m.max_drawdown([-0.1, 0.05]) == pytest.approx(-0.1)
    assert m.max_drawdown_days([-0.1, 0.05]) == 2


def test_max_drawdown_days_resets_on_recovery():
    # Below the 1.5 high for index 2 only (1 bar), then below the regained high at 3 for 4, 5.
    assert m.max_drawdown_days(recover_then_fall) == 2
    assert m.max_drawdown(recover_then_fall) == pytest.approx(0.375 / 1.5 - 1)
    # 1, 0.5, 1.0, 1.0: one bar under water, back at the high exactly.
    assert m.max_drawdown_days([-0.5, 1.0, 0.0]) == 1
    assert m.max_drawdown_days([0.01, 0.02]) == 0


def test_flat_line():
    assert m.total_return(flat_line) == 0.0
    assert m.cagr(flat_line) == 0.0
    assert m.volatility(flat_line) == 0.0
    assert np.isnan(m.sharpe(flat_line))
    assert np.isnan(m.sortino(flat_line))
    assert m.max_drawdown(flat_line) == 0.0
    assert m.max_drawdown_days(flat_line) == 0
    assert np.isnan(m.calmar(flat_line))


def test_zero_std_is_nan_not_inf():
    assert np.std(constant_positive, ddof=1) > 0  # the naive ratio would be ~5e15, not inf/nan
    assert np.isnan(m.sharpe(constant_positive))
    assert np.isnan(m.sortino(constant_positive))  # no losing day: zero downside deviation
    assert np.isnan(m.sharpe(five_returns, rf=five_returns - 0.001))
    assert np.isnan(m.information_ratio(five_returns, five_returns))
    assert np.isnan(m.beta(constant_positive, constant_positive))
    assert np.isnan(m.alpha(constant_positive, constant_positive))
    np.testing.assert_allclose(m.volatility(constant_positive), 0.0, atol=1e-12)


@pytest.mark.parametrize("returns", [one_return, empty], ids=["one_return", "empty"])
def test_fewer_than_two_returns_is_nan(returns):
    for stat in (m.volatility, m.sharpe, m.sortino):
        assert np.isnan(stat(returns))
    for stat in (m.beta, m.alpha, m.tracking_error, m.information_ratio):
        assert np.isnan(stat(returns, returns))


def test_one_return_and_empty_levels():
    assert m.total_return(one_return) == pytest.approx(0.01)
    assert m.cagr(one_return) == pytest.approx(1.01**252 - 1)
    assert m.total_return(empty) == 0.0
    assert np.isnan(m.cagr(empty))
    assert m.max_drawdown(empty) == 0.0
    assert m.max_drawdown_days(empty) == 0


def test_total_loss_cagr():
    assert m.cagr([0.1, -1.0]) == -1.0


def test_series_and_array_agree():
    s = pd.Series(five_returns, index=pd.bdate_range("2024-01-01", periods=5))
    assert m.sharpe(s) == pytest.approx(m.sharpe(five_returns))
    assert m.max_drawdown_days(s) == m.max_drawdown_days(five_returns)
    assert m.beta(s, s * 3) == pytest.approx(1 / 3)


def test_sharpe_unchanged_when_returns_and_rf_shift_together():
    rf = np.array([0.0001, 0.0002, 0.0001, 0.0003, 0.0002])
    base = m.sharpe(five_returns, rf)
    assert m.sharpe(five_returns + 0.003, rf + 0.003) == pytest.approx(base)
    assert m.sortino(five_returns + 0.003, rf + 0.003) == pytest.approx(m.sortino(five_returns, rf))
    assert m.sharpe(five_returns, 0.001) == pytest.approx(m.sharpe(five_returns - 0.001))


def test_sharpe_scale_invariant():
    assert m.sharpe(five_returns * 3) == pytest.approx(m.sharpe(five_returns))


def test_rf_length_mismatch_raises():
    with pytest.raises(BacktestError, match="'rf' parameter must be a scalar or an array"):
        m.sharpe(five_returns, np.zeros(3))
    with pytest.raises(BacktestError, match="'bench' parameter"):
        m.beta(five_returns, np.zeros(4))


def test_beta_alpha_against_itself():
    assert m.beta(five_returns, five_returns) == pytest.approx(1.0)
    np.testing.assert_allclose(m.alpha(five_returns, five_returns), 0.0, atol=1e-15)
    np.testing.assert_allclose(m.tracking_error(five_returns, five_returns), 0.0, atol=1e-15)


def test_scaling_bench_halves_beta():
    bench = np.array([0.01, -0.02, 0.005, -0.01, 0.02])
    assert m.beta(five_returns, 2 * bench) == pytest.approx(m.beta(five_returns, bench) / 2)


def test_linear_relation_gives_beta_and_alpha():
    bench = np.array([0.01, -0.02, 0.005, -0.01, 0.02])
    r = 2 * bench + 0.001
    assert m.beta(r, bench) == pytest.approx(2.0)
    assert m.alpha(r, bench) == pytest.approx(0.001 * 252)
    active = r - bench  # = bench + 0.001
    assert m.tracking_error(r, bench) == pytest.approx(np.std(bench, ddof=1) * SQRT_YEAR)
    expected_ir = np.mean(active) / np.std(bench, ddof=1) * SQRT_YEAR
    assert m.information_ratio(r, bench) == pytest.approx(expected_ir)


def test_summary_keys_and_units():
    bench = np.array([0.01, -0.02, 0.005, -0.01, 0.02])
    out = m.summary(five_returns, bench=bench, initial_cash=1000.0, n_orders=3, exposure_pct=80)
    assert tuple(out) == METRIC_KEYS
    assert all(isinstance(v, float) for v in out.values())
    assert out["final_value"] == pytest.approx(1007.2755)
    assert out["total_return_pct"] == pytest.approx(0.72755)
    assert out["cagr_pct"] == pytest.approx((1.0072755 ** (252 / 5) - 1) * 100)
    assert out["max_drawdown_pct"] == pytest.approx(-12.79)
    assert out["max_drawdown_days"] == 4
    assert out["sortino"] == pytest.approx(0.08 * SQRT_YEAR)
    assert out["alpha_pct"] == pytest.approx(m.alpha(five_returns, bench) * 100)
    assert out["beta"] == pytest.approx(m.beta(five_returns, bench))
    assert (out["n_orders"], out["exposure_pct"], out["n_days"]) == (3.0, 80.0, 5.0)
    assert np.isnan(out["turnover_pct"])


def test_summary_without_bench_and_degenerate_inputs():
    out = m.summary(one_return)
    assert tuple(out) == METRIC_KEYS
    for key in ("beta", "alpha_pct", "tracking_error_pct", "information_ratio", "sharpe"):
        assert np.isnan(out[key])
    assert out["n_days"] == 1.0
    assert tuple(m.summary(empty)) == METRIC_KEYS


def _two_episode_equity() -> pd.Series:
    # Episode 1: peak 110 (d1), trough 88 (d3, -20 %), back at 110 on d4 -> 3 days.
    # Episode 2: peak 121 (d5), trough 100 (d7, -17.36 %), never recovered -> d9 - d5 = 4 days.
    values = [100, 110, 99, 88, 110, 121, 115, 100, 105, 120]
    return pd.Series(values, index=pd.bdate_range("2024-01-01", periods=10), dtype=float)


def test_drawdown_table_two_episodes():
    eq = _two_episode_equity()
    d = eq.index
    table = m.drawdown_table(eq)
    assert list(table.columns) == ["start", "trough", "recovery", "depth_pct", "length_days"]
    assert len(table) == 2
    assert list(table["start"]) == [d[1], d[5]]
    assert list(table["trough"]) == [d[3], d[7]]
    assert table["recovery"].iloc[0] == d[4]
    assert pd.isna(table["recovery"].iloc[1])
    np.testing.assert_allclose(table["depth_pct"], [-20.0, (100 / 121 - 1) * 100])
    assert list(table["length_days"]) == [3, 4]


def test_drawdown_table_top_and_no_drawdown():
    eq = _two_episode_equity()
    top1 = m.drawdown_table(eq, top=1)
    assert len(top1) == 1 and top1["depth_pct"].iloc[0] == pytest.approx(-20.0)
    rising = pd.Series([1.0, 2.0, 3.0], index=pd.bdate_range("2024-01-01", periods=3))
    none = m.drawdown_table(rising)
    assert none.empty and list(none.columns) == list(top1.columns)


def _dated(values, start="2023-12-28") -> pd.Series:
    return pd.Series(values, index=pd.bdate_range(start, periods=len(values)), dtype=float)


def test_period_returns_and_best_worst():
    # Dec 28, 29 (2023) | Jan 1, 2, 3 (2024)
    r = _dated([0.10, -0.10, 0.05, 0.02, -0.03])
    monthly = m.period_returns(r, "M")
    np.testing.assert_allclose(monthly, [1.1 * 0.9 - 1, 1.05 * 1.02 * 0.97 - 1])
    assert list(monthly.index) == [pd.Timestamp("2023-12-31"), pd.Timestamp("2024-01-31")]
    yearly = m.period_returns(r, "Y")
    np.testing.assert_allclose(yearly, monthly)  # one month in each year here
    bw = m.best_worst(r)
    assert bw["best_day_pct"] == pytest.approx(10.0)
    assert bw["worst_day_pct"] == pytest.approx(-10.0)
    assert bw["best_month_pct"] == pytest.approx((1.05 * 1.02 * 0.97 - 1) * 100)
    assert bw["worst_month_pct"] == pytest.approx(-1.0)
    assert bw["worst_year_pct"] == pytest.approx(-1.0)


def test_period_returns_bad_freq():
    with pytest.raises(BacktestError, match=r"must be one of 'M', 'Y'.*did you mean 'M'"):
        m.period_returns(_dated([0.01]), "ME")


def test_rolling_matches_full_window():
    r = _dated(np.r_[five_returns, five_returns[::-1]])
    rf = np.full(10, 0.0001)
    rs = m.rolling_sharpe(r, 5, rf)
    assert rs.iloc[:4].isna().all()
    assert rs.iloc[4] == pytest.approx(m.sharpe(five_returns, 0.0001))
    assert rs.iloc[-1] == pytest.approx(m.sharpe(five_returns[::-1], 0.0001))
    rv = m.rolling_volatility(r, 5)
    assert rv.iloc[4] == pytest.approx(m.volatility(five_returns))
    bench = r * 0.5 + 0.001
    np.testing.assert_allclose(m.rolling_beta(r, bench, 5).iloc[4:], 2.0)


def test_rolling_zero_std_is_nan():
    r = _dated([0.01] * 6 + [0.02, -0.01])
    rs = m.rolling_sharpe(r, 3)
    assert rs.iloc[2:6].isna().all() and np.isfinite(rs.iloc[-1])
    assert m.rolling_beta(r, _dated([0.0] * 8), 3).isna().all()
