"""``edgeyolo train``: train YOLO26 for a device profile with edgeyolo's recipe (or resume a killed run)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from edgeyolo.commands._options import parse_sizes
from edgeyolo.errors import EdgeYoloError


def _parse_phases(value: str | None):
    """'0.3:5:1,1.0:7.5:0.5' -> ProgLoss phases (until:box:cls)."""
    import edgeyolo.api as api

    if not value:
        return ()
    try:
        return tuple(api.Phase(*(float(x) for x in part.split(":"))) for part in value.split(","))
    except (TypeError, ValueError):
        raise click.BadParameter(
            f"'{value}': use until:box:cls per phase, e.g. 0.3:5:1,1.0:7.5:0.5"
        ) from None


def _parse_o2m(value: str) -> tuple[float, float]:
    """'0.8:0.1' -> (start, end) one-to-many loss weights, each in [0, 1]."""
    try:
        start, end = (float(x) for x in value.split(":"))
    except ValueError:
        raise click.BadParameter(f"--o2m '{value}': use start:end, e.g. 0.8:0.1") from None
    if not (0.0 <= start <= 1.0 and 0.0 <= end <= 1.0):
        raise click.BadParameter(f"--o2m '{value}': start and end are weights in [0, 1], e.g. 0.8:0.1")
    return start, end


def _progloss(base, mode: str | None, phases: str | None, o2m: str | None):
    """The ProgLoss config from the --config file's (or the default) with --progloss, --progloss-phases, --o2m."""
    changes: dict = {}
    if mode:
        changes["mode"] = mode
    if phases:
        if mode not in (None, "manual"):
            raise click.BadParameter(f"phases apply to --progloss manual, not {mode}; drop one of them",
                                     param_hint="'--progloss-phases'")  # fmt: skip
        changes["phases"] = _parse_phases(phases)
        changes.setdefault("mode", "manual")
    if o2m:
        start, end = _parse_o2m(o2m)
        changes.update(o2m_start=start, o2m_end=end)
    if not changes:
        return base
    try:
        return dataclasses.replace(base, **changes)
    except EdgeYoloError as e:  # e.g. phases that do not reach until 1.0
        if not phases:
            raise
        raise click.BadParameter(str(e), param_hint="'--progloss-phases'") from None


def _print_result(r) -> None:
    m = r.map50_95
    click.echo(f"trained {r.epochs_run} epochs at {r.imgsz} px in {r.seconds:.0f} s; "
               f"mAP50-95 {'n/a' if m is None else f'{m:.4f}'} (NMS-free head)")  # fmt: skip
    click.echo(f"best weights: {r.best}")
    click.echo(f"run folder: {r.run_dir} (edgeyolo_train.yaml, progloss.csv, results.csv)")


@click.command("train")
@click.option("--profile", "-p", "profile", default=None,
              help="Built-in device profile name or a profile YAML path (required unless --resume).")  # fmt: skip
@click.option("--data", "data_yaml", default=None, type=click.Path(dir_okay=False), help="YOLO data.yaml.")
@click.option(
    "--model", default=None, help="Model YAML to train from scratch (default yolo26n.yaml), or a local .pt."
)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Default 100.")
@click.option(
    "--imgsz",
    default=None,
    help="Training size; default: the profile's first image size. WxH (320x192, width and "
    "height multiples of 32) trains square at the long side and records that deploy shape.",
)
@click.option("--batch", type=click.IntRange(min=1), default=None,
              help="Total batch; default: from GPU memory and model scale (the recipe's table), 8 on CPU.")  # fmt: skip
@click.option(
    "--device", default=None, help="cpu, 0, or 0,1,... for DDP; default: GPU 0 when present, else cpu."
)
@click.option("--out", default=None, type=click.Path(file_okay=False), help="Default runs/train.")
@click.option("--name", default=None, help="Run folder name; default: <model>-<imgsz>.")
@click.option("--optimizer", default=None, help="Default MuSGD (the YOLO26 recipe); SGD, AdamW, ... allowed.")
@click.option(
    "--lr0", type=float, default=None, help="Base LR for batch 16 on one GPU; scaled linearly under DDP."
)
@click.option(
    "--patience", type=click.IntRange(min=1), default=None, help="Early stopping patience (epochs)."
)
@click.option("--seed", type=int, default=None)
@click.option(
    "--preset", default=None, help="Loss preset: general, small-objects, cls-priority, high-iou, or auto."
)
@click.option(
    "--aug",
    default=None,
    help="Augmentation preset: small, medium, large, dense, aerial; default: from the check.",
)
@click.option("--aerial", is_flag=True, default=None, help="Aerial/satellite imagery (augmentation preset).")
@click.option(
    "--stal/--no-stal",
    default=None,
    help="Small-target augmentation; default: on when the check recommends it.",
)
@click.option("--stal-p", type=click.FloatRange(0.0, 1.0), default=None, help="STAL probability per image.")
@click.option("--stal-size", type=click.IntRange(min=2), default=None,
              help="STAL small-target threshold in whole pixels (default 32).")  # fmt: skip
@click.option("--progloss", "progloss_mode", type=click.Choice(["auto", "manual", "off"]), default=None,
              help="Box/cls gain schedule: classification first, then localization.")  # fmt: skip
@click.option("--progloss-phases", default=None,
              help="Manual phases until:box:cls (absolute gains), e.g. 0.3:5:1,1.0:7.5:0.5")  # fmt: skip
@click.option(
    "--o2m", "o2m", default=None, help="One-to-many loss weight start:end (library default 0.8:0.1)."
)
@click.option("--assign-min-px", type=click.FloatRange(min=0.0, min_open=True), default=None,
              help="Small-target label assignment: GT sides below this are enlarged (library: 16).")  # fmt: skip
@click.option("--config", "config_file", default=None, type=click.Path(dir_okay=False),
              help="YAML of training settings (e.g. a tuner's best.yaml); options given here win.")  # fmt: skip
@click.option("--resume", "resume_dir", default=None, type=click.Path(file_okay=False),
              help="Continue a killed run from its folder (runs/train/NAME).")  # fmt: skip
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Data loader workers per training process; default: from the cores and GPUs.")  # fmt: skip
@click.option("--cache", type=click.Choice(["ram", "disk", "off"]), default=None,
              help="Decoded image cache; default: ram when the dataset fits in memory.")  # fmt: skip
@click.option("--no-check", is_flag=True, help="Skip the dataset check (not recommended).")
def command(profile, data_yaml, model, epochs, imgsz, batch, device, out, name, optimizer, lr0, patience, seed, preset,
            aug, aerial, stal, stal_p, stal_size, progloss_mode, progloss_phases, o2m, assign_min_px, config_file,
            resume_dir, workers, cache, no_check) -> None:  # fmt: skip
    """Train YOLO26 for a device profile with the recipe: dataset check, MuSGD, presets, STAL, ProgLoss.

    \b
    Examples:
      edgeyolo train --profile rpi5 --data datasets/demo/data.yaml --epochs 50
      edgeyolo train --profile x86-cpu --data d.yaml --preset small-objects --progloss auto
      edgeyolo train --profile x86-cpu --data d.yaml --progloss manual --progloss-phases 0.3:5:1,1.0:10:0.3
      edgeyolo train --resume runs/train/yolo26n-320
    """
    import edgeyolo.api as api

    if resume_dir:
        _print_result(api.resume(resume_dir, log=click.echo))
        return
    kwargs = api.train_config_from_file(config_file) if config_file else {}
    if imgsz is not None:
        sizes = parse_sizes(imgsz)
        if len(sizes) != 1:
            raise click.BadParameter(
                f"'{imgsz}': train takes one size (320, or 320x192)", param_hint="--imgsz"
            )
        imgsz = sizes[0]
    given = dict(model=model, epochs=epochs, imgsz=imgsz, batch=batch, device=device, name=name, optimizer=optimizer,
                 lr0=lr0, patience=patience, seed=seed, preset=preset, aug=aug, aerial=aerial, stal=stal,
                 assign_min_px=assign_min_px, workers=workers, cache=cache)  # fmt: skip
    kwargs.update({k: v for k, v in given.items() if v is not None})
    if profile:
        kwargs["profile"] = api.load_profile(profile)
    if data_yaml:
        kwargs["data"] = Path(data_yaml)
    kwargs.setdefault("out", Path(out or "runs/train"))
    if out:
        kwargs["out"] = Path(out)
    if "profile" not in kwargs:
        raise click.UsageError("Missing option '--profile' (or a 'profile' key in --config).")
    if "data" not in kwargs:
        raise click.UsageError("Missing option '--data' (or a 'data' key in --config).")
    kwargs["progloss"] = _progloss(
        kwargs.get("progloss") or api.ProgLossConfig(), progloss_mode, progloss_phases, o2m
    )
    if stal_p is not None or stal_size is not None:
        base = kwargs.get("stal_config") or api.StalConfig()
        kwargs["stal_config"] = dataclasses.replace(
            base, **{k: v for k, v in (("p", stal_p), ("size", stal_size)) if v is not None}
        )
    if no_check:
        kwargs["check"] = False
    _print_result(api.train(api.TrainConfig(**kwargs), log=click.echo))
