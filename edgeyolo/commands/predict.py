"""``edgeyolo predict``: detect with an exported artifact on files, cameras and streams (torch-free)."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from pathlib import Path

import click


def _status(snap: dict, name: str, total: int) -> str:
    """One status line from ``StreamStats.snapshot()``; the source's name last, cut first on a narrow terminal."""
    lat = snap["latency_p50_ms"]
    latency = f"p50 {lat:.0f} ms p90 {snap['latency_p90_ms']:.0f} ms" if lat is not None else "p50 -"
    done = f"{snap['processed']}/{total}" if total else str(snap["processed"])
    return (f"{done} frames | in {snap['input_fps']:.1f} fps | out {snap['processed_fps']:.1f} fps | "
            f"dropped {snap['dropped']} | {latency} | reconnects {snap['reconnects']} | {snap['elapsed_s']:.0f} s | "
            f"{name}")  # fmt: skip


@click.command("predict")
@click.argument("artifact", type=click.Path())
@click.argument("source")
@click.option(
    "--conf",
    type=click.FloatRange(0, 1),
    default=None,
    help="Confidence threshold; default: the artifact's F1-optimal one (edgeyolo diagnose), else 0.25.",
)
@click.option("--classes", default=None, help="Comma-separated class ids to keep.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Inference threads.")
@click.option("--out", default="predictions", show_default=True, type=click.Path(file_okay=False))
@click.option(
    "--no-save",
    is_flag=True,
    help="Only write detections.json/csv (and --jsonl), no annotated images or video.",
)
@click.option("--jsonl", default=None, metavar="PATH",
              help="One JSON line per processed frame as it is made (source, frame, ts, latency_ms, detections); "
                   "'-' for stdout.")  # fmt: skip
@click.option("--frames", type=click.IntRange(min=1), default=None, help="Stop after N processed frames.")
@click.option(
    "--duration", type=click.FloatRange(min=0, min_open=True), default=None, help="Stop after S seconds."
)
@click.option("--no-drop", is_flag=True,
              help="Process every frame of a live source (default there: the newest frame wins, older ones are "
                   "dropped and counted). Files always keep every frame.")  # fmt: skip
@click.option("--reconnect", type=click.IntRange(min=0), default=5, show_default=True,
              help="Reopen tries (back-off 0.5 s, doubling) when a camera or stream stops sending; 0: stop at once.")  # fmt: skip
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="Seconds without a frame after which a camera or stream has failed (to open, or to read).")  # fmt: skip
def command(artifact, source, conf, classes, threads, out, no_save, jsonl, frames, duration, no_drop, reconnect,
            timeout) -> None:  # fmt: skip
    """Detect with an exported artifact on an image, a folder, a video, a camera or a network stream (torch-free).

    SOURCE is a file or folder, a camera (0, /dev/video0) or a URL (rtsp://, http(s):// MJPEG or HLS,
    tcp:// or udp:// MPEG-TS). Capture, inference and output run concurrently; a live source runs until
    --frames, --duration or Ctrl-C, and a status line shows input and processed FPS, drops, latency and
    reconnects. Writes annotated images (or an annotated .mp4), detections.json and detections.csv into --out.

    \b
    Examples:
      edgeyolo predict artifacts/yolo26n-320-openvino-int8 street.mp4 --conf 0.4 --out preds/
      edgeyolo predict artifacts/yolo26n-320x192-openvino-int8 rtsp://cam.local/stream1 --jsonl - --no-save
    """
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    import edgeyolo.api as api

    try:
        keep = tuple(int(c) for c in classes.split(",")) if classes else None
    except ValueError:
        raise click.BadParameter(f"'{classes}': use class ids like 0,2", param_hint="--classes") from None
    to_stdout = jsonl == "-"
    cfg = api.PredictConfig(artifact=Path(artifact), source=source, out=Path(out), conf=conf, classes=keep,
                            threads=threads, save_images=not no_save, jsonl=None if to_stdout or not jsonl else Path(jsonl),
                            drop=False if no_drop else None, frames=frames, duration_s=duration, reconnect=reconnect,
                            timeout_s=timeout)  # fmt: skip
    echo = (lambda m: click.echo(m, err=True)) if to_stdout else click.echo
    state: dict = {"snap": None, "total": 0}

    def on_frame(rec: dict, stats) -> None:
        if to_stdout:
            sys.stdout.write(json.dumps(rec) + "\n")
            sys.stdout.flush()
        state["snap"] = stats.snapshot

    def progress(done: int, total: int) -> None:
        state["total"] = total

    def render() -> Text:
        line = _status(state["snap"](), source, state["total"]) if state["snap"] else f"opening {source} ..."
        return Text(line, no_wrap=True, overflow="ellipsis")

    console = Console(stderr=True)
    with Live(get_renderable=render, console=console, refresh_per_second=4, transient=True,
              redirect_stdout=False, redirect_stderr=False) if console.is_terminal else nullcontext():  # fmt: skip
        r = api.predict(cfg, progress=progress, on_frame=on_frame)
    line = f"{r.frames} frame(s), {r.detections} detection(s) at conf >= {r.conf:.3g} ({r.conf_source})"
    if r.live or r.dropped or r.reconnects:
        p50 = f"{r.latency_p50_ms:.1f}" if r.latency_p50_ms is not None else "-"
        p90 = f"{r.latency_p90_ms:.1f}" if r.latency_p90_ms is not None else "-"
        line += (f"; {r.fps:.1f} fps processed, {r.read} read, {r.dropped} dropped, {r.reconnects} reconnect(s), "
                 f"latency p50 {p50} ms p90 {p90} ms")  # fmt: skip
    echo(line)
    if r.stopped == "interrupted":
        echo("stopped by Ctrl-C; outputs complete")
    elif r.message:
        echo(f"stopped: {r.message}")
    for f in r.files.values():
        echo(f"wrote {f}")
