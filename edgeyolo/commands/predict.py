"""``edgeyolo predict``: detect with an exported artifact (torch-free)."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("predict")
@click.argument("artifact", type=click.Path())
@click.argument("source", type=click.Path())
@click.option(
    "--conf",
    type=click.FloatRange(0, 1),
    default=None,
    help="Confidence threshold; default: the artifact's F1-optimal one (edgeyolo diagnose), else 0.25.",
)
@click.option("--classes", default=None, help="Comma-separated class ids to keep.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Inference threads.")
@click.option("--out", default="predictions", show_default=True, type=click.Path(file_okay=False))
@click.option("--no-save", is_flag=True, help="Only write detections.json/csv, no annotated images or video.")
def command(artifact, source, conf, classes, threads, out, no_save) -> None:
    """Detect with an exported artifact on an image, a folder or a video (torch-free).

    Writes annotated images (or SOURCE.mp4), detections.json and detections.csv into --out.

    \b
    Example:
      edgeyolo predict artifacts/yolo26n-320-openvino-int8 street.mp4 --conf 0.4 --out preds/
    """
    from rich.progress import Progress

    import edgeyolo.api as api

    try:
        keep = tuple(int(c) for c in classes.split(",")) if classes else None
    except ValueError:
        raise click.BadParameter(f"'{classes}': use class ids like 0,2", param_hint="--classes") from None
    cfg = api.PredictConfig(artifact=Path(artifact), source=Path(source), out=Path(out), conf=conf, classes=keep,
                            threads=threads, save_images=not no_save)  # fmt: skip
    with Progress(transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("predict", total=None)
        r = api.predict(
            cfg, progress=lambda done, total: bar.update(task, completed=done, total=total or None)
        )
    click.echo(f"{r.frames} frame(s), {r.detections} detection(s) at conf >= {r.conf:.3g} ({r.conf_source})")
    for f in r.files.values():
        click.echo(f"wrote {f}")
