"""Side-by-side comparison of finished runs (``backtest compare results/a results/b ...``).

Reads each results folder's ``metrics.json`` and ``equity.csv`` and writes ``compare.html``
(self-contained), ``compare.md`` (for CI logs and pull requests) and the chart PNGs.

Runs over different periods are not comparable as they stand (annualised figures over different
windows mix luck with skill), so they are refused unless ``common_period=True``: then every
equity curve is cut to the dates all runs share, rebased, and the metrics are *recomputed* on that
window with :func:`engine.metrics.summary` (rf = 0, no benchmark: the cash rate is not stored in
a results folder). A row "annualised return difference vs first run" then answers the realised
drag question, e.g. IWM vs VTWO vs SCHA bought and held over the same days.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from engine import metrics
from engine.errors import BacktestError
from engine.report import charts
from engine.report.html_doc import assemble, esc, page, table
from engine.report.render import Chart, render_charts
from engine.report.terminal import (
    RISK_ROWS,
    SIZE_ROWS,
    Row,
    format_table,
    format_value,
    markdown_table,
)

HTML_FILE = "compare.html"
MARKDOWN_FILE = "compare.md"
DIFF_KEY = "cagr_diff_vs_first_pct"

COMPARE_ROWS: list[Row] = [
    ("total_return_pct", "Total return (%)", ".2f"),
    ("cagr_pct", "CAGR (%/yr)", ".2f"),
    (DIFF_KEY, "Annualised return difference vs first run (%/yr)", ".2f"),
    ("volatility_pct", "Volatility (%/yr)", ".2f"),
    ("sharpe", "Sharpe", ".2f"),
    ("sortino", "Sortino", ".2f"),
    *RISK_ROWS,
    *SIZE_ROWS,
]


@dataclass(frozen=True)
class ComparisonOutput:
    """What :func:`compare_results` produced: the tables as text and where the HTML is."""

    markdown: str
    text: str
    html_path: Path
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Run:
    folder: Path
    name: str
    strategy: str
    metrics: dict[str, float]
    equity: pd.Series


# ----------------------------------------------------------------------------- reading
def _refuse(folder: Path, why: str) -> BacktestError:
    return BacktestError(f"not a results folder: {folder} ({why})")


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _read_metrics(folder: Path) -> dict:
    path = folder / "metrics.json"
    if not path.is_file():
        raise _refuse(folder, "no metrics.json")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _refuse(folder, f"metrics.json unreadable: {_one_line(exc)}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), dict):
        raise _refuse(folder, "metrics.json has no 'metrics' object")
    return doc


def _read_equity(folder: Path) -> pd.Series:
    path = folder / "equity.csv"
    if not path.is_file():
        raise _refuse(folder, "no equity.csv")
    try:
        frame = pd.read_csv(path)
        if not {"date", "equity"} <= set(frame.columns):
            raise ValueError(f"columns are {list(frame.columns)}, expected date,equity")
        equity = pd.Series(
            pd.to_numeric(frame["equity"], errors="raise").to_numpy(float),
            index=pd.DatetimeIndex(pd.to_datetime(frame["date"], format="ISO8601")),
        ).sort_index()
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise _refuse(folder, f"equity.csv unreadable: {_one_line(exc)}") from exc
    if len(equity) < 2 or equity.isna().any() or equity.index.has_duplicates:
        raise _refuse(folder, "equity.csv needs two or more dated rows, no gaps or repeats")
    return equity


def _load(folder: Path) -> _Run:
    folder = Path(folder)
    if not folder.is_dir():
        raise _refuse(folder, "no such folder")
    doc = _read_metrics(folder)
    values = {k: float(v) if v is not None else math.nan for k, v in doc["metrics"].items()}
    return _Run(folder, str(doc.get("name") or folder.name), str(doc.get("strategy", "")),
                values, _read_equity(folder))


def _unique_names(runs: list[_Run]) -> list[str]:
    """Run names as column headers; the folder name (then a counter) where names repeat."""
    names = [r.name for r in runs]
    out = []
    for run in runs:
        name = run.name if names.count(run.name) == 1 else run.folder.name
        while name in out:
            name = f"{name} ({len(out) + 1})"
        out.append(name)
    return out


# ----------------------------------------------------------------------------- aligning
def _span(equity: pd.Series) -> str:
    return f"{equity.index[0]:%Y-%m-%d}..{equity.index[-1]:%Y-%m-%d}"


def _check_same_period(runs: list[_Run], names: list[str]) -> None:
    spans = [_span(r.equity) for r in runs]
    if len(set(spans)) > 1:
        listed = ", ".join(f"{n} {s}" for n, s in zip(names, spans, strict=True))
        raise BacktestError(
            f"runs cover different periods ({listed}); annualised figures over different "
            "windows are not comparable: pass --common-period to compare them on the dates "
            "they share"
        )


def _full_returns(run: _Run) -> pd.Series:
    """Daily returns of a whole run, the first one against the initial cash when recoverable.

    initial cash = final_value / (1 + total_return_pct / 100), per the METRIC_KEYS definitions.
    """
    m = run.metrics
    growth = 1.0 + m.get("total_return_pct", math.nan) / 100.0
    initial = m.get("final_value", math.nan) / growth if growth > 0 else math.nan
    if not (math.isfinite(initial) and initial > 0):
        return run.equity.pct_change().iloc[1:]
    return run.equity / run.equity.shift(1, fill_value=initial) - 1.0


def _common_period(runs: list[_Run], names: list[str]):
    """Equity on the shared dates; returns from the first shared close; recomputed metrics."""
    start = max(r.equity.index[0] for r in runs)
    end = min(r.equity.index[-1] for r in runs)
    equity = pd.concat({n: r.equity for n, r in zip(names, runs, strict=True)}, axis=1,
                       join="inner").loc[start:end]
    if len(equity) < 2:
        spans = ", ".join(f"{n} {_span(r.equity)}" for n, r in zip(names, runs, strict=True))
        raise BacktestError(f"runs share fewer than two dates, nothing to compare ({spans})")
    returns = equity.pct_change().iloc[1:]
    values = {
        n: metrics.summary(returns[n], 0.0, None)
        for n in names
    }
    first = values[names[0]]["cagr_pct"]
    for v in values.values():
        v[DIFF_KEY] = v["cagr_pct"] - first
        # Each run's capital on the common start differs, so its final value compares nothing.
        v["final_value"] = math.nan
    return returns, values, _period_line(equity.index[0], equity.index[-1], len(returns), True)


def _same_period(runs: list[_Run], names: list[str]):
    """Whole-run returns and the stored metrics, after checking the periods agree."""
    _check_same_period(runs, names)
    pairs = list(zip(names, runs, strict=True))
    returns = pd.concat({n: _full_returns(r) for n, r in pairs}, axis=1)
    values = {n: dict(r.metrics) for n, r in pairs}
    equity = runs[0].equity
    return returns, values, _period_line(equity.index[0], equity.index[-1], len(returns), False)


# ----------------------------------------------------------------------------- output
def _rows(values: dict[str, dict[str, float]], common_period: bool) -> list[Row]:
    """COMPARE_ROWS without rows that are missing in every run; Sharpe labelled by its rf."""
    rows = []
    for key, label, fmt in COMPARE_ROWS:
        if all(not math.isfinite(v.get(key, math.nan)) for v in values.values()):
            continue
        if key in ("sharpe", "sortino"):
            label += " (rf = 0)" if common_period else " (vs cash)"
        rows.append((key, label, fmt))
    return rows


def _period_line(first, last, n_returns: int, common_period: bool) -> str:
    what = "common period" if common_period else "period"
    return f"{what} {first:%Y-%m-%d} to {last:%Y-%m-%d}, {n_returns} daily returns"


def _html(runs, names, returns, values, rows, period: str, out_dir: Path) -> str:
    series = {n: returns[n].dropna() for n in names}
    metric_rows = [[label, *(format_value(values[n].get(k), f) for n in names)]
                   for k, label, f in rows]
    run_rows = [[n, r.strategy, _span(r.equity), str(r.folder)]
                for n, r in zip(names, runs, strict=True)]
    sections = [
        ("Metrics", [table(["Metric", *names], metric_rows, table_id="metrics"),
                     '<p class="note">' + esc(
                         "Recomputed on the common dates (rf = 0, no benchmark)."
                         if period.startswith("common")
                         else "As stored in each run's metrics.json.") + "</p>"]),
        ("Runs", [table(["Run", "Strategy", "Period", "Folder"], run_rows)]),
        ("Cumulative return", [Chart("compare_cumulative", "Cumulative return",
                                     charts.cumulative_returns_chart, (series,), cost=2.0)]),
        ("Drawdowns", [Chart("compare_drawdown", "Drawdowns", charts.drawdown_chart, (series,),
                             cost=1.0)]),
    ]
    if len(names) > 1:
        corr = returns.dropna().corr()
        corr_rows = [[n, *(format_value(corr.at[n, m], ".2f") for m in names)] for n in names]
        sections.append((
            "Correlation of daily returns",
            [Chart("compare_correlation", "Correlation of daily returns",
                   charts.correlation_chart, (returns.dropna(),), cost=1.0),
             table(["Run", *names], corr_rows, table_id="correlation")]))
    figures = [p for _, parts in sections for p in parts if isinstance(p, Chart)]
    pngs = dict(zip((c.stem for c in figures), render_charts(figures), strict=True))
    title = f"Comparison of {len(names)} runs"
    return page(title, period, assemble(sections, pngs, out_dir))


def compare_results(
    result_dirs: list[Path], out_dir: Path, common_period: bool = False
) -> ComparisonOutput:
    """Compare results folders side by side; write compare.html, compare.md and PNGs.

    Args:
        result_dirs: results folders (each with ``metrics.json`` and ``equity.csv``).
        out_dir: where to write; created if needed.
        common_period: cut all runs to their shared dates and recompute the metrics there
            (otherwise runs must cover the same first and last dates).

    Raises:
        BacktestError: a folder is missing or is not a readable results folder (the message
            names it); the runs cover different periods without ``common_period``; they share
            fewer than two dates.
    """
    if not result_dirs:
        raise BacktestError("compare needs at least one results folder; got none")
    runs = [_load(Path(d)) for d in result_dirs]
    names = _unique_names(runs)
    pick = _common_period if common_period else _same_period
    returns, values, period = pick(runs, names)
    rows = _rows(values, common_period)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / HTML_FILE
    html_path.write_text(_html(runs, names, returns, values, rows, period, out_dir),
                         encoding="utf-8")
    md = markdown_table(values, rows)
    markdown = f"## Comparison of {len(names)} runs\n\n{period}\n\n{md}\n"
    (out_dir / MARKDOWN_FILE).write_text(markdown, encoding="utf-8")
    text = format_table(values, rows, title=period)
    return ComparisonOutput(markdown=markdown, text=text, html_path=html_path, metrics=values)
