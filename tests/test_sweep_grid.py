"""engine.sweep: config validation, grid expansion, constraints, hold-out / walk-forward windows."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from engine.errors import ConfigError
from engine.sweep.config import SweepConfig
from engine.sweep.constraints import parse_constraint
from engine.sweep.grid import build_grid
from engine.sweep.windows import make_plan, walk_forward_folds
from strategies import get_strategy
from strategies.rotation import RotationParams

ROTATION = get_strategy("rotation")


def _cfg(**params):
    base = RotationParams().model_dump(mode="json")
    return SimpleNamespace(params={**base, **params},
                           data=SimpleNamespace(tickers=["IWM", "SPY", "QQQ"]))


def _grid(sweep: dict, **params):
    return build_grid(ROTATION, _cfg(**params), SweepConfig.model_validate(sweep))


# ----------------------------------------------------------------------------- expansion
def test_lists_ranges_and_log_ranges_expand_in_config_order():
    g = _grid({"grid": {"window": {"start": 20, "stop": 40, "step": 10},
                        "band": {"start": 0, "stop": 0.3, "step": 0.1},
                        "min_hold": [0, 5]}})
    assert g.values["window"] == [20, 30, 40]  # stop included, whole numbers for an int field
    assert g.values["band"] == [0.0, 0.1, 0.2, 0.3]  # rounded: 0.3, not 0.30000000000000004
    assert g.n == g.n_grid == 3 * 4 * 2
    assert g.columns["window"].dtype == np.int64
    # the first parameter varies slowest, the last fastest
    assert g.combo(0) == {"window": 20, "band": 0.0, "min_hold": 0}
    assert g.combo(1) == {"window": 20, "band": 0.0, "min_hold": 5}
    assert g.combo(23) == {"window": 40, "band": 0.3, "min_hold": 5}
    logs = _grid({"grid": {"window": {"start": 10, "stop": 1000, "num": 3, "log": True}}})
    assert logs.values["window"] == [10, 100, 1000]
    bands = _grid({"grid": {"band": {"start": 0.5, "stop": 8, "num": 5, "log": True}}})
    np.testing.assert_allclose(bands.values["band"], [0.5, 1, 2, 4, 8], rtol=1e-12)


def test_a_single_value_and_text_values_are_allowed():
    g = _grid({"grid": {"min_hold": 5, "ma_type": ["sma", "ema"], "risk_off": ["SPY", "cash"]}})
    assert g.n == 4
    assert g.columns["ma_type"].dtype == object
    assert g.label(3) == "min_hold=5, ma_type=ema, risk_off=cash"


@pytest.mark.parametrize(("grid", "match"), [
    ({"windw": [10, 20]}, "'windw' is not a parameter of strategy 'rotation' "
                          r"\(did you mean 'window'\?\)"),
    ({"window": []}, "grid.window is an empty list"),
    ({"window": [10, 10]}, "lists a value twice"),
    ({"window": {"start": 10, "stop": 5, "step": 1}}, "stop .* is below start"),
    ({"window": {"start": 10, "stop": 50, "step": 0}}, "greater than 0"),
    ({"window": {"start": 10, "stop": 50, "num": 1, "log": True}}, "log range"),
    ({"window": {"start": 10, "stop": 20, "step": 2.5}}, "takes whole numbers"),
    ({"universe": [["IWM", "SPY"]]}, "only single values can be swept"),
])
def test_grid_errors_say_what_is_wrong(grid, match):
    with pytest.raises((ConfigError, ValueError), match=match):
        _grid({"grid": grid})


def test_a_combo_the_strategy_rejects_is_an_error_unless_a_constraint_drops_it():
    sweep = {"grid": {"fast": [20, 50, 100], "slow": [50, 100, 200]}}
    with pytest.raises(ConfigError, match=r"combo fast=50, slow=50 is not valid .*fast \(50\) "
                                          r"must be smaller than slow \(50\).*constraint"):
        _grid(sweep, signal="crossover")
    g = _grid({**sweep, "constraints": ["fast < slow"]}, signal="crossover")
    assert g.n_grid == 9 and g.n == 6
    assert all(f < s for f, s in zip(g.columns["fast"], g.columns["slow"], strict=True))
    assert g.kept_by == {"fast < slow": 6}


def test_an_unknown_ticker_in_the_grid_is_an_error():
    with pytest.raises(ConfigError, match="risk_off: ticker 'IJR' is not in data.tickers"):
        _grid({"grid": {"risk_off": ["SPY", "IJR"]}})


def test_constraints_that_exclude_everything_are_an_error():
    with pytest.raises(ConfigError, match=r"no combo is left.*'window > 500' keeps 0"):
        _grid({"grid": {"window": [50, 100]}, "constraints": ["window > 500"]})


# ----------------------------------------------------------------------------- constraints
def _eval(text, **cols):
    cols = {k: np.asarray(v) for k, v in cols.items()}
    n = len(next(iter(cols.values())))
    return parse_constraint(text, 0, list(cols)).evaluate(cols, n).tolist()


def test_constraints_support_comparisons_chains_logic_and_arithmetic():
    fast, slow = [10, 20, 50, 60], [50, 50, 55, 200]
    assert _eval("fast < slow", fast=fast, slow=slow) == [True, True, True, True]
    assert _eval("10 < fast < slow", fast=fast, slow=slow) == [False, True, True, True]
    assert _eval("slow - fast >= 30", fast=fast, slow=slow) == [True, True, False, True]
    assert _eval("slow / fast > 2 and not fast == 20", fast=fast, slow=slow) == [
        True, False, False, True]
    assert _eval("fast * 2 <= slow or slow == 55", fast=fast, slow=slow) == [
        True, True, True, True]
    assert _eval("-fast > -15", fast=fast, slow=slow) == [True, False, False, False]
    assert _eval("ma_type != 'ema'", ma_type=np.array(["sma", "ema"], dtype=object)) == [
        True, False]


@pytest.mark.parametrize(("text", "match"), [
    ("__import__('os').system('true')", "not allowed"),
    ("fast.real < 3", "not allowed"),
    ("fast ** 2 < slow", "operator Pow, not allowed"),
    ("fast % 2 == 0", "operator Mod, not allowed"),
    ("(lambda: 1)() == 1", "not allowed"),
    ("fast if slow else 1", "not allowed"),
    ("fast in [1, 2]", "operator In, not allowed"),
    ("fast < slwo", r"'slwo', which is not a swept parameter \(did you mean 'slow'\?\)"),
    ("fast + slow", "is not a comparison"),
    ("fast <", "is not a valid expression"),
    ("", "is empty"),
])
def test_constraints_refuse_anything_else_in_one_line(text, match):
    with pytest.raises(ConfigError, match=match) as info:
        parse_constraint(text, 0, ["fast", "slow"])
    assert "\n" not in str(info.value)
    assert "sweep.constraints[0]" in str(info.value)


def test_text_compared_with_a_number_is_an_error():
    with pytest.raises(ConfigError, match="mixes text and numbers"):
        _eval("ma_type < 3", ma_type=np.array(["sma", "ema"], dtype=object))


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize(("sweep", "match"), [
    ({"grid": {"window": [1]}, "objective": "sharp"}, r"did you mean 'sharpe'"),
    ({"grid": {"window": [1]}, "objective": {"metric": "cagr_pct", "goal": "up"}}, "max"),
    ({"grid": {"window": [1]}, "validation": {}}, "exactly one of holdout or walk_forward"),
    ({"grid": {"window": [1]}, "ci": {"min_oos_sharpe": 0.1}}, "needs a validation"),
    ({"grid": {"window": [1]}, "ci": {"max_pbo": 1.5}}, "less than or equal to 1"),
    ({"grid": {"window": [1]}, "overfitting": {"partitions": 7}}, "even"),
    ({"grid": {"window": [1]}, "topp": 3}, "Extra inputs"),
    ({"grid": {}}, "at least 1"),
])
def test_sweep_config_errors(sweep, match):
    with pytest.raises(ValueError, match=match):
        SweepConfig.model_validate(sweep)


def test_objective_shorthand_and_defaults():
    s = SweepConfig.model_validate({"grid": {"window": [1]}, "objective": "calmar"})
    assert (s.objective.metric, s.objective.goal, s.top) == ("calmar", "max", 3)
    assert s.overfitting.partitions == 16


# ----------------------------------------------------------------------------- windows
DATES = pd.bdate_range("2001-01-01", "2026-06-30")


def _validation(**wf):
    return SweepConfig.model_validate({"grid": {"window": [1]},
                                       "validation": {"walk_forward": wf}}).validation


def test_holdout_splits_after_train_until():
    v = SweepConfig.model_validate({"grid": {"window": [1]}, "validation": {
        "holdout": {"train_until": "2017-12-31"}}}).validation
    plan = make_plan(DATES, 10, v)
    (is_lo, is_hi), (oos_lo, oos_hi) = plan.main
    assert (is_lo, oos_hi) == (10, len(DATES)) and is_hi == oos_lo
    assert DATES[is_hi - 1] <= pd.Timestamp("2017-12-31") < DATES[oos_lo]
    assert plan.prefixes == ("is_", "oos_")
    late = SweepConfig.model_validate({"grid": {"window": [1]}, "validation": {
        "holdout": {"train_until": "2030-01-01"}}}).validation
    with pytest.raises(ConfigError, match="fewer than two days"):
        make_plan(DATES, 10, late)


@settings(max_examples=60, deadline=None)
@given(train=hs.sampled_from([0.5, 1, 2, 3, 5, 8]), test=hs.sampled_from([0.25, 0.5, 1, 2]),
       mode=hs.sampled_from(["rolling", "anchored"]), start=hs.integers(0, 800))
def test_walk_forward_test_windows_never_see_their_own_data_in_training(train, test, mode,
                                                                         start):
    folds = walk_forward_folds(DATES, start, train, test, mode)
    assert folds
    for fold in folds:
        (tr_lo, tr_hi), (te_lo, te_hi) = fold.train, fold.test
        assert start <= tr_lo < tr_hi <= te_lo < te_hi <= len(DATES)
        assert tr_hi == te_lo  # trained right up to the test window, not into it
        if mode == "anchored":
            assert tr_lo == start
        else:  # a rolling window spans train years
            span = DATES[te_lo] - DATES[tr_lo]
            assert abs(span.days - 365.25 * train) < 10
    # the test windows tile the out-of-sample span: contiguous, no overlap, to the end
    assert [f.test[0] for f in folds[1:]] == [f.test[1] for f in folds[:-1]]
    assert folds[-1].test[1] == len(DATES)


def test_walk_forward_plan_and_its_errors():
    plan = make_plan(DATES, 0, _validation(train_years=5, test_years=1))
    assert plan.kind == "walk_forward" and len(plan.folds) == 21
    assert plan.main == ((0, len(DATES)), (plan.folds[0].test[0], len(DATES)))
    assert plan.windows()[2:] == [f.train for f in plan.folds]
    with pytest.raises(ConfigError, match="leaves no test window"):
        make_plan(DATES, 0, _validation(train_years=30, test_years=1))
    with pytest.raises(ConfigError, match="less than one month"):
        make_plan(DATES, 0, _validation(train_years=5, test_years=0.01))
