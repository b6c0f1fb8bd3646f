"""``edgeyolo compare``: the same candidates across devices or versions."""

from __future__ import annotations

from pathlib import Path

import click

from edgeyolo.commands._options import check_budget, selection_options


@click.command("compare")
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for compare.json, compare.md and compare.html.",
)
@selection_options
def command(results, out, budget_ms, fps, min_map, metric) -> None:
    """Compare benchmark results across devices or versions: the same candidates side by side (latency ratios
    and mAP deltas vs the first run), each run's selection, and a combined accuracy/latency plot. A file that
    holds several devices (bench --host a --host b) gives one run per device.

    \b
    Examples:
      edgeyolo compare rpi5.jsonl jetson.jsonl --out compare/
      edgeyolo compare v1/results.jsonl v2/results.jsonl --out compare/ --fps 30
    """  # fmt: skip
    import edgeyolo.api as api

    check_budget(budget_ms, fps)
    r = api.compare(
        api.load_runs(results), Path(out), budget_ms=budget_ms, metric=metric, fps=fps, min_map=min_map
    )
    click.echo(r.summary)
    for run in r.runs:
        sel = r.selections[run.label]
        click.echo(f"{run.label}: {sel.selected.name if sel.selected else 'nothing fits'}")
    for f in r.files.values():
        click.echo(f"wrote {f}")
