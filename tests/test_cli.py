"""End to end through the real command, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from engine.summary_table import END, START, summary_markdown

ROOT = Path(__file__).resolve().parent.parent


def backtest(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_rotation_run_writes_results_and_prints_a_summary(tmp_path):
    out = tmp_path / "rot"
    proc = backtest("configs/rotation.yaml", "--out", str(out), "--start", "2015-01-02")
    assert proc.returncode == 0, proc.stderr
    assert "CAGR (%)" in proc.stdout and "Sharpe" in proc.stdout and "SPY" in proc.stdout
    for name in ("metrics.json", "equity.csv", "weights.csv", "trades.csv", "manifest.json",
                 "report.html", "config.yaml"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    equity = pd.read_csv(out / "equity.csv", parse_dates=["date"])
    assert metrics["start"] == "2015-01-02" and equity["date"].iloc[0] == pd.Timestamp("2015-01-02")
    np.testing.assert_allclose(metrics["metrics"]["final_value"], equity["equity"].iloc[-1],
                               rtol=1e-9)
    trades = pd.read_csv(out / "trades.csv")
    assert list(trades.columns) == ["date", "ticker", "units", "price", "notional", "cost"]
    assert (trades["cost"] > 0).all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["config_hash"]) == 64 and "IWM" in manifest["data_files"]
    assert not list(tmp_path.glob(".rot*"))  # no temporary folder left behind


def test_validate_and_audit_commands():
    proc = backtest("validate", "configs/rate_cycle.yaml")
    assert proc.returncode == 0 and "ok" in proc.stdout
    proc = backtest("audit", "configs/reconstitution.yaml")
    assert proc.returncode == 0 and "no look-ahead" in proc.stdout


def test_user_errors_exit_2_with_one_line():
    proc = backtest("validate", "configs/does_not_exist.yaml")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "not found" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_readme_results_table_is_produced_by_the_code():
    readme = (ROOT / "README.md").read_text()
    table = readme.split(START, 1)[1].split(END, 1)[0].strip()
    assert table == summary_markdown()
