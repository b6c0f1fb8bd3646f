"""The ``edgeyolo`` command line: parse options, build one config, call one API function, print.

Heavy modules are imported inside each command so ``edgeyolo --help`` and ``--version`` stay instant.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edgeyolo._version import __version__
from edgeyolo.commands._common import PROFILE_OPT, _parse_sizes, _profile, remote_from_options, remote_options
from edgeyolo.errors import EdgeYoloError


class _Group(click.Group):
    """Turns user mistakes (EdgeYoloError) into one clear line and exit code 1, without a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgeYoloError as e:
            raise click.ClickException(str(e)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="edgeyolo")
def main() -> None:
    """Take a YOLO dataset to the best YOLO26 detector an edge device can run.

    \b
    Quick start (demo dataset, x86 CPU profile):
      edgeyolo run --profile x86-cpu --out demo
    """


# ---------------------------------------------------------------- profiles
@main.group()
def profiles() -> None:
    """List, show and validate device profiles.

    \b
    Example:
      edgeyolo profiles show rpi5
    """


@profiles.command("list")
def profiles_list() -> None:
    """List the built-in device profiles.

    \b
    Example:
      edgeyolo profiles list
    """
    from edgeyolo.profiles import list_profiles

    for p in list_profiles():
        click.echo(f"{p.name:<18} imgsz {','.join(map(str, p.imgsz)):<12} p90 budget {p.latency_budget_ms:>5g} ms  "
                   f"{' '.join(t.key for t in p.targets)}")  # fmt: skip
        click.echo(f"{'':<18} {p.description}")


@profiles.command("show")
@click.argument("name")
def profiles_show(name: str) -> None:
    """Print a profile as YAML (built-in name or path).

    \b
    Example:
      edgeyolo profiles show jetson-orin-nano
    """
    import yaml

    click.echo(yaml.safe_dump(_profile(name).to_dict(), sort_keys=False), nl=False)


@profiles.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
def profiles_validate(file: str) -> None:
    """Check a profile YAML file; the first problem is named with its key.

    \b
    Example:
      edgeyolo profiles validate my-device.yaml
    """
    p = _profile(file if Path(file).suffix in (".yaml", ".yml") or "/" in file else f"./{file}")
    click.echo(f"{file}: ok ({p.name}: {len(p.targets)} targets, imgsz {list(p.imgsz)})")


# ---------------------------------------------------------------- data
@main.group(short_help="Check a YOLO dataset; generate the demo dataset.")
def data() -> None:
    """Datasets: check a YOLO dataset, or generate the built-in demo dataset.

    \b
    Examples:
      edgeyolo data check datasets/demo/data.yaml --profile rpi5
      edgeyolo data synth datasets/demo --train 200 --val 50
    """


@data.command("synth")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--train", "n_train", default=160, show_default=True, help="Training images.")
@click.option("--val", "n_val", default=40, show_default=True, help="Validation images.")
@click.option("--imgsz", default=320, show_default=True, help="Image width in pixels (height is 3/4).")
@click.option("--seed", default=0, show_default=True, help="Random seed; the same seed gives the same files.")
def data_synth(out: str, n_train: int, n_val: int, imgsz: int, seed: int) -> None:
    """Write the deterministic synthetic demo dataset (YOLO format) to OUT.

    \b
    Example:
      edgeyolo data synth datasets/demo --train 200 --val 50 --seed 1
    """
    from edgeyolo.data.synth import SynthConfig, synthesize

    r = synthesize(SynthConfig(out=Path(out), train=n_train, val=n_val, imgsz=imgsz, seed=seed))
    for split in r.images:
        click.echo(
            f"{split}: {r.images[split]} images, {r.instances[split]} objects ({r.small[split]} smaller than 32 px)"
        )
    click.echo(f"wrote {r.data_yaml}")


@data.command("check")
@click.argument("data_yaml", type=click.Path(dir_okay=False))
@click.option(
    "--profile", "-p", "profile", default=None, help="Device profile: statistics at its first image size."
)
@click.option(
    "--imgsz", type=int, default=None, help="Image size for the statistics (overrides the profile's)."
)
@click.option("--aerial", is_flag=True, help="Aerial/satellite imagery (augmentation recommendation).")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def data_check(data_yaml, profile, imgsz, aerial, as_json) -> None:
    """Validate a YOLO dataset, print statistics and recipe recommendations.

    Exits 1 when the dataset has fatal problems (the same ones 'edgeyolo train' refuses).

    \b
    Example:
      edgeyolo data check datasets/demo/data.yaml --profile rpi5
    """
    import json

    from edgeyolo.data.check import check_dataset

    size = imgsz or (_profile(profile).imgsz[0] if profile else 640)
    report = check_dataset(Path(data_yaml), imgsz=size, aerial=aerial)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        for line in report.summary_lines():
            click.echo(line)
    if report.fatal:
        sys.exit(1)


# ---------------------------------------------------------------- train
def _parse_phases(value: str | None):
    """'0.3:5:1,1.0:7.5:0.5' -> ProgLoss phases (until:box:cls)."""
    from edgeyolo.train.progloss import Phase

    if not value:
        return ()
    try:
        return tuple(Phase(*(float(x) for x in part.split(":"))) for part in value.split(","))
    except (TypeError, ValueError):
        raise click.BadParameter(
            f"'{value}': use until:box:cls per phase, e.g. 0.3:5:1,1.0:7.5:0.5"
        ) from None


@main.command()
@click.option("--profile", "-p", "profile", default=None,
              help="Built-in device profile name or a profile YAML path (required unless --resume).")  # fmt: skip
@click.option("--data", "data_yaml", default=None, type=click.Path(dir_okay=False), help="YOLO data.yaml.")
@click.option(
    "--model", default=None, help="Model YAML to train from scratch (default yolo26n.yaml), or a local .pt."
)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Default 100.")
@click.option(
    "--imgsz", type=int, default=None, help="Training size; default: the profile's first image size."
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
def train(profile, data_yaml, model, epochs, imgsz, batch, device, out, name, optimizer, lr0, patience, seed, preset,
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
    import dataclasses

    t = _train_api()
    if resume_dir:
        _print_train(t.resume(resume_dir, log=click.echo))
        return
    kwargs = t.config_from_file(config_file) if config_file else {}
    given = dict(model=model, epochs=epochs, imgsz=imgsz, batch=batch, device=device, name=name, optimizer=optimizer,
                 lr0=lr0, patience=patience, seed=seed, preset=preset, aug=aug, aerial=aerial, stal=stal,
                 assign_min_px=assign_min_px, workers=workers, cache=cache)  # fmt: skip
    kwargs.update({k: v for k, v in given.items() if v is not None})
    if profile:
        kwargs["profile"] = _profile(profile)
    if data_yaml:
        kwargs["data"] = Path(data_yaml)
    kwargs.setdefault("out", Path(out or "runs/train"))
    if out:
        kwargs["out"] = Path(out)
    if "profile" not in kwargs:
        raise click.UsageError("Missing option '--profile' (or a 'profile' key in --config).")
    if "data" not in kwargs:
        raise click.UsageError("Missing option '--data' (or a 'data' key in --config).")
    from edgeyolo.train.progloss import ProgLossConfig

    pl = kwargs.get("progloss") or ProgLossConfig()
    changes: dict = {}
    if progloss_mode:
        changes["mode"] = progloss_mode
    if progloss_phases:
        if progloss_mode not in (None, "manual"):
            raise click.BadParameter(f"phases apply to --progloss manual, not {progloss_mode}; drop one of them",
                                     param_hint="'--progloss-phases'")  # fmt: skip
        changes["phases"] = _parse_phases(progloss_phases)
        changes.setdefault("mode", "manual")
    if o2m:
        try:
            start, end = (float(x) for x in o2m.split(":"))
        except ValueError:
            raise click.BadParameter(f"--o2m '{o2m}': use start:end, e.g. 0.8:0.1") from None
        if not (0.0 <= start <= 1.0 and 0.0 <= end <= 1.0):
            raise click.BadParameter(f"--o2m '{o2m}': start and end are weights in [0, 1], e.g. 0.8:0.1")
        changes.update(o2m_start=start, o2m_end=end)
    if changes:
        try:
            pl = dataclasses.replace(pl, **changes)
        except EdgeYoloError as e:  # e.g. phases that do not reach until 1.0
            if not progloss_phases:
                raise
            raise click.BadParameter(str(e), param_hint="'--progloss-phases'") from None
    kwargs["progloss"] = pl
    if stal_p is not None or stal_size is not None:
        from edgeyolo.train.stal import StalConfig

        base = kwargs.get("stal_config") or StalConfig()
        kwargs["stal_config"] = dataclasses.replace(
            base, **{k: v for k, v in (("p", stal_p), ("size", stal_size)) if v is not None}
        )
    if no_check:
        kwargs["check"] = False
    _print_train(t.train(t.TrainConfig(**kwargs), log=click.echo))


def _train_api():
    """The ``edgeyolo.train`` module (``edgeyolo.train`` as an attribute is the re-exported function)."""
    import importlib

    return importlib.import_module("edgeyolo.train")


def _print_train(r) -> None:
    m = r.map50_95
    click.echo(f"trained {r.epochs_run} epochs at {r.imgsz} px in {r.seconds:.0f} s; "
               f"mAP50-95 {'n/a' if m is None else f'{m:.4f}'} (NMS-free head)")  # fmt: skip
    click.echo(f"best weights: {r.best}")
    click.echo(f"run folder: {r.run_dir} (edgeyolo_train.yaml, progloss.csv, results.csv)")


# ---------------------------------------------------------------- export
def _parse_targets(formats: str | None, precisions: str | None, profile):
    """--formats/--precisions filter the profile's targets; a pair not in the profile is added."""
    from edgeyolo.profiles import FORMATS, PRECISIONS, RUNTIMES_FOR_FORMAT, TargetSpec

    if formats is None and precisions is None:
        return None
    fmts = [f.strip() for f in formats.split(",")] if formats else sorted({t.format for t in profile.targets})
    precs = (
        [p.strip() for p in precisions.split(",")]
        if precisions
        else sorted({t.precision for t in profile.targets})
    )
    for f in fmts:
        if f not in FORMATS:
            raise click.BadParameter(
                f"unknown format '{f}'; known: {', '.join(FORMATS)}", param_hint="--formats"
            )
    for p in precs:
        if p not in PRECISIONS:
            raise click.BadParameter(
                f"unknown precision '{p}'; known: {', '.join(PRECISIONS)}", param_hint="--precisions"
            )
    return tuple(TargetSpec(f, p, RUNTIMES_FOR_FORMAT[f][0]) for f in fmts for p in precs)


@main.command()
@PROFILE_OPT
@click.option(
    "--weights", required=True, type=click.Path(dir_okay=False), help="best.pt from 'edgeyolo train'."
)
@click.option("--imgsz", default=None, help="Comma-separated sizes; default: the profile's.")
@click.option(
    "--formats",
    default=None,
    help="Comma-separated subset: onnx, openvino, tensorrt, ncnn; default: the profile's.",
)
@click.option(
    "--precisions", default=None, help="Comma-separated subset: fp32, fp16, int8; default: the profile's."
)
@click.option("--data", "data_yaml", default=None, type=click.Path(dir_okay=False),
              help="data.yaml: INT8 calibration and the PyTorch parity check use its val images.")  # fmt: skip
@click.option("--out", default="artifacts", show_default=True, type=click.Path(file_okay=False))
@click.option(
    "--bundle", is_flag=True, help="Also pack the artifacts into one .tar.gz for copying to the device."
)
@click.option(
    "--allow-degraded",
    is_flag=True,
    help="Keep artifacts whose parity check failed (marked in the manifest).",
)
@click.option("--force", is_flag=True, help="Re-export artifacts that already exist for these weights.")
def export(
    profile, weights, imgsz, formats, precisions, data_yaml, out, bundle, allow_degraded, force
) -> None:
    """Export NMS-free artifacts (one folder + manifest.json each) for the profile's targets.

    \b
    Examples:
      edgeyolo export --profile x86-cpu --weights runs/train/yolo26n-320/weights/best.pt --imgsz 320 \\
          --data datasets/demo/data.yaml
      edgeyolo export --profile rpi5 --weights best.pt --formats openvino --precisions int8 --data d.yaml --bundle
    """
    from edgeyolo.export import ExportConfig
    from edgeyolo.export import export as run_export

    p = _profile(profile)
    r = run_export(ExportConfig(profile=p, weights=Path(weights), out=Path(out), imgsz=_parse_sizes(imgsz),
                                targets=_parse_targets(formats, precisions, p),
                                data=Path(data_yaml) if data_yaml else None, bundle=bundle,
                                allow_degraded=allow_degraded, force=force))  # fmt: skip
    for i in r.items:
        mark = {"ok": "✅", "skipped": "➖", "error": "❌"}[i.status]
        what = str(i.artifact) + (" (already exported)" if i.reused else "") if i.status == "ok" else i.reason
        click.echo(f"{mark} {i.target.format}-{i.target.precision} {i.imgsz}: {what}")
        for w in i.warnings:
            click.echo(f"   warning: {w}")
    if r.bundle:
        click.echo(f"bundle: {r.bundle}")
    if not r.artifacts:
        raise click.ClickException("no artifact was exported; see the reasons above")


# ---------------------------------------------------------------- predict
@main.command()
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
def predict(artifact, source, conf, classes, threads, out, no_save) -> None:
    """Detect with an exported artifact on an image, a folder or a video (torch-free).

    Writes annotated images (or SOURCE.mp4), detections.json and detections.csv into --out.

    \b
    Example:
      edgeyolo predict artifacts/yolo26n-320-openvino-int8 street.mp4 --conf 0.4 --out preds/
    """
    from rich.progress import Progress

    from edgeyolo.predict import PredictConfig
    from edgeyolo.predict import predict as run_predict

    try:
        keep = tuple(int(c) for c in classes.split(",")) if classes else None
    except ValueError:
        raise click.BadParameter(f"'{classes}': use class ids like 0,2", param_hint="--classes") from None
    cfg = PredictConfig(artifact=Path(artifact), source=Path(source), out=Path(out), conf=conf, classes=keep,
                        threads=threads, save_images=not no_save)  # fmt: skip
    with Progress(transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("predict", total=None)
        r = run_predict(
            cfg, progress=lambda done, total: bar.update(task, completed=done, total=total or None)
        )
    click.echo(f"{r.frames} frame(s), {r.detections} detection(s) at conf >= {r.conf:.3g} ({r.conf_source})")
    for f in r.files.values():
        click.echo(f"wrote {f}")


# ---------------------------------------------------------------- run
@main.command()
@PROFILE_OPT
@click.option("--data", "data_yaml", default=None, type=click.Path(dir_okay=False),
              help="YOLO data.yaml; default: generate the built-in demo dataset.")  # fmt: skip
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="Folder for everything the run writes."
)
@click.option(
    "--models",
    default=None,
    help="Comma-separated scales or configs (yolo26n,yolo26s; a local .pt fine-tunes). "
    "Default: the profile's with --data, yolo26n for the demo.",
)
@click.option(
    "--weights", default=None, help="Comma-separated trained .pt files to reuse instead of training."
)
@click.option("--epochs", type=click.IntRange(min=1), default=15, show_default=True)
@click.option(
    "--imgsz",
    default=None,
    help="Comma-separated sizes. Default: the profile's with --data, its first for the demo.",
)
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--device", default=None, help="Training device: cpu, 0, 0,1.")
@click.option(
    "--synth-train",
    type=click.IntRange(min=1),
    default=128,
    show_default=True,
    help="Demo dataset training images (without --data).",
)
@click.option("--synth-val", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--bench-iterations", type=click.IntRange(min=1), default=None, help="Default: the profile's.")
@remote_options
def run(
    profile,
    data_yaml,
    out,
    models,
    weights,
    epochs,
    imgsz,
    batch,
    device,
    synth_train,
    synth_val,
    bench_iterations,
    **remote,
) -> None:
    """The full sweep: train each model x size, export every target, bench, select, report. Resumable.

    Rerunning the same command after a crash continues where it stopped: finished trainings, artifacts and
    measurements are reused, an interrupted training resumes from its last epoch.

    \b
    Examples:
      edgeyolo run --profile x86-cpu --out demo
      edgeyolo run --profile rpi5 --data data.yaml --out sweep --models yolo26n,yolo26s --imgsz 320,480 \\
          --host pi@rpi5.local --remote-python '~/ey/bin/python'
    """
    import time

    from edgeyolo.pipeline import PipelineConfig, run_pipeline

    devices, opts = remote_from_options(**remote)
    t0 = time.perf_counter()
    r = run_pipeline(
        PipelineConfig(
            profile=_profile(profile),
            out=Path(out),
            data=Path(data_yaml) if data_yaml else None,
            models=_parse_list(models),
            weights=tuple(Path(w) for w in _parse_list(weights) or ()),
            epochs=epochs,
            imgsz=_parse_sizes(imgsz),
            batch=batch,
            device=device,
            synth_train=synth_train,
            synth_val=synth_val,
            bench_iterations=bench_iterations,
            train_overrides=_demo_overrides(batch) if data_yaml is None else {},
            devices=tuple(devices),
            remote=opts,
        ),
        log=click.echo,
    )
    click.echo(f"\nselected: {r.selected or 'none'}. {r.reason}")
    for label, folder in r.reports.items():
        click.echo(f"report ({label}): {folder / 'report.html'} (and report.md, report.json, results.csv)")
    if r.compare_dir:
        click.echo(f"compare: {r.compare_dir / 'compare.html'}")
    click.echo(f"took {time.perf_counter() - t0:.0f} s")


def _parse_list(value: str | None) -> tuple[str, ...] | None:
    items = tuple(v.strip() for v in (value or "").split(",") if v.strip())
    return items or None


def _demo_overrides(batch: int) -> dict:
    # The built-in demo is a short CPU run: one optimizer step per batch (nbs = batch) instead of accumulating
    # to 64 images, a one-epoch warm-up and two mosaic-free epochs at the end. A user's --data gets the recipe.
    return {"nbs": batch, "warmup_epochs": 1, "close_mosaic": 2}


# ---------------------------------------------------------------- commands in edgeyolo/commands/
def _add_module_commands() -> None:
    from edgeyolo.commands import commands

    for command in commands():
        main.add_command(command)


_add_module_commands()

if __name__ == "__main__":
    main()
