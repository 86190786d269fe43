"""Look-ahead audit: a target weight decided at day t may depend on data up to t only.

For several cut-off days t, every price and macro value *after* t is perturbed (scaled,
shuffled in time, and multiplied by positive noise, with a fixed seed) and the strategy's
weights are recomputed; every row up to and including t must be unchanged, bit for bit.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from engine.data import MarketData
from engine.errors import BacktestError

PERTURBATIONS = ("scale", "shuffle", "noise")


def perturb_after(data: MarketData, cutoff: int, kind: str, rng: np.random.Generator) -> MarketData:
    """A copy of ``data`` with prices and macro values after row ``cutoff`` perturbed."""
    close = data.close.copy()
    tail = close[cutoff + 1:]
    macro = {k: v.copy() for k, v in data.macro.items()}
    if kind == "scale":
        close[cutoff + 1:] = tail * rng.uniform(0.5, 2.0, size=tail.shape[1])
        for v in macro.values():
            v[cutoff + 1:] = v[cutoff + 1:] * 1.7 + 1.0
    elif kind == "shuffle":
        close[cutoff + 1:] = tail[rng.permutation(len(tail))]
        for v in macro.values():
            v[cutoff + 1:] = v[cutoff + 1:][rng.permutation(len(v) - cutoff - 1)]
    elif kind == "noise":
        close[cutoff + 1:] = tail * np.exp(rng.normal(0.0, 0.05, size=tail.shape))
        for v in macro.values():
            v[cutoff + 1:] = v[cutoff + 1:] + rng.normal(0.0, 1.0, size=len(v) - cutoff - 1)
    else:
        raise ValueError(f"unknown perturbation {kind!r}")
    return replace(data, close=close, macro=macro)


def cutoff_days(n_days: int, start: int, count: int = 6) -> list[int]:
    """``count`` cut-off rows spread over the run (warm-up end included)."""
    lo = max(start - 1, 0)
    return sorted({int(x) for x in np.linspace(lo, n_days - 2, count)})


def audit_weights(weights_fn, data: MarketData, cutoffs: list[int], seed: int = 0) -> list[str]:
    """Failures (empty when the audit passes) of ``weights_fn(data) -> (T, A)``."""
    rng = np.random.default_rng(seed)
    base = weights_fn(data)
    failures = []
    for cutoff in cutoffs:
        for kind in PERTURBATIONS:
            changed = weights_fn(perturb_after(data, cutoff, kind, rng))
            diff = np.flatnonzero(np.any(changed[:cutoff + 1] != base[:cutoff + 1], axis=1))
            if diff.size:
                day = data.dates[diff[0]].date()
                failures.append(f"{kind} after {data.dates[cutoff].date()} changed the target "
                                f"decided on {day}")
    return failures


def audit_config(cfg) -> str:
    """Run the audit on a config's strategy and data; raise BacktestError on look-ahead."""
    from engine.run import prepare

    prep = prepare(cfg)
    cutoffs = cutoff_days(len(prep.data.dates), prep.data.start_index)
    failures = audit_weights(lambda d: prep.strategy.weights(d, prep.params), prep.data, cutoffs)
    if failures:
        raise BacktestError(f"look-ahead in '{cfg.strategy}': {failures[0]} "
                            f"({len(failures)} failures)")
    return (f"{cfg.name}: no look-ahead ({len(cutoffs)} cut-off days x {len(PERTURBATIONS)} "
            f"perturbations of prices and macro series)")
