"""``edgeyolo bench``: measure artifacts on this machine."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edgeyolo.commands._options import PROFILE_OPT, remote_from_options, remote_options


@click.command("bench")
@PROFILE_OPT
@click.argument("artifacts", nargs=-1, required=True, type=click.Path())
@click.option("--data", "data_yaml", default=None, type=click.Path(dir_okay=False),
              help="data.yaml: val images for latency and the artifact's mAP. Without it: latency only.")  # fmt: skip
@click.option("--out", default="results.jsonl", show_default=True, type=click.Path(dir_okay=False))
@click.option(
    "--threads", type=click.IntRange(min=1), default=None, help="Inference threads; default: profile's."
)
@click.option(
    "--iterations", type=click.IntRange(min=1), default=None, help="Timed runs; default: profile's."
)
@click.option(
    "--warmup", type=click.IntRange(min=0), default=None, help="Untimed runs first; default: profile's."
)
@click.option(
    "--accuracy-images", type=click.IntRange(min=1), default=None, help="Score mAP on the first N val images."
)
@click.option(
    "--min-duration",
    type=click.FloatRange(min=0),
    default=None,
    help="Keep timing until this many seconds have passed too; default: the profile's.",
)
@click.option("--rounds", type=click.IntRange(min=1), default=None,
              help="Interleaved rounds: every candidate once per round, each round a fresh process; --iterations and "
                   "--min-duration are spread over them. Default: the profile's bench.rounds.")  # fmt: skip
@click.option("--round-index", type=click.IntRange(min=0), default=None, hidden=True,
              help="Measure only this round (0-based) for a controller that pools rounds (remote bench).")  # fmt: skip
@click.option(
    "--streams",
    default=None,
    metavar="N|auto",
    callback=lambda ctx, param, v: _streams(v),
    help="Also measure N concurrent streams (cameras) served the runtime's best way, paced at the target FPS "
    "(--fps, else the profile's fps): aggregate and per-stream FPS, latency from capture, dropped "
    "frames. 'auto': the most streams that keep the target FPS within the latency budget.",
)
@click.option(
    "--fps",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Target frames per second of each stream of --streams; default: the profile's fps.",
)
@click.option(
    "--streams-duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Seconds per streams trial (default 3).",
)
@remote_options
@click.option("--resume", is_flag=True, help="Skip candidates that already have a result in --out.")
@click.option("--force", is_flag=True, help="Measure candidates again even when --out has their results.")
def command(
    profile, artifacts, data_yaml, out, threads, iterations, warmup, accuracy_images, min_duration, rounds, round_index,
    streams, fps, streams_duration, resume, force, **remote,
) -> None:  # fmt: skip
    """Measure latency (per stage, percentiles), memory and mAP of artifacts; append to a JSONL file.

    Locally, or on devices over SSH (--host / --devices): artifacts and the val split are copied
    (checksummed, skipped when already there) and measured by edgeyolo installed on the device.

    \b
    Examples:
      edgeyolo bench --profile x86-cpu artifacts/yolo26n-320-onnx-fp32 --data datasets/demo/data.yaml
      edgeyolo bench --profile rpi5 artifacts/* --data data.yaml --host pi@rpi5.local --remote-python '~/ey/bin/python'
      edgeyolo bench --profile rpi5 artifacts/* --data data.yaml --streams auto --fps 15
    """
    import edgeyolo.api as api

    def show(r: dict) -> None:
        click.echo(api.record_line(r))

    cfg = api.BenchConfig(profile=api.load_profile(profile), artifacts=tuple(Path(a) for a in artifacts), out=Path(out),
                          data=Path(data_yaml) if data_yaml else None, threads=threads, warmup=warmup,
                          iterations=iterations, min_duration_s=min_duration, accuracy_images=accuracy_images,
                          rounds=rounds, round_index=round_index, streams=streams, fps=fps,
                          streams_duration_s=streams_duration, resume=resume, force=force)  # fmt: skip
    devices, opts = remote_from_options(**remote)
    if devices:
        r = api.benchmark_remote(cfg, devices, opts, on_record=show, log=lambda m: click.echo(m, err=True))
    else:
        r = api.benchmark(cfg, on_record=show, log=lambda m: click.echo(m, err=True))
    for skipped in r.skipped:
        click.echo(f"➖ {skipped.name}: already in {r.out} (--resume)")
    click.echo(f"records appended to {r.out}")
    if r.records and all(rec["status"] != "ok" for rec in r.records):
        sys.exit(1)


def _streams(value: str | None) -> int | str | None:
    """--streams: a number of streams (at least 1) or 'auto'."""
    if value is None or value.strip().lower() == "auto":
        return None if value is None else "auto"
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise click.BadParameter(f"'{value}' is not a number of streams (1 or more) or 'auto'")
    return n
