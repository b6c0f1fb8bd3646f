"""A deterministic synthetic detection dataset in YOLO format (the built-in demo).

Five shape classes on textured, cluttered backgrounds, with a realistic spread of object sizes (many
below 32 px), partial occlusion and empty images. Each class has its own hue range and shape, so
yolo26n learns it from scratch in a few CPU minutes, while small, occluded and clutter-adjacent objects
keep the task from being trivial. The frames have a camera's aspect (16:9 unless told), so a camera-shaped
input can be trained and benchmarked on them. The same seed always gives the same bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml

from edgeyolo._io import write_text_atomic
from edgeyolo.errors import ConfigError
from edgeyolo.shapes import parse_aspect

CLASS_NAMES = ("circle", "square", "triangle", "star", "cross")
# OpenCV hue (0-180) centre per class; objects jitter around it.
_CLASS_HUE = (0, 30, 60, 105, 140)
MIN_SIDE = 32  # the shortest image side generated: the medium objects (32-80 px) still fit across it


@dataclass(frozen=True)
class SynthConfig:
    """What to generate."""

    out: Path
    train: int = 160  # training images
    val: int = 40  # validation images
    imgsz: int = 320  # image width in pixels; the height follows the aspect
    aspect: str = "16:9"  # frame aspect, width:height ("16:9", "4:3", "1:1") or a resolution ("1280x720")
    seed: int = 0
    empty_fraction: float = 0.1  # share of images with no objects (backgrounds)
    max_objects: int = 8


@dataclass
class SynthResult:
    data_yaml: Path
    images: dict[str, int] = field(default_factory=dict)  # split -> image count
    instances: dict[str, int] = field(default_factory=dict)  # split -> object count
    small: dict[str, int] = field(default_factory=dict)  # split -> objects smaller than 32 px


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Low-frequency colour noise plus grain, then grey clutter strokes and blobs."""
    base = rng.integers(40, 200, size=3)
    img = np.empty((h, w, 3), np.float32)
    for c in range(3):
        coarse = rng.normal(0, 1, size=(max(2, h // 40), max(2, w // 40))).astype(np.float32)
        img[..., c] = base[c] + 35 * cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, 6, size=(h, w, 3)).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    # Clutter in low-saturation colours: lines and irregular blobs that are not any class.
    for _ in range(int(rng.integers(3, 10))):
        grey = int(rng.integers(30, 230))
        color = tuple(int(np.clip(grey + rng.integers(-15, 16), 0, 255)) for _ in range(3))
        if rng.random() < 0.5:
            p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(img, p1, p2, color, int(rng.integers(1, 4)), cv2.LINE_AA)
        else:
            cx, cy, r = rng.integers(0, w), rng.integers(0, h), rng.integers(4, max(5, w // 12))
            n = int(rng.integers(5, 9))
            ang = np.sort(rng.uniform(0, 2 * np.pi, n))
            rad = r * rng.uniform(0.4, 1.0, n)
            pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1).astype(np.int32)
            cv2.fillPoly(img, [pts], color, cv2.LINE_AA)
    return img


def _shape_points(cls: int, cx: float, cy: float, size: float, angle: float) -> np.ndarray | None:
    """Polygon of a class's shape (None for the circle, drawn as a circle)."""
    r = size / 2
    if cls == 0:
        return None
    if cls == 1:
        ang = angle + np.pi / 4 + np.arange(4) * np.pi / 2
        rad = np.full(4, r * math.sqrt(2) * 0.75)
    elif cls == 2:
        ang = angle - np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        rad = np.full(3, r)
    elif cls == 3:
        ang = angle - np.pi / 2 + np.arange(10) * np.pi / 5
        rad = np.where(np.arange(10) % 2 == 0, r, r * 0.45)
    else:
        a, b = r, r * 0.33  # plus sign: 12 corners
        pts = np.array(
            [
                (-b, -a),
                (b, -a),
                (b, -b),
                (a, -b),
                (a, b),
                (b, b),
                (b, a),
                (-b, a),
                (-b, b),
                (-a, b),
                (-a, -b),
                (-b, -b),
            ]
        )
        rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        return pts @ rot.T + (cx, cy)
    return np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1)


def _object_size(rng: np.random.Generator, w: int) -> float:
    """Object size in pixels: ~45% small (< 32 px), ~35% medium, ~20% large."""
    u = rng.random()
    if u < 0.45:
        return float(rng.uniform(10, 31))
    if u < 0.80:
        return float(rng.uniform(32, 80))
    return float(rng.uniform(80, max(81, 0.42 * w)))


def _ioa(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection of two xyxy boxes over the smaller one's area."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / max(small, 1e-9)


def _render(
    rng: np.random.Generator, w: int, h: int, n_obj: int
) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    img = _background(rng, h, w)
    boxes: list[tuple[int, np.ndarray]] = []
    for _ in range(n_obj * 4):  # attempts: placements that would hide an object are retried
        if len(boxes) == n_obj:
            break
        cls = int(rng.integers(0, len(CLASS_NAMES)))
        size = _object_size(rng, w)
        cx, cy = rng.uniform(size * 0.3, w - size * 0.3), rng.uniform(size * 0.3, h - size * 0.3)
        angle = float(rng.uniform(-0.5, 0.5))
        pts = _shape_points(cls, cx, cy, size, angle)
        if pts is None:
            box = np.array([cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2])
        else:
            box = np.concatenate([pts.min(0), pts.max(0)])
        box = np.clip(box, 0, [w, h, w, h])
        if (box[2] - box[0]) < 6 or (box[3] - box[1]) < 6:
            continue
        # Occlusion: overlaps are allowed, but no object may be more than half covered.
        if any(_ioa(box, b) > 0.5 for _, b in boxes):
            continue
        hue = (_CLASS_HUE[cls] + int(rng.integers(-12, 13))) % 180
        hsv = np.uint8([[[hue, int(rng.integers(150, 256)), int(rng.integers(130, 256))]]])
        color = tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])
        edge = tuple(int(c * 0.5) for c in color)
        if pts is None:
            cv2.circle(img, (round(cx), round(cy)), round(size / 2), color, -1, cv2.LINE_AA)
            cv2.circle(img, (round(cx), round(cy)), round(size / 2), edge, 1, cv2.LINE_AA)
        else:
            ipts = np.round(pts).astype(np.int32)
            cv2.fillPoly(img, [ipts], color, cv2.LINE_AA)
            cv2.polylines(img, [ipts], True, edge, 1, cv2.LINE_AA)
        boxes.append((cls, box))
    # Sensor-like finish: slight blur and noise over objects and background alike.
    img = cv2.GaussianBlur(img, (3, 3), 0.6)
    img = np.clip(img.astype(np.int16) + rng.integers(-4, 5, size=img.shape), 0, 255).astype(np.uint8)
    return img, boxes


def frame_size(imgsz: int, aspect: str) -> tuple[int, int]:
    """``(w, h)`` of the generated images: ``imgsz`` wide, as tall as ``aspect`` makes it (16:9 at 320 ->
    320x180).

    Raises:
        ConfigError: ``aspect`` is not an aspect ratio or a resolution, or makes the images too flat.
    """
    try:
        a = parse_aspect(aspect, "data synth: --aspect")
    except ConfigError:
        raise ConfigError(
            f"data synth: --aspect {aspect!r} is not an aspect ratio or a resolution; write it like 16:9, "
            "4:3, 1:1 or 1280x720"
        ) from None
    w, h = imgsz, int(round(imgsz * a.h / a.w))
    if h < MIN_SIDE:
        raise ConfigError(
            f"data synth: --aspect {aspect} at --imgsz {imgsz} makes images {h} px tall; they must be at "
            f"least {MIN_SIDE} px: use a larger --imgsz or a less wide --aspect"
        )
    return w, h


def synthesize(cfg: SynthConfig) -> SynthResult:
    """Write the dataset under ``cfg.out`` and return where its ``data.yaml`` is.

    Raises:
        ConfigError: a count below 1, ``imgsz`` below 64 or an ``aspect`` that is not one (named as the
            ``data synth`` options).
    """
    if cfg.train < 1 or cfg.val < 1:
        raise ConfigError(f"data synth: --train and --val must be >= 1, got {cfg.train} and {cfg.val}")
    if cfg.imgsz < 64:
        raise ConfigError(f"data synth: --imgsz must be >= 64, got {cfg.imgsz}")
    w, h = frame_size(cfg.imgsz, cfg.aspect)
    out = Path(cfg.out)
    result = SynthResult(data_yaml=out / "data.yaml")
    for split, count, offset in (("train", cfg.train, 0), ("val", cfg.val, 1)):
        # One generator per split so the val set does not change when --train changes.
        rng = np.random.default_rng([cfg.seed, offset])
        img_dir, lbl_dir = out / "images" / split, out / "labels" / split
        img_dir.mkdir(parents=True, exist_ok=True)
        lbl_dir.mkdir(parents=True, exist_ok=True)
        n_inst = n_small = 0
        for i in range(count):
            n_obj = 0 if rng.random() < cfg.empty_fraction else int(rng.integers(1, cfg.max_objects + 1))
            img, boxes = _render(rng, w, h, n_obj)
            stem = f"{split}_{i:05d}"
            cv2.imwrite(str(img_dir / f"{stem}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
            lines = []
            for cls, (x1, y1, x2, y2) in boxes:
                bw, bh = x2 - x1, y2 - y1
                lines.append(
                    f"{cls} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {bw / w:.6f} {bh / h:.6f}"
                )
                n_small += max(bw, bh) < 32
            (lbl_dir / f"{stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
            n_inst += len(boxes)
        result.images[split], result.instances[split], result.small[split] = count, n_inst, n_small
    data = {
        "train": "images/train",
        "val": "images/val",
        "nc": len(CLASS_NAMES),
        "names": dict(enumerate(CLASS_NAMES)),
    }
    header = (
        f"# edgeyolo synthetic demo dataset (seed {cfg.seed}, {w}x{h}); paths are relative to this file\n"
    )
    write_text_atomic(result.data_yaml, header + yaml.safe_dump(data, sort_keys=False))
    return result
