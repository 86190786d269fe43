"""Heatmaps of a sweep's objective over each pair of swept parameters.

For a pair (x, y) the other swept parameters are held at the best set's values, so every
heatmap passes through the best set (marked with a star). Cells a constraint excluded are grey.
Figures are drawn on the Agg canvas directly (no pyplot, no global state), as the tearsheet's.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from engine.sweep.grid import Grid

MAX_TICKS = 12
MAX_PAIRS = 28  # 8 swept parameters


def _ticks(values: list) -> tuple[np.ndarray, list[str]]:
    n = len(values)
    pos = np.unique(np.linspace(0, n - 1, min(n, MAX_TICKS)).round().astype(int))
    return pos, [f"{values[i]:g}" if isinstance(values[i], float) else str(values[i])
                 for i in pos]


def pair_surface(grid: Grid, objective: np.ndarray, best: int, x: str, y: str) -> np.ndarray:
    """(len(y values), len(x values)) objective with the other parameters at the best set."""
    mask = np.ones(grid.n, dtype=bool)
    for name in grid.names:
        if name not in (x, y):
            mask &= grid.columns[name] == grid.columns[name][best]
    sub = np.flatnonzero(mask)
    xi = pd.Index(grid.values[x]).get_indexer(grid.columns[x][sub])
    yi = pd.Index(grid.values[y]).get_indexer(grid.columns[y][sub])
    surface = np.full((len(grid.values[y]), len(grid.values[x])), np.nan)
    surface[yi, xi] = objective[sub]
    return surface


def heatmap_figure(grid: Grid, objective: np.ndarray, best: int, x: str, y: str,
                   label: str, axes: dict[str, str] | None = None) -> Figure:
    """The figure for one pair; ``label`` names the objective (colorbar and title), ``axes``
    the parameters (axis labels; default: their names)."""
    axes = axes or {}
    surface = pair_surface(grid, objective, best, x, y)
    fig = Figure(figsize=(7.5, 5.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#d9dee4")
    image = ax.imshow(np.ma.masked_invalid(surface), origin="lower", aspect="auto", cmap=cmap,
                      interpolation="nearest")
    colorbar = fig.colorbar(image, ax=ax)
    colorbar.set_label(label)
    for axis, name, setter in ((ax.xaxis, x, ax.set_xticks), (ax.yaxis, y, ax.set_yticks)):
        pos, text = _ticks(grid.values[name])
        setter(pos, text)
        axis.set_label_text(axes.get(name, name))
    bx = grid.values[x].index(grid.combo(best)[x])
    by = grid.values[y].index(grid.combo(best)[y])
    ax.plot([bx], [by], marker="*", markersize=16, color="#e07b39", markeredgecolor="white",
            linestyle="none", label="best set")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    others = [f"{n}={grid.combo(best)[n]}" for n in grid.names if n not in (x, y)]
    ax.set_title(f"{label} by {x} and {y}" + (f"\nothers at the best set: {', '.join(others)}"
                                             if others else ""), fontsize=10, loc="left")
    return fig


def line_figure(grid: Grid, objective: np.ndarray, best: int, x: str, label: str,
                axes: dict[str, str] | None = None) -> Figure:
    """One swept parameter (the others at the best set): the objective along it."""
    mask = np.ones(grid.n, dtype=bool)
    for name in grid.names:
        if name != x:
            mask &= grid.columns[name] == grid.columns[name][best]
    sub = np.flatnonzero(mask)
    pos = pd.Index(grid.values[x]).get_indexer(grid.columns[x][sub])
    curve = np.full(len(grid.values[x]), np.nan)
    curve[pos] = objective[sub]
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(np.arange(curve.size), curve, color="#1f4e79", marker=".")
    bx = grid.values[x].index(grid.combo(best)[x])
    ax.plot([bx], [curve[bx]], marker="*", markersize=14, color="#e07b39", linestyle="none",
            label="best set")
    ticks, text = _ticks(grid.values[x])
    ax.set_xticks(ticks, text)
    ax.set_xlabel((axes or {}).get(x, x))
    ax.set_ylabel(label)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(True, color="#e4e7eb", linewidth=0.6)
    ax.set_title(f"{label} by {x}", fontsize=10, loc="left")
    return fig


def swept_pairs(grid: Grid) -> list[tuple[str, str]]:
    """Pairs of parameters with at least two values each (first MAX_PAIRS)."""
    varied = [n for n in grid.names if len(grid.values[n]) > 1]
    return list(combinations(varied, 2))[:MAX_PAIRS]


def write_heatmaps(folder: Path, grid: Grid, objective: np.ndarray, best: int,
                   label: str, axes: dict[str, str] | None = None) -> list[str]:
    """One ``heatmap_<x>_<y>.png`` per pair; returns the file names."""
    names = []
    varied = [n for n in grid.names if len(grid.values[n]) > 1]
    if len(varied) == 1:
        name = f"objective_{varied[0]}.png"
        line_figure(grid, objective, best, varied[0], label, axes).savefig(
            folder / name, dpi=100, metadata={"Software": None})
        return [name]
    for x, y in swept_pairs(grid):
        fig = heatmap_figure(grid, objective, best, x, y, label, axes)
        name = f"heatmap_{x}_{y}.png"
        fig.savefig(folder / name, dpi=100, metadata={"Software": None})
        names.append(name)
    return names
