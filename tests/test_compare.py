"""Tests of engine.report.compare: reading results folders, refusing bad input, common period."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest

from engine import metrics
from engine.errors import BacktestError
from engine.report import compare_results

INITIAL = 100_000.0


def _write_run(root, name, dates, returns, strategy="buy_and_hold"):
    """A results folder as the run code writes it: metrics.json and equity.csv."""
    folder = root / name
    folder.mkdir()
    equity = INITIAL * np.cumprod(1.0 + returns)
    m = metrics.summary(returns, 0.0, None, initial_cash=INITIAL, turnover_pct=0.0,
                        n_orders=1.0, exposure_pct=100.0)
    doc = {"name": name, "strategy": strategy, "start": f"{dates[0]:%Y-%m-%d}",
           "end": f"{dates[-1]:%Y-%m-%d}",
           "metrics": {k: (None if np.isnan(v) else v) for k, v in m.items()},
           "benchmark": None}
    (folder / "metrics.json").write_text(json.dumps(doc))
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "equity": equity}).to_csv(
        folder / "equity.csv", index=False)
    return folder, pd.Series(equity, index=dates), m


@pytest.fixture
def three_runs(tmp_path):
    rng = np.random.default_rng(11)
    dates = pd.bdate_range("2015-01-02", periods=600)
    market = rng.normal(0.0004, 0.012, len(dates))
    runs = []
    for name, drag in (("IWM", 0.0), ("VTWO", 0.000004), ("SCHA", -0.000006)):
        r = market + drag + rng.normal(0.0, 0.0005, len(dates))
        runs.append(_write_run(tmp_path, name, dates, r))
    return runs


def test_compare_same_period_writes_html_and_markdown(three_runs, tmp_path):
    out = compare_results([f for f, _, _ in three_runs], tmp_path / "cmp")
    assert out.html_path == tmp_path / "cmp" / "compare.html"
    assert (tmp_path / "cmp" / "compare.md").read_text() == out.markdown
    for stem in ("compare_cumulative", "compare_drawdown", "compare_correlation"):
        assert (tmp_path / "cmp" / f"{stem}.png").read_bytes().startswith(b"\x89PNG")
    html = out.html_path.read_text()
    sources = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert len(sources) == 3
    for src in sources:
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG")
    outside = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)
    assert not any(s in outside for s in ("http://", "https://", 'src="/', "<script"))
    # The stored metrics, unchanged, side by side.
    cagr_line = next(line for line in out.markdown.splitlines() if line.startswith("| CAGR"))
    assert cagr_line == "| CAGR (%/yr) | " + " | ".join(
        f"{m['cagr_pct']:.2f}" for _, _, m in three_runs) + " |"
    assert out.markdown.splitlines()[4].startswith("| metric | IWM | VTWO | SCHA |")
    assert "difference vs first run" not in out.markdown  # only with common_period
    assert "Beta" not in out.markdown  # missing in every run: the row is left out
    assert out.text.splitlines()[1].split() == ["metric", "IWM", "VTWO", "SCHA"]


def test_different_periods_are_refused(tmp_path):
    rng = np.random.default_rng(3)
    long = pd.bdate_range("2014-01-02", periods=500)
    short = long[100:]
    a, _, _ = _write_run(tmp_path, "a", long, rng.normal(0.0003, 0.01, len(long)))
    b, _, _ = _write_run(tmp_path, "b", short, rng.normal(0.0003, 0.01, len(short)))
    with pytest.raises(BacktestError, match="different periods.*--common-period"):
        compare_results([a, b], tmp_path / "cmp")


def test_common_period_aligns_and_recomputes(tmp_path):
    rng = np.random.default_rng(5)
    dates = pd.bdate_range("2012-01-02", periods=700)
    spans = {"IWM": dates, "VTWO": dates[150:], "SCHA": dates[40:650]}
    curves = {}
    for name, span in spans.items():
        folder, equity, _ = _write_run(tmp_path, name, span, rng.normal(3e-4, 0.011, len(span)))
        curves[name] = (folder, equity)
    out = compare_results([f for f, _ in curves.values()], tmp_path / "cmp", common_period=True)
    common = dates[150:650]
    cagr = {}
    for name, (_, equity) in curves.items():
        aligned = equity.loc[common]
        returns = (aligned / aligned.iloc[0]).pct_change().iloc[1:]
        cagr[name] = metrics.cagr(returns) * 100.0
        np.testing.assert_allclose(out.metrics[name]["cagr_pct"], cagr[name], rtol=1e-12)
        np.testing.assert_allclose(out.metrics[name]["n_days"], len(common) - 1)
        np.testing.assert_allclose(out.metrics[name]["total_return_pct"],
                                   (aligned.iloc[-1] / aligned.iloc[0] - 1) * 100, rtol=1e-12)
    np.testing.assert_allclose(out.metrics["VTWO"]["cagr_diff_vs_first_pct"],
                               cagr["VTWO"] - cagr["IWM"], rtol=1e-12)
    diff = next(line for line in out.markdown.splitlines() if "difference vs first run" in line)
    assert diff.startswith("| Annualised return difference vs first run (%/yr) | 0.00 |")
    assert f"common period {common[0]:%Y-%m-%d} to {common[-1]:%Y-%m-%d}" in out.markdown
    assert "Sharpe (rf = 0)" in out.markdown
    assert "Final value" not in out.markdown and "Turnover" not in out.markdown


def test_common_period_needs_shared_dates(tmp_path):
    rng = np.random.default_rng(8)
    first = pd.bdate_range("2010-01-04", periods=50)
    second = pd.bdate_range("2012-01-02", periods=50)
    a, _, _ = _write_run(tmp_path, "a", first, rng.normal(0, 0.01, 50))
    b, _, _ = _write_run(tmp_path, "b", second, rng.normal(0, 0.01, 50))
    with pytest.raises(BacktestError, match="fewer than two dates"):
        compare_results([a, b], tmp_path / "cmp", common_period=True)


def test_bad_folders_are_refused_by_name(three_runs, tmp_path):
    good = three_runs[0][0]
    empty = tmp_path / "not-a-run"
    empty.mkdir()
    no_metrics = r"not a results folder: .*not-a-run \(no metrics\.json\)"
    with pytest.raises(BacktestError, match=no_metrics):
        compare_results([good, empty], tmp_path / "cmp")
    with pytest.raises(BacktestError, match=r"not a results folder: .*missing \(no such folder\)"):
        compare_results([good, tmp_path / "missing"], tmp_path / "cmp")
    (empty / "metrics.json").write_text("{not json")
    with pytest.raises(BacktestError, match=r"not-a-run \(metrics\.json unreadable"):
        compare_results([good, empty], tmp_path / "cmp")
    (empty / "metrics.json").write_text(json.dumps({"name": "x", "metrics": {"cagr_pct": 1.0}}))
    with pytest.raises(BacktestError, match=r"not-a-run \(no equity\.csv\)"):
        compare_results([good, empty], tmp_path / "cmp")
    (empty / "equity.csv").write_text("day,value\n2020-01-02,1\n2020-01-03,2\n")
    with pytest.raises(BacktestError, match=r"not-a-run \(equity\.csv unreadable.*date,equity"):
        compare_results([good, empty], tmp_path / "cmp")
    with pytest.raises(BacktestError, match="at least one results folder"):
        compare_results([], tmp_path / "cmp")


def test_compare_output_is_byte_identical_serial_or_parallel(three_runs, tmp_path, monkeypatch):
    folders = [f for f, _, _ in three_runs]
    compare_results(folders, tmp_path / "parallel")  # charts shared between processes
    from engine.report import render

    monkeypatch.setattr(render, "can_fork", lambda: False)  # one process
    compare_results(folders, tmp_path / "serial")
    names = sorted(p.name for p in (tmp_path / "parallel").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "serial").iterdir())
    for name in names:
        assert (tmp_path / "parallel" / name).read_bytes() == \
            (tmp_path / "serial" / name).read_bytes(), name
