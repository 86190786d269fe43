"""The HTML tearsheet of one run: ``report.html`` plus each chart as a PNG beside it.

Modelled on quantstats' HTML tearsheet: headline metrics strategy vs benchmark, the worst
drawdowns, cumulative / underwater / monthly / yearly / rolling charts, allocation, a regime
panel and the resolved config. Differences on purpose: the headline numbers are *the run's own*
(``RunResult.metrics``, streamed by the kernel), never recomputed here, so the report cannot
disagree with ``metrics.json``; Sharpe and Sortino are against the run's cash rate, not zero.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from engine import metrics
from engine.report import charts
from engine.report.html_doc import assemble, esc, page, table
from engine.report.regimes import regime_performance
from engine.report.render import Chart, render_charts
from engine.report.terminal import RISK_ROWS, SIZE_ROWS, Row, format_value
from engine.results import RunResult

REPORT_FILE = "report.html"

# Headline table rows: (key, label with unit, format). Keys are METRIC_KEYS plus the keys of
# engine.metrics.best_worst.
HEADLINE_ROWS: list[Row] = [
    ("total_return_pct", "Total return (%)", ".2f"),
    ("cagr_pct", "CAGR (%/yr)", ".2f"),
    ("volatility_pct", "Volatility (%/yr)", ".2f"),
    ("sharpe", "Sharpe (vs cash)", ".2f"),
    ("sortino", "Sortino (vs cash)", ".2f"),
    *RISK_ROWS,
    ("best_day_pct", "Best day (%)", ".2f"),
    ("worst_day_pct", "Worst day (%)", ".2f"),
    ("best_month_pct", "Best month (%)", ".2f"),
    ("worst_month_pct", "Worst month (%)", ".2f"),
    ("best_year_pct", "Best year (%)", ".2f"),
    ("worst_year_pct", "Worst year (%)", ".2f"),
    *SIZE_ROWS,
]

DRAWDOWN_HEADER = ["Peak", "Trough", "Recovery", "Depth (%)", "Length to recovery (trading days)"]

_REGIME_COLUMNS = [
    ("n_days", "Days (count)", ".0f"),
    ("share_of_days_pct", "Share of days (%)", ".2f"),
    ("strategy_ann_return_pct", "Strategy ann. return (%/yr)", ".2f"),
    ("strategy_sharpe", "Strategy Sharpe", ".2f"),
    ("strategy_max_drawdown_pct", "Strategy max drawdown (%)", ".2f"),
    ("benchmark_ann_return_pct", "Benchmark ann. return (%/yr)", ".2f"),
    ("benchmark_sharpe", "Benchmark Sharpe", ".2f"),
    ("benchmark_max_drawdown_pct", "Benchmark max drawdown (%)", ".2f"),
]


def _date(value) -> str:
    return "not recovered" if pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


def _benchmark_ticker(result: RunResult) -> str | None:
    """The benchmark ticker named in the config (``benchmark: SPY`` or ``{ticker: SPY}``)."""
    bench = result.config.get("benchmark") if isinstance(result.config, dict) else None
    if isinstance(bench, dict):
        bench = bench.get("ticker")
    return bench if isinstance(bench, str) else None


def _benchmark_name(result: RunResult) -> str:
    ticker = _benchmark_ticker(result)
    return f"Benchmark ({ticker})" if ticker else "Benchmark"


def _series_names(result: RunResult) -> tuple[str, str]:
    """Legend names of the strategy and benchmark lines: run name and ticker, never equal."""
    bench = _benchmark_ticker(result) or "benchmark"
    name = result.name or "strategy"
    return (name, bench) if name != bench else (name, "benchmark")


def headline_columns(result: RunResult) -> dict[str, dict[str, float]]:
    """Column name -> values for the headline table: the run's metrics plus best/worst."""
    columns = {"Strategy": {**result.metrics, **metrics.best_worst(result.returns)}}
    if result.benchmark_returns is not None or result.benchmark_metrics:
        bench = dict(result.benchmark_metrics)
        if result.benchmark_returns is not None:
            bench.update(metrics.best_worst(result.benchmark_returns))
        columns[_benchmark_name(result)] = bench
    return columns


def _headline_html(result: RunResult) -> str:
    columns = headline_columns(result)
    rows = [
        [label, *(format_value(values.get(key), fmt) for values in columns.values())]
        for key, label, fmt in HEADLINE_ROWS
    ]
    return table(["Metric", *columns], rows, table_id="headline")


def _drawdowns_html(equity: pd.Series) -> str:
    worst = metrics.drawdown_table(equity, top=5)
    rows = [
        [_date(r.start), _date(r.trough), _date(r.recovery), format_value(r.depth_pct, ".2f"),
         format_value(r.length_days, ".0f")]
        for r in worst.itertuples()
    ]
    if not rows:
        return '<p class="note">No drawdown: the equity curve never fell below a previous high.</p>'
    return table(DRAWDOWN_HEADER, rows, table_id="drawdowns")


def _regimes_parts(result: RunResult) -> list:
    """The regime panel: a note, then per regime column a table and a chart placeholder."""
    if result.regimes is None or result.regimes.empty:
        return ['<p class="note">No regime labels for this run.</p>']
    parts: list = [
        '<p class="note">Each regime\'s days stitched together in date order; annualised '
        "return = prod(1 + r)^(252/n) - 1 over its n days; Sharpe vs cash.</p>"
    ]
    for column in result.regimes.columns:
        perf = regime_performance(
            result.returns, result.benchmark_returns, result.regimes[column], result.cash_returns
        )
        cols = [c for c in _REGIME_COLUMNS if c[0] in perf.columns]
        rows = [
            [str(label), *(format_value(perf.at[label, key], fmt) for key, _, fmt in cols)]
            for label in perf.index
        ]
        parts.append(f"<h3>{esc(column)}</h3>")
        parts.append(table(["Regime", *(c[1] for c in cols)], rows, f"regime-{column}"))
        if len(perf):
            parts.append(Chart(f"regime_{column}", f"Performance by {column}",
                               charts.regime_chart, (perf, str(column), _series_names(result)),
                               cost=1.1))
    return parts


def _config_html(config: dict) -> str:
    # JSON round trip first: dates, paths and enums become plain strings safe_dump accepts.
    plain = json.loads(json.dumps(config, default=str))
    text = yaml.safe_dump(plain, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return f"<pre>{esc(text)}</pre>"


def _chart_sections(result: RunResult) -> list[tuple[str, list]]:
    """The chart sections as ``(heading, parts)``; charts are :class:`Chart` placeholders.

    The costs are relative drawing times measured on a 25-year daily run (the heatmap's 300+
    annotations make it the slowest): the pool starts the costliest charts first.
    """
    name, bench_name = _series_names(result)
    series = {name: result.returns}
    if result.benchmark_returns is not None:
        series[bench_name] = result.benchmark_returns
    out = [
        ("Cumulative return", [Chart("cumulative_returns", "Cumulative return",
                                     charts.cumulative_returns_chart, (series,), cost=2.0)]),
        ("Drawdowns", [Chart("drawdown", "Drawdown", charts.drawdown_chart, (series,), cost=1.0),
                       "<h3>Five worst drawdowns</h3>", _drawdowns_html(result.equity)]),
        ("Monthly and yearly returns", [
            Chart("monthly_returns", "Monthly returns", charts.monthly_heatmap_chart,
                  (result.returns,), cost=4.0),
            Chart("yearly_returns", "Calendar-year returns", charts.yearly_returns_chart,
                  (series,), cost=1.2)]),
        ("Rolling statistics", [Chart(
            "rolling", "Rolling Sharpe, volatility, beta", charts.rolling_chart,
            (result.returns, result.benchmark_returns, result.cash_returns, name, bench_name),
            cost=3.0)]),
    ]
    if result.held_weights is not None and len(result.held_weights.columns):
        out.append(("Allocation", [Chart("allocation", "Allocation", charts.allocation_chart,
                                         (result.held_weights,), cost=0.8)]))
    return out


def write_tearsheet(result: RunResult, out_dir: Path, workers: int | None = None) -> Path:
    """Write ``report.html`` (self-contained) and the chart PNGs into ``out_dir``.

    Returns the path of ``report.html``. Headline figures come from ``result.metrics`` and
    ``result.benchmark_metrics`` as they are; best / worst periods from
    :func:`engine.metrics.best_worst`; drawdowns from :func:`engine.metrics.drawdown_table`.
    The charts are drawn by ``workers`` processes (default: one per CPU, at most two; see
    :func:`engine.report.render.render_charts`); the files are the same bytes either way.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    index = result.returns.index
    strategy = result.config.get("strategy", "") if isinstance(result.config, dict) else ""
    period = f"{_date(index[0])} to {_date(index[-1])}" if len(index) else "no data"
    subtitle = " | ".join(
        p for p in (f"strategy: {strategy}" if strategy else "", period,
                    f"{len(index)} trading days") if p
    )
    sections = [
        ("Key metrics", [
            _headline_html(result),
            '<p class="note">Daily simple returns, 252 days a year; Sharpe and Sortino '
            "against the cash rate; figures as computed by the run.</p>"]),
        *_chart_sections(result),
        ("Performance by regime", _regimes_parts(result)),
        ("Configuration", [_config_html(result.config)]),
    ]
    figures = [p for _, parts in sections for p in parts if isinstance(p, Chart)]
    pngs = dict(zip((c.stem for c in figures), render_charts(figures, workers), strict=True))
    path = out_dir / REPORT_FILE
    path.write_text(page(f"Tearsheet: {result.name}", subtitle, assemble(sections, pngs, out_dir)),
                    encoding="utf-8")
    return path
