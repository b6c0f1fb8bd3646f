"""``edgeyolo select``: the best trade-off within the budget."""

from __future__ import annotations

import json
import sys

import click

from edgeyolo.commands._options import DEVICE_OPT, check_budget, selection_options


@click.command("select")
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@selection_options
@DEVICE_OPT
@click.option("--streams", type=click.IntRange(min=1), default=None, metavar="K",
              help="Only candidates that serve K concurrent streams at their target FPS within the latency budget "
                   "(measured with 'edgeyolo bench --streams K' or '--streams auto').")  # fmt: skip
@click.option(
    "--json", "as_json", is_flag=True, help="Print the selection as JSON (candidates, front, choice, reason)."
)
def command(results, budget_ms, fps, min_map, metric, device, streams, as_json) -> None:
    """Pick the best accuracy/latency trade-off within the budget from benchmark results.

    Exits with status 1 when no candidate fits (the fastest and the closest candidates are named).

    \b
    Examples:
      edgeyolo select results.jsonl --budget-ms 30
      edgeyolo select results.jsonl --fps 30 --min-map 0.25 --json
      edgeyolo select results.jsonl --streams 4
    """  # fmt: skip
    import edgeyolo.api as api

    check_budget(budget_ms, fps)
    sel = api.select(api.read_records(*results), budget_ms=budget_ms, fps=fps, min_map=min_map, metric=metric,
                     device=device, streams=streams)  # fmt: skip
    if as_json:
        click.echo(json.dumps(sel.to_dict(), indent=2))
    else:
        for c in sorted(sel.candidates, key=lambda c: c.latency_ms):
            flags = ("*" if sel.selected is c else " ") + ("P" if c.on_front else " ")
            m = api.pm(c.map50_95, c.map50_95_ci, 4)
            note = "; ".join(x for x in [c.note, *(s for s in c.misses if s not in c.note)] if x)
            served = ""
            if c.streams_target_fps is not None and c.streams_capacity is not None:
                served = f"  streams {c.streams_capacity} @ {c.streams_target_fps:g} FPS"
            click.echo(f"{flags} {c.name:<32} {metric} {c.latency_ms:8.2f} ms  mAP50-95 {m}{served}  {note}")
        click.echo("(* selected, P on the Pareto front)")
        if sel.errors:
            click.echo(f"ignored {len(sel.errors)} error record(s):")
            for e in sel.errors:
                click.echo(f"  {e.get('candidate', {}).get('artifact')}: {e.get('message')}")
        for n in sel.notes:
            click.echo(f"note: {n}")
        click.echo(sel.reason)
    if sel.selected is None:
        sys.exit(1)
