"""The ``backtest`` command. Thin: parses arguments, calls the library, maps errors to exit codes.

Exit codes: 0 ok; 2 user error (one line on stderr, no traceback); 3 a sweep's CI check missed
a threshold; 1 internal error; 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.errors import BacktestError

COMMANDS = ("run", "validate", "compare", "sweep", "audit", "data")


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's error contract: one line on stderr, exit code 2."""

    def error(self, message: str):
        command = self.prog.removeprefix("backtest").strip()
        where = f"{command}: " if command else ""
        self.exit(2, f"backtest: error: {where}{message} (see {self.prog} --help)\n")


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="a run config (YAML), e.g. configs/rotation.yaml")
    p.add_argument("--data-dir", help="read prices and macro series from this folder")
    p.add_argument("--start", help="first day of the run (YYYY-MM-DD), overrides data.start")
    p.add_argument("--end", help="last day of the run (YYYY-MM-DD), overrides data.end")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="backtest", description="Backtest IWM / SPY strategies from a YAML config.",
        epilog="`backtest CONFIG.yaml` is short for `backtest run CONFIG.yaml`.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run a backtest and write results/<name>/")
    _config_args(p)
    p.add_argument("--out", help="write this run's results into OUT instead of results/<name>/")
    p.add_argument("--verify", action="store_true",
                   help="replay the run through vectorbt and print the largest equity difference")
    p = sub.add_parser("validate",
                       help="check a config (and that its tickers exist) without running")
    _config_args(p)
    p = sub.add_parser("audit", help="look-ahead audit: perturb data after day t, check weights")
    _config_args(p)
    p = sub.add_parser("compare", help="compare result folders side by side")
    p.add_argument("results", nargs="+", help="results/<name> folders")
    p.add_argument("--out", default="results/compare", help="where to write the comparison")
    p.add_argument("--common-period", action="store_true",
                   help="align runs over different periods on their common dates")
    p = sub.add_parser("sweep", help="run a parameter sweep (the config's sweep: block)")
    _config_args(p)
    p.add_argument("--out", help="write the sweep's results into OUT instead of results/<name>/")
    p.add_argument("--check", action="store_true",
                   help="exit 3 with a one-line reason when a sweep.ci threshold is missed")
    p.add_argument("--resume", action="store_true", help="skip chunks already checkpointed")
    p.add_argument("--executor", choices=("local", "dask"), default="local")
    p.add_argument("--scheduler", help="dask: address of a running scheduler (tcp://HOST:PORT)")
    p.add_argument("--workers", type=int, help="dask: start a LocalCluster with N workers")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p = sub.add_parser("data", help="list, check or update data folders")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    q = data_sub.add_parser("list", help="tickers and series available, with date ranges")
    q.add_argument("--dir", help="data folder (default: the bundled data/)")
    q = data_sub.add_parser("check", help="validate a data folder with the rules of a run")
    q.add_argument("dir", nargs="?", help="data folder (default: the bundled data/)")
    q = data_sub.add_parser("update", help="download prices (yfinance) and FRED series")
    q.add_argument("--tickers", nargs="*", default=[], help="tickers to add or refresh")
    q.add_argument("--fred", nargs="*", default=[], help="FRED series ids (FEDFUNDS, DFF, GS2)")
    q.add_argument("--dir", required=True, help="data folder to write into")
    return parser


def _load(args):
    from engine.config import load_config

    cfg = load_config(args.config)
    return cfg.with_overrides(start=args.start, end=args.end, dir=args.data_dir)


def cmd_run(args) -> int:
    from engine.run import run_and_write

    cfg = _load(args)
    result, folder = run_and_write(cfg, args.out)
    from engine.report.terminal import format_table  # after the run: bad input fails faster

    columns = {"strategy": result.metrics}
    if result.benchmark_metrics:
        columns[f"{cfg.benchmark} buy & hold"] = result.benchmark_metrics
    rows = [("cagr_pct", "CAGR (%)", "{:.2f}"), ("volatility_pct", "Volatility (%)", "{:.2f}"),
            ("sharpe", "Sharpe", "{:.2f}"), ("max_drawdown_pct", "Max drawdown (%)", "{:.2f}"),
            ("final_value", "Final value", "{:,.0f}"), ("n_orders", "Orders", "{:.0f}")]
    start, end = result.equity.index[0].date(), result.equity.index[-1].date()
    print(f"{cfg.name} ({cfg.strategy}), {start} to {end}")
    print(format_table(columns, rows))
    report = folder / "report.html"
    print(f"results: {folder}/" + (f"  report: {report}" if report.exists() else ""))
    if args.verify:
        from engine.verify import verify_run

        print(verify_run(cfg, result))
    return 0


def cmd_validate(args) -> int:
    from engine.data import resolve_data_dir
    from engine.validate import check_config_data

    cfg = _load(args)
    check_config_data(cfg, resolve_data_dir(cfg.data.dir))
    print(f"{args.config}: ok ({cfg.strategy}, config hash {cfg.config_hash()[:12]})")
    return 0


def cmd_audit(args) -> int:
    from engine.audit import audit_config

    cfg = _load(args)
    report = audit_config(cfg)
    print(report)
    return 0


def cmd_compare(args) -> int:
    from engine.report import compare_results

    output = compare_results([Path(p) for p in args.results], Path(args.out),
                             common_period=args.common_period)
    print(output.text)
    print(f"comparison: {output.html_path}")
    return 0


def cmd_sweep(args) -> int:
    from engine.sweep.command import run_sweep_command

    return run_sweep_command(args)


def cmd_data(args) -> int:
    from engine.datacmd import run_data_command

    return run_data_command(args)


HANDLERS = {"run": cmd_run, "validate": cmd_validate, "audit": cmd_audit,
            "compare": cmd_compare, "sweep": cmd_sweep, "data": cmd_data}


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _terminated(signum, frame):
    # SIGTERM unwinds like Ctrl-C so that temporary result folders are removed on the way out.
    raise KeyboardInterrupt


def _unraisable(hook) -> None:
    # An interrupt that lands in a finaliser or a weakref callback cannot propagate from there:
    # Python would print "Exception ignored ... Traceback" and carry on with the run. Raise it
    # again 10 ms later (SIGALRM, handled like SIGTERM), once that callback is over.
    if hook.exc_type is not None and issubclass(hook.exc_type, KeyboardInterrupt):
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        return
    sys.__unraisablehook__(hook)


@contextmanager
def _interruptible() -> Iterator[None]:
    """Inside the block SIGTERM (and an interrupt swallowed by a finaliser) unwind like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield  # main() called from a worker thread (tests): signals stay as they are
        return
    signals = [signal.SIGTERM] + ([signal.SIGALRM] if hasattr(signal, "setitimer") else [])
    saved = {s: signal.signal(s, _terminated) for s in signals}
    hook = sys.unraisablehook
    if hasattr(signal, "setitimer"):
        sys.unraisablehook = _unraisable
    try:
        yield
    finally:
        if hasattr(signal, "setitimer"):
            signal.setitimer(signal.ITIMER_REAL, 0)
        sys.unraisablehook = hook
        for s, handler in saved.items():
            signal.signal(s, handler)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in COMMANDS and not argv[0].startswith("-"):
        argv.insert(0, "run")
    args = build_parser().parse_args(argv)
    try:
        with _interruptible():
            return _dispatch(args)
    except KeyboardInterrupt:  # re-raised just after the command ended
        print("backtest: interrupted", file=sys.stderr)
        return 130


def _dispatch(args) -> int:
    """Run the command; map errors to exit codes with one line on stderr."""
    try:
        return HANDLERS[args.command](args)
    except BacktestError as exc:
        print(f"backtest: error: {_one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("backtest: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # internal error: one line, traceback only on request
        if os.environ.get("BACKTEST_DEBUG"):
            traceback.print_exc()
        print(f"backtest: internal error: {type(exc).__name__}: {_one_line(exc)} "
              "(set BACKTEST_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
