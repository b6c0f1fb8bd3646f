"""``edgeyolo data``: check a YOLO dataset, or generate the built-in demo dataset."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group("data", short_help="Check a YOLO dataset; generate the demo dataset.")
def command() -> None:
    """Datasets: check a YOLO dataset, or generate the built-in demo dataset.

    \b
    Examples:
      edgeyolo data check datasets/demo/data.yaml --profile rpi5
      edgeyolo data synth datasets/demo --train 200 --val 50
    """


@command.command("synth")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--train", "n_train", default=160, show_default=True, help="Training images.")
@click.option("--val", "n_val", default=40, show_default=True, help="Validation images.")
@click.option(
    "--imgsz", default=320, show_default=True, help="Image width in pixels; the height follows --aspect."
)
@click.option(
    "--aspect",
    default="16:9",
    show_default=True,
    help="The camera's frame aspect, as a ratio (16:9, 4:3, 1:1 for square) or a resolution (1280x720).",
)
@click.option("--seed", default=0, show_default=True, help="Random seed; the same seed gives the same files.")
def synth(out: str, n_train: int, n_val: int, imgsz: int, aspect: str, seed: int) -> None:
    """Write the deterministic synthetic demo dataset (YOLO format) to OUT.

    \b
    Example:
      edgeyolo data synth datasets/demo --train 200 --val 50 --seed 1
      edgeyolo data synth datasets/cam43 --aspect 4:3
    """
    import edgeyolo.api as api

    cfg = api.SynthConfig(out=Path(out), train=n_train, val=n_val, imgsz=imgsz, aspect=aspect, seed=seed)
    r = api.synthesize(cfg)
    for split in r.images:
        click.echo(
            f"{split}: {r.images[split]} images, {r.instances[split]} objects ({r.small[split]} smaller than 32 px)"
        )
    click.echo(f"wrote {r.data_yaml}")


@command.command("check")
@click.argument("data_yaml", type=click.Path(dir_okay=False))
@click.option(
    "--profile", "-p", "profile", default=None, help="Device profile: statistics at its first image size."
)
@click.option(
    "--imgsz", type=int, default=None, help="Image size for the statistics (overrides the profile's)."
)
@click.option("--aerial", is_flag=True, help="Aerial/satellite imagery (augmentation recommendation).")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def check(data_yaml, profile, imgsz, aerial, as_json) -> None:
    """Validate a YOLO dataset, print statistics and recipe recommendations.

    Exits 1 when the dataset has fatal problems (the same ones 'edgeyolo train' refuses).

    \b
    Example:
      edgeyolo data check datasets/demo/data.yaml --profile rpi5
    """
    import json

    import edgeyolo.api as api

    size = imgsz or (api.load_profile(profile).imgsz[0] if profile else 640)
    report = api.check_dataset(Path(data_yaml), imgsz=size, aerial=aerial)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        for line in report.summary_lines():
            click.echo(line)
    if report.fatal:
        sys.exit(1)
