"""``edgeyolo profiles``: list, show and validate device profiles."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("profiles")
def command() -> None:
    """List, show and validate device profiles.

    \b
    Example:
      edgeyolo profiles show rpi5
    """


@command.command("list")
def list_() -> None:
    """List the built-in device profiles.

    \b
    Example:
      edgeyolo profiles list
    """
    import edgeyolo.api as api

    for p in api.list_profiles():
        sizes = ",".join([*map(str, p.imgsz), *(s.label for s in p.shapes)])
        click.echo(f"{p.name:<18} imgsz {sizes:<12} p90 budget {p.latency_budget_ms:>5g} ms  "
                   f"{' '.join(t.key for t in p.targets)}")  # fmt: skip
        click.echo(f"{'':<18} {p.description}")


@command.command("show")
@click.argument("name")
def show(name: str) -> None:
    """Print a profile as YAML (built-in name or path).

    \b
    Example:
      edgeyolo profiles show jetson-orin-nano
    """
    import yaml

    import edgeyolo.api as api

    click.echo(yaml.safe_dump(api.load_profile(name).to_dict(), sort_keys=False), nl=False)


@command.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file: str) -> None:
    """Check a profile YAML file; the first problem is named with its key.

    \b
    Example:
      edgeyolo profiles validate my-device.yaml
    """
    import edgeyolo.api as api

    p = api.load_profile(file if Path(file).suffix in (".yaml", ".yml") or "/" in file else f"./{file}")
    click.echo(f"{file}: ok ({p.name}: {len(p.targets)} targets, imgsz {list(p.imgsz)})")
