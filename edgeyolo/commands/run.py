"""``edgeyolo run``: the full resumable sweep (train, export, bench, select, report)."""

from __future__ import annotations

from pathlib import Path

import click

from edgeyolo.commands._options import PROFILE_OPT, parse_sizes, remote_from_options, remote_options


def _parse_list(value: str | None) -> tuple[str, ...] | None:
    items = tuple(v.strip() for v in (value or "").split(",") if v.strip())
    return items or None


def _demo_overrides(batch: int) -> dict:
    # The built-in demo is a short CPU run: one optimizer step per batch (nbs = batch) instead of accumulating
    # to 64 images, a one-epoch warm-up and two mosaic-free epochs at the end. A user's --data gets the recipe.
    return {"nbs": batch, "warmup_epochs": 1, "close_mosaic": 2}


@click.command("run")
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
    help="Comma-separated sizes (320 square, 320x192 width x height). Default: the profile's with --data, its "
    "first for the demo. Each size also gets a camera-shaped candidate: the profile's camera, else the val images' "
    "aspect.",
)
@click.option("--square-only", is_flag=True,
              help="No camera-shaped candidates: square inputs only (and the WxH sizes given).")  # fmt: skip
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
@click.option("--bench-rounds", type=click.IntRange(min=1), default=None,
              help="Interleaved benchmark rounds (each candidate once per round, in a fresh process). "
                   "Default: the profile's bench.rounds.")  # fmt: skip
@click.option("--ray-address", default=None,
              help="Train and export on Ray: auto, host:port or ray://host:10001 of a cluster, or local (a Ray started "
                   "here). Bench stays here or on the --host devices. Needs edgeyolo[ray].")  # fmt: skip
@click.option("--gpus-per-training", type=click.FloatRange(min=0), default=None,
              help="Ray: GPUs per training and export task. Default: 1 where the cluster has GPUs, else 0.")  # fmt: skip
@click.option("--cpus-per-training", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Ray: CPUs per training and export task.")  # fmt: skip
@click.option("--num-cpus", type=click.IntRange(min=1), default=None,
              help="Ray: CPUs of the local instance (--ray-address local).")  # fmt: skip
@click.option("--shared-out", is_flag=True,
              help="Ray: --out is on storage every node mounts at the same path; tasks write there instead of "
                   "shipping their outputs back.")  # fmt: skip
@remote_options
def command(profile, data_yaml, out, models, weights, epochs, imgsz, square_only, batch, device, synth_train,
            synth_val, bench_iterations, bench_rounds, ray_address, gpus_per_training, cpus_per_training, num_cpus,
            shared_out, **remote) -> None:  # fmt: skip
    """The full sweep: train each model x size, export every target, bench, select, report. Resumable.

    Rerunning the same command after a crash continues where it stopped: finished trainings, artifacts and
    measurements are reused, an interrupted training resumes from its last epoch.

    \b
    Examples:
      edgeyolo run --profile x86-cpu --out demo
      edgeyolo run --profile rpi5 --data data.yaml --out sweep --models yolo26n,yolo26s --imgsz 320,480 \\
          --host pi@rpi5.local --remote-python '~/ey/bin/python'
      edgeyolo run --profile rpi5 --data data.yaml --out sweep --models yolo26n,yolo26s --imgsz 320,480 \\
          --ray-address auto --gpus-per-training 1
    """
    import time

    import edgeyolo.api as api

    if not ray_address and (shared_out or gpus_per_training is not None or num_cpus is not None):
        raise click.UsageError("--shared-out, --gpus-per-training and --num-cpus need --ray-address")
    devices, opts = remote_from_options(**remote)
    t0 = time.perf_counter()
    r = api.run_pipeline(
        api.PipelineConfig(
            profile=api.load_profile(profile),
            out=Path(out),
            data=Path(data_yaml) if data_yaml else None,
            models=_parse_list(models),
            weights=tuple(Path(w) for w in _parse_list(weights) or ()),
            epochs=epochs,
            imgsz=parse_sizes(imgsz),
            camera_shapes=not square_only,
            batch=batch,
            device=device,
            synth_train=synth_train,
            synth_val=synth_val,
            bench_iterations=bench_iterations,
            bench_rounds=bench_rounds,
            train_overrides=_demo_overrides(batch) if data_yaml is None else {},
            devices=tuple(devices),
            remote=opts,
            ray_address=ray_address,
            gpus_per_training=gpus_per_training,
            cpus_per_training=cpus_per_training,
            num_cpus=num_cpus,
            shared_out=shared_out,
        ),
        log=click.echo,
    )
    click.echo(f"\nselected: {r.selected or 'none'}. {r.reason}")
    for label, folder in r.reports.items():
        click.echo(f"report ({label}): {folder / 'report.html'} (and report.md, report.json, results.csv)")
    if r.compare_dir:
        click.echo(f"compare: {r.compare_dir / 'compare.html'}")
    click.echo(f"took {time.perf_counter() - t0:.0f} s")
