"""``edgeyolo report``: report files from benchmark records."""

from __future__ import annotations

from pathlib import Path

import click

from edgeyolo.commands._common import METRIC_OPT
from edgeyolo.commands.select import DEVICE_OPT


@click.command("report")
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for report.json, results.csv, report.md and report.html.",
)
@click.option(
    "--budget-ms", type=float, default=None, help="End-to-end latency budget in ms; default: the profile's."
)
@click.option(
    "--fps",
    type=float,
    default=None,
    help="Frame-rate target: a budget of 1000/FPS ms (not with --budget-ms).",
)
@click.option(
    "--min-map", type=float, default=None, help="Never select a candidate below this mAP50-95 (0-1)."
)
@METRIC_OPT
@DEVICE_OPT
def command(results, out, budget_ms, fps, min_map, metric, device) -> None:
    """Write report.json, results.csv, report.md and a self-contained report.html (plots, sortable table,
    per-class AP, devices) for benchmark results.

    \b
    Example:
      edgeyolo report results.jsonl --out report/
    """  # fmt: skip
    from edgeyolo.bench.store import read_records
    from edgeyolo.report import report as run_report

    if budget_ms is not None and fps is not None:
        raise click.UsageError("give the latency budget either as --budget-ms or as --fps, not both")
    r = run_report(read_records(*results), Path(out), budget_ms=budget_ms, metric=metric, fps=fps, min_map=min_map,
                   device=device)  # fmt: skip
    click.echo(r.selection.reason)
    for f in r.files.values():
        click.echo(f"wrote {f}")
