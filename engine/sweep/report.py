"""Writing a sweep's results: the Parquet table, the top sets, tearsheets, Markdown summary.

``sweep.parquet`` is written with pyarrow straight from the metrics arrays (no pandas
metadata, no timestamps): the same config and data give a byte-identical file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.results import METRIC_KEYS
from engine.sweep.grid import Grid

TOP_COLUMNS = ("sharpe", "cagr_pct", "max_drawdown_pct", "volatility_pct", "n_orders")


def _arrow_column(values: np.ndarray) -> pa.Array:
    if values.dtype == object:
        return pa.array([str(v) for v in values.tolist()], type=pa.string())
    return pa.array(values)


def write_parquet(path: Path, grid: Grid, table: np.ndarray, columns: list[str]) -> None:
    """One row per combo: ``combo`` (its index), the swept parameters, every metric."""
    arrays = [pa.array(np.arange(grid.n, dtype=np.int64))]
    names = ["combo"]
    for name in grid.names:
        arrays.append(_arrow_column(grid.columns[name]))
        names.append(name)
    for j, name in enumerate(columns):
        arrays.append(pa.array(table[j]))  # contiguous row of the table: no copy
        names.append(name)
    pq.write_table(pa.Table.from_arrays(arrays, names=names), path, compression="zstd",
                   row_group_size=1 << 17)


def top_frame(grid: Grid, table: np.ndarray, columns: list[str], top: np.ndarray,
              objective: str) -> pd.DataFrame:
    """The top sets: rank, combo, parameters, objective and headline metrics (in/out)."""
    wanted = [c for c in columns if c == objective or c.removeprefix("is_").removeprefix(
        "oos_") in TOP_COLUMNS]
    rows = []
    for rank, combo in enumerate(top, start=1):
        row = {"rank": rank, "combo": int(combo), **grid.combo(int(combo))}
        row.update({c: float(table[columns.index(c), combo]) for c in wanted})
        rows.append(row)
    return pd.DataFrame(rows, columns=["rank", "combo", *grid.names, *wanted])


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:120]


def top_folder_name(rank: int, combo: dict) -> str:
    return f"{rank:02d}_" + _slug("_".join(f"{k}-{v}" for k, v in combo.items()))


def write_top_tearsheets(folder: Path, prep, grid: Grid, top: np.ndarray,
                         started: float) -> list[tuple[str, dict]]:
    """A full run (tearsheet, equity, trades, metrics) for each top set under ``top/``.

    Returns (folder name, metrics) per set; the metrics are those of ``engine.run``.
    """
    from engine.run import run_backtest, write_result

    out = []
    cfg = prep.cfg
    for rank, combo in enumerate(top, start=1):
        values = grid.combo(int(combo))
        params = prep.strategy.Params.model_validate({**grid.base, **values})
        name = f"{cfg.name[:90]}-top{rank}"
        run_cfg = cfg.model_copy(update={"name": name, "sweep": None,
                                         "params": params.model_dump(mode="json")})
        run_prep = dataclasses.replace(prep, cfg=run_cfg, params=params)
        result = run_backtest(run_cfg, run_prep)
        sub = top_folder_name(rank, values)
        write_result(result, run_cfg, folder / "top" / sub, prep.data.files, started,
                     cfg.report.html)
        out.append((sub, result.metrics))
    return out


def _num(value, fmt: str = "{:.3f}") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return fmt.format(value)


def _md_table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---:" if frame[c].dtype.kind in "fiu" else ":---"
                          for c in frame.columns) + "|"
    body = ["| " + " | ".join(_num(v, "{:.4g}") if isinstance(v, float) else str(v)
                              for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _metrics_md(columns: dict[str, dict]) -> str:
    rows = [("sharpe", "Sharpe", "{:.3f}"), ("cagr_pct", "CAGR (%)", "{:.2f}"),
            ("volatility_pct", "Volatility (%)", "{:.2f}"),
            ("max_drawdown_pct", "Max drawdown (%)", "{:.2f}"),
            ("n_orders", "Orders", "{:.0f}"), ("n_days", "Days", "{:.0f}")]
    head = "| metric | " + " | ".join(columns) + " |"
    rule = "|:---|" + "---:|" * len(columns)
    body = ["| " + " | ".join([label, *(_num(m[k], f) for m in columns.values())]) + " |"
            for k, label, f in rows]
    return "\n".join([head, rule, *body])


def result_columns(o) -> dict[str, dict]:
    """The headline columns: the best set in and out of sample, and the walk-forward."""
    sel, kind = o.selection, o.plan.kind
    if kind == "none":
        return {"best set": sel.is_metrics}
    if kind == "holdout":
        return {"best set, in-sample": sel.is_metrics,
                "best set, out-of-sample": sel.oos_metrics}
    table, n = o.chunks.table, len(METRIC_KEYS)
    best_oos = {k: float(table[n + j, sel.best]) for j, k in enumerate(METRIC_KEYS)}
    return {"best set, whole run": sel.is_metrics,
            "best set, out-of-sample span": best_oos,
            "walk-forward (out-of-sample)": sel.oos_metrics}


def summary_markdown(o) -> str:
    """``sweep_summary.md``: headline, best set, overfitting, CI checks, top sets."""
    g, s, sel, ov = o.grid, o.sweep, o.selection, o.selection.overfit
    goal = "maximised" if s.objective.goal == "max" else "minimised"
    lines = [f"# Sweep `{o.cfg.name}` ({o.cfg.strategy})", "",
             f"- **{g.n:,} combos** ({g.n_grid:,} in the grid"
             + (f", {g.n_grid - g.n:,} excluded by constraints)" if g.n < g.n_grid else ")"),
             f"- objective: `{o.objective_column}` {goal}; {o.plan.description}",
             f"- engine: {o.engine_name}; {o.wall_s:.1f} s, {g.n / max(o.wall_s, 1e-9):,.0f}"
             " combos/s", "",
             "## Best set", "", f"`{g.label(sel.best)}`", "",
             _metrics_md(result_columns(o)), ""]
    pbo = ov.pbo
    lines += ["## Overfitting", "",
              f"- deflated Sharpe ratio (Bailey & López de Prado 2014): **{_num(ov.dsr)}** "
              f"(N = {ov.n_trials:,} trials, T = {ov.n_obs:,} days, skew {_num(ov.skew, '{:.2f}')}"
              f", kurtosis {_num(ov.kurtosis, '{:.2f}')})",
              f"- probability of backtest overfitting (CSCV, S = {s.overfitting.partitions}): "
              f"**{_num(pbo.pbo if pbo else None)}** over {ov.n_curves:,} combos"
              + (" (a sample: the best and an even spread of the rest)"
                 if ov.n_curves < g.n else ""), ""]
    if sel.checks:
        ok = all(c.passed for c in sel.checks)
        lines += [f"## CI check: {'passed' if ok else 'FAILED'}", "",
                  "| threshold | value | limit | result |", "|:---|---:|---:|:---|"]
        lines += [f"| `{c.name}` | {_num(c.value)} | {c.limit:g} | "
                  f"{'pass' if c.passed else '**fail**'} |" for c in sel.checks]
        lines.append("")
    if len(o.top_table):
        lines += ["## Top sets", "", _md_table(o.top_table), ""]
    return "\n".join(lines)


def versions() -> dict[str, str]:
    out = {}
    for pkg in ("iwm-backtest", "numpy", "pandas", "numba", "pyarrow", "matplotlib"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _clean(value):
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return value


def dump_json(path: Path, obj) -> None:
    path.write_text(json.dumps(_clean(obj), indent=2, default=str) + "\n")


def stats_dict(o) -> dict:
    """``sweep.json``: the numbers of the summary, for machines."""
    sel, ov = o.selection, o.selection.overfit
    return {
        "name": o.cfg.name, "strategy": o.cfg.strategy, "n_grid": o.grid.n_grid,
        "n_combos": o.grid.n, "objective": {"column": o.objective_column,
                                            **o.sweep.objective.model_dump()},
        "validation": o.plan.description,
        "best": {"combo": sel.best, "params": o.grid.combo(sel.best),
                 "in_sample": sel.is_metrics, "out_of_sample": sel.oos_metrics},
        "deflated_sharpe": {"dsr": ov.dsr, "sharpe_per_day": ov.sharpe, "n_trials": ov.n_trials,
                            "sharpe_std_per_day": ov.sr_std, "skew": ov.skew,
                            "kurtosis": ov.kurtosis, "n_days": ov.n_obs},
        "pbo": {"pbo": ov.pbo.pbo if ov.pbo else None, "partitions": o.sweep.overfitting.partitions,
                "n_combos": ov.n_curves, "n_splits": ov.pbo.n_splits if ov.pbo else 0},
        "ci": [dataclasses.asdict(c) for c in sel.checks],
        "chunks": {"total": o.chunks.n_chunks, "resumed": o.chunks.n_resumed},
        "wall_time_s": round(o.wall_s, 3), "engine": o.engine_name,
        "versions": versions(), "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }

