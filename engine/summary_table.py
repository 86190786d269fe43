"""The README's results table, produced by the code: ``python -m engine.summary_table --write``.

Runs each shipped strategy config on the bundled data (nothing written to results/) and
renders CAGR, Sharpe and max drawdown against SPY buy-and-hold over the same days. A test
checks that the README holds exactly this table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.config import load_config
from engine.run import run_backtest

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ("rotation", "rate_cycle", "reconstitution", "core_satellite_static",
           "buy_and_hold_spy")
START, END = "<!-- summary:start -->", "<!-- summary:end -->"


def summary_markdown(names=CONFIGS) -> str:
    lines = ["| config | strategy | period | CAGR (%) | Sharpe | max DD (%) | SPY CAGR (%) "
             "| SPY Sharpe | SPY max DD (%) |", "|" + "---|" * 9]
    for name in names:
        cfg = load_config(ROOT / "configs" / f"{name}.yaml")
        result = run_backtest(cfg)
        s, b = result.metrics, result.benchmark_metrics
        period = f"{result.equity.index[0]:%Y-%m} .. {result.equity.index[-1]:%Y-%m}"
        lines.append(
            f"| `configs/{name}.yaml` | {cfg.strategy} | {period} | {s['cagr_pct']:.2f} "
            f"| {s['sharpe']:.2f} | {s['max_drawdown_pct']:.1f} | {b['cagr_pct']:.2f} "
            f"| {b['sharpe']:.2f} | {b['max_drawdown_pct']:.1f} |")
    return "\n".join(lines)


def replace_section(text: str, table: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite the table in README.md")
    args = parser.parse_args()
    table = summary_markdown()
    if args.write:
        readme = ROOT / "README.md"
        readme.write_text(replace_section(readme.read_text(), table))
    print(table)


if __name__ == "__main__":
    main()
