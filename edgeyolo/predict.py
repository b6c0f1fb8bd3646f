"""``edgeyolo predict``: run an artifact on images, a folder, a video, a camera or a network stream, torch-free.

Writes annotated images (or an annotated video), the detections as JSON and CSV, and optionally one JSON line per
frame as it is made. Frames come from :class:`edgeyolo.live.Stream` (capture, inference and this writer run
concurrently) and go through the same runtime code as the benchmark, so what you see is what was measured.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edgeyolo.live.sources import VIDEO_SUFFIXES
from edgeyolo.live.stream import DEFAULT_CONF, FrameResult, Stream, StreamConfig, StreamStats, percentile
from edgeyolo.runtime.types import Detections

__all__ = ["DEFAULT_CONF", "VIDEO_SUFFIXES", "PredictConfig", "PredictResult", "annotate", "predict"]
CSV_FIELDS = ["source", "frame", "class_id", "class_name", "score", "x1", "y1", "x2", "y2"]
LIVE_VIDEO_FPS = 25.0  # an annotated live stream's frame rate when the source does not say
# detections.json is built in memory: a camera left running for a day would fill it. Past this many frames it keeps
# the counters only (detections.csv and --jsonl, written as they go, have every frame).
JSON_MAX_FRAMES = 10_000


@dataclass(frozen=True)
class PredictConfig:
    artifact: Path
    source: (
        Path | str
    )  # an image, a folder of images, a video file, a camera (0, /dev/video0) or a stream URL
    out: Path
    conf: float | None = None  # None: the artifact's diagnosed F1-optimal threshold, else DEFAULT_CONF
    classes: tuple[int, ...] | None = None  # keep only these class ids
    threads: int | None = None
    save_images: bool = True  # annotated images / video
    jsonl: Path | None = None  # one JSON line per processed frame, flushed as it is made
    drop: bool | None = None  # newest frame wins; None: on live sources only (files keep every frame)
    frames: int | None = None  # stop after this many processed frames
    duration_s: float | None = None  # stop after this many seconds
    reconnect: int = 5  # reopen tries per outage of a live source
    timeout_s: float = 10.0  # a live source silent this long has failed
    backoff_s: float = 0.5  # first reopen wait, doubled per try

    def stream_config(self) -> StreamConfig:
        return StreamConfig(artifact=self.artifact, source=self.source, conf=self.conf, classes=self.classes,
                            threads=self.threads, drop=self.drop, frames=self.frames, duration_s=self.duration_s,
                            reconnect=self.reconnect, timeout_s=self.timeout_s, backoff_s=self.backoff_s)  # fmt: skip


@dataclass
class PredictResult:
    out: Path
    frames: int = 0  # processed
    detections: int = 0
    files: dict[str, Path] = field(default_factory=dict)
    conf: float = DEFAULT_CONF  # the threshold used
    conf_source: str = "default"
    live: bool = False
    read: int = 0  # frames decoded from the source
    dropped: int = 0  # decoded but replaced by a newer one before inference
    reconnects: int = 0
    elapsed_s: float = 0.0
    fps: float = 0.0  # processed frames per second over the run
    latency_p50_ms: float | None = None  # decoded -> detections ready
    latency_p90_ms: float | None = None
    stopped: str = "end"  # end | frames | duration | interrupted | lost
    message: str = ""  # why a live source ended, when it did


def _palette(n: int) -> list[tuple[int, int, int]]:
    hsv = np.stack([np.linspace(0, 179, n, endpoint=False), np.full(n, 220), np.full(n, 255)], 1).astype(
        np.uint8
    )
    return [tuple(int(v) for v in c) for c in cv2.cvtColor(hsv[None], cv2.COLOR_HSV2BGR)[0]]


def annotate(img: np.ndarray, det: Detections, names: tuple[str, ...]) -> np.ndarray:
    """A copy of ``img`` with boxes and ``name score`` labels drawn."""
    out = img.copy()
    colors = _palette(max(len(names), 1))
    for (x1, y1, x2, y2), s, c in zip(
        det.xyxy.astype(int).tolist(), det.scores.tolist(), det.classes.tolist()
    ):
        color = colors[c % len(colors)]
        cv2.rectangle(out, (x1, y1), (x2, y2), color, 2)
        label = f"{names[c] if 0 <= c < len(names) else c} {s:.2f}"
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
        cv2.rectangle(out, (x1, max(y1 - th - 4, 0)), (x1 + tw + 2, max(y1, th + 4)), color, -1)
        cv2.putText(
            out,
            label,
            (x1 + 1, max(y1 - 3, th + 1)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    return out


class _Writer:
    """The outputs of one run: annotated images or video, detections.csv as it goes, the JSONL, detections.json."""

    def __init__(self, cfg: PredictConfig, stream: Stream, result: PredictResult):
        self.cfg, self.stream, self.result = cfg, stream, result
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.per_frame: list[dict] = []
        self.video: cv2.VideoWriter | None = None
        self.images = stream.source.kind in ("image", "folder")
        result.files["csv"] = self.out / "detections.csv"
        self.csv_file = open(result.files["csv"], "w", newline="")
        self.csv = csv.DictWriter(self.csv_file, fieldnames=CSV_FIELDS, extrasaction="ignore")
        self.csv.writeheader()
        self.jsonl = None
        if cfg.jsonl is not None:
            result.files["jsonl"] = Path(cfg.jsonl)
            Path(cfg.jsonl).parent.mkdir(parents=True, exist_ok=True)
            self.jsonl = open(cfg.jsonl, "w")

    def write(self, r: FrameResult) -> dict:
        rec = r.record(self.stream.names)
        frame = None if self.images else r.index
        if len(self.per_frame) < JSON_MAX_FRAMES:
            self.per_frame.append({"source": r.name, "frame": frame, "detections": rec["detections"]})
        self.csv.writerows({"source": r.name, "frame": frame, **d, "x1": d["box"][0], "y1": d["box"][1],
                            "x2": d["box"][2], "y2": d["box"][3]} for d in rec["detections"])  # fmt: skip
        if self.jsonl is not None:
            self.jsonl.write(json.dumps(rec) + "\n")
            self.jsonl.flush()
        if self.cfg.save_images:
            drawn = annotate(r.image, r.detections, self.stream.names)
            if self.images:
                cv2.imwrite(str(self.out / f"{Path(r.name).stem}.jpg"), drawn)
            else:
                if self.video is None:
                    path = self.out / f"{self.stream.source.name}.mp4"
                    fps = self.stream.fps or LIVE_VIDEO_FPS
                    h, w = drawn.shape[:2]
                    self.video = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                    self.result.files["video"] = path
                self.video.write(drawn)
        self.result.frames += 1
        self.result.detections += len(r.detections)
        return rec

    def close(self) -> None:
        """Flush and close everything; detections.json last, with the run's counters."""
        if self.video is not None:
            self.video.release()
        if self.jsonl is not None:
            self.jsonl.close()
        self.csv_file.close()
        r = self.result
        self.result.files["json"] = self.out / "detections.json"
        summary = {"artifact": str(self.stream.runtime.artifact.root), "source": str(self.cfg.source), "conf": r.conf,
                   "conf_source": r.conf_source, "stopped": r.stopped, "read": r.read, "processed": r.frames,
                   "dropped": r.dropped, "reconnects": r.reconnects, "fps": r.fps,
                   "latency_p50_ms": r.latency_p50_ms, "latency_p90_ms": r.latency_p90_ms, "frames": self.per_frame,
                   "frames_truncated": r.frames > len(self.per_frame)}  # fmt: skip
        self.result.files["json"].write_text(json.dumps(summary, indent=1))


def predict(
    cfg: PredictConfig,
    progress: Callable[[int, int], None] | None = None,
    on_frame: Callable[[dict, StreamStats], None] | None = None,
) -> PredictResult:
    """Detect on every frame ``cfg.source`` delivers until it ends, ``cfg.frames``/``cfg.duration_s``, or Ctrl-C.

    ``progress(done, total)`` is called per processed frame (total 0 when unknown); ``on_frame(record, stats)``
    gets each frame's JSON record and the live counters. Ctrl-C (KeyboardInterrupt) ends the run cleanly: every
    output is flushed and closed and the result says ``stopped == "interrupted"``. An error from the source
    (an unreadable image) is raised after the frames before it were written.
    """
    stream = Stream(cfg.stream_config())
    result = PredictResult(out=Path(cfg.out), conf=stream.conf, conf_source=stream.conf_source,
                           live=stream.source.live)  # fmt: skip
    writer = _Writer(cfg, stream, result)
    try:
        for r in stream:
            rec = writer.write(r)
            if progress:
                progress(result.frames, stream.total)
            if on_frame:
                on_frame(rec, stream.stats)
        result.stopped = stream.stopped or "end"
    except KeyboardInterrupt:
        result.stopped = "interrupted"
    finally:
        stream.close()
        st = stream.stats
        result.read, result.dropped, result.reconnects = st.read, st.dropped, st.reconnects
        result.elapsed_s = round(st.snapshot()["elapsed_s"], 3)
        result.fps = round(result.frames / result.elapsed_s, 2) if result.elapsed_s > 0 else 0.0
        result.latency_p50_ms, result.latency_p90_ms = (
            percentile(st.latencies, 50),
            percentile(st.latencies, 90),
        )
        result.message = stream.message
        writer.close()
    return result
