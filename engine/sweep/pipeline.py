"""A sweep end to end: config -> grid -> chunks through the kernel -> selection -> results/.

The results folder is written into a temporary folder and swapped into place when complete
(``engine.run.swap_into_place``). Checkpoints live beside it, in
``<results root>/.<name>.checkpoints/``, which the swap never touches: an interrupted sweep keeps
its finished chunks, ``resume=True`` skips them, and they are removed after a success.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from engine.config import RunConfig
from engine.data import file_sha256
from engine.results import METRIC_KEYS
from engine.run import output_dir, prepare, swap_into_place
from engine.sweep import report
from engine.sweep.analysis import Selection, column_names, select
from engine.sweep.config import SweepConfig, parse_sweep
from engine.sweep.engines import make_engine
from engine.sweep.executors import LocalExecutor
from engine.sweep.grid import Grid, build_grid
from engine.sweep.heatmap import write_heatmaps
from engine.sweep.progress import ProgressBar
from engine.sweep.runner import (
    CheckpointStore,
    ChunkRun,
    checkpoint_key,
    chunk_ranges,
    chunk_size,
    run_chunks,
)
from engine.sweep.windows import Plan, make_plan

CHECKPOINT_FORMAT = 1  # bump when the layout of a checkpoint file changes


@dataclass
class SweepOutcome:
    """Everything a sweep produced (the table stays in memory; the files are in ``folder``)."""

    cfg: RunConfig
    sweep: SweepConfig
    grid: Grid
    plan: Plan
    engine_name: str
    chunks: ChunkRun
    columns: list[str]
    objective_column: str
    selection: Selection
    folder: Path
    wall_s: float = 0.0
    top_table: pd.DataFrame = field(default_factory=pd.DataFrame)
    files: list[str] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        """The sweep table as pandas (parameters + metrics), as in ``sweep.parquet``."""
        data = {"combo": np.arange(self.grid.n), **self.grid.columns}
        data.update({c: self.chunks.table[j] for j, c in enumerate(self.columns)})
        return pd.DataFrame(data)


def _key(cfg: RunConfig, sweep: SweepConfig, prep, windows, size: int, n: int) -> str:
    run = cfg.model_dump(mode="json")
    parts = {k: run[k] for k in ("strategy", "data", "params", "portfolio", "benchmark")}
    parts["sweep"] = sweep.model_dump(mode="json", include={"grid", "constraints", "objective",
                                                            "validation", "chunk_mb"})
    parts["files"] = {k: file_sha256(p) for k, p in sorted(prep.data.files.items())}
    parts.update(windows=windows, size=size, n=n, format=CHECKPOINT_FORMAT)
    return checkpoint_key(parts)


def checkpoint_root(target: Path) -> Path:
    """Where the chunks of a sweep writing to ``target`` are checkpointed."""
    return target.parent / f".{target.name}.checkpoints"


def run_sweep(cfg: RunConfig, sweep: SweepConfig | None = None, out: str | Path | None = None,
              *, resume: bool = False, progress: bool | None = None, executor=None,
              config_path: str | Path | None = None,
              log: Callable[[str], None] | None = print) -> SweepOutcome:
    """Run the sweep of ``cfg`` and write ``results/<name>/`` (or ``out``).

    ``progress``: draw the bar (None: only when stderr is a terminal). ``log``: where the
    combo count and the final timing line go (None: nowhere).
    """
    started = time.perf_counter()
    log = log or (lambda _: None)
    sweep = sweep if sweep is not None else parse_sweep(cfg, config_path)
    target = output_dir(cfg, out)
    prep = prepare(cfg)
    grid = build_grid(prep.strategy, cfg, sweep)
    plan = make_plan(prep.data.dates, prep.data.start_index, sweep.validation)
    engine = make_engine(prep.strategy, prep.data, prep.inputs, grid, sweep.chunk_mb * 2**20)
    windows = plan.windows()
    size = chunk_size(grid.n, len(windows), sweep.chunk_size)
    n_chunks = len(chunk_ranges(grid.n, size))
    excluded = f", {grid.n_grid - grid.n:,} excluded by constraints" if grid.n < grid.n_grid else ""
    log(f"{cfg.name}: {grid.n:,} combos ({grid.n_grid:,} in the grid{excluded}) x "
        f"{len(windows)} window{'s' * (len(windows) > 1)}, {n_chunks} chunk"
        f"{'s' * (n_chunks > 1)} of up to {size:,} ({engine.name})")
    store = CheckpointStore(checkpoint_root(target),
                            _key(cfg, sweep, prep, windows, size, grid.n))
    if not resume:
        store.clear()
    chunks = _run_with_bar(engine, plan, sweep, size, store, resume,
                           executor or LocalExecutor(), ProgressBar(grid.n, progress))
    if chunks.n_resumed:
        log(f"resumed {chunks.n_resumed} of {chunks.n_chunks} chunks from checkpoints")
    columns = column_names(plan)
    selection = select(engine, chunks.table, plan, sweep, chunks.fold_best, prep.data.dates)
    outcome = SweepOutcome(cfg, sweep, grid, plan, engine.name, chunks, columns,
                           f"{plan.prefixes[0]}{sweep.objective.metric}", selection, target)
    _write(outcome, prep, started)
    store.clear()
    return outcome


def _run_with_bar(engine, plan: Plan, sweep: SweepConfig, size: int, store: CheckpointStore,
                  resume: bool, executor, bar: ProgressBar) -> ChunkRun:
    """The chunks through the executor, with the progress bar; on Ctrl-C, say how to resume."""
    metric = METRIC_KEYS.index(sweep.objective.metric)
    sign = 1.0 if sweep.objective.goal == "max" else -1.0
    try:
        return run_chunks(engine, plan.windows(), len(plan.main), metric, sign, size, store,
                          resume, executor, bar.update, bar.resumed)
    except KeyboardInterrupt:
        bar.close()
        n_chunks = len(chunk_ranges(engine.grid.n, size))
        print(f"sweep interrupted: {store.count()} of {n_chunks} chunks are checkpointed in "
              f"{store.root}; rerun with --resume to continue", file=sys.stderr)
        raise
    finally:
        bar.close()


def _write(o: SweepOutcome, prep, started: float) -> None:
    target = o.folder
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        _write_files(o, prep, tmp, started)
        swap_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_files(o: SweepOutcome, prep, folder: Path, started: float) -> None:
    sel, grid, table = o.selection, o.grid, o.chunks.table
    report.write_parquet(folder / "sweep.parquet", grid, table, o.columns)
    o.top_table = report.top_frame(grid, table, o.columns, sel.top, o.objective_column)
    o.top_table.to_csv(folder / "top_sets.csv", index=False, float_format="%.10g")
    label = o.sweep.objective.metric + {"is_": " (in-sample)", "": ""}[o.plan.prefixes[0]]
    objective = table[o.columns.index(o.objective_column)]
    axes = {n: f"{n} ({f.description})" if (f := prep.strategy.Params.model_fields[n]).description
            else n for n in grid.names}
    files = write_heatmaps(folder, grid, objective, sel.best, label, axes)
    if sel.oos_returns is not None:
        equity = prep.cfg.portfolio.initial_cash * (1.0 + sel.oos_returns).cumprod()
        equity.rename("equity").to_csv(folder / "oos_equity.csv", index_label="date",
                                       date_format="%Y-%m-%d", float_format="%.10g")
        files.append("oos_equity.csv")
    if sel.walk is not None:
        sel.walk.folds.to_csv(folder / "walk_forward.csv", index=False, float_format="%.10g")
        files.append("walk_forward.csv")
    tops = report.write_top_tearsheets(folder, prep, grid, sel.top, started)
    files += [f"top/{name}/" for name, _ in tops]
    (folder / "config.yaml").write_text(yaml.safe_dump(o.cfg.model_dump(mode="json"),
                                                       sort_keys=False))
    o.wall_s = time.perf_counter() - started
    report.dump_json(folder / "sweep.json", report.stats_dict(o))
    report.dump_json(folder / "manifest.json", {
        "name": o.cfg.name, "config_hash": o.cfg.config_hash(),
        "data_files": {k: {"path": str(p), "sha256": file_sha256(p)}
                       for k, p in prep.data.files.items()},
        "versions": report.versions(), "command": " ".join([Path(sys.argv[0]).name,
                                                            *sys.argv[1:]]),
    })
    (folder / "sweep_summary.md").write_text(report.summary_markdown(o) + "\n", encoding="utf-8")
    o.files = ["sweep.parquet", "top_sets.csv", *files, "sweep.json", "sweep_summary.md",
               "config.yaml", "manifest.json"]

