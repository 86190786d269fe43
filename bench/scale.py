"""Sweeps at scale: wall time, throughput and peak memory at 100,000 and 1,000,000 combos, and
throughput by number of threads.

The benchmark sweep of ``bench/_common.py`` (IWM/SPY rotation, window x band x min_hold, full
bundled history, 5 bps fees) through the product path of ``backtest sweep`` up to the metrics
table. Every (size, threads) point runs in its own process with ``NUMBA_NUM_THREADS`` set, after
a small warm-up sweep that loads the cached kernels; peak memory is that process's high-water
resident memory (VmHWM), imports and data included. Setup (loading the data, expanding and
validating the grid) is timed apart from the sweep itself.

    python bench/scale.py                                   # 100,000 combos + threads (~2 min)
    python bench/scale.py --sizes 100000,1000000            # adds 1,000,000 (minutes)
    python bench/scale.py --threads 1,2,4,8,16 --thread-combos 100000   # a bigger machine
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

TARGET_MB_1M = 2048.0
N_METRICS = 17


def default_threads() -> str:
    n = os.cpu_count() or 1
    out, k = [], 1
    while k <= n:
        out.append(k)
        k *= 2
    if out[-1] != n:
        out.append(n)
    return ",".join(map(str, out))


def child(args) -> None:
    warm = c.SweepJob(20)
    warm.table()  # loads the cached kernels (compiles them on a fresh cache)
    del warm
    job = c.SweepJob(args.combos)
    rss_before = c.rss_mb()
    timings = []
    for _ in range(args.repeat):
        with c.Measure() as m:
            table, _ = job.table()
        timings.append(m.timing)
        del table
    walls = [t.wall_s for t in timings]
    c.emit({"combos": job.grid.n, "n_days": job.n_days, "threads": _threads(),
            "setup": job.setup_s, "walls": walls, "wall_median_s": statistics.median(walls),
            "cpu_median_s": statistics.median(t.cpu_s for t in timings),
            "foreign_cpu_s_max": max(t.foreign_cpu_s for t in timings),
            "load_before_max": max(t.load_before for t in timings),
            "rss_before_mb": rss_before, "peak_rss_mb": c.peak_rss_mb(),
            "table_mb": job.grid.n * N_METRICS * 8 / 2**20})


def _threads() -> int:
    import numba

    return numba.get_num_threads()


def point(n: int, threads: int | None, repeat: int) -> dict:
    env = {"NUMBA_NUM_THREADS": str(threads)} if threads else {}
    r = c.run_child([__file__, "--child", "--combos", str(n), "--repeat", str(repeat)], env)
    r["combo_days_per_s"] = r["combos"] * r["n_days"] / r["wall_median_s"]
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000",
                    help="combos, comma-separated (1000, 10000, 100000, 1000000 or any <= 7940)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per point (median)")
    ap.add_argument("--big-repeat", type=int, default=1,
                    help="timed runs at sizes of 1,000,000 and more")
    ap.add_argument("--threads", default=default_threads(),
                    help="NUMBA_NUM_THREADS values for the scaling runs (default: powers of two "
                         "up to the core count, and the core count)")
    ap.add_argument("--thread-combos", type=int,
                    default=10_000 if (os.cpu_count() or 1) <= 4 else 100_000,
                    help="combos of the thread-scaling runs (default 10,000; 100,000 on more "
                         "than 4 cores, so that the many-thread runs last long enough to time)")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--combos", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    info = c.machine()
    c.print_machine(info)
    out = {"machine": info, "sizes": {}, "threads": {}}
    print("\n| combos | threads | setup (data + grid) | sweep wall | combo-days/s | peak RSS "
          "| peak - table | other CPU |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in [int(s) for s in args.sizes.split(",")]:
        r = point(n, None, args.big_repeat if n >= 1_000_000 else args.repeat)
        out["sizes"][n] = r
        setup = r["setup"]["load_data_s"] + r["setup"]["build_grid_s"]
        print(f"| {n:,} | {r['threads']} | {setup:.2f} s | {r['wall_median_s']:.2f} s "
              f"(median of {len(r['walls'])}) | {c.fmt_rate(r['combo_days_per_s'])} | "
              f"{r['peak_rss_mb']:,.0f} MB | {r['peak_rss_mb'] - r['table_mb']:,.0f} MB | "
              f"{r['foreign_cpu_s_max']:.2f} s |", flush=True)

    print(f"\nthroughput by threads ({args.thread_combos:,} combos):\n")
    print("| NUMBA_NUM_THREADS | sweep wall | combo-days/s | speed-up vs 1 | CPU s | other CPU |")
    print("|---:|---:|---:|---:|---:|---:|")
    base = None
    for k in [int(s) for s in args.threads.split(",")]:
        r = point(args.thread_combos, k, args.repeat)
        out["threads"][k] = r
        if k == 1:
            base = r["combo_days_per_s"]
        up = f"{r['combo_days_per_s'] / base:.2f}x" if base else "n/a"
        print(f"| {k} | {r['wall_median_s']:.3f} s | {c.fmt_rate(r['combo_days_per_s'])} | {up} | "
              f"{r['cpu_median_s']:.2f} | {r['foreign_cpu_s_max']:.2f} s |", flush=True)

    big = out["sizes"].get(1_000_000)
    if big is not None:
        ok = big["peak_rss_mb"] < TARGET_MB_1M
        print(f"\ntarget: peak memory under 2 GB at 1,000,000 combos: "
              f"{'met' if ok else 'MISSED'} ({big['peak_rss_mb']:,.0f} MB, of which the metrics "
              f"table {big['table_mb']:,.0f} MB)")
    c.write_json(args.json, out)


if __name__ == "__main__":
    main()
