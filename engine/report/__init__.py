"""Reports: the HTML tearsheet of a run, the comparison of runs, plain-text/Markdown tables.

All charts are matplotlib figures drawn on the Agg canvas; HTML reports are single
self-contained files (PNG charts embedded as base64, inline CSS, no external URL).
"""

from engine.report.compare import ComparisonOutput, compare_results
from engine.report.tearsheet import write_tearsheet
from engine.report.terminal import SUMMARY_ROWS, format_table, markdown_table, run_summary

__all__ = [
    "SUMMARY_ROWS",
    "ComparisonOutput",
    "compare_results",
    "format_table",
    "markdown_table",
    "run_summary",
    "write_tearsheet",
]
