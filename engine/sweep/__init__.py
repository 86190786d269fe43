"""Parameter sweeps: grids, chunked kernels, hold-out and walk-forward, overfitting statistics,
a CI gate and resumable checkpoints (``backtest sweep``).

Modules: ``config`` (the ``sweep:`` block), ``grid`` and ``constraints`` (expansion and safe
constraints), ``windows`` (hold-out / walk-forward bar ranges), ``fused`` (the rotation sweep
kernel) and ``engines`` (fused and generic chunk engines), ``runner`` (chunks, checkpoints),
``executors`` (local, Dask), ``analysis`` (selection, walk-forward, DSR, PBO, CI checks),
``stats`` (the formulas), ``heatmap`` and ``report`` (outputs), ``pipeline`` (end to end) and
``command`` (the CLI adapter).
"""

from engine.sweep.config import SweepConfig, load_sweep_config, parse_sweep
from engine.sweep.grid import Grid, build_grid
from engine.sweep.pipeline import SweepOutcome, run_sweep
from engine.sweep.stats import (
                                deflated_sharpe_ratio,
                                expected_max_sharpe,
                                norm_cdf,
                                norm_ppf,
                                pbo_cscv,
                                probabilistic_sharpe_ratio,
)
from engine.sweep.windows import make_plan, walk_forward_folds

__all__ = [
    "Grid",
    "SweepConfig",
    "SweepOutcome",
    "build_grid",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "load_sweep_config",
    "make_plan",
    "norm_cdf",
    "norm_ppf",
    "parse_sweep",
    "pbo_cscv",
    "probabilistic_sharpe_ratio",
    "run_sweep",
    "walk_forward_folds",
]
