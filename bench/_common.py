"""Shared pieces of the benchmark scripts: the benchmark sweep, the product path, measuring.

The benchmark is the IWM/SPY rotation of ``configs/rotation.yaml`` (ratio vs its SMA, hysteresis
band, minimum hold) on the full bundled history, with 5 bps fees, no slippage and no interest on
cash (vectorbt pays none), swept over window x band x min_hold. Our side runs the same code path
as ``backtest sweep`` up to the metrics table (grid -> engine chunks -> fused kernel -> metrics,
checkpoints included), without the report; see :func:`sweep_table`.

Measuring: wall time with ``time.perf_counter``; the CPU time the rest of the machine used
meanwhile (``/proc/stat`` busy time minus this process's own), because other processes may share
the cores; peak memory as the high-water mark (VmHWM) of a process that ran only that configuration.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "rotation.yaml"
FEES_BPS = 5.0

# window x band x min_hold grids, by number of combos (all without constraints)
GRIDS: dict[int, dict] = {
    1_000: {"window": {"start": 20, "stop": 265, "step": 5},        # 50
            "band": {"start": 0.0, "stop": 2.0, "step": 0.5},       # 5
            "min_hold": [0, 5, 10, 20]},                            # 4
    10_000: {"window": {"start": 20, "stop": 515, "step": 5},       # 100
             "band": {"start": 0.0, "stop": 4.8, "step": 0.2},      # 25
             "min_hold": [0, 5, 10, 20]},                           # 4
    100_000: {"window": {"start": 20, "stop": 515, "step": 5},      # 100
              "band": {"start": 0.0, "stop": 4.95, "step": 0.05},   # 100
              "min_hold": list(range(10))},                         # 10
    1_000_000: {"window": {"start": 20, "stop": 1015, "step": 5},   # 200
                "band": {"start": 0.0, "stop": 4.95, "step": 0.05},  # 100
                "min_hold": list(range(50))},                        # 50
}


def grid_spec(n: int) -> dict:
    """The grid for ``n`` combos: one of :data:`GRIDS`, or the first ``n`` windows x 5 bands x
    4 holds rounded to a multiple of 20 (small sizes for warm-ups and thread scaling)."""
    if n in GRIDS:
        return GRIDS[n]
    windows = max(1, n // 20)
    if windows > 397:
        raise SystemExit(f"no grid for {n} combos; choose one of {sorted(GRIDS)} or <= 7940")
    return {"window": [20 + 5 * k for k in range(windows)],
            "band": {"start": 0.0, "stop": 2.0, "step": 0.5},
            "min_hold": [0, 5, 10, 20]}


def bench_config(fees_bps: float = FEES_BPS):
    """``configs/rotation.yaml`` with ``fees_bps`` fees, no slippage, no cash interest."""
    from engine.config import load_config

    cfg = load_config(CONFIG)
    portfolio = cfg.portfolio.model_copy(update={"fees_bps": fees_bps, "slippage_bps": 0.0,
                                                 "cash_rate": None})
    return cfg.model_copy(update={"portfolio": portfolio})


def sweep_config(n: int):
    from engine.sweep.config import SweepConfig

    return SweepConfig.model_validate({"grid": grid_spec(n), "objective": "sharpe"})


@dataclass
class SweepJob:
    """One benchmark sweep: the data loaded once, the grid built once, then timed runs."""

    n: int
    cfg: object = None
    sweep: object = None
    prep: object = None
    grid: object = None
    setup_s: dict = field(default_factory=dict)

    def __post_init__(self):
        from engine.run import prepare
        from engine.sweep.grid import build_grid

        self.cfg = bench_config()
        self.sweep = sweep_config(self.n)
        t0 = time.perf_counter()
        self.prep = prepare(self.cfg)
        t1 = time.perf_counter()
        self.grid = build_grid(self.prep.strategy, self.cfg, self.sweep)
        t2 = time.perf_counter()
        if self.grid.n != self.n and self.n in GRIDS:
            raise SystemExit(f"grid for {self.n} has {self.grid.n} combos")
        self.setup_s = {"load_data_s": t1 - t0, "build_grid_s": t2 - t1}

    @property
    def n_days(self) -> int:
        """Days simulated per combo (the run's days, after the indicators' warm-up history)."""
        return len(self.prep.data.dates) - self.prep.data.start_index

    def table(self):
        """The metrics table (metrics x combos) and its column names: the timed work."""
        return sweep_table(self.cfg, self.sweep, self.prep, self.grid)


def sweep_table(cfg, sweep, prep, grid):
    """What ``backtest sweep`` computes before it writes anything: engine, chunks, metrics.

    Mirrors ``engine.sweep.pipeline.run_sweep`` up to ``run_chunks`` (checkpoints written to a
    temporary folder, as a sweep writes them beside its results); selection and reports are left
    out. Returns (table (n_columns, n_combos), column names).
    """
    from engine.results import METRIC_KEYS
    from engine.sweep.analysis import column_names
    from engine.sweep.engines import make_engine
    from engine.sweep.executors import LocalExecutor
    from engine.sweep.runner import CheckpointStore, chunk_size, run_chunks
    from engine.sweep.windows import make_plan

    plan = make_plan(prep.data.dates, prep.data.start_index, sweep.validation)
    engine = make_engine(prep.strategy, prep.data, prep.inputs, grid, sweep.chunk_mb * 2**20)
    windows = plan.windows()
    size = chunk_size(grid.n, len(windows), sweep.chunk_size)
    metric = METRIC_KEYS.index(sweep.objective.metric)
    sign = 1.0 if sweep.objective.goal == "max" else -1.0
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        store = CheckpointStore(Path(tmp), "bench")
        run = run_chunks(engine, windows, len(plan.main), metric, sign, size, store, False,
                         LocalExecutor())
    return run.table, column_names(plan)


# --------------------------------------------------------------------------- measuring
def _busy_ticks() -> int:
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    return sum(v) - v[3] - v[4]  # all but idle and iowait


def _own_cpu() -> float:
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


@dataclass
class Timing:
    wall_s: float
    cpu_s: float  # this process (and waited-for children)
    foreign_cpu_s: float  # CPU time the rest of the machine used meanwhile
    load_before: float  # 1-minute load average before the run


# How long a measurement waits for the machine to be quiet (env BENCH_QUIET_WAIT, seconds;
# 0 = do not wait). Children inherit it through the environment.
QUIET = {"wait_s": float(os.environ.get("BENCH_QUIET_WAIT", "30"))}


def wait_quiet(max_wait_s: float | None = None, busy_below: float = 0.1) -> float:
    """Wait (up to ``max_wait_s``) until the other processes use under ``busy_below`` of the
    machine's CPUs over half a second; returns the seconds waited. Other engineers' test runs
    share these cores: a measurement taken while they run says little about the engine."""
    max_wait_s = QUIET["wait_s"] if max_wait_s is None else max_wait_s
    if max_wait_s <= 0:
        return 0.0
    started = time.perf_counter()
    n_cpus = os.cpu_count() or 1
    tick = os.sysconf("SC_CLK_TCK")
    while True:
        busy, cpu, t = _busy_ticks(), _own_cpu(), time.perf_counter()
        time.sleep(0.5)
        other = (_busy_ticks() - busy) / tick - (_own_cpu() - cpu)
        waited = time.perf_counter() - started
        if other / ((time.perf_counter() - t) * n_cpus) < busy_below or waited >= max_wait_s:
            return waited


class Measure:
    """``with Measure() as m: work()`` then ``m.timing`` (waits for a quiet machine first)."""

    def __enter__(self):
        self.waited = wait_quiet()
        self.load = os.getloadavg()[0]
        self.busy, self.cpu = _busy_ticks(), _own_cpu()
        self.t = time.perf_counter()
        return self

    def __exit__(self, *exc):
        wall = time.perf_counter() - self.t
        cpu = _own_cpu() - self.cpu
        busy = (_busy_ticks() - self.busy) / os.sysconf("SC_CLK_TCK")
        self.timing = Timing(wall, cpu, max(0.0, busy - cpu), self.load)
        return False


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far: VmHWM, the high-water mark of this
    program's own address space. (Not ``ru_maxrss``: after fork + exec it starts from the
    parent's peak, so a child of a big parent would report the parent's memory.)"""
    try:
        return _status_mb("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Resident memory now (VmRSS)."""
    try:
        return _status_mb("VmRSS")
    except OSError:
        return float("nan")


def run_child(argv: list[str], env: dict | None = None, timeout: float | None = None) -> dict:
    """Run ``python argv...`` in a fresh process; its last stdout line is a JSON object."""
    proc = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"child {' '.join(argv)} failed ({proc.returncode}):\n"
                         f"{proc.stderr.strip()[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def emit(obj: dict) -> None:
    """A child's result: one JSON line on stdout."""
    print(json.dumps(obj), flush=True)


# --------------------------------------------------------------------------- describing
def _git_head() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10)
        head = out.stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
        return head + (" (+ uncommitted changes)" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gb() -> float:
    try:
        with open("/proc/meminfo") as fh:
            return int(fh.readline().split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict:
    import engine

    return {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": _git_head(),
        "engine_from": str(Path(engine.__file__).resolve().parent.parent),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(_mem_total_gb(), 1),
        "python": platform.python_version(),
        **{pkg: _version(pkg) for pkg in ("numba", "numpy", "pandas", "vectorbt")},
        "numba_threads": os.environ.get("NUMBA_NUM_THREADS", f"default ({os.cpu_count()})"),
        "load_avg": os.getloadavg(),
    }


def print_machine(info: dict) -> None:
    print(f"{info['date']}  commit {info['commit']}")
    print(f"{info['cores']} cores, {info['cpu']}, {info['memory_gb']} GB; Python "
          f"{info['python']}, numba {info['numba']}, numpy {info['numpy']}, vectorbt "
          f"{info['vectorbt']}; NUMBA_NUM_THREADS {info['numba_threads']}")
    if info["engine_from"] != str(ROOT):
        print(f"engine imported from {info['engine_from']} (not this checkout)")
    la = info["load_avg"]
    print(f"load average before: {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} (other processes may "
          "share these cores: see 'other CPU' per measurement)")


def fmt_rate(x: float) -> str:
    return f"{x:.2e}"


def write_json(path: str | None, obj: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(obj, indent=2, default=str) + "\n")
        print(f"wrote {path}")
