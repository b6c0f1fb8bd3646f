"""Reports from benchmark records: JSON, CSV, Markdown and a self-contained HTML page; cross-run comparison.

``report(records, out)`` writes ``report.json``, ``results.csv``, ``report.md`` and ``report.html``;
``compare(runs, out)`` writes ``compare.json``, ``compare.md`` and ``compare.html``.
"""

from edgeyolo.report.compare import CompareResult, Run, compare, load_runs
from edgeyolo.report.core import ReportResult, report

__all__ = ["CompareResult", "ReportResult", "Run", "compare", "load_runs", "report"]
