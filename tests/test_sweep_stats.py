"""engine.sweep.stats: the normal distribution, DSR and PBO on hand-checked cases and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.sweep import stats as st

pytestmark = pytest.mark.filterwarnings("error")


# ----------------------------------------------------------------------------- normal
@pytest.mark.parametrize(("x", "p"), [(0.0, 0.5), (1.0, 0.8413447460685429),
                                      (-1.0, 0.15865525393145707),
                                      (1.959963984540054, 0.975),
                                      (-6.0, 9.865876450376981e-10)])
def test_norm_cdf_known_values(x, p):
    np.testing.assert_allclose(st.norm_cdf(x), p, rtol=1e-14)


@pytest.mark.parametrize(("p", "x"), [(0.5, 0.0), (0.975, 1.959963984540054),
                                      (0.01, -2.3263478740408408),
                                      (0.99, 2.3263478740408408),
                                      (0.02425, -1.972961051311885),  # edge of Acklam's regions
                                      (1e-10, -6.361340902404056)])
def test_norm_ppf_known_values(p, x):
    np.testing.assert_allclose(st.norm_ppf(p), x, rtol=1e-12, atol=1e-15)


def test_norm_ppf_inverts_the_cdf_over_the_whole_range():
    for p in np.concatenate([np.logspace(-15, -1, 29), np.linspace(0.01, 0.99, 99),
                             1.0 - np.logspace(-12, -1, 23)]):
        np.testing.assert_allclose(st.norm_cdf(st.norm_ppf(p)), p, rtol=1e-12)


def test_norm_ppf_edges():
    assert st.norm_ppf(0.0) == -math.inf
    assert st.norm_ppf(1.0) == math.inf
    assert math.isnan(st.norm_ppf(1.5))
    assert math.isnan(st.norm_ppf(-0.1))
    assert math.isnan(st.norm_ppf(math.nan))


def test_norm_ppf_agrees_with_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    ps = np.linspace(1e-6, 1 - 1e-6, 2001)
    np.testing.assert_allclose([st.norm_ppf(p) for p in ps], scipy_stats.norm.ppf(ps),
                               rtol=1e-12, atol=1e-13)


# ----------------------------------------------------------------------------- moments
def test_moments_by_hand():
    # x = 0, 0, 0, 1: mean 1/4; m2 = 3/16, m3 = 3/32, m4 = 21/256
    # skew = (3/32) / (3/16)^1.5 = 2 / sqrt(3); kurtosis = (21/256) / (9/256) = 7/3
    skew, kurt = st.moments([0.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose([skew, kurt], [2 / math.sqrt(3), 7 / 3], rtol=1e-14)
    assert all(math.isnan(v) for v in st.moments([1.0]))
    assert all(math.isnan(v) for v in st.moments([2.0, 2.0, 2.0]))


def test_normal_sample_has_skew_zero_and_kurtosis_three(rng):
    skew, kurt = st.moments(rng.normal(size=400_000))
    np.testing.assert_allclose([skew, kurt], [0.0, 3.0], atol=0.03)


# ----------------------------------------------------------------------------- DSR
def test_expected_max_sharpe_matches_the_paper_and_monte_carlo(rng):
    assert st.expected_max_sharpe(1, 0.3) == 0.0
    # N = 100, V = 1: (1 - γ) Φ⁻¹(0.99) + γ Φ⁻¹(1 - 1/(100 e))
    want = (1 - st.EULER_GAMMA) * 2.3263478740408408 + st.EULER_GAMMA * st.norm_ppf(
        1 - 1 / (100 * math.e))
    np.testing.assert_allclose(st.expected_max_sharpe(100, 1.0), want, rtol=1e-14)
    # the false strategy theorem: close to the mean maximum of 100 standard normals (~2.508)
    simulated = rng.normal(size=(20_000, 100)).max(axis=1).mean()
    np.testing.assert_allclose(st.expected_max_sharpe(100, 1.0), simulated, rtol=0.02)


def test_deflated_sharpe_reproduces_the_paper_example():
    # Bailey & López de Prado (2014), section 4: N = 100 trials, V[SR_n] = 1/2 (annualised),
    # best SR 2.5 (annualised), 5 years of daily returns (T = 1250, 250 days a year),
    # skew -3, kurtosis 10 -> DSR ≈ 0.9004.
    per = math.sqrt(250.0)
    dsr = st.deflated_sharpe_ratio(2.5 / per, 1250, -3.0, 10.0, 100, 0.5 / 250.0)
    np.testing.assert_allclose(dsr, 0.9004, atol=5e-5)


def test_deflated_sharpe_with_one_trial_is_the_probabilistic_sharpe_ratio():
    # N = 1, normal returns (γ3 = 0, γ4 = 3): DSR = Φ(SR √(T - 1) / √(1 + SR² / 2))
    # SR = 0.1, T = 101: z = 0.1 * 10 / √1.005 = 0.997509..., Φ(z) = 0.84073...
    got = st.deflated_sharpe_ratio(0.1, 101, 0.0, 3.0, 1, 0.2)
    np.testing.assert_allclose(got, st.norm_cdf(1.0 / math.sqrt(1.005)), rtol=1e-14)
    np.testing.assert_allclose(got, 0.8407, atol=1e-4)


def test_deflated_sharpe_falls_with_trials_and_rises_with_history():
    by_trials = [st.deflated_sharpe_ratio(0.08, 2000, 0.0, 3.0, n, 1e-3)
                 for n in (1, 10, 100, 10_000)]
    assert np.all(np.diff(by_trials) < 0)
    by_days = [st.deflated_sharpe_ratio(0.12, n, 0.0, 3.0, 100, 1e-3) for n in (500, 2000, 8000)]
    assert np.all(np.diff(by_days) > 0)
    assert math.isnan(st.deflated_sharpe_ratio(0.08, 1, 0.0, 3.0, 100, 1e-3))
    assert math.isnan(st.deflated_sharpe_ratio(0.08, 100, math.nan, 3.0, 100, 1e-3))


# ----------------------------------------------------------------------------- PBO
def test_pbo_by_hand_two_strategies_two_blocks():
    # S = 2: two splits, each block in-sample once. Block 1: A has the better Sharpe,
    # block 2: B does. The in-sample winner is then the out-of-sample loser every time:
    # rank 1 of 2 -> ω = 1/3 -> λ = ln(1/2) < 0 -> PBO = 1.
    a = [0.01, 0.03, 0.02, 0.02, -0.01, 0.01, 0.00, 0.00]
    b = [0.00, 0.01, -0.01, 0.00, 0.02, 0.04, 0.03, 0.03]
    res = st.pbo_cscv(np.column_stack([a, b]), n_partitions=2)
    assert res.n_splits == 2
    np.testing.assert_allclose(res.logits, [math.log(0.5)] * 2, rtol=1e-14)
    assert res.pbo == 1.0
    # A better in both blocks: the in-sample winner also wins out of sample: ω = 2/3, λ = ln 2
    a2 = [0.01, 0.03, 0.02, 0.02, 0.03, 0.05, 0.04, 0.04]
    res = st.pbo_cscv(np.column_stack([a2, b]), n_partitions=2)
    np.testing.assert_allclose(res.logits, [math.log(2.0)] * 2, rtol=1e-14)
    assert res.pbo == 0.0


def test_pbo_counts_every_combination_of_half_the_blocks(rng):
    res = st.pbo_cscv(rng.normal(size=(160, 5)), n_partitions=8)
    assert res.n_splits == math.comb(8, 4) == res.logits.size


def test_pbo_is_near_one_half_for_pure_noise(rng):
    # 50 strategies without skill: the in-sample winner's out-of-sample rank is uniform
    values = [st.pbo_cscv(rng.normal(0.0, 0.01, size=(1000, 50)), 16).pbo for _ in range(4)]
    assert 0.35 < np.mean(values) < 0.65


def test_pbo_is_near_zero_when_one_strategy_is_truly_better(rng):
    x = rng.normal(0.0, 0.01, size=(1000, 50))
    x[:, 7] += 0.004  # a daily Sharpe of 0.4: wins every in-sample and out-of-sample half
    assert st.pbo_cscv(x, 16).pbo < 0.02


def test_pbo_rejects_odd_partitions_and_returns_nan_when_undefined(rng):
    with pytest.raises(ValueError, match="even"):
        st.pbo_cscv(rng.normal(size=(100, 4)), 5)
    assert math.isnan(st.pbo_cscv(rng.normal(size=(100, 1)), 4).pbo)
    assert math.isnan(st.pbo_cscv(rng.normal(size=(3, 4)), 4).pbo)
