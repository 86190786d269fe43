"""Agreement with vectorbt, the independent reference engine (marker: vectorbt).

vectorbt's first call compiles for about a minute on a fresh machine; skip locally with
``pytest -m 'not vectorbt'``. CI runs these.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.config import PortfolioConfig, load_config
from engine.data import load_market_data
from engine.simulate import make_inputs, simulate

pytestmark = pytest.mark.vectorbt
verify = pytest.importorskip("engine.verify")
vbt_equity, replay_orders = verify.vectorbt_equity, verify.replay_orders
pytest.importorskip("vectorbt")


def random_targets(rng, n_days: int, n_assets: int, hold: int) -> np.ndarray:
    raw = rng.uniform(0, 1, (n_days, n_assets + 1))
    raw[rng.uniform(size=n_days) < 0.2, :n_assets] = 0.0  # some all-cash rows
    w = raw[:, :n_assets] / raw.sum(axis=1, keepdims=True)
    return np.repeat(w[::hold], hold, axis=0)[:n_days]


@pytest.mark.parametrize("fees_bps,slippage_bps,fixed_fee,hold", [
    (0.0, 0.0, 0.0, 5), (1.0, 2.0, 0.0, 10), (10.0, 15.0, 0.0, 3), (5.0, 5.0, 1.5, 21)])
def test_random_targets_on_bundled_data_match_vectorbt(fees_bps, slippage_bps, fixed_fee, hold):
    data = load_market_data(["IWM", "SPY", "QQQ"], start="2001-01-02")
    rng = np.random.default_rng(int(fees_bps * 100 + hold))
    weights = random_targets(rng, len(data.dates), 3, hold)
    portfolio = PortfolioConfig(initial_cash=100_000, fees_bps=fees_bps,
                                slippage_bps=slippage_bps, fixed_fee=fixed_fee)
    ours = simulate(data, weights, make_inputs(data, portfolio))
    close, targets = replay_orders(data, weights, ours.trades["date"])
    theirs = vbt_equity(close, targets, 100_000, (fees_bps + slippage_bps) / 1e4, fixed_fee)
    np.testing.assert_allclose(ours.equity.to_numpy(), theirs.to_numpy(), rtol=1e-9)
    assert len(ours.trades) > 100


def test_verify_option_reports_a_tiny_difference(tmp_path):
    from engine.run import run_backtest
    from engine.verify import verify_run

    cfg = load_config("configs/rotation.yaml")
    cfg = cfg.model_copy(update={"portfolio": cfg.portfolio.model_copy(
        update={"cash_rate": None})})
    line = verify_run(cfg, run_backtest(cfg))
    assert float(line.rsplit(" ", 1)[1]) < 1e-9
