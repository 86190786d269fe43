"""Running a grid chunk by chunk: chunk sizes, checkpoints, streaming selection, progress.

Memory is flat in the number of combos apart from the metrics table itself: a chunk's working
memory is bounded (the fused kernel keeps one (T, A) buffer per thread; the generic path one
(c, T, A) weights block of at most ``chunk_mb``), the walk-forward's per-fold choice is kept as a
running best (never a combos x folds table), and each finished chunk is written to a
checkpoint file, so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.kernels import N_METRICS
from engine.sweep.executors import ClusterLost

MIN_CHUNK = 512
TARGET_CHUNKS = 20  # enough steps for a useful progress bar and cheap checkpoints
WORK_BYTES = 64 * 2**20  # cap on one chunk's metrics block (combos x windows x metrics)


def chunk_size(n_combos: int, n_windows: int, fixed: int | None = None) -> int:
    """Combos per chunk: ``fixed`` if given, else about n / 20 (>= 512), capped so that one
    chunk's (c, windows, metrics) block stays under 64 MB. A function of the config only, so
    that checkpoints of an interrupted run line up with the rerun."""
    if fixed:
        return fixed
    cap = max(1, WORK_BYTES // (n_windows * N_METRICS * 8))
    return max(1, min(max(MIN_CHUNK, math.ceil(n_combos / TARGET_CHUNKS)), cap, n_combos))


def chunk_ranges(n_combos: int, size: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + size, n_combos)) for lo in range(0, n_combos, size)]


def checkpoint_key(parts: dict) -> str:
    """SHA-256 (16 hex digits) of the canonical JSON of everything a chunk's numbers depend on."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class CheckpointStore:
    """One ``.npy`` file per finished chunk under ``folder/<key>/``, written atomically."""

    def __init__(self, folder: Path, key: str):
        self.root = Path(folder)
        self.folder = self.root / key

    def _path(self, index: int) -> Path:
        return self.folder / f"chunk-{index:06d}.npy"

    def load(self, index: int, shape: tuple[int, int]) -> np.ndarray | None:
        path = self._path(index)
        if not path.is_file():
            return None
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None
        return arr if arr.shape == shape and arr.dtype == np.float64 else None

    def save(self, index: int, arr: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".chunk-{index:06d}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)
        os.replace(tmp, self._path(index))

    def count(self) -> int:
        """Number of chunk files saved so far."""
        return len(list(self.folder.glob("chunk-*.npy"))) if self.folder.is_dir() else 0

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class FoldBest:
    """Running best combo of each walk-forward training window (ties: the lower index)."""

    value: np.ndarray  # (F,) best signed objective so far
    index: np.ndarray  # (F,) its combo, -1 while none is finite

    @classmethod
    def empty(cls, n_folds: int) -> FoldBest:
        return cls(np.full(n_folds, -np.inf), np.full(n_folds, -1, dtype=np.int64))

    def update(self, lo: int, objective: np.ndarray, sign: float) -> None:
        """``objective`` (c, F): raw training objective of combos lo .. lo + c - 1."""
        if objective.size == 0:
            return
        signed = np.where(np.isnan(objective), -np.inf, objective * sign)
        best = np.argmax(signed, axis=0)  # first maximum within the chunk
        value = signed[best, np.arange(signed.shape[1])]
        index = best + lo
        tie = (value == self.value) & np.isfinite(value) & (index < self.index)
        better = (value > self.value) | tie
        self.value = np.where(better, value, self.value)
        self.index = np.where(better, index, self.index)


@dataclass
class ChunkRun:
    """What the runner produced: the main metrics table and the walk-forward choices."""

    table: np.ndarray  # (n_main * N_METRICS, C): row p * N_METRICS + m, one column per combo
    fold_best: FoldBest
    n_chunks: int
    n_resumed: int


def run_chunks(engine, windows: list[tuple[int, int]], n_main: int, metric: int, sign: float,
               size: int, store: CheckpointStore, resume: bool, executor,
               on_progress: Callable[[int], None] | None = None,
               on_resumed: Callable[[int], None] | None = None) -> ChunkRun:
    """Run every chunk (or take it from a checkpoint when ``resume``) and merge the results."""
    n_combos = engine.grid.n
    n_folds = len(windows) - n_main
    width = n_main * N_METRICS
    ranges = chunk_ranges(n_combos, size)
    table = np.empty((width, n_combos))
    best = FoldBest.empty(n_folds)
    done = resumed = 0

    def merge(i: int, arr: np.ndarray) -> None:
        lo, hi = ranges[i]
        table[:, lo:hi] = arr[:, :width].T
        best.update(lo, arr[:, width:], sign)

    todo = []
    for i, (lo, hi) in enumerate(ranges):
        arr = store.load(i, (hi - lo, width + n_folds)) if resume else None
        if arr is None:
            todo.append((i, lo, hi))
        else:
            merge(i, arr)
            resumed += 1
            done += hi - lo
    if on_resumed is not None:
        on_resumed(done)
    try:
        for i, arr in executor.map(engine, todo, windows, n_main, metric):
            store.save(i, arr)  # at once: a sweep stopped later resumes from here
            merge(i, arr)
            done += arr.shape[0]
            if on_progress is not None:
                on_progress(done)
    except ClusterLost as exc:
        raise ClusterLost(f"{exc}; {store.count()} of {len(ranges)} chunks are checkpointed in "
                          f"{store.root}: rerun with --resume (on a restarted cluster) to "
                          "continue") from None
    return ChunkRun(table, best, len(ranges), resumed)
