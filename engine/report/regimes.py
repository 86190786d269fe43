"""Performance split by regime label (rate cycle, ratio trend), for the tearsheet's regime panel.

For each label the days carrying it are taken out of the run and *stitched together* in date
order, as if the strategy were only invested on those days; the statistics are those of that
stitched series: annualised return = ``prod(1 + r) ** (252 / n) - 1`` over the n days of the
regime (:func:`engine.metrics.cagr`), Sharpe against the cash rate of the same days, max drawdown
of the stitched curve. This is the usual "conditional performance" view (as in quantstats'
regime splits); it says how a strategy fared *while* a regime held, not what a switch between
regimes cost.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine import metrics
from engine.errors import BacktestError

# Display order for the labels the engine produces; any other label follows, sorted.
_KNOWN_ORDER = ("easing", "neutral", "tightening", "up", "down")

_STATS = ("ann_return_pct", "sharpe", "max_drawdown_pct")


def _label_order(labels: pd.Series) -> list:
    """Labels in display order: categorical order, else the known order, then the rest sorted."""
    present = labels.dropna().unique().tolist()
    if isinstance(labels.dtype, pd.CategoricalDtype):
        return [c for c in labels.cat.categories if c in present]
    known = [k for k in _KNOWN_ORDER if k in present]
    return known + sorted((p for p in present if p not in known), key=str)


def _stats(returns: np.ndarray, rf: np.ndarray, prefix: str) -> dict[str, float]:
    return {
        f"{prefix}_ann_return_pct": metrics.cagr(returns) * 100.0,
        f"{prefix}_sharpe": metrics.sharpe(returns, rf),
        f"{prefix}_max_drawdown_pct": metrics.max_drawdown(returns) * 100.0,
    }


def regime_performance(
    returns: pd.Series,
    bench_returns: pd.Series | None,
    labels: pd.Series,
    rf: float | pd.Series = 0.0,
) -> pd.DataFrame:
    """Strategy (and benchmark) performance on the days of each regime label.

    Args:
        returns: daily simple returns of the strategy (DatetimeIndex).
        bench_returns: daily simple returns of the benchmark on the same dates, or None.
        labels: one regime label per date (e.g. ``easing`` / ``neutral`` / ``tightening``);
            aligned to ``returns`` by date; dates without a label are left out.
        rf: daily simple cash rate, a scalar or a Series aligned by date.

    Returns:
        One row per label (index named after ``labels``) with columns ``n_days``,
        ``share_of_days_pct`` (of the labelled days), ``strategy_ann_return_pct``,
        ``strategy_sharpe``, ``strategy_max_drawdown_pct`` and, with a benchmark, the same three
        with the prefix ``benchmark_``.
    """
    if not isinstance(labels, pd.Series):
        raise BacktestError(
            f"The 'labels' parameter of regime_performance must be a pandas Series. "
            f"Got {type(labels).__name__} instead."
        )
    lab = labels.reindex(returns.index)
    rf_s = rf.reindex(returns.index) if isinstance(rf, pd.Series) else None
    bench = bench_returns.reindex(returns.index) if bench_returns is not None else None
    n_labelled = int(lab.notna().sum())
    rows = {}
    for label in _label_order(lab):
        mask = (lab == label).to_numpy()
        rf_arr = rf_s.to_numpy(float)[mask] if rf_s is not None else float(rf)
        row: dict[str, float] = {
            "n_days": float(mask.sum()),
            "share_of_days_pct": mask.sum() / n_labelled * 100.0,
        }
        row.update(_stats(returns.to_numpy(float)[mask], rf_arr, "strategy"))
        if bench is not None:
            row.update(_stats(bench.to_numpy(float)[mask], rf_arr, "benchmark"))
        rows[label] = row
    columns = ["n_days", "share_of_days_pct", *(f"strategy_{s}" for s in _STATS)]
    if bench is not None:
        columns += [f"benchmark_{s}" for s in _STATS]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    table.index.name = labels.name
    return table
