"""End-to-end latency of `backtest configs/rotation.yaml`, report included: cold and warm.

Cold: an empty numba cache (NUMBA_CACHE_DIR pointed at a fresh folder), so every kernel the run
uses is compiled. Warm: the same command again with that cache. Each is a fresh process, as a
user runs it. Prints the median of --repeat runs.

    python bench/cli_latency.py [--repeat 3] [--config configs/rotation.yaml]
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

ROOT = Path(__file__).resolve().parent.parent


def timed_run(config: str, out: Path, cache: Path) -> float:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "engine.cli", config, "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"run failed: {proc.stderr.strip()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/rotation.yaml")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cold, warm = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            cache, out = Path(tmp) / "numba", Path(tmp) / "out"
            cold.append(timed_run(args.config, out, cache))
            warm.append(timed_run(args.config, out, cache))
    print(f"backtest {args.config} (report included), {os.cpu_count()} cores, "
          f"median of {args.repeat}:")
    print(f"  cold (empty numba cache): {statistics.median(cold):6.2f} s   target < 30 s")
    print(f"  warm (cached kernels):    {statistics.median(warm):6.2f} s   target < 3 s")


if __name__ == "__main__":
    main()
