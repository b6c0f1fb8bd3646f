"""``edgeyolo predict``: run an artifact on images, a folder or a video, torch-free.

Writes annotated images (or an annotated video) and the detections as JSON and CSV. Uses the same
runtime code as the benchmark, so what you see is what was measured.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edgeyolo.data.yolo import IMAGE_SUFFIXES
from edgeyolo.errors import ConfigError, DatasetError
from edgeyolo.runtime import load_runtime
from edgeyolo.runtime.types import Detections

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


DEFAULT_CONF = 0.25


@dataclass(frozen=True)
class PredictConfig:
    artifact: Path
    source: Path  # an image, a folder of images, or a video file
    out: Path
    conf: float | None = None  # None: the artifact's diagnosed F1-optimal threshold, else DEFAULT_CONF
    classes: tuple[int, ...] | None = None  # keep only these class ids
    threads: int | None = None
    save_images: bool = True  # annotated images / video


@dataclass
class PredictResult:
    out: Path
    frames: int = 0
    detections: int = 0
    files: dict[str, Path] = field(default_factory=dict)
    conf: float = DEFAULT_CONF  # the threshold used
    conf_source: str = "default"


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


def _images(source: Path) -> list[Path]:
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DatasetError(f"'{source}' has no images ({', '.join(IMAGE_SUFFIXES)})")
        return files
    return [source]


def _video_frames(source: Path) -> tuple[Iterator[np.ndarray], int, float, tuple[int, int]]:
    cap = cv2.VideoCapture(str(source))
    ok, first = cap.read()
    if not cap.isOpened() or not ok:
        cap.release()
        raise DatasetError(f"Video '{source}' cannot be read (unsupported codec or corrupt file)")
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 0
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0

    def frames() -> Iterator[np.ndarray]:
        frame: np.ndarray | None = first
        try:
            while frame is not None:
                yield frame
                ok, frame = cap.read()
                if not ok:
                    frame = None
        finally:
            cap.release()

    return frames(), total, fps, (first.shape[1], first.shape[0])


def _confidence(given: float | None, manifest: dict) -> tuple[float, str]:
    """The threshold to use and where it came from: the flag, the diagnosed one in the manifest, or the default."""
    if given is not None:
        return given, "--conf"
    diagnosed = manifest.get("conf_threshold")
    if isinstance(diagnosed, (int, float)) and 0 < diagnosed < 1:
        return float(diagnosed), "F1-optimal threshold from edgeyolo diagnose (manifest conf_threshold)"
    return DEFAULT_CONF, "default"


def predict(cfg: PredictConfig, progress: Callable[[int, int], None] | None = None) -> PredictResult:
    """Detect on every frame of ``cfg.source``; ``progress(done, total)`` is called per frame."""
    source = Path(cfg.source)
    if not source.exists():
        raise DatasetError(f"Source '{source}' not found; pass an image, a folder of images or a video file.")
    if cfg.conf is not None and not 0.0 <= cfg.conf <= 1.0:
        raise ConfigError(f"predict: --conf must be in [0, 1], got {cfg.conf}")
    rt = load_runtime(cfg.artifact, threads=cfg.threads)
    conf, conf_source = _confidence(cfg.conf, rt.artifact.manifest)
    names = rt.artifact.names
    classes = set(cfg.classes) if cfg.classes else None
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    result = PredictResult(out=out, conf=conf, conf_source=conf_source)
    rows: list[dict] = []
    per_frame: list[dict] = []

    def handle(name: str, frame_index: int | None, img: np.ndarray) -> np.ndarray:
        det = rt.predict(img, conf=conf, classes=classes)
        recs = det.to_records(names)
        per_frame.append({"source": name, "frame": frame_index, "detections": recs})
        rows.extend({"source": name, "frame": frame_index, **r, "box": None, "x1": r["box"][0], "y1": r["box"][1],
                     "x2": r["box"][2], "y2": r["box"][3]} for r in recs)  # fmt: skip
        result.frames += 1
        result.detections += len(det)
        return annotate(img, det, names)

    if source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES:
        frames, total, fps, size = _video_frames(source)
        writer = None
        if cfg.save_images:
            video_out = out / f"{source.stem}.mp4"
            writer = cv2.VideoWriter(str(video_out), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
            result.files["video"] = video_out
        try:
            for i, frame in enumerate(frames):
                drawn = handle(source.name, i, frame)
                if writer is not None:
                    writer.write(drawn)
                if progress:
                    progress(i + 1, total)
        finally:
            if writer is not None:
                writer.release()
    else:
        files = _images(source)
        for i, f in enumerate(files):
            img = cv2.imread(str(f))
            if img is None:
                raise DatasetError(
                    f"Image '{f}' cannot be read; is it an image file ({', '.join(IMAGE_SUFFIXES)})?"
                )
            drawn = handle(f.name, None, img)
            if cfg.save_images:
                cv2.imwrite(str(out / f"{f.stem}.jpg"), drawn)
            if progress:
                progress(i + 1, len(files))

    result.files["json"] = out / "detections.json"
    result.files["json"].write_text(json.dumps({"artifact": str(rt.artifact.root), "conf": conf, "conf_source": conf_source,
                                                "frames": per_frame}, indent=1))  # fmt: skip
    result.files["csv"] = out / "detections.csv"
    fields = ["source", "frame", "class_id", "class_name", "score", "x1", "y1", "x2", "y2"]
    with open(result.files["csv"], "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return result
