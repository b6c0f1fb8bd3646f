"""Options and helpers shared by the commands in cli.py and edgeyolo/commands/."""

from __future__ import annotations

import click


def _profile(name: str):
    from edgeyolo.profiles import load_profile

    return load_profile(name)


def _parse_sizes(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        sizes = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(
            f"'{value}' is not a comma-separated list of integers like 320,480"
        ) from None
    if not sizes or any(s <= 0 or s % 32 for s in sizes):
        raise click.BadParameter(f"'{value}': sizes must be positive multiples of 32, e.g. 320,480")
    return sizes


PROFILE_OPT = click.option("--profile", "-p", "profile", required=True,
                           help="Built-in device profile name (see 'edgeyolo profiles list') or a profile YAML path.")  # fmt: skip


METRIC_OPT = click.option("--metric", type=click.Choice(["p50", "p90", "p95", "p99"]), default="p90", show_default=True,
                          help="End-to-end latency percentile the budget applies to.")  # fmt: skip
