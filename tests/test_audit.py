"""Look-ahead audit over every registered strategy and every config in configs/.

Perturbing every price and macro value after day t must leave all target weights up to and
including t unchanged. A new strategy or config is picked up automatically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.audit import audit_weights, cutoff_days, perturb_after
from engine.config import load_config
from engine.data import load_market_data
from engine.run import prepare
from strategies import REGISTRY

CONFIGS = sorted(Path(__file__).resolve().parent.parent.joinpath("configs").glob("*.yaml"))


@pytest.fixture(scope="module")
def bundled():
    return load_market_data(["IWM", "SPY", "QQQ"], start="2005-01-03", end="2012-12-31",
                            macro=["FEDFUNDS", "DFF", "GS2"])


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_registered_strategy_has_no_look_ahead(name, bundled):
    strategy = REGISTRY[name]
    params = strategy.Params()
    cutoffs = cutoff_days(len(bundled.dates), bundled.start_index, count=8)
    failures = audit_weights(lambda d: strategy.weights(d, params), bundled, cutoffs)
    assert failures == []


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_has_no_look_ahead(path):
    prep = prepare(load_config(path))
    cutoffs = cutoff_days(len(prep.data.dates), prep.data.start_index)
    failures = audit_weights(lambda d: prep.strategy.weights(d, prep.params), prep.data, cutoffs)
    assert failures == []


def test_the_audit_catches_a_strategy_that_peeks(bundled):
    def peeking(data):  # decides day t with the close of day t + 1
        up = np.r_[data.close[1:, 0] > data.close[:-1, 0], False]
        w = np.zeros(data.close.shape)
        w[up, 0] = 1.0
        return w

    failures = audit_weights(peeking, bundled, cutoff_days(len(bundled.dates), 1))
    assert failures and "changed the target" in failures[0]


def test_perturbation_leaves_the_past_alone(bundled):
    rng = np.random.default_rng(0)
    for kind in ("scale", "shuffle", "noise"):
        changed = perturb_after(bundled, 100, kind, rng)
        np.testing.assert_array_equal(changed.close[:101], bundled.close[:101])
        assert not np.array_equal(changed.close[101:], bundled.close[101:])
        for name, values in bundled.macro.items():
            np.testing.assert_array_equal(changed.macro[name][:101], values[:101])
