"""Reports: the HTML tearsheet of a run, the comparison of runs, plain-text/Markdown tables.

All charts are matplotlib figures drawn on the Agg canvas; HTML reports are single
self-contained files (PNG charts embedded as base64, inline CSS, no external URL).

The text tables (:mod:`engine.report.terminal`) are imported eagerly: they need nothing but
the standard library. The tearsheet and the comparison pull in pandas and matplotlib, so they
are imported on first use (``engine.report.write_tearsheet`` / ``compare_results``); a command
that only prints a table never loads matplotlib.
"""

from __future__ import annotations

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING

from engine.report.terminal import SUMMARY_ROWS, format_table, markdown_table, run_summary

if _TYPE_CHECKING:
    from engine.report.compare import ComparisonOutput, compare_results
    from engine.report.tearsheet import write_tearsheet

_LAZY = {
    "ComparisonOutput": "engine.report.compare",
    "compare_results": "engine.report.compare",
    "write_tearsheet": "engine.report.tearsheet",
}

__all__ = [
    "SUMMARY_ROWS",
    "ComparisonOutput",
    "compare_results",
    "format_table",
    "markdown_table",
    "run_summary",
    "write_tearsheet",
]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this hook
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
