"""Strategies on tiny hand-made series with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine import regimes as rg
from engine.data import MarketData, publish
from strategies import REGISTRY, get_strategy
from strategies import indicators as ind
from tests.conftest import make_market


def params(name, **kw):
    return get_strategy(name).Params.model_validate(kw)


# ----------------------------------------------------------------------------- rotation
def test_ratio_rising_then_falling_gives_risk_on_then_risk_off_at_the_right_bars():
    n = 40
    spy = np.full(n, 100.0)
    iwm = np.r_[np.linspace(100, 120, 20), np.linspace(119, 100, 20)]  # ratio up, then down
    data = make_market(np.c_[iwm, spy], ["IWM", "SPY"])
    p = params("rotation", signal="momentum", lookback=3, band=0.0)
    w = get_strategy("rotation").weights(data, p)
    ratio = iwm / spy
    mom = ratio[3:] / ratio[:-3] - 1
    # first 3 rows: no signal yet -> cash
    np.testing.assert_array_equal(w[:3], 0.0)
    expected_on = np.r_[np.zeros(3, bool), mom > 0]
    np.testing.assert_array_equal(w[3:, 0], expected_on[3:].astype(float))
    np.testing.assert_array_equal(w[3:, 1], (~expected_on[3:]).astype(float))
    # the peak is bar 19 (120); bar 21 is the first whose 3-day momentum is negative
    # (118 vs 118.95 on bar 18), so it decides the switch to SPY
    assert w[20, 0] == 1.0 and w[21, 1] == 1.0


def test_sma_ema_and_hysteresis_by_hand():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_allclose(ind.sma(x, 3), [np.nan, np.nan, 2.0, 3.0, 4.0])
    ema = pd.Series(x).ewm(span=3, adjust=False).mean()  # after the seed, pandas' recursion
    out = ind.ema(x, 3)
    assert out[2] == 2.0 and np.isnan(out[:2]).all()
    np.testing.assert_allclose(out[3], 0.5 * 4 + 0.5 * 2.0)
    assert ema.iloc[3] != out[3]  # different seed on purpose: SMA seed, documented
    signal = np.array([np.nan, 0.01, 0.03, 0.01, -0.01, -0.03, -0.01, 0.01])
    states = ind.hysteresis_states(signal, 0.02, 0)
    np.testing.assert_array_equal(states, [-1, 1, 1, 1, 1, 0, 0, 0])
    held = ind.hysteresis_states(np.array([0.1, -0.1, -0.1, -0.1, 0.1]), 0.0, 3)
    np.testing.assert_array_equal(held, [1, 1, 1, 0, 0])


def test_crossover_requires_fast_below_slow():
    with pytest.raises(ValueError, match="fast"):
        params("rotation", signal="crossover", fast=200, slow=50)


def test_rank_holds_the_strongest_and_switches_only_beyond_the_band():
    n = 12
    a = np.r_[np.full(6, 100.0), np.linspace(101, 130, 6)]
    b = np.linspace(100, 110, n)
    c = np.full(n, 100.0)
    data = make_market(np.c_[a, b, c], ["IWM", "SPY", "QQQ"])
    p = params("rotation", signal="rank", lookback=2, band=0.0)
    w = get_strategy("rotation").weights(data, p)
    assert w[2].tolist() == [0, 1, 0]  # SPY leads early
    assert w[-1].tolist() == [1, 0, 0]  # IWM leads at the end
    np.testing.assert_array_equal(w.sum(axis=1)[2:], 1.0)


# --------------------------------------------------------------------------- rate cycle
def test_rate_cuts_give_easing_only_after_publication():
    months = pd.date_range("2019-01-01", periods=12, freq="MS")
    fed = pd.Series([2.4] * 6 + [2.15, 1.9, 1.65, 1.65, 1.65, 1.65], index=months)
    dates = pd.bdate_range("2019-01-01", "2019-12-31")
    published = publish(fed, dates)
    # the July value (the first cut) is usable from the first trading day of August
    first_aug = dates[dates >= "2019-08-01"][0]
    assert published[dates.get_loc(first_aug)] == 2.15
    assert published[dates.get_loc(first_aug) - 1] == 2.4
    labels = rg.rate_regime_labels(published, dates, lookback_months=12, threshold_bps=50,
                                   move_bps=25)
    assert (labels[dates < first_aug] == "neutral").all()
    assert labels[first_aug] == "easing"  # a 25 bps cut: the last move was a cut
    data = MarketData(dates, ("SPY", "IWM"), np.full((len(dates), 2), 100.0), 1,
                      {"FEDFUNDS": published}, {})
    w = get_strategy("rate_cycle").weights(data, params("rate_cycle"))
    assert w[dates.get_loc(first_aug) - 1].tolist() == [0.9, 0.1]
    assert w[dates.get_loc(first_aug)].tolist() == [0.85, 0.15]


def test_hikes_give_tightening_and_old_moves_expire():
    rate = np.r_[np.full(30, 1.0), np.full(30, 1.5), np.full(400, 1.5)]
    codes = rg.rate_regimes(rate, 252, 0.5, 0.25, np.full(len(rate), np.nan), 0.25)
    assert codes[29] == rg.NEUTRAL and codes[30] == rg.TIGHTENING
    assert codes[30 + 252] == rg.TIGHTENING  # the 1.0 low is still inside the window
    assert codes[-1] == rg.NEUTRAL  # a year and more later the cycle is over


def test_two_year_yield_below_fed_funds_is_an_early_easing_sign():
    rate = np.full(50, 5.0)
    gs2 = np.r_[np.full(25, 5.0), np.full(25, 4.5)]
    codes = rg.rate_regimes(rate, 252, 0.5, 0.25, gs2, 0.25)
    assert (codes[:25] == rg.NEUTRAL).all() and (codes[25:] == rg.EASING).all()


# ----------------------------------------------------------------------- reconstitution
def test_reconstitution_holds_iwm_from_entry_close_to_exit_close():
    dates = pd.bdate_range("2024-05-01", "2024-07-31")
    data = MarketData(dates, ("IWM", "SPY"), np.full((len(dates), 2), 100.0), 1, {}, {})
    p = params("reconstitution", anchor="effective_date", entry_offset=-5, exit_offset=2)
    w = get_strategy("reconstitution").weights(data, p)
    a = dates.get_loc(pd.Timestamp("2024-06-28"))  # effective after this close
    held_after_close = np.vstack([np.zeros(2), w[:-1]])  # row t-1 is held after close t
    in_iwm = np.flatnonzero(held_after_close[:, 0] == 1.0)
    assert in_iwm[0] == a - 5 and in_iwm[-1] == a + 1  # sold at the close of a + 2
    assert (held_after_close[a + 2:, 1] == 1.0).all()


def test_reconstitution_rejects_an_exit_before_the_entry():
    with pytest.raises(ValueError, match="exit_offset"):
        params("reconstitution", entry_offset=5, exit_offset=-5)


# ---------------------------------------------------------------------------- baselines
def test_static_mix_rejects_leverage_and_buy_and_hold_holds():
    with pytest.raises(ValueError, match="no leverage"):
        params("static_mix", weights={"SPY": 0.8, "IWM": 0.3})
    data = make_market(np.full((5, 2), 10.0), ["SPY", "IWM"])
    w = get_strategy("buy_and_hold").weights(data, params("buy_and_hold", ticker="IWM"))
    np.testing.assert_array_equal(w, [[0, 1]] * 5)


def test_every_strategy_gives_rows_summing_to_at_most_one(rng):
    from tests.conftest import random_walk

    close = random_walk(rng, 600, 3)
    dates = pd.bdate_range("2019-01-01", periods=600)
    fed = np.r_[np.full(200, 2.0), np.linspace(2.0, 0.5, 200), np.full(200, 0.5)]
    data = MarketData(dates, ("IWM", "SPY", "QQQ"), close, 250, {"FEDFUNDS": fed}, {})
    for name, strategy in REGISTRY.items():
        w = strategy.weights(data, strategy.Params())
        assert w.shape == close.shape, name
        assert (w >= 0).all() and (w.sum(axis=1) <= 1 + 1e-12).all(), name
