"""Plain-text and Markdown tables of metrics, for the terminal, CI logs and pull requests.

Both tables share one shape: one column per run (or strategy / benchmark), one row per metric.
A row is ``(key, label, fmt)``: ``key`` looks the value up in each column's metrics dict,
``label`` is printed (with its unit, e.g. ``"CAGR (%)"``) and ``fmt`` is a format spec such as
``".2f"`` (or a ``str.format`` template such as ``"{:,.0f}"``). Missing or NaN values print as
``n/a`` so that a benchmark without, say, a turnover still lines up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Row = tuple[str, str, str]

MISSING = "n/a"

# Rows the tearsheet and the comparison report share, from Calmar to the information ratio.
RISK_ROWS: list[Row] = [
    ("calmar", "Calmar", ".2f"),
    ("max_drawdown_pct", "Max drawdown (%)", ".2f"),
    ("max_drawdown_days", "Longest drawdown (trading days)", ".0f"),
    ("turnover_pct", "Turnover (%/yr, one-sided)", ".2f"),
    ("exposure_pct", "Exposure (% of days)", ".2f"),
    ("n_orders", "Orders (count)", ".0f"),
    ("beta", "Beta vs benchmark", ".2f"),
    ("alpha_pct", "Alpha (%/yr)", ".2f"),
    ("tracking_error_pct", "Tracking error (%/yr)", ".2f"),
    ("information_ratio", "Information ratio", ".2f"),
]
SIZE_ROWS: list[Row] = [
    ("final_value", "Final value (currency)", ",.2f"),
    ("n_days", "Trading days (count)", ".0f"),
]

# The run summary printed after `backtest run`: strategy vs benchmark on the headline figures.
SUMMARY_ROWS: list[Row] = [
    ("total_return_pct", "Total return (%)", ".2f"),
    ("cagr_pct", "CAGR (%)", ".2f"),
    ("volatility_pct", "Volatility (%/yr)", ".2f"),
    ("sharpe", "Sharpe", ".2f"),
    ("max_drawdown_pct", "Max drawdown (%)", ".2f"),
    ("max_drawdown_days", "Max drawdown length (days)", ".0f"),
]


def format_value(value: object, fmt: str) -> str:
    """Format one number with ``fmt`` (a format spec or a ``{}`` template); n/a when missing."""
    if value is None:
        return MISSING
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return MISSING
    text = fmt.format(number) if "{" in fmt else format(number, fmt)
    if text.startswith("-") and not any(c in "123456789" for c in text):
        text = text[1:]  # -0.0001 shown as "-0.00" reads as a sign error; print "0.00"
    return text


def _cells(
    columns: Mapping[str, Mapping[str, float]], rows: Sequence[Row]
) -> tuple[list[str], list[list[str]]]:
    """Header and body cells (strings) of the table: label column first, then one per column."""
    header = ["metric", *columns.keys()]
    body = [
        [label, *(format_value(metrics.get(key), fmt) for metrics in columns.values())]
        for key, label, fmt in rows
    ]
    return header, body


def format_table(
    columns: Mapping[str, Mapping[str, float]], rows: Sequence[Row], title: str | None = None
) -> str:
    """A compact aligned plain-text table: labels left-aligned, numbers right-aligned.

    Args:
        columns: column name -> metrics dict (e.g. ``{"strategy": m, "benchmark": b}``).
        rows: ``(key, label, fmt)`` per row, in display order.
        title: optional first line.

    Example::

        metric            strategy  benchmark
        ----------------  --------  ---------
        CAGR (%)              8.12       7.40
    """
    header, body = _cells(columns, rows)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    lines = [title] if title else []
    lines += [line(header), line(["-" * w for w in widths])]
    lines += [line(r) for r in body]
    return "\n".join(lines)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(
    columns: Mapping[str, Mapping[str, float]], rows: Sequence[Row], title: str | None = None
) -> str:
    """The same table as :func:`format_table` in GitHub Markdown (numbers right-aligned)."""
    header, body = _cells(columns, rows)
    lines = [f"**{_md_escape(title)}**", ""] if title else []
    lines.append("| " + " | ".join(_md_escape(h) for h in header) + " |")
    lines.append("|" + "|".join([":---", *["---:"] * (len(header) - 1)]) + "|")
    lines += ["| " + " | ".join(_md_escape(c) for c in r) + " |" for r in body]
    return "\n".join(lines)


def run_summary(
    metrics: Mapping[str, float],
    benchmark_metrics: Mapping[str, float] | None = None,
    name: str = "strategy",
    benchmark_name: str = "benchmark",
) -> str:
    """The plain-text run summary: the strategy's headline figures beside its benchmark's."""
    columns: dict[str, Mapping[str, float]] = {name: metrics}
    if benchmark_metrics:
        columns[benchmark_name] = benchmark_metrics
    return format_table(columns, SUMMARY_ROWS)
