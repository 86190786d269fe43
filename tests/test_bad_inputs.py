"""The bad-input corpus (tests/bad_inputs/cases.yaml) through the real CLI, in subprocesses.

Contract for every case: exit code 2; exactly one non-empty line on stderr that contains the
case's fragment (what is wrong and where); no traceback; nothing on stdout; no file created,
changed or removed in the scratch folder (the command's cwd) or the data folder; and the
previous results of the run, made once per session by a good run, byte-identical afterwards.

The cases run two at a time in a thread pool (each CLI call spends about a second importing);
the per-case tests then only look at the recorded outcomes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import random
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "bad_inputs"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text())["cases"]
DEFAULT_ARGS = ["run", "{config}", "--out", "{prev}"]
TEMPLATE = {"prices/IWM.csv": ("2019-01-01", "2019-12-31"),
            "prices/SPY.csv": ("2019-01-01", "2019-12-31"),
            "macro/FEDFUNDS.csv": ("2018-01-01", "2019-12-31")}

pytestmark = pytest.mark.slow


# ----------------------------------------------------------------------------- helpers
def backtest(args: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("BACKTEST_DEBUG", "BACKTEST_FRED_URL")}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT),
                                                           os.environ.get("PYTHONPATH")]))
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=180)


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 (files) or 'dir' (folders), hidden entries included."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def make_template(folder: Path) -> None:
    """Two small price files and one macro series cut from the bundled data."""
    for rel, (first, last) in TEMPLATE.items():
        lines = (ROOT / "data" / rel).read_text().splitlines()
        body = [line for line in lines[1:] if first <= line[:10] <= last]
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text("\n".join([lines[0], *body]) + "\n")


def corrupt(folder: Path, edit: dict) -> None:
    path = folder / edit["file"]
    if edit.get("delete"):
        path.unlink()
    elif "garbage" in edit:
        path.write_bytes(random.Random(edit["garbage"]).randbytes(edit["garbage"]))
    elif "line" in edit:
        lines = path.read_text().splitlines()
        lines[edit["line"] - 1] = edit["text"]
        path.write_text("\n".join(lines) + "\n")
    elif "swap" in edit:
        lines = path.read_text().splitlines()
        n = edit["swap"] - 1
        lines[n], lines[n + 1] = lines[n + 1], lines[n]
        path.write_text("\n".join(lines) + "\n")
    else:
        path.write_text(edit["text"])


def fill(arg: str, places: dict[str, str]) -> str:
    for key, value in places.items():
        arg = arg.replace("{" + key + "}", value)
    return arg


@dataclass
class Outcome:
    proc: subprocess.CompletedProcess
    args: list[str]
    scratch_changed: list[str]
    data_changed: list[str]


def _diff(before: dict, after: dict) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def run_case(case: dict, root: Path, template: Path, prev: Path) -> Outcome:
    scratch = root / case["id"] / "cwd"
    data = root / case["id"] / "data"
    scratch.mkdir(parents=True)
    shutil.copytree(template, data)
    edits = case.get("corrupt", [])
    for edit in edits if isinstance(edits, list) else [edits]:
        corrupt(data, edit)
    for rel, text in case.get("files", {}).items():
        (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
        (scratch / rel).write_text(text)
    if case.get("readonly"):
        (scratch / case["readonly"]).mkdir()
        (scratch / case["readonly"]).chmod(0o555)
    places = {"dir": str(CORPUS), "prev": str(prev), "data": str(data), "tmp": str(scratch),
              "config": str(CORPUS / case.get("config", "data_run.yaml"))}
    if "corrupt" in case and "args" not in case:
        args = ["run", "{config}", "--data-dir", "{data}", "--out", "{prev}"]
    else:
        args = case.get("args", DEFAULT_ARGS)
    args = [fill(str(a), places) for a in args]
    env = {k: fill(str(v), places) for k, v in case.get("env", {}).items()}
    scratch_before, data_before = snapshot(scratch), snapshot(data)
    proc = backtest(args, scratch, env)
    outcome = Outcome(proc, args, _diff(scratch_before, snapshot(scratch)),
                      _diff(data_before, snapshot(data)))
    if case.get("readonly"):
        (scratch / case["readonly"]).chmod(0o755)
    return outcome


def _skip_reason(case: dict) -> str | None:
    if case.get("unless_root") and hasattr(os, "geteuid") and os.geteuid() == 0:
        return "root can write into read-only folders"
    module = case.get("unless_module")
    if module and importlib.util.find_spec(module) is not None:
        return f"{module} is installed (the case would use the network)"
    return None


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def corpus_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bad_inputs")


@pytest.fixture(scope="session")
def previous_results(corpus_root) -> tuple[Path, dict[str, str]]:
    """A good run's results folder (the 'previous results' every case must leave alone)."""
    prev = corpus_root / "previous" / "corpus"
    proc = backtest(["run", str(CORPUS / "data_run.yaml"), "--out", str(prev)], corpus_root)
    assert proc.returncode == 0, proc.stderr
    assert (prev / "metrics.json").is_file() and (prev / "equity.csv").is_file()
    return prev, snapshot(prev.parent)


@pytest.fixture(scope="session")
def outcomes(request, corpus_root, previous_results) -> dict[str, Outcome]:
    """Run every selected case, two at a time; id -> outcome."""
    selected = {item.callspec.params["case"]["id"] for item in request.session.items
                if item.originalname == "test_bad_input" and hasattr(item, "callspec")}
    cases = [c for c in CASES if c["id"] in selected and not _skip_reason(c)]
    template = corpus_root / "template"
    make_template(template)
    prev = previous_results[0]
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = pool.map(lambda c: (c["id"], run_case(c, corpus_root, template, prev)), cases)
        return dict(done)


# ----------------------------------------------------------------------------- tests
def test_corpus_is_well_formed():
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    assert len(ids) >= 30
    for case in CASES:
        assert case.get("expect"), case["id"]
        if "config" in case:
            assert (CORPUS / case["config"]).is_file(), case["id"]
    used = {c["config"] for c in CASES if "config" in c} | {"data_run.yaml"}
    unused = {p.name for p in CORPUS.glob("*.yaml")} - used - {"cases.yaml"}
    assert not unused, f"corpus files no case uses: {sorted(unused)}"


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input(case, outcomes, previous_results):
    reason = _skip_reason(case)
    if reason:
        pytest.skip(reason)
    out = outcomes[case["id"]]
    proc = out.proc
    shown = f"args={out.args}\nstdout={proc.stdout!r}\nstderr={proc.stderr!r}"
    assert proc.returncode == 2, shown
    assert "Traceback" not in proc.stderr + proc.stdout, shown
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("backtest: error: ") and lines[0][17:], shown
    assert case["expect"] in lines[0], shown
    assert proc.stdout == "", shown
    assert not out.scratch_changed, f"files written or changed: {out.scratch_changed}\n{shown}"
    assert not out.data_changed, f"data files changed: {out.data_changed}\n{shown}"
    prev, before = previous_results
    assert snapshot(prev.parent) == before, f"previous results changed\n{shown}"
