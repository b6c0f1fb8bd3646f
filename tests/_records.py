"""Hand-built, schema-valid benchmark records (``edgeyolo.bench/1``) for select/report/compare tests."""

from __future__ import annotations

import json
from pathlib import Path

from edgeyolo.bench.store import SCHEMA

CLASSES = ("person", "car", "bicycle")


def stats(p90: float, spread: float = 0.1) -> dict:
    """Latency statistics whose percentiles are ordered and proportional to ``p90``."""
    return {"n": 300, "mean": round(p90 * 0.92, 4), "std": round(p90 * spread / 3, 4), "min": round(p90 * 0.8, 4),
            "p50": round(p90 * 0.9, 4), "p90": p90, "p95": round(p90 * 1.05, 4), "p99": round(p90 * 1.2, 4),
            "max": round(p90 * 1.3, 4)}  # fmt: skip


def device(profile: str = "x86-cpu", hostname: str = "bench-host", **extra) -> dict:
    return {"profile": profile, "hostname": hostname, "cpu": "Test CPU @ 3.0GHz", "cores": 4, "arch": "x86_64",
            "os": "Linux 6.1", "python": "3.11.2", "governor": "performance", "temperature_c": 45.0,
            "power_mode": None, "runtime_versions": {"onnxruntime": "1.20.0"}, **extra}  # fmt: skip


def record(
    model: str = "yolo26n",
    imgsz: int = 320,
    fmt: str = "onnx",
    prec: str = "fp32",
    p90: float = 20.0,
    map_: float | None = 0.30,
    *,
    size: int = 1000,
    budget: float | None = 50.0,
    max_drop: float = 0.02,
    status: str = "ok",
    message: str | None = None,
    per_class: dict | None = None,
    dev: dict | None = None,
    power_w: float | None = None,
    root: str = "/art",
    shape: tuple[int, int] | None = None,
    shape_note: str | None = None,
    train: int | None = None,
) -> dict:
    """One record; an error record (``status='error'``) has only what bench writes for a failure.

    ``shape`` (h, w) makes a camera-shaped (or explicitly square) input: ``imgsz`` becomes its long side and the
    artifact folder is named by its label (``320x192``) as export names it; without it the record has no
    ``candidate.shape``, like records from before shapes. ``train`` sets ``candidate.train_imgsz``.
    """
    label = imgsz
    if shape is not None:
        imgsz, label = max(shape), (f"{shape[1]}" if shape[0] == shape[1] else f"{shape[1]}x{shape[0]}")
    artifact = f"{root}/{model}-{label}-{fmt}-{prec}"
    if status != "ok":
        return {"schema": SCHEMA, "status": status, "message": message or "worker crashed",
                "candidate": {"artifact": artifact}, "device": dev or {"profile": "x86-cpu"},
                "created": "2026-01-01T00:00:00+0000"}  # fmt: skip
    e2e = stats(p90)
    lat = {"preprocess": stats(p90 * 0.15), "inference": stats(p90 * 0.75), "postprocess": stats(p90 * 0.1),
           "end_to_end": e2e}  # fmt: skip
    accuracy = None
    if map_ is not None:
        pcs = (
            per_class
            if per_class is not None
            else {c: round(map_ + d, 4) for c, d in zip(CLASSES, (0.05, 0, -0.05))}
        )
        accuracy = {"dataset": "/data/d.yaml", "split": "val", "conf": 0.001, "images": 50, "map50": round(map_ + 0.2, 4),
                    "map50_95": map_, "per_class": pcs}  # fmt: skip
    power = None if power_w is None else {"source": "rapl", "mean_w": power_w, "mj_per_image": power_w * e2e["mean"],
                                          "window_s": 3.0, "samples": None}  # fmt: skip
    rec = {
        "schema": SCHEMA, "status": "ok",
        "candidate": {"model": model, "imgsz": imgsz, "format": fmt, "precision": prec, "runtime": "onnxruntime",
                      "threads": 4, "end2end": True, "artifact": artifact, "sha256": "ab" * 32, "size_bytes": size},
        "device": dev or device(),
        "settings": {"warmup": 5, "iterations": 300, "min_duration_s": 0.0, "latency_images": "val",
                     "latency_image_count": 50, "latency_budget_ms": budget, "max_map_drop": max_drop},
        "latency_ms": lat,
        "cold_start_ms": {"load": 120.0, "first_inference": p90 * 3},
        "throughput_fps": round(1000 / e2e["mean"], 2),
        "stability": {"cv": 0.03, "noisy": False, "reasons": [], "before": {}, "after": {}},
        "memory_mb": {"peak_rss": 180.5},
        "power": power, "power_note": None if power else "no power source",
        "accuracy": accuracy,
        "created": "2026-01-01T00:00:00+0000",
    }  # fmt: skip
    if shape is not None:
        rec["candidate"].update(shape=list(shape), shape_note=shape_note)
    if train is not None:
        rec["candidate"]["train_imgsz"] = train
    return rec


def sweep(
    dev: dict | None = None, scale: float = 1.0, map_shift: float = 0.0, root: str = "/art"
) -> list[dict]:
    """A realistic sweep: 2 models x 2 sizes x ONNX FP32/INT8 + OpenVINO FP32, one failed candidate."""
    recs = []
    for model, base_lat, base_map in (("yolo26n", 10.0, 0.30), ("yolo26s", 25.0, 0.38)):
        for imgsz, f in ((320, 1.0), (480, 2.2)):
            lat, m = base_lat * f * scale, round(base_map + (0.04 if imgsz == 480 else 0) + map_shift, 4)
            recs.append(
                record(model, imgsz, "onnx", "fp32", round(lat, 3), m, dev=dev, root=root, power_w=6.5)
            )
            recs.append(record(model, imgsz, "onnx", "int8", round(lat * 0.55, 3), round(m - 0.012, 4), dev=dev,
                               root=root, size=400, power_w=5.0))  # fmt: skip
            recs.append(record(model, imgsz, "openvino", "fp32", round(lat * 0.8, 3), round(m - 0.0005, 4), dev=dev,
                               root=root, power_w=6.0))  # fmt: skip
    recs.append(record("yolo26s", 480, "openvino", "int8", status="error", message="calibration failed", dev=dev,
                       root=root))  # fmt: skip
    return recs


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# ---------------------------------------------------------------- per-image data (paired bootstrap) for a record
def scene(n_images: int = 40, seed: int = 0, classes: int = 3):
    """Labelled val images (no files needed: the evaluation reads only labels and sizes)."""
    import numpy as np

    from edgeyolo.data.yolo import LabeledImage

    rng = np.random.default_rng(seed)
    items, sizes = [], []
    for i in range(n_images):
        n = int(rng.integers(2, 5))
        lab = np.c_[
            rng.integers(0, classes, n), rng.uniform(0.25, 0.75, (n, 2)), rng.uniform(0.1, 0.3, (n, 2))
        ]
        items.append(LabeledImage(Path(f"img{i:03d}.jpg"), lab.astype(np.float32)))
        sizes.append((240, 320))
    return items, sizes


def detections(
    items, sizes, *, miss_images: int = 0, miss_share: float = 0.0, jitter: float = 1.0, seed: int = 1
):
    """Detections from the labels: boxes moved by ``jitter`` px; on the first ``miss_images`` images (all when
    ``miss_share`` is set without them) that share of the boxes is missing; plus low-score false positives."""
    import numpy as np

    from edgeyolo.runtime.types import Detections

    rng = np.random.default_rng(seed)
    out = []
    for i, (item, (h, w)) in enumerate(zip(items, sizes)):
        lab = item.labels
        xyxy = np.c_[(lab[:, 1] - lab[:, 3] / 2) * w, (lab[:, 2] - lab[:, 4] / 2) * h,
                     (lab[:, 1] + lab[:, 3] / 2) * w, (lab[:, 2] + lab[:, 4] / 2) * h]  # fmt: skip
        xyxy = xyxy + rng.normal(0, jitter, xyxy.shape)
        keep = np.ones(len(lab), bool)
        if miss_share and (miss_images == 0 or i < miss_images):
            keep[: max(1, int(round(len(lab) * miss_share)))] = False
        junk = rng.uniform(0, 200, (5, 2))
        true_scores = rng.uniform(0.6, 0.95, len(lab))  # drawn whatever is kept: other images stay alike
        boxes = np.r_[xyxy[keep], np.c_[junk, junk + 30]].astype(np.float32)
        scores = np.r_[true_scores[keep], rng.uniform(0.01, 0.3, 5)].astype(np.float32)
        classes = np.r_[lab[keep, 0], rng.integers(0, 3, 5)].astype(np.int64)
        order = np.argsort(-scores)
        out.append(Detections(boxes[order], scores[order], classes[order]))
    return out


def with_per_image(rec: dict, folder: Path, items, sizes, dets, names=CLASSES) -> dict:
    """Give a hand-built record the accuracy bench measures: the library's mAP, its bootstrap intervals and the
    per-image sidecar (written into ``folder``, referenced as bench does)."""
    from edgeyolo._io import sha256_file
    from edgeyolo.bench.accuracy import coco_map
    from edgeyolo.bench.bootstrap import FORMAT, accuracy_ci, per_image

    m = coco_map(items, sizes, dets, names)
    pi = per_image(items, sizes, dets, names)
    import hashlib

    digest = hashlib.sha256(rec["candidate"]["artifact"].encode()).hexdigest()[:8]
    path = pi.save(folder / f"{Path(rec['candidate']['artifact']).name}-{digest}.npz")
    rec["accuracy"].update(map50_95=round(m["map50_95"], 5), map50=round(m["map50"], 5), ci=accuracy_ci(pi),
                           per_image={"format": FORMAT, "file": path.name, "path": str(path),
                                      "sha256": sha256_file(path), "images": len(items)})  # fmt: skip
    return rec
