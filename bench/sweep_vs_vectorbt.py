"""The rotation sweep through our engine and through vectorbt, on the same work, side by side.

The IWM/SPY ratio-vs-SMA rotation (``configs/rotation.yaml``, 5 bps fees, no slippage, no cash
interest) on the full bundled history, swept over window x band x min_hold, at 1,000 and 10,000
combos (grids in ``bench/_common.py``).

* Ours: the product path of ``backtest sweep`` up to the metrics table (engine chunks -> fused
  kernel -> 17 metrics per combo, checkpoints included, no report), signals included; timed in
  this process, median of ``--repeat`` runs after a warm-up run.
* vectorbt: ``Portfolio.from_orders(size_type="targetpercent", cash_sharing=True,
  call_seq="auto", direction="longonly", group_by=combo)`` on the orders our strategy produces
  for the same combos (the target decided at close t-1 ordered at close t, only on the bars
  where it changes), all combos as one call (one group of 2 columns per combo), then its final
  values and Sharpe ratios. Its inputs (the tiled close and order matrices) are built outside
  the timing. At sizes up to ``--vbt-inproc`` it is timed here like ours (median of
  ``--vbt-repeat`` after a warm-up); above, once, in a separate process (about 90 s and 14 GB
  at 10,000 combos), after a warm-up call on a few combos.
* Final values must agree to 1e-9 relative (and Sharpe ratios, annualised over 252 days, to
  1e-9 relative or 1e-12 absolute) for every combo, or the script exits 1.
* Peak memory: the high-water resident memory (VmHWM) of a separate process per engine and
  size (imports, data and inputs included), so the numbers do not pollute each other.

    python bench/sweep_vs_vectorbt.py                      # 1,000 and 10,000 combos (~3-4 min)
    python bench/sweep_vs_vectorbt.py --sizes 1000 --vbt-big skip   # quick look (~1 min)
    python bench/sweep_vs_vectorbt.py --json bench/last_sweep_vs_vectorbt.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

RTOL = 1e-9
SHARPE_ATOL = 1e-12
TARGET_RATIO = 100.0  # vectorbt time / ours, at 10,000 combos
TARGET_RATE = 1.5e8  # combo-days per second
TARGET_WALL_10K = 0.45  # seconds for 10,000 combos
TARGET_MB_10K = 500.0


# --------------------------------------------------------------------------- vectorbt side
def vbt_inputs(job: c.SweepJob, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tiled close (T_run, A * C) and target-percent orders (NaN = no order) of combos ``idx``.

    The weights come from the strategy's own single-run code (``Rotation.weights``), not from
    the sweep kernel, so the comparison also checks that the two agree.
    """
    prep, grid = job.prep, job.grid
    start = prep.data.start_index
    close = prep.data.close[start:]
    n_run, n_assets = close.shape
    size = np.full((n_run, n_assets * idx.size), np.nan)
    zeros = np.zeros((1, n_assets))
    for j, combo in enumerate(idx):
        params = prep.strategy.Params.model_validate(grid.params_dict(int(combo)))
        w = prep.strategy.weights(prep.data, params)
        executed = np.vstack([zeros, w])[start:-1]  # decided at close t-1, ordered at close t
        before = np.vstack([zeros, executed[:-1]])  # what was held before: cash at the start
        changed = (executed != before).any(axis=1)
        size[changed, j * n_assets:(j + 1) * n_assets] = executed[changed]
    return np.ascontiguousarray(np.tile(close, (1, idx.size))), size


def vbt_run(close: np.ndarray, size: np.ndarray, n_assets: int, init_cash: float,
            cost: float) -> tuple[np.ndarray, np.ndarray]:
    """vectorbt's simulation + final values + Sharpe ratios, all combos in one call."""
    import vectorbt as vbt

    vbt.settings.returns["year_freq"] = "252 days"  # our annualisation
    n_combos = size.shape[1] // n_assets
    pf = vbt.Portfolio.from_orders(
        close, size, size_type="targetpercent", fees=cost, fixed_fees=0.0, cash_sharing=True,
        group_by=np.repeat(np.arange(n_combos), n_assets), call_seq="auto",
        init_cash=init_cash, direction="longonly", freq="1D")
    final = np.asarray(pf.final_value(), dtype=np.float64)
    sharpe = np.asarray(pf.sharpe_ratio(), dtype=np.float64)
    return final, sharpe


def vbt_args(job: c.SweepJob) -> tuple[int, float, float]:
    p = job.cfg.portfolio
    return job.prep.data.close.shape[1], float(p.initial_cash), (p.fees_bps + p.slippage_bps) / 1e4


def vbt_warm_up(job: c.SweepJob) -> None:
    """One small call: loads (or, on a fresh machine, compiles: ~50 s) vectorbt's kernels."""
    close, size = vbt_inputs(job, np.arange(min(4, job.grid.n)))
    vbt_run(close, size, *vbt_args(job))


# --------------------------------------------------------------------------- children
def child(args) -> None:
    """One engine at one size in a fresh process: peak memory (and, for vectorbt above
    --vbt-inproc, the one timed run)."""
    rss0 = c.rss_mb()
    job = c.SweepJob(args.combos)
    out = {"engine": args.child, "combos": job.grid.n, "n_days": job.n_days,
           "rss_start_mb": rss0}
    if args.child == "ours":
        out["rss_before_mb"] = c.rss_mb()
        with c.Measure() as m:
            table, columns = job.table()
        out["final"] = None
    else:
        vbt_warm_up(job)
        close, size = vbt_inputs(job, np.arange(job.grid.n))
        out["rss_before_mb"] = c.rss_mb()
        with c.Measure() as m:
            final, sharpe = vbt_run(close, size, *vbt_args(job))
        if args.save:
            np.save(Path(args.save) / "final.npy", final)
            np.save(Path(args.save) / "sharpe.npy", sharpe)
    out.update(wall_s=m.timing.wall_s, cpu_s=m.timing.cpu_s,
               foreign_cpu_s=m.timing.foreign_cpu_s, load_before=m.timing.load_before,
               peak_rss_mb=c.peak_rss_mb())
    c.emit(out)


def run_child_measure(engine: str, n: int, save: str | None = None) -> dict:
    argv = [__file__, "--child", engine, "--combos", str(n)]
    if save:
        argv += ["--save", save]
    return c.run_child(argv)


# --------------------------------------------------------------------------- comparison
def check_agreement(n: int, ours_final, ours_sharpe, vbt_final, vbt_sharpe) -> dict:
    rel = np.abs(ours_final / vbt_final - 1.0)
    s_diff = np.abs(ours_sharpe - vbt_sharpe)
    s_ok = (s_diff <= np.maximum(RTOL * np.abs(vbt_sharpe), SHARPE_ATOL)) | (
        np.isnan(ours_sharpe) & np.isnan(vbt_sharpe))
    res = {"combos": n, "final_max_rel": float(np.nanmax(rel)),
           "final_ok": bool(np.all(rel <= RTOL)),
           "sharpe_max_abs": float(np.nanmax(s_diff)), "sharpe_ok": bool(np.all(s_ok))}
    print(f"  agreement at {n:,} combos: final values max rel diff {res['final_max_rel']:.1e} "
          f"({'ok' if res['final_ok'] else 'FAIL'} <= {RTOL:g}), Sharpe max abs diff "
          f"{res['sharpe_max_abs']:.1e} ({'ok' if res['sharpe_ok'] else 'FAIL'})")
    return res


def time_ours(job: c.SweepJob, repeat: int) -> tuple[list[c.Timing], np.ndarray, list[str]]:
    job.table()  # warm-up: loads the cached kernels (or compiles them)
    timings = []
    for _ in range(repeat):
        with c.Measure() as m:
            table, columns = job.table()
        timings.append(m.timing)
    return timings, table, columns


def summarize(timings: list[c.Timing], n: int, n_days: int) -> dict:
    walls = [t.wall_s for t in timings]
    med = statistics.median(walls)
    return {"runs": len(walls), "wall_median_s": med, "wall_min_s": min(walls),
            "wall_max_s": max(walls), "cpu_median_s": statistics.median(t.cpu_s for t in timings),
            "combo_days_per_s": n * n_days / med,
            "foreign_cpu_s_max": max(t.foreign_cpu_s for t in timings),
            "load_before_max": max(t.load_before for t in timings)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000",
                    help="combos, comma-separated (1000, 10000, 100000, 1000000 or any <= 7940)")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of ours per size")
    ap.add_argument("--vbt-repeat", type=int, default=5, help="timed vectorbt runs in-process")
    ap.add_argument("--vbt-inproc", type=int, default=1000,
                    help="largest size timed in-process for vectorbt (larger: once, in a child)")
    ap.add_argument("--vbt-big", choices=["child", "skip"], default="child",
                    help="sizes above --vbt-inproc: one run in a child process, or skip")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory children")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--child", choices=["ours", "vbt"], help=argparse.SUPPRESS)
    ap.add_argument("--combos", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--save", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    info = c.machine()
    c.print_machine(info)
    sizes = [int(s) for s in args.sizes.split(",")]
    results, failed = {"machine": info, "sizes": {}}, False
    for n in sizes:
        print(f"\n== {n:,} combos ==", flush=True)
        job = c.SweepJob(n)
        res = {"combos": job.grid.n, "n_days": job.n_days, "setup": job.setup_s}
        timings, table, columns = time_ours(job, args.repeat)
        ours = summarize(timings, job.grid.n, job.n_days)
        res["ours"] = ours
        print(f"  ours: median {ours['wall_median_s']:.3f} s of {ours['runs']} (min "
              f"{ours['wall_min_s']:.3f}), {c.fmt_rate(ours['combo_days_per_s'])} combo-days/s; "
              f"other CPU during runs <= {ours['foreign_cpu_s_max']:.2f} s", flush=True)
        o_final = table[columns.index("final_value")]
        o_sharpe = table[columns.index("sharpe")]

        vbt_res = None
        if n <= args.vbt_inproc:
            vbt_warm_up(job)
            close, size = vbt_inputs(job, np.arange(job.grid.n))
            vt = []
            for _ in range(args.vbt_repeat):
                with c.Measure() as m:
                    v_final, v_sharpe = vbt_run(close, size, *vbt_args(job))
                vt.append(m.timing)
            del close, size
            vbt_res = summarize(vt, job.grid.n, job.n_days)
        elif args.vbt_big == "child":
            with tempfile.TemporaryDirectory(prefix="bench-vbt-") as tmp:
                ch = run_child_measure("vbt", n, tmp)
                v_final = np.load(Path(tmp) / "final.npy")
                v_sharpe = np.load(Path(tmp) / "sharpe.npy")
            t = c.Timing(ch["wall_s"], ch["cpu_s"], ch["foreign_cpu_s"], ch["load_before"])
            vbt_res = summarize([t], job.grid.n, job.n_days)
            vbt_res["peak_rss_mb"] = ch["peak_rss_mb"]
            vbt_res["note"] = "one run in a separate process"
        if vbt_res is not None:
            res["vectorbt"] = vbt_res
            print(f"  vectorbt: median {vbt_res['wall_median_s']:.2f} s of {vbt_res['runs']}, "
                  f"{c.fmt_rate(vbt_res['combo_days_per_s'])} combo-days/s; other CPU <= "
                  f"{vbt_res['foreign_cpu_s_max']:.2f} s", flush=True)
            res["agreement"] = check_agreement(job.grid.n, o_final, o_sharpe, v_final, v_sharpe)
            failed |= not (res["agreement"]["final_ok"] and res["agreement"]["sharpe_ok"])
            res["speedup"] = vbt_res["wall_median_s"] / ours["wall_median_s"]
        del job, table
        if not args.no_memory:
            res["ours"]["peak_rss_mb"] = run_child_measure("ours", n)["peak_rss_mb"]
            if vbt_res is not None and "peak_rss_mb" not in vbt_res:
                vbt_res["peak_rss_mb"] = run_child_measure("vbt", n)["peak_rss_mb"]
        results["sizes"][n] = res

    print_table(results)
    check_targets(results)
    c.write_json(args.json, results)
    if failed:
        sys.exit("results disagree with vectorbt beyond 1e-9")


def print_table(results: dict) -> None:
    print("\n| combos | engine | wall (median) | runs | combo-days/s | peak RSS | other CPU |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for n, r in results["sizes"].items():
        for name, key in (("ours", "ours"), ("vectorbt", "vectorbt")):
            if key not in r:
                continue
            x = r[key]
            mem = f"{x['peak_rss_mb']:,.0f} MB" if "peak_rss_mb" in x else "n/a"
            print(f"| {n:,} | {name} | {x['wall_median_s']:.3f} s | {x['runs']} | "
                  f"{c.fmt_rate(x['combo_days_per_s'])} | {mem} | "
                  f"{x['foreign_cpu_s_max']:.2f} s |")
        if "speedup" in r:
            mem = ""
            if "peak_rss_mb" in r["ours"] and "peak_rss_mb" in r.get("vectorbt", {}):
                mem = f"{r['vectorbt']['peak_rss_mb'] / r['ours']['peak_rss_mb']:.1f}x"
            print(f"| {n:,} | **vectorbt / ours** | **{r['speedup']:.0f}x** |  |  | {mem} |  |")
    days = next(iter(results["sizes"].values()))["n_days"]
    print(f"\n{days:,} days simulated per combo; 'other CPU' = CPU seconds other processes used "
          "during the timed run (max over runs).")


def check_targets(results: dict) -> None:
    r = results["sizes"].get(10_000)
    if r is None:
        return
    checks = [("sweep 10,000 combos under 0.45 s", r["ours"]["wall_median_s"] < TARGET_WALL_10K,
               f"{r['ours']['wall_median_s']:.3f} s"),
              ("at least 1.5e8 combo-days/s", r["ours"]["combo_days_per_s"] >= TARGET_RATE,
               c.fmt_rate(r["ours"]["combo_days_per_s"]))]
    if "speedup" in r:
        checks.append(("at least 100x vectorbt", r["speedup"] >= TARGET_RATIO,
                       f"{r['speedup']:.0f}x"))
    if "peak_rss_mb" in r["ours"]:
        checks.append(("peak memory under 500 MB", r["ours"]["peak_rss_mb"] < TARGET_MB_10K,
                       f"{r['ours']['peak_rss_mb']:.0f} MB"))
    print("\ntargets at 10,000 combos:")
    for text, ok, value in checks:
        print(f"  {'met ' if ok else 'MISSED'} {text}: {value}")
    results["targets_10k"] = {t: {"met": ok, "value": v} for t, ok, v in checks}


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
