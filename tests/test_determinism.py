"""The same config and data give byte-identical results, run after run.

Two runs in separate processes (different ``PYTHONHASHSEED``, so set and dict-of-str ordering
differs) must write the same bytes to every results file; in ``manifest.json`` only
``wall_time_s`` may differ. Same for a sweep's ``sweep.parquet`` and its other tables (its
``sweep.json`` run record may differ in ``wall_time_s`` and ``finished``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SWEEP_CONFIG = ROOT / "configs" / "rotation_sweep_small.yaml"
HAS_SWEEP = importlib.util.find_spec("engine.sweep") is not None and SWEEP_CONFIG.is_file()
# Not part of the contract: charts (matplotlib metadata) and human summaries, which may state
# how long the work took (sweep_summary.md: seconds, combos/s).
BINARY_CHARTS = (".png", ".html", ".md")
# run records: when and how long, allowed to differ (sweep.json repeats the manifest's timing)
VOLATILE = {"manifest.json": ("wall_time_s",), "sweep.json": ("wall_time_s", "finished")}

pytestmark = pytest.mark.slow


def backtest(args: list[str], cwd: Path, hash_seed: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": hash_seed}
    proc = subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr


def twice(args: list[str], target: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Run the same command twice into the same target (so the manifests' commands agree);
    returns the first run's copy and the second run's folder."""
    backtest(args, tmp_path, "1")
    first = tmp_path / "first"
    shutil.copytree(target, first)
    backtest(args, tmp_path, "2")
    return first, target


def assert_same_files(first: Path, second: Path, skip_suffixes=BINARY_CHARTS) -> list[str]:
    names = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(second).as_posix()
                           for p in second.rglob("*") if p.is_file())
    compared = []
    for name in names:
        if name.endswith(skip_suffixes):
            continue
        a, b = (first / name).read_bytes(), (second / name).read_bytes()
        volatile = VOLATILE.get(Path(name).name)
        if volatile:
            a, b = (_without(x, volatile) for x in (a, b))
        assert a == b, f"{name} differs between two runs of the same config"
        compared.append(name)
    return compared


def _without(raw: bytes, keys: tuple[str, ...]) -> dict:
    doc = json.loads(raw)
    for key in keys:
        doc.pop(key, None)
    return doc


def test_run_results_are_byte_identical(tmp_path):
    cfg = yaml.safe_load((ROOT / "configs" / "rotation.yaml").read_text())
    cfg["report"] = {"html": False}
    config = tmp_path / "rotation.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    target = tmp_path / "res"
    first, second = twice(["run", str(config), "--out", str(target)], target, tmp_path)
    compared = assert_same_files(first, second)
    assert {"metrics.json", "equity.csv", "trades.csv", "weights.csv",
            "manifest.json"} <= set(compared)


@pytest.mark.skipif(not HAS_SWEEP, reason="engine.sweep or configs/rotation_sweep_small.yaml "
                                          "not there yet")
def test_sweep_results_are_byte_identical(tmp_path):
    target = tmp_path / "sweep"
    args = ["sweep", str(SWEEP_CONFIG), "--out", str(target), "--no-progress"]
    first, second = twice(args, target, tmp_path)
    compared = assert_same_files(first, second)
    assert "sweep.parquet" in compared
