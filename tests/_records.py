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
) -> dict:
    """One record; an error record (``status='error'``) has only what bench writes for a failure."""
    artifact = f"{root}/{model}-{imgsz}-{fmt}-{prec}"
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
    return {
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
