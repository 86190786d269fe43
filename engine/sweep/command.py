"""``backtest sweep CONFIG [--out DIR] [--check] [--resume] [--executor dask ...]``.

Prints the combo count before running, a progress bar on stderr (a terminal only, not with
``--no-progress``), then the best set, the overfitting statistics and the results folder.
With ``--check`` a missed ``sweep.ci`` threshold raises :class:`CheckFailed` (exit 3, one line)
after the results are written, so that CI can still upload them.
"""

from __future__ import annotations

from engine.errors import BacktestError, CheckFailed
from engine.sweep.config import load_sweep_config, parse_sweep
from engine.sweep.executors import make_executor
from engine.sweep.pipeline import SweepOutcome, run_sweep


def _fmt(value: float | None, fmt: str = "{:.3f}") -> str:
    return "n/a" if value is None or value != value else fmt.format(value)


def _report_lines(o: SweepOutcome) -> list[str]:
    sel, ov = o.selection, o.selection.overfit
    is_obj = sel.is_metrics[o.sweep.objective.metric]
    lines = [f"best set: {o.grid.label(sel.best)}  ({o.objective_column} {_fmt(is_obj)})"]
    if sel.oos_metrics is not None:
        m = sel.oos_metrics
        what = {"holdout": "out-of-sample (best set)",
                "walk_forward": "walk-forward out-of-sample (stitched)"}[o.plan.kind]
        lines.append(f"{what}: Sharpe {_fmt(m['sharpe'])}, CAGR "
                     f"{_fmt(m['cagr_pct'], '{:.2f}')} %, max drawdown "
                     f"{_fmt(m['max_drawdown_pct'], '{:.1f}')} %")
    pbo = ov.pbo.pbo if ov.pbo is not None else None
    lines.append(f"deflated Sharpe ratio {_fmt(ov.dsr)}; PBO {_fmt(pbo)} "
                 f"(CSCV over {ov.n_curves:,} combos)")
    for c in sel.checks:
        lines.append(f"ci {'pass' if c.passed else 'FAIL'}: {c.text}")
    rate = o.grid.n / o.wall_s if o.wall_s > 0 else 0.0
    lines.append(f"done: {o.grid.n:,} combos in {o.wall_s:.2f} s ({rate:,.0f} combos/s)")
    lines.append(f"results: {o.folder}/  summary: {o.folder / 'sweep_summary.md'}")
    return lines


def run_sweep_command(args, cfg=None) -> int:
    """The ``sweep`` subcommand; ``cfg`` is the loaded config (loaded here when None, which
    also accepts a sweep file with ``extends:``)."""
    if cfg is None:
        cfg = load_sweep_config(args.config).with_overrides(
            start=getattr(args, "start", None), end=getattr(args, "end", None),
            dir=getattr(args, "data_dir", None))
    sweep = parse_sweep(cfg, args.config)
    if args.check and sweep.ci is None:
        raise BacktestError(f"{args.config}: --check needs thresholds in sweep.ci "
                            "(e.g. ci: {min_oos_sharpe: 0.2, max_pbo: 0.5})")
    executor = make_executor(args.executor or "local", args.scheduler, args.workers)
    try:
        outcome = run_sweep(cfg, sweep, args.out, resume=args.resume,
                            progress=False if args.no_progress else None, executor=executor,
                            config_path=args.config)
    finally:
        executor.close()
    for line in _report_lines(outcome):
        print(line)
    failed = [c for c in outcome.selection.checks if not c.passed]
    if args.check and failed:
        raise CheckFailed("sweep check failed: " + "; ".join(c.text for c in failed))
    return 0
