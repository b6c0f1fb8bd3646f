"""``edgeyolo report``: report files from benchmark records."""

from __future__ import annotations

from pathlib import Path

import click

from edgeyolo.commands._common import METRIC_OPT


@click.command("report")
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="Folder for report.json and report.md."
)
@click.option("--budget-ms", type=float, default=None, help="Latency budget; default: the profile's.")
@METRIC_OPT
def command(results, out, budget_ms, metric) -> None:
    """Write report.json and report.md (all candidates, the Pareto front, the choice and why).

    \b
    Example:
      edgeyolo report results.jsonl --out report/
    """
    from edgeyolo.bench.store import read_records
    from edgeyolo.report import report as run_report

    r = run_report(read_records(*results), Path(out), budget_ms=budget_ms, metric=metric)
    click.echo(r.selection.reason)
    for f in r.files.values():
        click.echo(f"wrote {f}")
