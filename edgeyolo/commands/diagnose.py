"""``edgeyolo diagnose``: overfitting, metric rules, F1-optimal threshold and confusions of a training run."""

from __future__ import annotations

import click


@click.command("diagnose")
@click.argument("run_dir", type=click.Path())
@click.option("--data", "data_yaml", type=click.Path(dir_okay=False), default=None,
              help="Dataset to validate on for the threshold and confusions; default: the run's (args.yaml).")  # fmt: skip
@click.option("--imgsz", type=click.IntRange(min=32), default=None, help="Validation image size; default: the training size.")  # fmt: skip
@click.option(
    "--device", default=None, help="Validation device (cpu, 0); default: CUDA 0 when present, else CPU."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the diagnosis as JSON (as saved in diagnosis.json)."
)
def command(run_dir, data_yaml, imgsz, device, as_json) -> None:
    """Diagnose a training run: overfitting, metric rules, best confidence threshold, top confusions.

    RUN_DIR is a training run folder (results.csv, args.yaml, weights/best.pt). The validation curves are
    computed once and cached in RUN_DIR/val_curves.npz; the result is saved in RUN_DIR/diagnosis.json.

    \b
    Example:
      edgeyolo diagnose runs/train/yolo26n-320
    """
    import json

    import edgeyolo.api as api

    d = api.diagnose(
        run_dir, data=data_yaml, imgsz=imgsz, device=device, log=lambda m: click.echo(m, err=True)
    )
    click.echo(json.dumps(d.to_dict(), indent=2) if as_json else api.format_diagnosis(d))
