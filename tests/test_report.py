"""Tests of the tearsheet, the regime split, the charts and the text tables (engine.report)."""

from __future__ import annotations

import base64
import os
import re
import signal
import struct
import subprocess
import sys
import time
from html.parser import HTMLParser
from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from engine import metrics
from engine.errors import BacktestError
from engine.report import charts, format_table, markdown_table, render, write_tearsheet
from engine.report.regimes import regime_performance
from engine.report.render import Chart, render_charts, worker_count
from engine.report.tearsheet import HEADLINE_ROWS
from engine.results import METRIC_KEYS, RunResult

INITIAL = 100_000.0


# ----------------------------------------------------------------------------- helpers
class _Page(HTMLParser):
    """Collects <img> sources and the cell texts of every table with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "table" and attrs.get("id"):
            self._table = attrs["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parse(path) -> tuple[str, _Page]:
    text = path.read_text(encoding="utf-8")
    parser = _Page()
    parser.feed(text)
    return text, parser


def _body(rows: list[list[str]]) -> dict[str, list[str]]:
    """Table rows (header skipped) keyed by their first cell."""
    return {row[0]: row[1:] for row in rows[1:]}


def _result(equity: pd.Series, bench_equity: pd.Series | None = None, regimes=None,
            **metric_overrides) -> RunResult:
    """A RunResult built by hand from an equity curve (first return vs INITIAL)."""
    returns = equity / equity.shift(1, fill_value=INITIAL) - 1.0
    cash = pd.Series(metrics.daily_rate_from_annual_pct(2.0), index=equity.index)
    bench_r = None
    if bench_equity is not None:
        bench_r = bench_equity / bench_equity.shift(1, fill_value=INITIAL) - 1.0
    m = metrics.summary(returns, cash.to_numpy(), bench_r, initial_cash=INITIAL,
                        turnover_pct=150.0, n_orders=42, exposure_pct=97.5)
    m.update(metric_overrides)
    bm = {}
    if bench_r is not None:
        bm = metrics.summary(bench_r, cash.to_numpy(), bench_r, initial_cash=INITIAL,
                             turnover_pct=0.0, n_orders=1, exposure_pct=100.0)
    n = len(equity)
    iwm = np.where(np.arange(n) % 200 < 100, 0.7, 0.2)
    held = pd.DataFrame({"IWM": iwm, "SPY": 0.95 - iwm}, index=equity.index)
    trades = pd.DataFrame(columns=["date", "ticker", "units", "price", "notional", "cost"])
    return RunResult(
        name="ratio-trend", equity=equity, returns=returns, benchmark_equity=bench_equity,
        benchmark_returns=bench_r, cash_returns=cash, target_weights=held, held_weights=held,
        trades=trades, metrics=m, benchmark_metrics=bm, regimes=regimes,
        config={"name": "ratio-trend", "strategy": "rotation", "benchmark": "SPY",
                "params": {"fast": 50, "slow": 200}},
    )


@pytest.fixture(scope="module")
def synthetic() -> RunResult:
    rng = np.random.default_rng(20240628)
    dates = pd.bdate_range("2018-01-02", periods=760)
    bench_r = rng.normal(0.0004, 0.011, len(dates))
    strat_r = 0.7 * bench_r + rng.normal(0.0002, 0.006, len(dates))
    equity = pd.Series(INITIAL * np.cumprod(1 + strat_r), index=dates)
    bench = pd.Series(INITIAL * np.cumprod(1 + bench_r), index=dates)
    regimes = pd.DataFrame({
        "rate_regime": np.repeat(["easing", "neutral", "tightening", "easing"], 190),
        "ratio_trend": np.where(np.arange(len(dates)) % 90 < 50, "up", "down"),
    }, index=dates)
    # Sentinel values no formula would give: the tearsheet must print the run's own numbers.
    return _result(equity, bench, regimes, cagr_pct=12.3456, sharpe=0.98765, n_orders=42.0)


@pytest.fixture(scope="module")
def tearsheet(synthetic, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return out, write_tearsheet(synthetic, out)


# ----------------------------------------------------------------------------- tearsheet
def test_tearsheet_is_one_self_contained_file(tearsheet):
    out, path = tearsheet
    assert path == out / "report.html"
    text, page = _parse(path)
    # cumulative, drawdown, monthly, yearly, rolling, allocation, one per regime column
    assert len(page.images) == 8
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG")
    outside = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)
    for forbidden in ("http://", "https://", 'src="/', "<script", "<link", "url("):
        assert forbidden not in outside
    for stem in ("cumulative_returns", "drawdown", "monthly_returns", "yearly_returns",
                 "rolling", "allocation", "regime_rate_regime", "regime_ratio_trend"):
        assert (out / f"{stem}.png").read_bytes().startswith(b"\x89PNG")
    assert "fast: 50" in text  # the config, as YAML, at the bottom


def test_headline_numbers_are_the_runs_own(synthetic, tearsheet):
    _, page = _parse(tearsheet[1])
    rows = page.tables["headline"]
    assert rows[0] == ["Metric", "Strategy", "Benchmark (SPY)"]
    body = _body(rows)
    assert body["CAGR (%/yr)"][0] == "12.35"
    assert body["Sharpe (vs cash)"][0] == "0.99"
    assert body["Orders (count)"][0] == "42"
    assert body["Information ratio"][1] == "n/a"  # benchmark vs itself: zero active std
    best = {"Strategy": metrics.best_worst(synthetic.returns),
            "Benchmark": metrics.best_worst(synthetic.benchmark_returns)}
    for key, label, fmt in HEADLINE_ROWS:
        if key in METRIC_KEYS:
            expected = [synthetic.metrics[key], synthetic.benchmark_metrics[key]]
        else:
            expected = [best["Strategy"][key], best["Benchmark"][key]]
        rendered = ["n/a" if np.isnan(v) else format(v, fmt) for v in expected]
        rendered = [t[1:] if re.fullmatch(r"-[0.,]+", t) else t for t in rendered]  # no -0.00
        assert body[label] == rendered, label


def test_regime_tables_in_the_tearsheet(synthetic, tearsheet):
    _, page = _parse(tearsheet[1])
    for column in ("rate_regime", "ratio_trend"):
        perf = regime_performance(synthetic.returns, synthetic.benchmark_returns,
                                  synthetic.regimes[column], synthetic.cash_returns)
        body = _body(page.tables[f"regime-{column}"])
        assert list(body) == list(perf.index)
        for label in perf.index:
            assert body[label][2] == f"{perf.at[label, 'strategy_ann_return_pct']:.2f}"
            assert body[label][5] == f"{perf.at[label, 'benchmark_ann_return_pct']:.2f}"
    assert list(_body(page.tables["regime-rate_regime"])) == ["easing", "neutral", "tightening"]


def test_drawdown_table_matches_a_hand_made_curve(tmp_path):
    # Peaks 110, 120, 125, 130; troughs 99 (-10 %), 90 (-25 %), 118.75 (-5 %), 104 (-20 %).
    values = [100, 110, 99, 105, 111, 120, 90, 100, 121, 125, 118.75, 130, 104]
    dates = pd.bdate_range("2020-01-01", periods=len(values))  # Wed 1 Jan 2020 onwards
    result = _result(pd.Series(np.array(values, float) * 1000.0, index=dates))
    _, page = _parse(write_tearsheet(result, tmp_path))  # no benchmark, no regimes
    d = [f"{x:%Y-%m-%d}" for x in dates]
    expected = [
        [d[5], d[6], d[8], "-25.00", "3"],
        [d[11], d[12], "not recovered", "-20.00", "1"],
        [d[1], d[2], d[4], "-10.00", "3"],
        [d[9], d[10], d[11], "-5.00", "2"],
    ]
    assert page.tables["drawdowns"][1:] == expected
    table = metrics.drawdown_table(result.equity, top=5)
    assert [f"{t:%Y-%m-%d}" for t in table["start"]] == [row[0] for row in expected]
    np.testing.assert_allclose(table["depth_pct"], [-25.0, -20.0, -10.0, -5.0])
    assert page.tables["headline"][0] == ["Metric", "Strategy"]
    assert "regime-rate_regime" not in page.tables


# ----------------------------------------------------------------------------- regimes
def test_regime_performance_hand_computed():
    dates = pd.bdate_range("2021-03-01", periods=7)
    r = pd.Series([0.01, -0.02, 0.02, 0.0, -0.01, 0.01, 0.05], index=dates)
    b = pd.Series(0.001, index=dates)
    labels = pd.Series(["easing", "tightening", "easing", "tightening", "easing", "tightening",
                        None], index=dates, name="rate_regime")  # last day unlabelled
    perf = regime_performance(r, b, labels, 0.0)
    assert list(perf.index) == ["easing", "tightening"]
    assert perf.index.name == "rate_regime"
    easing = (1.01 * 1.02 * 0.99) ** (252 / 3) - 1
    tightening = (0.98 * 1.00 * 1.01) ** (252 / 3) - 1
    np.testing.assert_allclose(perf["strategy_ann_return_pct"], [easing * 100, tightening * 100])
    np.testing.assert_allclose(perf["benchmark_ann_return_pct"], (1.001 ** 252 - 1) * 100)
    np.testing.assert_allclose(perf["share_of_days_pct"], [50.0, 50.0])
    np.testing.assert_allclose(perf["n_days"], [3, 3])
    # Stitched easing curve 1.01, 1.0302, 1.019898: 1 % below its high; tightening 2 % below 1.
    np.testing.assert_allclose(perf["strategy_max_drawdown_pct"], [-1.0, -2.0])
    x = np.array([0.01, 0.02, -0.01])
    np.testing.assert_allclose(perf.at["easing", "strategy_sharpe"],
                               x.mean() / x.std(ddof=1) * np.sqrt(252))
    assert perf["benchmark_sharpe"].isna().all()  # constant returns: zero std gives nan


def test_regime_performance_rf_series_and_no_benchmark():
    dates = pd.bdate_range("2021-03-01", periods=4)
    r = pd.Series([0.01, 0.03, -0.01, 0.02], index=dates)
    rf = pd.Series([0.001, 0.002, 0.0, 0.0], index=dates)
    labels = pd.Series(["up", "up", "down", "down"], index=dates)
    perf = regime_performance(r, None, labels, rf)
    assert list(perf.index) == ["up", "down"]
    assert not any(c.startswith("benchmark_") for c in perf.columns)
    ex = np.array([0.009, 0.028])
    np.testing.assert_allclose(perf.at["up", "strategy_sharpe"],
                               ex.mean() / ex.std(ddof=1) * np.sqrt(252))
    with pytest.raises(BacktestError, match="'labels' parameter"):
        regime_performance(r, None, ["up"] * 4, 0.0)


# ----------------------------------------------------------------------------- charts
def _all_figures(result: RunResult):
    series = {"strategy": result.returns, "SPY": result.benchmark_returns}
    perf = regime_performance(result.returns, result.benchmark_returns,
                              result.regimes["rate_regime"], result.cash_returns)
    return {
        "cumulative": charts.cumulative_returns_chart(series),
        "drawdown": charts.drawdown_chart(series),
        "monthly": charts.monthly_heatmap_chart(result.returns),
        "yearly": charts.yearly_returns_chart(series),
        "rolling": charts.rolling_chart(result.returns, result.benchmark_returns,
                                        result.cash_returns),
        "allocation": charts.allocation_chart(result.held_weights),
        "regime": charts.regime_chart(perf, "rate_regime"),
        "correlation": charts.correlation_chart(pd.DataFrame(series)),
    }


def test_charts_have_titles_units_and_legends(synthetic):
    for name, fig in _all_figures(synthetic).items():
        axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        assert axes, name
        for ax in axes:
            assert ax.get_title(loc="left"), name
            assert ax.get_xlabel() and ax.get_ylabel(), name
            if len(ax.get_legend_handles_labels()[0]) > 1:
                assert ax.get_legend() is not None, name
    units = [ax.get_ylabel() for ax in _all_figures(synthetic)["cumulative"].axes]
    assert units[0] == "Cumulative return (%)"


def test_monthly_heatmap_annotates_the_month_in_percent():
    dates = pd.bdate_range("2020-01-01", "2021-02-26")
    r = pd.Series(0.0, index=dates)
    r[pd.Timestamp("2020-03-02")] = 0.05
    r[pd.Timestamp("2021-02-01")] = -0.025
    fig = charts.monthly_heatmap_chart(r)
    ax = fig.axes[0]
    texts = {t.get_text() for t in ax.texts}
    assert {"5.0", "-2.5", "0.0"} <= texts
    assert len(ax.texts) == 12 + 2  # 2020 in full, Jan-Feb 2021; nothing for missing months
    assert ax.get_xlabel() == "Month" and ax.get_ylabel() == "Year"


# ----------------------------------------------------------------------------- tables
def test_format_table_aligns_and_marks_missing():
    columns = {"strategy": {"cagr_pct": 8.123, "sharpe": 0.5, "final_value": 1234567.891},
               "benchmark": {"cagr_pct": -7.4, "sharpe": float("nan"), "final_value": -0.001}}
    rows = [("cagr_pct", "CAGR (%)", ".2f"), ("sharpe", "Sharpe", ".2f"),
            ("final_value", "Final value", "{:,.2f}")]
    assert format_table(columns, rows) == (
        "metric           strategy  benchmark\n"
        "-----------  ------------  ---------\n"
        "CAGR (%)             8.12      -7.40\n"
        "Sharpe               0.50        n/a\n"
        "Final value  1,234,567.89       0.00"
    )
    assert markdown_table(columns, rows) == (
        "| metric | strategy | benchmark |\n"
        "|:---|---:|---:|\n"
        "| CAGR (%) | 8.12 | -7.40 |\n"
        "| Sharpe | 0.50 | n/a |\n"
        "| Final value | 1,234,567.89 | 0.00 |"
    )


def test_charts_decorations_fit_the_figure_and_do_not_overlap(synthetic):
    # The layout is computed once at build time (charts._fit), not by a layout engine at save
    # time: every tick label, axis label, title and outside legend must still be on the canvas
    # and clear of the neighbouring panels.
    for name, fig in _all_figures(synthetic).items():
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        boxes = []
        for ax in fig.axes:
            legend = [ax.get_legend()] if ax.get_legend() is not None else []
            box = ax.get_tightbbox(renderer, bbox_extra_artists=legend, for_layout_only=True)
            assert box.x0 >= -1 and box.y0 >= -1, name
            assert box.x1 <= fig.bbox.x1 + 1 and box.y1 <= fig.bbox.y1 + 1, name
            boxes.append(box)
        for a, b in combinations(boxes, 2):
            assert not a.overlaps(b), name


# ----------------------------------------------------------------------------- rendering
def _png_chunks(png: bytes) -> list[str]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    pos, kinds = 8, []
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        kinds.append(kind.decode("ascii"))
        pos += 12 + length
    return kinds


def test_tearsheet_bytes_are_the_same_serial_or_parallel(synthetic, tearsheet, tmp_path):
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    write_tearsheet(synthetic, serial, workers=1)
    write_tearsheet(synthetic, parallel, workers=2)
    out, _ = tearsheet
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in serial.iterdir())
    assert names == sorted(p.name for p in parallel.iterdir())
    for name in names:
        expected = (out / name).read_bytes()
        assert (serial / name).read_bytes() == expected, name
        assert (parallel / name).read_bytes() == expected, name
        if name.endswith(".png"):  # no time, no software tag: nothing but the image
            assert set(_png_chunks(expected)) <= {"IHDR", "pHYs", "IDAT", "IEND"}, name


def _small_chart(title: str = "small") -> charts.Figure:
    fig = charts._figure(3, 2)
    ax = fig.subplots()
    ax.plot([0, 1, 2], [1, 3, 2])
    charts._label(ax, title, "x (units)", "y (units)")
    charts._fit(fig, [[ax]])
    return fig


def _fail() -> charts.Figure:
    raise ValueError("this chart cannot be drawn")


def _only_here(parent: int, fate: str) -> charts.Figure:
    """A chart that draws in the process ``parent`` and fails in a forked child."""
    if os.getpid() != parent:
        if fate == "die":  # vanish as a killed process would
            os._exit(3)
        raise RuntimeError("failed in the child")
    time.sleep(0.2)  # slow enough that the child surely takes one of these charts
    return _small_chart(fate)


def test_render_charts_in_order_and_errors_surface():
    jobs = [Chart("a", "a", _small_chart, ("first",), cost=1.0),
            Chart("b", "b", _small_chart, ("second",), cost=5.0),  # started first
            Chart("c", "c", _small_chart, kwargs={"title": "third"})]
    expected = [render.render(c) for c in jobs]
    assert render_charts(jobs, workers=2) == expected
    assert render_charts(jobs, workers=1) == expected
    with pytest.raises(ValueError, match="cannot be drawn"):
        render_charts([jobs[0], Chart("bad", "bad", _fail), jobs[2]], workers=2)


@pytest.mark.parametrize("fate", ["die", "raise"])
def test_charts_a_child_does_not_deliver_are_drawn_here(fate):
    jobs = [Chart(str(i), str(i), _only_here, (os.getpid(), fate)) for i in range(3)]
    assert render_charts(jobs, workers=2) == [render.render(c) for c in jobs]


_SLOW_CHARTS = """
import os, sys, time
from engine.report import charts
from engine.report.render import Chart, render_charts

def slow(seconds):
    os.write(1, f"{os.getpid()}\\n".encode())  # one write: lines from two processes stay whole
    time.sleep(seconds)
    return charts._figure(2, 2)

render_charts([Chart(str(i), "", slow, (float(sys.argv[1]),)) for i in range(4)], workers=2)
"""


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie has stopped
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not render.can_fork(), reason="charts are drawn in forked children on Linux")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_a_stopped_report_leaves_no_chart_process(tmp_path, sig):
    seconds = 30.0 if sig == signal.SIGINT else 1.0
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_CHARTS, str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        pids = {int(proc.stdout.readline()), int(proc.stdout.readline())}
        assert proc.pid in pids and len(pids) == 2  # this process and one child draw
        (child,) = pids - {proc.pid}
        proc.send_signal(sig)
        proc.wait(timeout=10)
        # Ctrl-C: the parent kills and reaps its child on the way out. SIGKILL: Linux kills
        # the orphan (PR_SET_PDEATHSIG), or at the latest it stops after its chart (a second).
        deadline = time.monotonic() + 10
        while not _gone(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(child)
    finally:
        proc.kill()
        proc.wait()


def test_worker_count_falls_back_to_serial(monkeypatch):
    assert worker_count(9, workers=2) == (2 if render.can_fork() else 1)
    assert worker_count(1, workers=2) == 1  # one chart: nothing to share
    assert worker_count(9, workers=1) == 1
    monkeypatch.setattr(render, "cpu_count", lambda: 1)
    assert worker_count(9) == 1  # one CPU
    monkeypatch.setattr(render, "cpu_count", lambda: 8)
    assert worker_count(9) <= render.MAX_WORKERS
    monkeypatch.setattr(render, "can_fork", lambda: False)
    assert worker_count(9, workers=2) == 1  # no fork (Windows, macOS): serial


def test_text_tables_do_not_import_matplotlib():
    code = ("import sys, engine.report, engine.report.terminal; "
            "print(sorted(m for m in ('matplotlib', 'pandas') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
