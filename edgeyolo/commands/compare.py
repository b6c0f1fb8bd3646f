"""``edgeyolo compare``: the same candidates across devices or versions."""

from __future__ import annotations

from pathlib import Path

import click

from edgeyolo.commands._common import METRIC_OPT


@click.command("compare")
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for compare.json, compare.md and compare.html.",
)
@click.option(
    "--budget-ms",
    type=float,
    default=None,
    help="One end-to-end latency budget in ms for every run; default: each run's profile budget.",
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
def command(results, out, budget_ms, fps, min_map, metric) -> None:
    """Compare benchmark results across devices or versions: the same candidates side by side (latency ratios
    and mAP deltas vs the first run), each run's selection, and a combined accuracy/latency plot. A file that
    holds several devices (bench --host a --host b) gives one run per device.

    \b
    Examples:
      edgeyolo compare rpi5.jsonl jetson.jsonl --out compare/
      edgeyolo compare v1/results.jsonl v2/results.jsonl --out compare/ --fps 30
    """  # fmt: skip
    from edgeyolo.report import compare, load_runs

    if budget_ms is not None and fps is not None:
        raise click.UsageError("give the latency budget either as --budget-ms or as --fps, not both")
    r = compare(load_runs(results), Path(out), budget_ms=budget_ms, metric=metric, fps=fps, min_map=min_map)
    click.echo(r.summary)
    for run in r.runs:
        sel = r.selections[run.label]
        click.echo(f"{run.label}: {sel.selected.name if sel.selected else 'nothing fits'}")
    for f in r.files.values():
        click.echo(f"wrote {f}")
