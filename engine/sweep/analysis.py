"""After the chunks: the best set, the top sets, the walk-forward, DSR, PBO and the CI gate.

Returns for DSR and PBO come from a bounded subset of the combos, re-simulated with their
equity recorded over the selection window (the whole run, or the in-sample part of a hold-out):
all combos when there are at most ``overfitting.max_curves`` (default 2,000), otherwise the
best tenth of that budget by objective plus a deterministic, evenly spaced sample of the rest.
They are simulated 256 at a time and reduced at once to CSCV's per-block sums (and the best
set's own returns for DSR), so memory stays small whatever the size of the grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine import metrics as mx
from engine.errors import BacktestError
from engine.kernels import N_METRICS
from engine.results import METRIC_KEYS
from engine.sweep.config import SweepConfig
from engine.sweep.stats import PboResult, block_sums, deflated_sharpe_ratio, moments, pbo_from_sums
from engine.sweep.windows import Plan

PERIODS = 252
_BATCH = 256  # equity curves re-simulated per batch


def column_names(plan: Plan) -> list[str]:
    return [f"{p}{m}" for p in plan.prefixes for m in METRIC_KEYS]


def signed_objective(table: np.ndarray, plan: Plan, sweep: SweepConfig) -> np.ndarray:
    """(C,) objective of the selection window, sign-adjusted so that larger is better; NaN
    becomes -inf (never chosen)."""
    row = table[METRIC_KEYS.index(sweep.objective.metric)]  # main[0] rows come first
    sign = 1.0 if sweep.objective.goal == "max" else -1.0
    return np.where(np.isnan(row), -np.inf, row * sign)


def ranking(signed: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best combos, best first (ties: lower index first)."""
    k = min(k, signed.size)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    part = np.argpartition(-signed, k - 1)[:k] if k < signed.size else np.arange(signed.size)
    return part[np.lexsort((part, -signed[part]))]


def curve_indices(signed: np.ndarray, max_curves: int) -> np.ndarray:
    """The combos whose returns are kept: all, or the top tenth of the budget + an even
    sample of the rest (sorted by combo index)."""
    n = signed.size
    if n <= max_curves:
        return np.arange(n)
    top = ranking(signed, max(2, max_curves // 10))
    rest = np.setdiff1d(np.arange(n), top)
    pick = rest[np.linspace(0, rest.size - 1, max_curves - top.size).round().astype(np.int64)]
    return np.union1d(top, pick)


def excess_returns(engine, idx: np.ndarray, window: tuple[int, int]) -> np.ndarray:
    """(len(idx), days) daily returns minus the cash rate over ``window`` (kernel conventions:
    the first return is against the initial cash, the cash rate of the first day is 0)."""
    start, end = window
    inputs = engine.inputs
    equity, _ = engine.equity(idx, start, end)
    eq = equity[:, start:end]
    ret = np.empty_like(eq)
    np.divide(eq[:, 1:], eq[:, :-1], out=ret[:, 1:])
    ret[:, 0] = eq[:, 0] / inputs.settings.initial_cash
    ret -= 1.0
    ret -= np.r_[0.0, inputs.cash_daily[start:end - 1]]
    return ret


@dataclass
class Overfit:
    dsr: float = math.nan
    sharpe: float = math.nan  # per period, the best set
    sr_std: float = math.nan  # across trials, per period
    skew: float = math.nan
    kurtosis: float = math.nan
    n_obs: int = 0
    n_trials: int = 0
    pbo: PboResult | None = None
    n_curves: int = 0


def overfitting(engine, table: np.ndarray, plan: Plan, sweep: SweepConfig, signed,
                best: int) -> Overfit:
    """DSR of the best set and PBO by CSCV over the selection window."""
    srs = table[METRIC_KEYS.index("sharpe")] / math.sqrt(PERIODS)
    srs = srs[np.isfinite(srs)]
    idx = curve_indices(signed, sweep.overfitting.max_curves)
    n_part = sweep.overfitting.partitions
    s1, s2 = np.empty((n_part, idx.size)), np.empty((n_part, idx.size))
    for b in range(0, idx.size, _BATCH):  # batch by batch: only block sums are kept
        x = excess_returns(engine, idx[b:b + _BATCH], plan.selection)
        s1[:, b:b + _BATCH], s2[:, b:b + _BATCH], counts = block_sums(x.T, n_part)
        if best in idx[b:b + _BATCH]:
            best_returns = x[int(np.searchsorted(idx[b:b + _BATCH], best))].copy()
    skew, kurt = moments(best_returns)
    out = Overfit(sharpe=float(table[METRIC_KEYS.index("sharpe"), best]) / math.sqrt(PERIODS),
                  skew=skew, kurtosis=kurt, n_obs=best_returns.size, n_trials=int(srs.size),
                  n_curves=int(idx.size))
    if srs.size >= 2:
        out.sr_std = float(np.std(srs, ddof=1))
        out.dsr = deflated_sharpe_ratio(out.sharpe, out.n_obs, skew, kurt, out.n_trials,
                                        out.sr_std**2)
    out.pbo = pbo_from_sums(s1, s2, counts)
    return out


@dataclass
class WalkForwardResult:
    folds: pd.DataFrame  # one row per fold: windows, chosen combo, train objective, test stats
    returns: pd.Series  # stitched out-of-sample daily returns
    metrics: dict[str, float]


def _stitched_metrics(engine, plan: Plan, returns: np.ndarray, fold_metrics: np.ndarray):
    inputs = engine.inputs
    rf, bench = [], []
    for f in plan.folds:
        lo, hi = f.test
        rf.append(np.r_[0.0, inputs.cash_daily[lo:hi - 1]])
        bench.append(np.r_[0.0, inputs.bench_ret[lo + 1:hi]])
    bench_arr = np.concatenate(bench)
    days = fold_metrics[:, METRIC_KEYS.index("n_days")]
    weighted = {key: float(np.sum(fold_metrics[:, METRIC_KEYS.index(key)] * days) / days.sum())
                for key in ("turnover_pct", "exposure_pct")}
    return mx.summary(returns, np.concatenate(rf),
                      None if np.isnan(bench_arr).all() else bench_arr,
                      initial_cash=inputs.settings.initial_cash,
                      n_orders=float(fold_metrics[:, METRIC_KEYS.index("n_orders")].sum()),
                      **weighted)


def walk_forward(engine, plan: Plan, sweep: SweepConfig, fold_best, fallback: int,
                 dates: pd.DatetimeIndex) -> WalkForwardResult:
    """Trade each training window's best set in its test window; stitch the test returns."""
    rows, parts, fold_metrics = [], [], np.empty((len(plan.folds), N_METRICS))
    initial = engine.inputs.settings.initial_cash
    for j, fold in enumerate(plan.folds):
        combo = int(fold_best.index[j]) if fold_best.index[j] >= 0 else fallback
        lo, hi = fold.test
        equity, metrics = engine.equity(np.array([combo]), lo, hi)
        eq = equity[0, lo:hi]
        parts.append(eq / np.r_[initial, eq[:-1]] - 1.0)
        fold_metrics[j] = metrics[0]
        value = fold_best.value[j] * (1.0 if sweep.objective.goal == "max" else -1.0)
        rows.append({"fold": j + 1, "train_start": dates[fold.train[0]].date(),
                     "train_end": dates[fold.train[1] - 1].date(),
                     "test_start": dates[lo].date(), "test_end": dates[hi - 1].date(),
                     "combo": combo, **engine.grid.combo(combo),
                     f"train_{sweep.objective.metric}": value,
                     **{f"test_{k}": metrics[0, METRIC_KEYS.index(k)]
                        for k in ("sharpe", "cagr_pct", "max_drawdown_pct", "total_return_pct")}})
    returns = np.concatenate(parts)
    first = plan.folds[0].test[0]
    index = dates[first:first + returns.size]
    stitched = _stitched_metrics(engine, plan, returns, fold_metrics)
    return WalkForwardResult(pd.DataFrame(rows), pd.Series(returns, index=index), stitched)


@dataclass
class CheckLine:
    name: str
    value: float
    limit: float
    passed: bool
    text: str


@dataclass
class Selection:
    """The outcome of a sweep beyond its table."""

    best: int
    top: np.ndarray
    is_metrics: dict[str, float]
    oos_metrics: dict[str, float] | None
    oos_returns: pd.Series | None
    walk: WalkForwardResult | None
    overfit: Overfit
    checks: list[CheckLine] = field(default_factory=list)


def check_thresholds(sweep: SweepConfig, sel: Selection) -> list[CheckLine]:
    """Evaluate ``sweep.ci``; a value that cannot be computed (nan) fails its threshold."""
    ci = sweep.ci
    if ci is None:
        return []
    oos = sel.oos_metrics or sel.is_metrics
    pbo = sel.overfit.pbo.pbo if sel.overfit.pbo is not None else math.nan
    tests = [("min_oos_sharpe", "out-of-sample Sharpe", oos["sharpe"], ci.min_oos_sharpe, 1),
             ("min_sharpe", "in-sample Sharpe of the best set", sel.is_metrics["sharpe"],
              ci.min_sharpe, 1),
             ("max_pbo", "PBO", pbo, ci.max_pbo, -1),
             ("min_deflated_sharpe", "deflated Sharpe ratio", sel.overfit.dsr,
              ci.min_deflated_sharpe, 1),
             ("max_drawdown_pct", "max drawdown %" + (" (out-of-sample)" if sel.oos_metrics
                                                      else ""),
              -oos["max_drawdown_pct"], ci.max_drawdown_pct, -1)]
    out = []
    for name, label, value, limit, direction in tests:
        if limit is None:
            continue
        ok = math.isfinite(value) and (value >= limit if direction > 0 else value <= limit)
        op = ">=" if direction > 0 else "<="
        shown = f"{value:.4g}" if math.isfinite(value) else "not available"
        out.append(CheckLine(name, value, limit, ok,
                             f"{label} {shown} (want {op} {limit:g}: sweep.ci.{name})"))
    return out


def select(engine, table: np.ndarray, plan: Plan, sweep: SweepConfig, fold_best,
           dates: pd.DatetimeIndex) -> Selection:
    """Best and top sets, out-of-sample figures, overfitting statistics, CI checks."""
    signed = signed_objective(table, plan, sweep)
    if not np.isfinite(signed).any():
        raise BacktestError(f"no combo has a finite {sweep.objective.metric}: nothing to rank "
                            "(is the run too short, or every combo flat?)")
    order = ranking(signed, max(sweep.top, 1))
    best = int(order[0])
    metric = dict(zip(METRIC_KEYS, (float(v) for v in table[:N_METRICS, best]), strict=True))
    oos = walk = oos_returns = None
    if plan.kind == "holdout":
        oos = dict(zip(METRIC_KEYS, (float(v) for v in table[N_METRICS:, best]), strict=True))
        lo, hi = plan.main[1]
        equity, _ = engine.equity(np.array([best]), lo, hi)
        eq = equity[0, lo:hi]
        initial = engine.inputs.settings.initial_cash
        oos_returns = pd.Series(eq / np.r_[initial, eq[:-1]] - 1.0, index=dates[lo:hi])
    elif plan.kind == "walk_forward":
        walk = walk_forward(engine, plan, sweep, fold_best, best, dates)
        oos, oos_returns = walk.metrics, walk.returns
    sel = Selection(best, order[:sweep.top], metric, oos, oos_returns, walk,
                    overfitting(engine, table, plan, sweep, signed, best))
    sel.checks = check_thresholds(sweep, sel)
    return sel
