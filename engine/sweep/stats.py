"""Overfitting statistics of a sweep: the deflated Sharpe ratio and the probability of backtest
overfitting (PBO) by combinatorially symmetric cross-validation (CSCV).

Everything here works on *per-period* (daily, not annualised) quantities. The normal
distribution is implemented with :func:`math.erfc` (no scipy dependency): :func:`norm_cdf` is
exact to double precision; :func:`norm_ppf` is Acklam's rational approximation (relative error
below 1.15e-9) polished by one Halley step on ``erfc``, which brings it to about 1e-15.

References:
    Bailey, D. H. and López de Prado, M. (2014). "The Deflated Sharpe Ratio: Correcting for
    Selection Bias, Backtest Overfitting and Non-Normality". Journal of Portfolio Management
    40 (5), 94-107.
    Bailey, D. H., Borwein, J., López de Prado, M. and Zhu, Q. J. (2017). "The Probability of
    Backtest Overfitting". Journal of Computational Finance 20 (4), 39-69.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

EULER_GAMMA = 0.5772156649015329  # Euler-Mascheroni constant

# Acklam's coefficients (P. J. Acklam, "An algorithm for computing the inverse normal
# cumulative distribution function", 2003).
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
      1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
      6.680131188771972e01, -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
      -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
      3.754408661907416e00)
_P_LOW = 0.02425


def norm_cdf(x: float) -> float:
    """Standard normal CDF, Φ(x) = erfc(-x / √2) / 2 (erfc keeps the lower tail accurate)."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _acklam(p: float) -> float:
    """Acklam's approximation for 0 < p <= 0.5 (the caller reflects the upper half)."""
    if p < _P_LOW:
        q = math.sqrt(-2.0 * math.log(p))
        return ((((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5])
                / ((((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0))
    q = p - 0.5
    r = q * q
    return ((((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * q
            / (((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0))


def norm_ppf(p: float) -> float:
    """Inverse standard normal CDF, Φ⁻¹(p): -inf at 0, +inf at 1, nan outside [0, 1].

    Acklam's approximation, then one Halley step: with e = Φ(x) - p and
    u = e √(2π) exp(x² / 2), x ← x - u / (1 + x u / 2).
    """
    if not 0.0 <= p <= 1.0 or math.isnan(p):
        return math.nan
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    if p > 0.5:  # refine in the lower tail, where Φ is accurate (1 - p is exact here)
        return -norm_ppf(1.0 - p)
    x = _acklam(p)
    e = norm_cdf(x) - p
    u = e * math.sqrt(2.0 * math.pi) * math.exp(0.5 * x * x)
    return x - u / (1.0 + 0.5 * x * u)


def moments(x) -> tuple[float, float]:
    """(skewness γ3, kurtosis γ4) of a sample, population moments (normal: 0 and 3).

    γ3 = m3 / m2^1.5 and γ4 = m4 / m2² with m_k = mean((x - mean(x))^k), as in Bailey and
    López de Prado (2014). nan for fewer than two values or a constant sample.
    """
    x = np.asarray(x, dtype=float)
    if x.size < 2:
        return math.nan, math.nan
    d = x - x.mean()
    m2 = float(np.mean(d * d))
    if m2 <= 0.0:
        return math.nan, math.nan
    return float(np.mean(d**3)) / m2**1.5, float(np.mean(d**4)) / m2**2


def expected_max_sharpe(n_trials: int, var_sharpe: float) -> float:
    """SR0, the expected maximum of ``n_trials`` Sharpe ratios with true value 0.

    Bailey and López de Prado (2014), eq. 8 (from the false strategy theorem):
    SR0 = √V[SR_n] · ((1 - γ) Φ⁻¹(1 - 1/N) + γ Φ⁻¹(1 - 1/(N e))), γ the Euler-Mascheroni
    constant, V[SR_n] the variance of the trials' Sharpe ratios. One trial: 0 (no selection).
    """
    if n_trials <= 1 or not var_sharpe >= 0.0:
        return 0.0 if n_trials == 1 else math.nan
    z1 = norm_ppf(1.0 - 1.0 / n_trials)
    z2 = norm_ppf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(var_sharpe) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


def probabilistic_sharpe_ratio(sharpe: float, benchmark: float, n_obs: int, skew: float,
                               kurtosis: float) -> float:
    """PSR(SR*): probability that the true Sharpe ratio exceeds ``benchmark``.

    Bailey and López de Prado (2012, 2014 eq. 9):
    PSR = Φ(((SR - SR*) √(T - 1)) / √(1 - γ3 SR + (γ4 - 1)/4 SR²)), per-period SR, T the number
    of returns. nan for T < 2, a non-finite input or a non-positive variance term.
    """
    values = (sharpe, benchmark, skew, kurtosis)
    if n_obs < 2 or not all(math.isfinite(v) for v in values):
        return math.nan
    var = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe
    if var <= 0.0:
        return math.nan
    return norm_cdf((sharpe - benchmark) * math.sqrt(n_obs - 1.0) / math.sqrt(var))


def deflated_sharpe_ratio(sharpe: float, n_obs: int, skew: float, kurtosis: float,
                          n_trials: int, var_sharpe: float) -> float:
    """DSR: the PSR of the selected Sharpe ratio against SR0 = :func:`expected_max_sharpe`.

    Bailey and López de Prado (2014), eq. 10:
    DSR = Φ(((SR* - SR0) √(T - 1)) / √(1 - γ3 SR* + (γ4 - 1)/4 SR*²)), with SR* the best
    trial's per-period Sharpe ratio, T its number of returns, γ3/γ4 the skewness and
    (non-excess) kurtosis of its returns, N the number of trials and V[SR_n] the variance of
    the per-period Sharpe ratios across the trials. A probability: above 0.95 means the best
    set's Sharpe ratio is unlikely to be the luck of N tries.
    """
    sr0 = expected_max_sharpe(n_trials, var_sharpe)
    return probabilistic_sharpe_ratio(sharpe, sr0, n_obs, skew, kurtosis)


@dataclass(frozen=True)
class PboResult:
    """The outcome of CSCV: PBO and the logits λ of every split (for a histogram)."""

    pbo: float
    logits: np.ndarray  # (n_splits,)
    n_partitions: int
    n_strategies: int
    n_splits: int


def block_sums(returns: np.ndarray, n_partitions: int):
    """Per-block sums of returns and of squared returns, (S, N) each, and the (S,) row counts.

    The T rows are cut into S contiguous blocks with ``np.array_split`` (sizes differ by at
    most one). Sums are all CSCV needs, so a sweep can feed its returns batch by batch.
    """
    edges = np.cumsum([0] + [len(b) for b in np.array_split(np.arange(returns.shape[0]),
                                                             n_partitions)])
    s1 = np.stack([returns[lo:hi].sum(axis=0) for lo, hi in zip(edges[:-1], edges[1:],
                                                                 strict=True)])
    s2 = np.stack([np.square(returns[lo:hi]).sum(axis=0) for lo, hi in zip(edges[:-1],
                                                                            edges[1:],
                                                                            strict=True)])
    return s1, s2, np.diff(edges).astype(float)


def _sharpe_from_sums(s1, s2, n):
    """Per-period Sharpe ratio (ddof = 1) from sums; -inf where undefined (never selected).

    mean = s1 / n, var = (s2 - n mean²) / (n - 1); computed in place (two temporaries).
    """
    n = n[:, None]
    mean = s1 / n
    var = mean * mean
    var *= n
    np.subtract(s2, var, out=var)
    var /= n - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        np.sqrt(var, out=var)
        np.divide(mean, var, out=mean)
    mean[~np.isfinite(mean)] = -np.inf
    return mean


def _oos_logits(is_sr: np.ndarray, oos_sr: np.ndarray) -> np.ndarray:
    """λ = ln(ω / (1 - ω)), ω = OOS rank of the IS best / (N + 1), ties at their mean rank."""
    n = is_sr.shape[1]
    best = np.argmax(is_sr, axis=1)  # first maximum: deterministic on ties
    chosen = oos_sr[np.arange(len(best)), best][:, None]
    below = (oos_sr < chosen).sum(axis=1)
    equal = (oos_sr == chosen).sum(axis=1)
    omega = (below + (equal + 1) / 2.0) / (n + 1.0)
    return np.log(omega / (1.0 - omega))


def pbo_cscv(returns, n_partitions: int = 16, batch: int = 256) -> PboResult:
    """Probability of backtest overfitting by CSCV (Bailey, Borwein, López de Prado and Zhu 2017).

    ``returns`` is a (T, N) matrix: T periods of N strategies (the trials of a sweep). The rows
    are cut into S = ``n_partitions`` (even) contiguous blocks of (nearly) equal size. For each
    of the C(S, S/2) ways to pick S/2 blocks as the in-sample set (the rest out-of-sample):

    1. rank the strategies by in-sample Sharpe ratio and take the best n*;
    2. ω = rank of n* among the out-of-sample Sharpe ratios / (N + 1) (rank 1 = worst, ties at
       their mean rank);
    3. λ = ln(ω / (1 - ω)).

    PBO = the share of splits with λ <= 0, i.e. where the in-sample winner does no better than
    the out-of-sample median. About 0.5 when no strategy has skill, near 0 when one is truly
    better. Needs N >= 2 and T >= S (nan otherwise).

    Each split's out-of-sample half is another split's in-sample half, so the Sharpe ratios
    are computed once per pair (splits holding block 0, and their complements).
    """
    x = np.asarray(returns, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"returns must be a (T, N) matrix, got shape {x.shape}")
    _check_partitions(n_partitions)
    if x.shape[1] < 2 or x.shape[0] < n_partitions:
        return PboResult(math.nan, np.empty(0), n_partitions, x.shape[1], 0)
    return pbo_from_sums(*block_sums(x, n_partitions), batch=batch)


def _check_partitions(n_partitions: int) -> None:
    if n_partitions < 2 or n_partitions % 2:
        raise ValueError(f"n_partitions must be an even number >= 2, got {n_partitions}")


def pbo_from_sums(s1: np.ndarray, s2: np.ndarray, counts: np.ndarray,
                  batch: int = 256) -> PboResult:
    """:func:`pbo_cscv` from :func:`block_sums` (S, N), (S, N), (S,)."""
    n_partitions, n_strat = s1.shape
    _check_partitions(n_partitions)
    if n_strat < 2 or np.any(counts < 1):
        return PboResult(math.nan, np.empty(0), n_partitions, n_strat, 0)
    t1, t2, tn = s1.sum(axis=0), s2.sum(axis=0), counts.sum()
    halves = itertools.combinations(range(1, n_partitions), n_partitions // 2 - 1)
    logits = []
    while True:
        rows = list(itertools.islice(halves, batch))
        if not rows:
            break
        member = np.zeros((len(rows), n_partitions))
        member[:, 0] = 1.0
        for i, row in enumerate(rows):
            member[i, list(row)] = 1.0
        a1, a2, an = member @ s1, member @ s2, member @ counts
        sr_a = _sharpe_from_sums(a1, a2, an)
        np.subtract(t1, a1, out=a1)
        np.subtract(t2, a2, out=a2)
        sr_b = _sharpe_from_sums(a1, a2, tn - an)
        logits += [_oos_logits(sr_a, sr_b), _oos_logits(sr_b, sr_a)]
    lam = np.concatenate(logits)
    return PboResult(float(np.mean(lam <= 0.0)), lam, n_partitions, n_strat, lam.size)
