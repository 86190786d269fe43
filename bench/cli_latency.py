"""End-to-end latency of `backtest configs/rotation.yaml`, report included: cold and warm.

Cold: an empty numba cache (NUMBA_CACHE_DIR pointed at a fresh folder), so every kernel the run
uses is compiled; the kernels it compiled are listed (from the cache's index files), to check
that nothing is compiled that the run does not use. Warm: the same command again with that
cache. Each is a fresh process running the `backtest` command as a user runs it (the console
script beside this Python, else `python -m engine.cli`); wall time and peak memory per run.
Prints the median of --repeat runs.

    python bench/cli_latency.py [--repeat 3] [--config configs/rotation.yaml] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

ROOT = c.ROOT
TARGET_COLD_S = 30.0
TARGET_WARM_S = 3.0


def command() -> list[str]:
    script = Path(sys.executable).parent / "backtest"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "engine.cli"]


def timed_run(config: str, out: Path, cache: Path) -> dict:
    """One `backtest CONFIG --out OUT` in a fresh process: wall, CPU, peak RSS, other CPU."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    c.wait_quiet()
    load = os.getloadavg()[0]
    busy = c._busy_ticks()
    started = time.perf_counter()
    proc = subprocess.Popen([*command(), config, "--out", str(out)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"run failed ({proc.returncode}): {stderr.strip() or stdout.strip()}")
    if not (out / "report.html").is_file():
        sys.exit(f"run wrote no report.html under {out}")
    cpu = usage.ru_utime + usage.ru_stime
    other = (c._busy_ticks() - busy) / os.sysconf("SC_CLK_TCK") - cpu
    # ru_maxrss of a waited child: its peak (or the parent's at fork, when larger: this
    # parent is small)
    return {"wall_s": elapsed, "cpu_s": cpu, "peak_rss_mb": usage.ru_maxrss / 1024,
            "foreign_cpu_s": max(0.0, other), "load_before": load}


def compiled(cache: Path) -> list[str]:
    """Functions with a compiled entry in the numba cache: 'module.function' (one per index)."""
    names = set()
    for index in cache.rglob("*.nbi"):
        stem = index.name.split("-")[0]  # e.g. kernels.simulate_combo
        names.add(f"{index.parent.name.rsplit('_', 1)[0]}/{stem}")
    return sorted(names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/rotation.yaml")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    info = c.machine()
    c.print_machine(info)
    cold, warm, kernels = [], [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
            cache, out = Path(tmp) / "numba", Path(tmp) / "out"
            cold.append(timed_run(args.config, out, cache))
            kernels = compiled(cache)
            warm.append(timed_run(args.config, out, cache))
    med = {k: statistics.median(r["wall_s"] for r in runs) for k, runs in
           (("cold", cold), ("warm", warm))}
    print(f"\n`{' '.join(Path(x).name for x in command())} {args.config}` (report included), "
          f"median of {args.repeat}:\n")
    print("| run | wall (median) | min | CPU s | peak RSS | other CPU (max) | target |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, runs, target in (("cold (empty numba cache)", cold, TARGET_COLD_S),
                               ("warm (cached kernels)", warm, TARGET_WARM_S)):
        key = name.split()[0]
        ok = med[key] < target
        print(f"| {name} | {med[key]:.2f} s | {min(r['wall_s'] for r in runs):.2f} s | "
              f"{statistics.median(r['cpu_s'] for r in runs):.2f} | "
              f"{statistics.median(r['peak_rss_mb'] for r in runs):,.0f} MB | "
              f"{max(r['foreign_cpu_s'] for r in runs):.2f} s | < {target:g} s: "
              f"{'met' if ok else 'MISSED'} |")
    print(f"\nkernels compiled by the cold run ({len(kernels)}): {', '.join(kernels)}")
    c.write_json(args.json, {"machine": info, "config": args.config, "cold": cold,
                             "warm": warm, "median_s": med, "compiled": kernels})


if __name__ == "__main__":
    main()
