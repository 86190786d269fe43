"""Performance statistics: one pure function per metric, on DAILY SIMPLE RETURNS.

Conventions (shared with the simulation kernel, see :data:`engine.results.METRIC_KEYS`):

* Inputs are numpy arrays or pandas Series of daily simple returns ``r`` (0.01 = +1 %), converted
  with ``np.asarray(x, float)``; ``rf`` is a scalar or an array of daily simple rates aligned with
  ``r`` by position; ``bench`` is the benchmark's daily returns, aligned by position.
* Annualisation uses 252 trading days per year. Outputs are decimals (0.12 = 12 %) except the
  ``*_pct`` keys of :func:`summary`.
* Edge cases give nan, never inf and never a leaked RuntimeWarning: fewer than two returns for
  any std/ratio statistic, and a zero denominator (std, downside deviation, benchmark variance,
  max drawdown). A denominator counts as zero when it is below ``1e-12`` times the largest
  absolute input, so that constant series whose float mean is off by one ulp still give nan.
  (empyrical returns inf for a Sortino without losing days; we return nan on purpose.)
* NaN inside the returns propagates; drop or fill missing days before calling.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.errors import BacktestError, did_you_mean
from engine.results import METRIC_KEYS

PERIODS_PER_YEAR = 252
_SQRT_YEAR = np.sqrt(PERIODS_PER_YEAR)
_ZERO_TOL = 1e-12  # relative threshold under which a denominator is treated as zero
_FREQ_RULES = {"M": "ME", "Y": "YE"}  # pandas 3 month-end / year-end resample aliases


# --------------------------------------------------------------------------------- helpers
def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _aligned(returns, other, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``returns`` and ``other`` as float arrays; ``other`` a scalar or of the same length."""
    r, o = _arr(returns), _arr(other)
    if o.ndim != 0 and o.shape != r.shape:
        raise BacktestError(
            f"The '{name}' parameter must be a scalar or an array of the same length as the "
            f"returns ({r.shape[0]}). Got shape {o.shape} instead."
        )
    return r, o


def _ratio(num: float, den: float, scale: float) -> float:
    """``num / den``, or nan when ``den`` is not finite or ``den <= _ZERO_TOL * scale``."""
    if not np.isfinite(den) or den <= _ZERO_TOL * scale:
        return np.nan
    return float(num / den)


def _std(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) if x.size >= 2 else np.nan


def _max_abs(x: np.ndarray) -> float:
    return float(np.max(np.abs(x))) if x.size else 0.0


# --------------------------------------------------------------------------------- rates
def daily_rate_from_annual_pct(rate_pct):
    """Daily simple rate from an annual percentage, geometric over 252 days.

    ``(1 + rate_pct / 100) ** (1 / 252) - 1``; 5.33 means 5.33 %/yr. Scalars give a float,
    arrays (or Series) an array of the same shape; nan propagates.
    """
    out = (1.0 + _arr(rate_pct) / 100.0) ** (1.0 / PERIODS_PER_YEAR) - 1.0
    return float(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------------- returns
def total_return(returns) -> float:
    """``prod(1 + r) - 1``, decimal. Empty returns give 0.0."""
    return float(np.prod(1.0 + _arr(returns)) - 1.0)


def cagr(returns) -> float:
    """Compound annual growth rate ``prod(1 + r) ** (252 / N) - 1``, decimal.

    N = number of daily returns. Empty returns give nan; a total loss gives -1.0.
    """
    r = _arr(returns)
    if r.size == 0:
        return np.nan
    with np.errstate(invalid="ignore"):
        return float(np.prod(1.0 + r) ** (PERIODS_PER_YEAR / r.size) - 1.0)


def volatility(returns) -> float:
    """Annualised volatility ``std(r, ddof=1) * sqrt(252)``, decimal; nan for N < 2."""
    return _std(_arr(returns)) * _SQRT_YEAR


def sharpe(returns, rf=0.0) -> float:
    """Sharpe ratio ``mean(r - rf) / std(r - rf, ddof=1) * sqrt(252)``.

    ``rf``: scalar or array of daily simple rates. nan for N < 2 or zero std of the excess.
    """
    r, f = _aligned(returns, rf, "rf")
    ex = r - f
    if ex.size < 2:
        return np.nan
    return _ratio(np.mean(ex), _std(ex), _max_abs(ex)) * _SQRT_YEAR


def sortino(returns, rf=0.0) -> float:
    """Sortino ratio ``mean(r - rf) / sqrt(mean(min(r - rf, 0) ** 2)) * sqrt(252)``.

    The downside deviation is taken over all N days (target 0 on the excess return).
    nan for N < 2 or no day below ``rf`` (zero downside deviation).
    """
    r, f = _aligned(returns, rf, "rf")
    ex = r - f
    if ex.size < 2:
        return np.nan
    downside = np.sqrt(np.mean(np.minimum(ex, 0.0) ** 2))
    return _ratio(np.mean(ex), downside, _max_abs(ex)) * _SQRT_YEAR


# --------------------------------------------------------------------------------- drawdowns
def equity_curve(returns, start: float = 1.0) -> np.ndarray:
    """``[start, start * cumprod(1 + r)]``: N + 1 values, the start value first."""
    return start * np.concatenate(([1.0], np.cumprod(1.0 + _arr(returns))))


def drawdown_series(equity):
    """``E / cummax(E) - 1`` (<= 0, decimal); a Series keeps its index, else an array."""
    if isinstance(equity, pd.Series):
        return equity / equity.cummax() - 1.0
    e = _arr(equity)
    return e / np.maximum.accumulate(e) - 1.0


def max_drawdown(returns) -> float:
    """Deepest drawdown ``min(E / cummax(E) - 1)``, a negative decimal (0.0 if none).

    E is :func:`equity_curve` including its start value 1.0, so a first-day loss counts.
    """
    return float(np.min(drawdown_series(equity_curve(returns))))


def max_drawdown_days(returns) -> int:
    """Longest stretch, in trading days (bars), spent below a previous equity high.

    Over the N + 1 points of :func:`equity_curve` (start included): ``max_t (t - i(t))`` with
    ``i(t)`` the last index <= t where ``E_i >= max(E_0..E_t)``. A stretch runs from the bar
    after the high to the bar before recovery, or to the end if never recovered. 0 if none.
    """
    e = equity_curve(returns)
    pos = np.arange(e.size)
    at_high = e >= np.maximum.accumulate(e)
    last_high = np.maximum.accumulate(np.where(at_high, pos, 0))
    return int(np.max(pos - last_high))


def calmar(returns) -> float:
    """Calmar ratio ``cagr / |max_drawdown|``; nan when there is no drawdown."""
    mdd = max_drawdown(returns)
    return np.nan if mdd == 0.0 else cagr(returns) / abs(mdd)


# --------------------------------------------------------------------------------- benchmark
def beta(returns, bench) -> float:
    """``cov(r, b, ddof=1) / var(b, ddof=1)``; nan for N < 2 or a constant benchmark."""
    r, b = _aligned(returns, bench, "bench")
    if b.ndim == 0 or r.size < 2:
        return np.nan
    cov = np.cov(r, b, ddof=1)[0, 1]
    return _ratio(cov, np.var(b, ddof=1), _max_abs(b) ** 2)


def alpha(returns, bench) -> float:
    """Annualised alpha ``(mean(r) - beta * mean(b)) * 252``, decimal; nan when beta is."""
    r, b = _aligned(returns, bench, "bench")
    bt = beta(r, b)
    return np.nan if np.isnan(bt) else float((np.mean(r) - bt * np.mean(b)) * PERIODS_PER_YEAR)


def tracking_error(returns, bench) -> float:
    """``std(r - b, ddof=1) * sqrt(252)``, decimal; nan for N < 2."""
    r, b = _aligned(returns, bench, "bench")
    return _std(r - b) * _SQRT_YEAR


def information_ratio(returns, bench) -> float:
    """``mean(r - b) / std(r - b, ddof=1) * sqrt(252)``; nan for N < 2 or zero std."""
    r, b = _aligned(returns, bench, "bench")
    active = r - b
    if active.size < 2:
        return np.nan
    return _ratio(np.mean(active), _std(active), _max_abs(active)) * _SQRT_YEAR


# --------------------------------------------------------------------------------- summary
def summary(
    returns,
    rf=0.0,
    bench=None,
    *,
    initial_cash: float = 1.0,
    turnover_pct: float = np.nan,
    n_orders: float = np.nan,
    exposure_pct: float = np.nan,
) -> dict[str, float]:
    """All of :data:`engine.results.METRIC_KEYS`, in their units, as floats.

    ``*_pct`` keys are the decimals above times 100; ``final_value = initial_cash * prod(1 + r)``;
    ``n_days = N``. Benchmark-relative keys are nan when ``bench`` is None. Turnover, orders and
    exposure need the trades, so they are passed through as given.
    """
    r = _arr(returns)
    has_bench = bench is not None
    out = {
        "final_value": initial_cash * (1.0 + total_return(r)),
        "total_return_pct": total_return(r) * 100.0,
        "cagr_pct": cagr(r) * 100.0,
        "volatility_pct": volatility(r) * 100.0,
        "sharpe": sharpe(r, rf),
        "sortino": sortino(r, rf),
        "calmar": calmar(r),
        "max_drawdown_pct": max_drawdown(r) * 100.0,
        "max_drawdown_days": max_drawdown_days(r),
        "turnover_pct": turnover_pct,
        "n_orders": n_orders,
        "exposure_pct": exposure_pct,
        "beta": beta(r, bench) if has_bench else np.nan,
        "alpha_pct": alpha(r, bench) * 100.0 if has_bench else np.nan,
        "tracking_error_pct": tracking_error(r, bench) * 100.0 if has_bench else np.nan,
        "information_ratio": information_ratio(r, bench) if has_bench else np.nan,
        "n_days": r.size,
    }
    return {key: float(out[key]) for key in METRIC_KEYS}


def drawdown_table(equity: pd.Series, top: int = 5) -> pd.DataFrame:
    """The ``top`` deepest drawdown episodes of a dated equity curve, deepest first.

    An episode is a maximal run of bars below the running high. Columns: ``start`` (date of
    the peak), ``trough`` (date of the lowest point), ``recovery`` (first date back at or above
    the peak, NaT if never), ``depth_pct`` (negative, percent), ``length_days`` (trading days
    from start to recovery, or to the last date if not recovered). Episodes never overlap.
    Note ``length_days`` counts the recovery bar, so a recovered episode is one longer than its
    :func:`max_drawdown_days` stretch. The curve is taken as given (no start value prepended).
    """
    e = equity.to_numpy(dtype=float)
    dd = e / np.maximum.accumulate(e) - 1.0 if e.size else e
    under = np.concatenate(([0], (dd < 0).astype(np.int8), [0]))
    firsts = np.flatnonzero(np.diff(under) == 1)  # first bar under water
    ends = np.flatnonzero(np.diff(under) == -1)  # bar after the last one under water
    rows = []
    for s, end in zip(firsts, ends, strict=True):
        trough = s + int(np.argmin(dd[s:end]))
        recovered = end < e.size
        rows.append(
            {
                "start": equity.index[s - 1],
                "trough": equity.index[trough],
                "recovery": equity.index[end] if recovered else pd.NaT,
                "depth_pct": dd[trough] * 100.0,
                "length_days": (end if recovered else e.size - 1) - (s - 1),
            }
        )
    table = pd.DataFrame(rows, columns=["start", "trough", "recovery", "depth_pct", "length_days"])
    if not rows:
        kind = equity.index.dtype if isinstance(equity.index, pd.DatetimeIndex) else "M8[ns]"
        dates = {c: kind for c in ("start", "trough", "recovery")}
        return table.astype({**dates, "depth_pct": float, "length_days": int})
    table["recovery"] = pd.to_datetime(table["recovery"])
    return table.sort_values("depth_pct", kind="stable").head(top).reset_index(drop=True)


# --------------------------------------------------------------------------------- periods
def period_returns(returns: pd.Series, freq: str) -> pd.Series:
    """Compounded returns ``prod(1 + r) - 1`` per calendar month (``'M'``) or year (``'Y'``).

    ``returns`` needs a DatetimeIndex; labels are period ends (pandas ``"ME"`` / ``"YE"``).
    Calendar periods without any trading day give 0.0.
    """
    if freq not in _FREQ_RULES:
        raise BacktestError(
            f"The 'freq' parameter of period_returns must be one of 'M', 'Y'. Got {freq!r} "
            f"instead{did_you_mean(freq, _FREQ_RULES)}."
        )
    return (1.0 + returns).resample(_FREQ_RULES[freq]).prod() - 1.0


def best_worst(returns: pd.Series) -> dict[str, float]:
    """Best and worst day, calendar month and calendar year, in percent (nan when empty)."""
    out = {}
    for label, series in (
        ("day", returns),
        ("month", period_returns(returns, "M")),
        ("year", period_returns(returns, "Y")),
    ):
        out[f"best_{label}_pct"] = float(series.max()) * 100.0
        out[f"worst_{label}_pct"] = float(series.min()) * 100.0
    return out


# --------------------------------------------------------------------------------- rolling
def _series(x, index=None) -> pd.Series:
    return x.astype(float) if isinstance(x, pd.Series) else pd.Series(_arr(x), index=index)


def _rolling_ratio(num: pd.Series, den: pd.Series, scale: pd.Series) -> pd.Series:
    """``num / den`` with nan where ``den <= _ZERO_TOL * scale`` (a zero denominator)."""
    return (num / den).where(den > _ZERO_TOL * scale)


def rolling_volatility(returns, window: int) -> pd.Series:
    """Trailing ``window``-day :func:`volatility` (ddof=1, * sqrt(252)); nan until full."""
    return _series(returns).rolling(window).std(ddof=1) * _SQRT_YEAR


def rolling_sharpe(returns, window: int, rf=0.0) -> pd.Series:
    """Trailing ``window``-day :func:`sharpe`; nan until full or where the std is zero."""
    r = _series(returns)
    ex = r - _aligned(r, rf, "rf")[1]  # rf aligned by position, like the scalar functions
    roll = ex.rolling(window)
    scale = ex.abs().rolling(window).max()
    return _rolling_ratio(roll.mean(), roll.std(ddof=1), scale) * _SQRT_YEAR


def rolling_beta(returns, bench, window: int) -> pd.Series:
    """Trailing ``window``-day :func:`beta`; nan until full or where the benchmark is flat."""
    r = _series(returns)
    _aligned(r, bench, "bench")
    b = pd.Series(_arr(bench), index=r.index)
    cov = r.rolling(window).cov(b, ddof=1)
    var = b.rolling(window).var(ddof=1)
    scale = b.abs().rolling(window).max() ** 2
    return _rolling_ratio(cov, var, scale)
