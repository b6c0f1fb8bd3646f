"""``edgeyolo select``: the best trade-off within the budget."""

from __future__ import annotations

import sys

import click

from edgeyolo.commands._common import METRIC_OPT


@click.command("select")
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--budget-ms", type=float, default=None, help="Latency budget; default: the profile's.")
@METRIC_OPT
def command(results, budget_ms, metric) -> None:
    """Pick the best accuracy/latency trade-off within the budget from benchmark results.

    \b
    Example:
      edgeyolo select results.jsonl --budget-ms 30
    """
    from edgeyolo.bench.store import read_records
    from edgeyolo.select import select as run_select

    sel = run_select(read_records(*results), budget_ms=budget_ms, metric=metric)
    for c in sorted(sel.candidates, key=lambda c: c.latency_ms):
        flags = ("*" if sel.selected is c else " ") + ("P" if c.on_front else " ")
        m = "n/a" if c.map50_95 is None else f"{c.map50_95:.4f}"
        click.echo(f"{flags} {c.name:<32} {metric} {c.latency_ms:8.2f} ms  mAP50-95 {m}  {c.note}")
    click.echo("(* selected, P on the Pareto front)")
    click.echo(sel.reason)
    if sel.selected is None:
        sys.exit(1)
