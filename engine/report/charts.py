"""The report charts: each function takes data and returns a matplotlib Figure.

Figures are built on the Agg canvas directly (``matplotlib.figure.Figure`` +
``FigureCanvasAgg``), never through pyplot, so no GUI backend is touched, no global figure
state leaks between reports, and nothing needs closing. Every axes has a title and axis labels
with units; every axes with more than one series has a legend.

Layout is computed once, when the figure is built (:func:`_fit`): margins are measured from the
axis decorations only (tick labels, axis labels, titles, legends), not from every artist, and no
layout engine runs again at save time. (Constrained layout measured every text of the monthly
heatmap and then drew the whole figure twice; it cost more than the drawing itself.)

Return series are daily *simple* returns (DatetimeIndex); curves are built from them as
``cumprod(1 + r)`` starting at 1 *before* the first return, so the first day counts (the
results convention: the first return is the first day's equity against the initial cash).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from engine import metrics

PALETTE = ("#1f4e79", "#e07b39", "#2a9d8f", "#8e6bbf", "#c1121f", "#6c757d", "#b08900")
CASH_COLOR = "#d9dee4"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WINDOWS = ((126, "6 months"), (252, "12 months"))
DPI = 100  # pixels per inch of the PNGs: a 10-inch chart is 1000 px wide
_PAD = 0.1  # inches of white space around the decorations of the axes, and between panels
COLORBAR = "<colorbar>"  # label of colour bar axes (the label matplotlib's own colorbars get)


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _fit(fig: Figure, grid, legends: Sequence = ()) -> None:
    """Size the margins and gaps of ``grid`` (rows x columns of axes, as ``fig.subplots``
    made them) to what the decorations beside them need, plus :data:`_PAD`.

    Decorations are tick labels, axis labels, titles, and ``legends`` placed outside an axes;
    they are measured in inches on this figure's renderer, at build time, once. The lines,
    bars and annotations inside the axes are never measured, which is what makes this cheap
    (the ticks it creates are reused by the draw). Axes not in ``grid`` are not placed.
    """
    grid = np.atleast_2d(np.asarray(grid, dtype=object))
    nrows, ncols = grid.shape
    renderer = fig.canvas.get_renderer()
    legend_of = {leg.axes: leg for leg in legends}
    # over[i, j] = (left, bottom, right, top) overhang of axes (i, j)'s decorations, inches
    over = np.zeros((nrows, ncols, 4))
    for (i, j), ax in np.ndenumerate(grid):
        extra = [legend_of[ax]] if ax in legend_of else []
        tight = ax.get_tightbbox(renderer, bbox_extra_artists=extra, for_layout_only=True)
        box = ax.get_window_extent(renderer)
        over[i, j] = np.maximum(
            [box.x0 - tight.x0, box.y0 - tight.y0, tight.x1 - box.x1, tight.y1 - box.y1], 0.0
        ) / fig.dpi
    width, height = fig.get_size_inches()
    left = over[:, 0, 0].max() + _PAD
    right = over[:, -1, 2].max() + _PAD
    bottom = over[-1, :, 1].max() + _PAD
    top = over[0, :, 3].max() + _PAD
    wgap = max((over[:, j, 2].max() + over[:, j + 1, 0].max() + _PAD for j in range(ncols - 1)),
               default=0.0)
    hgap = max((over[i, :, 1].max() + over[i + 1, :, 3].max() + _PAD for i in range(nrows - 1)),
               default=0.0)
    # subplots_adjust takes the gaps as fractions of the mean axes width / height
    ax_w = max((width - left - right - (ncols - 1) * wgap) / ncols, 1e-3)
    ax_h = max((height - top - bottom - (nrows - 1) * hgap) / nrows, 1e-3)
    fig.subplots_adjust(left=left / width, right=1.0 - right / width, bottom=bottom / height,
                        top=1.0 - top / height, wspace=wgap / ax_w, hspace=hgap / ax_h)


def _label(ax, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, color="#e4e7eb", linewidth=0.6)
    ax.set_axisbelow(True)
    if len(ax.get_legend_handles_labels()[0]) > 1:
        ax.legend(fontsize=8, frameon=False)


def _dates_axis(*axes) -> None:
    """Date axes run edge to edge: the curve starts at the first date, not after a margin."""
    for ax in axes:
        ax.margins(x=0.0)


def _growth(returns: pd.Series) -> pd.Series:
    """Value of 1 invested: ``cumprod(1 + r)``."""
    return (1.0 + returns.astype(float)).cumprod()


def _underwater(returns: pd.Series) -> pd.Series:
    """Drawdown in percent, the running high starting at the initial 1 (a first-day loss counts)."""
    growth = _growth(returns)
    return (growth / growth.cummax().clip(lower=1.0) - 1.0) * 100.0


# ----------------------------------------------------------------------------- curves
def cumulative_returns_chart(
    returns: Mapping[str, pd.Series], title: str = "Cumulative return"
) -> Figure:
    """Cumulative return of each series: linear panel (%) above a log panel (growth of 1)."""
    fig = _figure(10, 6.5)
    lin, log = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    for i, (name, r) in enumerate(returns.items()):
        growth = _growth(r)
        width = 1.6 if i == 0 else 1.1
        kw = {"color": PALETTE[i % len(PALETTE)], "linewidth": width, "label": name}
        lin.plot(growth.index, (growth - 1.0) * 100.0, **kw)
        log.plot(growth.index, growth, **kw)
    lin.axhline(0.0, color="#52606d", linewidth=0.8)
    log.set_yscale("log")
    _dates_axis(lin, log)
    _label(lin, f"{title} (linear)", "Date", "Cumulative return (%)")
    _label(log, f"{title} (log scale)", "Date", "Value of 1 invested (x, log scale)")
    _fit(fig, [[lin], [log]])
    return fig


def drawdown_chart(
    returns: Mapping[str, pd.Series], title: str = "Drawdown (underwater)"
) -> Figure:
    """Underwater chart: percent below the running high; the first series filled."""
    fig = _figure(10, 3.6)
    ax = fig.subplots()
    for i, (name, r) in enumerate(returns.items()):
        dd = _underwater(r)
        color = PALETTE[i % len(PALETTE)]
        if i == 0:
            ax.fill_between(dd.index, dd, 0.0, color=color, alpha=0.35, linewidth=0)
        ax.plot(dd.index, dd, color=color, linewidth=1.0 if i == 0 else 0.9, label=name)
    _dates_axis(ax)
    _label(ax, title, "Date", "Drawdown from peak (%)")
    _fit(fig, [[ax]])
    return fig


# ----------------------------------------------------------------------------- periods
def monthly_heatmap_chart(returns: pd.Series, title: str = "Monthly returns") -> Figure:
    """Years x months heatmap of compounded monthly returns (%), diverging colours centred at 0."""
    monthly = metrics.period_returns(returns, "M") * 100.0
    grid = pd.DataFrame({"year": monthly.index.year, "month": monthly.index.month,
                         "value": monthly.to_numpy()})
    grid = grid.pivot(index="year", columns="month", values="value").reindex(
        columns=range(1, 13))
    values = grid.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    limit = max(float(np.max(np.abs(finite))) if finite.size else 1.0, 1e-9)
    fig = _figure(10, 1.4 + 0.34 * len(grid))
    ax, cax = fig.subplots(1, 2, width_ratios=(45, 1))
    cax.set_label(COLORBAR)
    im = ax.imshow(np.ma.masked_invalid(values), cmap="RdYlGn", vmin=-limit, vmax=limit,
                   aspect="auto", interpolation="nearest")
    for (row, col), value in np.ndenumerate(values):
        if np.isfinite(value):
            dark = abs(value) > 0.6 * limit
            text = f"{value:.1f}".replace("-0.0", "0.0")  # no signed zero on screen
            ax.text(col, row, text, ha="center", va="center", fontsize=7.5,
                    color="white" if dark else "#1f2933")
    ax.set_xticks(range(12), MONTHS)
    ax.set_yticks(range(len(grid)), [str(y) for y in grid.index])
    ax.tick_params(length=0)
    colorbar = fig.colorbar(im, cax=cax)
    colorbar.set_label("Monthly return (%)")
    _label(ax, title, "Month", "Year")
    ax.grid(False)
    _fit(fig, [[ax, cax]])
    return fig


def yearly_returns_chart(
    returns: Mapping[str, pd.Series], title: str = "Calendar-year returns"
) -> Figure:
    """Side-by-side bars of each series' compounded calendar-year return (%)."""
    yearly = pd.DataFrame({n: metrics.period_returns(r, "Y") * 100.0 for n, r in returns.items()})
    years = yearly.index.year
    fig = _figure(10, 3.8)
    ax = fig.subplots()
    width = 0.8 / max(len(yearly.columns), 1)
    x = np.arange(len(years))
    for i, name in enumerate(yearly.columns):
        offset = (i - (len(yearly.columns) - 1) / 2) * width
        ax.bar(x + offset, yearly[name].to_numpy(), width, label=name,
               color=PALETTE[i % len(PALETTE)])
    ax.axhline(0.0, color="#52606d", linewidth=0.8)
    ax.set_xticks(x, [str(y) for y in years], rotation=90 if len(years) > 12 else 0)
    _label(ax, title, "Year", "Annual return (%)")
    _fit(fig, [[ax]])
    return fig


# ----------------------------------------------------------------------------- rolling
def rolling_chart(
    returns: pd.Series,
    bench_returns: pd.Series | None = None,
    rf: float | pd.Series = 0.0,
    name: str = "strategy",
    bench_name: str = "benchmark",
) -> Figure:
    """Rolling 6- and 12-month (126/252-day) Sharpe, volatility and, with a benchmark, beta."""
    rf_arr = rf.reindex(returns.index).to_numpy(float) if isinstance(rf, pd.Series) else rf
    b = bench_returns.reindex(returns.index) if bench_returns is not None else None
    panels = 3 if b is not None else 2
    fig = _figure(10, 2.6 * panels)
    axes = fig.subplots(panels, 1, sharex=True)
    for j, (window, words) in enumerate(WINDOWS):
        kw = {"color": PALETTE[j], "linewidth": 1.1, "label": f"{name}, {words}"}
        axes[0].plot(returns.index, metrics.rolling_sharpe(returns, window, rf_arr), **kw)
        axes[1].plot(returns.index, metrics.rolling_volatility(returns, window) * 100.0, **kw)
        if b is not None:
            axes[2].plot(returns.index, metrics.rolling_beta(returns, b, window), **kw)
    if b is not None:
        kw = {"color": "#7b8794", "linewidth": 0.9, "linestyle": "--",
              "label": f"{bench_name}, 12 months"}
        axes[0].plot(b.index, metrics.rolling_sharpe(b, 252, rf_arr), **kw)
        axes[1].plot(b.index, metrics.rolling_volatility(b, 252) * 100.0, **kw)
        axes[2].axhline(1.0, color="#52606d", linewidth=0.8)
        _label(axes[2], f"Rolling beta vs {bench_name}", "Date", "Beta (ratio)")
    axes[0].axhline(0.0, color="#52606d", linewidth=0.8)
    _dates_axis(*axes)
    _label(axes[0], "Rolling Sharpe ratio", "Date", "Sharpe (annualised)")
    _label(axes[1], "Rolling volatility", "Date", "Volatility (%/yr)")
    _fit(fig, axes.reshape(-1, 1))
    return fig


# ----------------------------------------------------------------------------- allocation
def allocation_chart(held_weights: pd.DataFrame, title: str = "Allocation over time") -> Figure:
    """Stacked area of the weights held at each close (% of equity); cash is the remainder."""
    weights = held_weights.astype(float).fillna(0.0) * 100.0
    cash = (100.0 - weights.sum(axis=1)).clip(lower=0.0)
    fig = _figure(10, 3.6)
    ax = fig.subplots()
    series = [weights[c].to_numpy() for c in weights.columns] + [cash.to_numpy()]
    labels = [str(c) for c in weights.columns] + ["cash"]
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(weights.columns))] + [CASH_COLOR]
    ax.stackplot(weights.index, *series, labels=labels, colors=colors, linewidth=0)
    _dates_axis(ax)
    ax.set_ylim(0.0, max(100.0, float(weights.sum(axis=1).max()) if len(weights) else 100.0))
    _label(ax, title, "Date", "Weight (% of equity)")
    legends = []
    if ax.get_legend() is not None:
        legends.append(ax.legend(fontsize=8, frameon=False, loc="upper left",
                                 bbox_to_anchor=(1.0, 1.0)))
    _fit(fig, [[ax]], legends)
    return fig


# ----------------------------------------------------------------------------- regimes
def regime_chart(
    table: pd.DataFrame, regime: str, names: tuple[str, str] = ("strategy", "benchmark")
) -> Figure:
    """Bars of annualised return (%) and Sharpe per label of one regime column.

    ``table`` is :func:`engine.report.regimes.regime_performance` output; strategy and, where
    present, benchmark bars side by side, labelled with ``names``.
    """
    who = [p for p in ("strategy", "benchmark") if f"{p}_sharpe" in table.columns]
    fig = _figure(10, 3.4)
    axes = fig.subplots(1, 2)
    x = np.arange(len(table.index))
    width = 0.8 / len(who)
    for ax, stat, ylabel, heading in (
        (axes[0], "ann_return_pct", "Annualised return (%/yr)", "Annualised return"),
        (axes[1], "sharpe", "Sharpe (annualised)", "Sharpe ratio"),
    ):
        for i, prefix in enumerate(who):
            offset = (i - (len(who) - 1) / 2) * width
            color = PALETTE[0] if prefix == "strategy" else "#9aa5b1"
            label = names[0] if prefix == "strategy" else names[1]
            ax.bar(x + offset, table[f"{prefix}_{stat}"].to_numpy(float), width,
                   label=label, color=color)
        ax.axhline(0.0, color="#52606d", linewidth=0.8)
        ax.set_xticks(x, [str(v) for v in table.index])
        _label(ax, f"{heading} by {regime}", f"Regime ({regime})", ylabel)
    _fit(fig, [axes])
    return fig


def correlation_chart(returns: pd.DataFrame, title: str = "Correlation of daily returns") -> Figure:
    """Heatmap of the correlation matrix of the columns' daily returns, annotated."""
    corr = returns.corr()
    n = len(corr)
    # Constrained layout here: the square cells (aspect "equal") and the colour bar beside
    # them need it, and with n x n annotations (n = a few runs) it costs little.
    fig = _figure(max(4.5, 1.2 * n + 2.5), max(3.5, 0.9 * n + 1.5))
    fig.set_layout_engine("constrained")
    ax = fig.subplots()
    im = ax.imshow(corr.to_numpy(float), cmap="RdBu_r", vmin=-1.0, vmax=1.0)
    for (row, col), value in np.ndenumerate(corr.to_numpy(float)):
        ax.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=9,
                color="white" if abs(value) > 0.6 else "#1f2933")
    ax.set_xticks(range(n), [str(c) for c in corr.columns], rotation=30, ha="right")
    ax.set_yticks(range(n), [str(c) for c in corr.index])
    colorbar = fig.colorbar(im, ax=ax, fraction=0.05, pad=0.03)
    colorbar.set_label("Correlation (-1 to 1)")
    _label(ax, title, "Run", "Run")
    ax.grid(False)
    return fig
