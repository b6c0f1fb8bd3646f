"""``edgeyolo report``: report files from benchmark records."""

from __future__ import annotations

from pathlib import Path

import click

from edgeyolo.commands._options import DEVICE_OPT, check_budget, selection_options


@click.command("report")
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for report.json, results.csv, report.md and report.html.",
)
@selection_options
@DEVICE_OPT
@click.option(
    "--streams",
    type=click.IntRange(min=1),
    default=None,
    metavar="K",
    help="Select only candidates that serve K concurrent streams at their target FPS (bench --streams).",
)
def command(results, out, budget_ms, fps, min_map, metric, device, streams) -> None:
    """Write report.json, results.csv, report.md and a self-contained report.html (plots, sortable table,
    per-class AP, devices) for benchmark results.

    \b
    Example:
      edgeyolo report results.jsonl --out report/
    """  # fmt: skip
    import edgeyolo.api as api

    check_budget(budget_ms, fps)
    r = api.report(api.read_records(*results), Path(out), budget_ms=budget_ms, metric=metric, fps=fps,
                   min_map=min_map, device=device, streams=streams)  # fmt: skip
    click.echo(r.selection.reason)
    for f in r.files.values():
        click.echo(f"wrote {f}")
