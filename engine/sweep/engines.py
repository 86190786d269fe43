"""Chunk engines: compute the metrics (and, for a few combos, the equity) of grid combos.

Two engines share one interface, so the runner, the executors and the reports do not care:

* :class:`FusedRotation` for the rotation strategy's ``ma`` / ``crossover`` / ``momentum``
  signals: the fused kernel of :mod:`engine.sweep.fused`, memory flat in the number of combos;
* :class:`Generic` for every other strategy: ``strategy.weights_batch`` builds a (c, T, A)
  chunk of weights (c chosen from a memory budget) that ``engine.kernels.simulate_many_nb``
  runs window by window.

Both call the single-run kernel ``simulate_combo``: a sweep row equals a single run of the
combo exactly. An engine holds the market arrays and the grid columns and is picklable (the
Dask executor ships it to the workers once).
"""

from __future__ import annotations

import numba
import numpy as np

from engine import kernels as k
from engine.simulate import SimInputs, check_weights
from engine.sweep import fused
from engine.sweep.grid import Grid
from strategies import indicators as ind
from strategies.rotation import CASH, MA_CODES, SIGNAL_CODES, Rotation

_RATIO_PARAMS = ("numerator", "denominator", "universe")
_KEY = 1 << 20  # packs (what, ma kind, window) into one integer; windows are <= 2000


def _blocks(n: int) -> int:
    return max(1, min(n, 4 * numba.get_num_threads()))


class FusedRotation:
    """The rotation strategy's sweep engine (fused kernel)."""

    name = "fused rotation kernel"

    def __init__(self, data, inputs: SimInputs, grid: Grid):
        self.data, self.inputs, self.grid = data, inputs, grid
        base = grid.base
        self.ratio = data.price(base["numerator"]) / data.price(base["denominator"])

    @staticmethod
    def applies(strategy, grid: Grid) -> bool:
        if not isinstance(strategy, Rotation) or any(p in grid.names for p in _RATIO_PARAMS):
            return False
        if "signal" in grid.names:
            return "rank" not in grid.values["signal"]
        return grid.base.get("signal") != "rank"

    def _col(self, name: str, idx: np.ndarray) -> np.ndarray:
        if name in self.grid.columns:
            return self.grid.columns[name][idx]
        return np.full(idx.size, self.grid.base[name], dtype=object)

    def _ticker_cols(self, name: str, idx: np.ndarray) -> np.ndarray:
        names = self._col(name, idx)
        lookup = {t: (-1 if t == CASH else self.data.column(t)) for t in set(names.tolist())}
        return np.array([lookup[t] for t in names.tolist()], dtype=np.int64)

    def _codes(self, name: str, table: dict, idx: np.ndarray) -> np.ndarray:
        return np.array([table[v] for v in self._col(name, idx).tolist()], dtype=np.int64)

    def _bank(self, idx: np.ndarray):
        """Distinct series of the chunk, computed once each; per-combo rows into the bank.

        A series is keyed by (what, ma kind, window) packed into one integer: what 0 = the ma
        signal ratio / MA - 1, 1 = a bare moving average (crossover legs), 2 = momentum.
        """
        kind = self._codes("signal", SIGNAL_CODES, idx)
        ma = self._codes("ma_type", MA_CODES, idx)
        cross = kind == fused.KIND_CROSSOVER
        what = np.where(cross, 1, np.where(kind == fused.KIND_MA, 0, 2))
        ma = np.where(kind == fused.KIND_MOMENTUM, 0, ma)
        first = np.where(kind == fused.KIND_MA, self._col("window", idx).astype(np.int64),
                         np.where(cross, self._col("fast", idx).astype(np.int64),
                                  self._col("lookback", idx).astype(np.int64)))
        slow = self._col("slow", idx).astype(np.int64)
        key_a = (what * 2 + ma) * _KEY + first
        key_b = np.where(cross, (what * 2 + ma) * _KEY + slow, key_a)
        keys, inverse = np.unique(np.concatenate([key_a, key_b]), return_inverse=True)
        series = [self._series(int(key) // (2 * _KEY), int(key) // _KEY % 2, int(key) % _KEY)
                  for key in keys]
        ia, ib = inverse[:idx.size].astype(np.int64), inverse[idx.size:].astype(np.int64)
        return np.ascontiguousarray(np.stack(series)), kind, ia, ib

    def _series(self, what: int, ma_kind: int, window: int) -> np.ndarray:
        if what == 2:
            return ind.pct_change_nb(self.ratio, window)
        average = ind.moving_average_nb(self.ratio, window, ma_kind)
        # ratio / MA - 1: the same IEEE operations as strategies.rotation.rotation_signal
        return self.ratio / average - 1.0 if what == 0 else average

    def _args(self, idx: np.ndarray) -> tuple:
        bank, kind, ia, ib = self._bank(idx)
        band = self._col("band", idx).astype(np.float64) / 100.0
        hold = self._col("min_hold", idx).astype(np.int64)
        return (self.inputs.close, bank, kind, ia, ib, band, hold,
                self._ticker_cols("risk_on", idx), self._ticker_cols("risk_off", idx))

    def metrics(self, lo: int, hi: int, windows: list[tuple[int, int]]) -> np.ndarray:
        """(hi - lo, W, N_METRICS) metrics of combos ``lo .. hi - 1`` over ``windows``."""
        idx = np.arange(lo, hi)
        starts = np.array([w[0] for w in windows], dtype=np.int64)
        ends = np.array([w[1] for w in windows], dtype=np.int64)
        out = np.empty((idx.size, len(windows), k.N_METRICS))
        i = self.inputs
        fused.rotation_metrics_nb(*self._args(idx), starts, ends, i.cash_daily, i.bench_ret,
                                  i.month_start, i.settings, _blocks(idx.size), out)
        return out

    def equity(self, idx: np.ndarray, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """Equity (len(idx), T) over ``[start, end)`` (NaN outside) and metrics of ``idx``."""
        idx = np.asarray(idx, dtype=np.int64)
        equity = np.full((idx.size, self.inputs.close.shape[0]), np.nan)
        metrics = np.empty((idx.size, k.N_METRICS))
        i = self.inputs
        fused.rotation_equity_nb(*self._args(idx), start, end, i.cash_daily, i.bench_ret,
                                 i.month_start, i.settings, _blocks(idx.size), equity, metrics)
        return equity, metrics


class Generic:
    """Any strategy: chunked ``weights_batch`` then ``simulate_many_nb`` per window."""

    name = "generic chunked path"

    def __init__(self, data, inputs: SimInputs, grid: Grid, strategy, chunk_bytes: int):
        self.data, self.inputs, self.grid, self.strategy = data, inputs, grid, strategy
        per_combo = inputs.close.size * 8
        self.batch = max(1, chunk_bytes // per_combo)

    def _weights(self, idx) -> np.ndarray:
        params = [self.strategy.Params.model_validate(self.grid.params_dict(int(c)))
                  for c in idx]
        return check_weights(self.strategy.weights_batch(self.data, params), self.data)

    def metrics(self, lo: int, hi: int, windows: list[tuple[int, int]]) -> np.ndarray:
        out = np.empty((hi - lo, len(windows), k.N_METRICS))
        i = self.inputs
        for b in range(lo, hi, self.batch):
            e = min(b + self.batch, hi)
            w = self._weights(range(b, e))
            for j, (start, end) in enumerate(windows):
                out[b - lo:e - lo, j] = k.simulate_many_nb(i.close, w, start, end, i.cash_daily,
                                                           i.bench_ret, i.month_start,
                                                           i.settings)
        return out

    def equity(self, idx: np.ndarray, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        n_days, n_assets = self.inputs.close.shape
        equity = np.full((len(idx), n_days), np.nan)
        metrics = np.empty((len(idx), k.N_METRICS))
        held = np.zeros((n_days, n_assets))
        no_trades = np.empty((0, k.N_TRADE_FIELDS))
        i = self.inputs
        for b in range(0, len(idx), self.batch):
            chunk = idx[b:b + self.batch]
            w = self._weights(chunk)
            for j in range(len(chunk)):
                k.simulate_combo_nb(i.close, w[j], start, end, i.cash_daily, i.bench_ret,
                                    i.month_start, i.settings, metrics[b + j], equity[b + j],
                                    held, no_trades)
        return equity, metrics


def make_engine(strategy, data, inputs: SimInputs, grid: Grid, chunk_bytes: int):
    """The fused engine when it applies to this strategy and grid, the generic one otherwise."""
    if FusedRotation.applies(strategy, grid):
        return FusedRotation(data, inputs, grid)
    return Generic(data, inputs, grid, strategy, chunk_bytes)
