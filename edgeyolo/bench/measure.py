"""Measure one candidate artifact: latency per stage, cold start, memory, accuracy and, when asked, how it serves
concurrent streams (:mod:`edgeyolo.bench.streams`).

Runs inside a fresh worker process per candidate (see ``edgeyolo.bench.worker``), so peak memory and
allocator state belong to that candidate alone.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgeyolo.bench.environment import capture_environment, thermal_state
from edgeyolo.bench.power import PowerMeter
from edgeyolo.bench.stats import summarize
from edgeyolo.bench.store import SCHEMA
from edgeyolo.formats import runtime_of
from edgeyolo.runtime import load_artifact, runtime_class
from edgeyolo.runtime.base import RuntimeOptions, verify_artifact

MAP_CONF = 0.001  # the COCO protocol scores the full ranked list
NOISY_CV = 0.10  # end-to-end coefficient of variation above which a run is flagged noisy
MAX_LATENCY_IMAGES = 64  # decoded images kept in memory and cycled through by the latency loop


@dataclass(frozen=True)
class CandidateSpec:
    artifact: str
    profile: str
    threads: int
    warmup: int
    iterations: int
    min_duration_s: float = 0.0
    latency_budget_ms: float | None = None  # the profile's budget, carried into the record for select
    max_map_drop: float | None = None
    map_tie_margin: float | None = None  # the profile's tie margin, carried into the record for select
    data: str | None = None
    accuracy_images: int | None = None  # None = the whole val split
    power_source: str = "none"  # the profile's power.source
    accuracy: bool = True  # score mAP (with data); an interleaved set does it in its first round only
    keep_samples: bool = False  # put the raw latency samples into the record (rounds are pooled from them)
    per_image_out: str | None = None  # write the per-image evaluation (bootstrap sidecar) to this .npz
    train_imgsz: int | None = None  # the image size the model was trained at, when known
    streams: int | str | None = (
        None  # concurrent streams to measure (a number, or "auto": the capacity search)
    )
    target_fps: float | None = None  # each stream's frame rate (None: unpaced streams, throughput only)
    streams_duration_s: float | None = (
        None  # seconds per streams trial (None: bench.streams.DEFAULT_DURATION_S)
    )


def _peak_rss_mb() -> float:
    """Peak resident memory of this process.

    Linux carries ``ru_maxrss`` across ``execve``, so a worker started by a large parent (one that just
    trained a model) would report the parent's peak; ``VmHWM`` belongs to this process image alone.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def _stability(
    cv: float, before: dict, after: dict, jetson_clocks: dict | None = None, governor: str | None = None
) -> dict:
    """Flags that make a latency figure untrustworthy: spread, throttling, heating during the run, and DVFS
    left on (Jetson clocks not locked, a CPU frequency governor other than performance)."""
    throttled = bool(after.get("throttled") and any(after["throttled"]["now"].values()))
    reasons = []
    if governor and governor != "performance":
        reasons.append(f"CPU governor '{governor}' (not 'performance'): the clock may change during the run")
    if jetson_clocks is not None and not jetson_clocks["locked"]:
        reasons.append("Jetson clocks not locked (run 'sudo jetson_clocks' before benchmarking)")
    if cv > NOISY_CV:
        reasons.append(f"end-to-end CV {cv:.2f} > {NOISY_CV}")
    if throttled:
        reasons.append(f"device reports throttling ({after['throttled']['raw']})")
    b, a = before.get("cpu_mhz"), after.get("cpu_mhz")
    if b and a and a < 0.9 * b:
        reasons.append(f"CPU clock fell from {b:.0f} to {a:.0f} MHz")
    return {"cv": round(cv, 4), "noisy": bool(reasons), "reasons": reasons, "before": before, "after": after}


def _size_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def _synthetic_frames(n: int = 8, size: tuple[int, int] = (640, 480)) -> list[np.ndarray]:
    """Demo-style scenes the size of a VGA camera frame (used when no dataset is given): the letterbox
    resize then costs what it costs on a camera stream, whatever the model's input size."""
    from edgeyolo.data.synth import _render

    rng = np.random.default_rng(0)
    return [_render(rng, size[0], size[1], 5)[0] for _ in range(n)]


def measure(spec: CandidateSpec) -> dict:
    """Benchmark record for one artifact (``status`` ok), following ``edgeyolo.bench/1``."""
    art = load_artifact(spec.artifact)
    sha = verify_artifact(art)  # measure the artifact that was exported, or nothing
    m = art.manifest
    cls = runtime_class(runtime_of(m))

    labeled = names = None
    if spec.data:
        from edgeyolo.data.yolo import load_dataset, load_split

        dataset = load_dataset(spec.data)
        names = dataset.names
        labeled = load_split(dataset, "val", limit=spec.accuracy_images)
        frames = [cv2.imread(str(i.path)) for i in labeled[:MAX_LATENCY_IMAGES]]
        latency_source = "val"
    else:
        frames = _synthetic_frames()
        latency_source = "synthetic"

    t0 = time.perf_counter()
    rt = cls(art, RuntimeOptions(threads=spec.threads))
    load_ms = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    rt.predict(frames[0])
    first_ms = (time.perf_counter() - t0) * 1e3

    for i in range(spec.warmup):
        rt.predict(frames[i % len(frames)])
    stages: dict[str, list[float]] = {"preprocess": [], "inference": [], "postprocess": [], "end_to_end": []}
    env = capture_environment(spec.profile)  # device tools may take seconds: not inside the timed window
    before = thermal_state()
    start = time.perf_counter()
    i = 0
    with PowerMeter(spec.power_source) as meter:  # same window as the timed latency run
        while i < spec.iterations or time.perf_counter() - start < spec.min_duration_s:
            rt.predict(frames[i % len(frames)])
            t = rt.last_times
            stages["preprocess"].append(t.preprocess)
            stages["inference"].append(t.inference)
            stages["postprocess"].append(t.postprocess)
            stages["end_to_end"].append(t.end_to_end)
            i += 1
    power = meter.result(i)
    after = thermal_state()
    latency = {k: summarize(v) for k, v in stages.items()}
    e2e = latency["end_to_end"]
    cv = e2e["std"] / e2e["mean"] if e2e["mean"] else 0.0

    accuracy = None
    if labeled is not None and spec.accuracy:
        from edgeyolo.bench.accuracy import coco_map

        dets, sizes = [], []
        for item in labeled:
            img = cv2.imread(str(item.path))
            sizes.append(img.shape[:2])
            dets.append(rt.predict(img, conf=MAP_CONF))
        accuracy = {"dataset": str(Path(spec.data).resolve()), "split": "val", "conf": MAP_CONF,
                    **coco_map(labeled, sizes, dets, names)}  # fmt: skip
        if accuracy["map50_95"] is not None:
            accuracy.update(_intervals(labeled, sizes, dets, names, spec.per_image_out))

    peak_rss = _peak_rss_mb()  # before the streams: their extra sessions are not the single stream's memory
    streams = _streams(rt, frames, spec) if spec.streams is not None else None
    return {
        "schema": SCHEMA,
        "status": "ok",
        "candidate": {
            "model": m.get("model"),
            "imgsz": art.imgsz,  # the long side; the input itself is shape [h, w]
            "shape": list(art.shape),
            "format": art.format,
            "precision": art.precision,
            "runtime": rt.name,
            "threads": spec.threads,
            "end2end": bool(m.get("end2end")),
            "artifact": str(art.root.resolve()),
            "sha256": sha,
            "size_bytes": _size_bytes(art.root),
            "train_imgsz": spec.train_imgsz,
        },  # fmt: skip
        "device": {**env, "runtime_versions": rt.versions()},
        "settings": {
            "warmup": spec.warmup,
            "iterations": spec.iterations,
            "min_duration_s": spec.min_duration_s,
            "latency_images": latency_source,
            "latency_image_count": len(frames),
            "runtime": {**rt.settings(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
            "latency_budget_ms": spec.latency_budget_ms,
            "max_map_drop": spec.max_map_drop,
            "map_tie_margin": spec.map_tie_margin,
            "accuracy_images": spec.accuracy_images,  # the val images scored (None: the whole split)
        },  # fmt: skip
        "latency_ms": latency,
        "cold_start_ms": {"load": round(load_ms, 3), "first_inference": round(first_ms, 3)},
        "throughput_fps": round(1000.0 / e2e["mean"], 2) if e2e["mean"] else None,
        "stability": _stability(cv, before, after, env.get("jetson_clocks"), env.get("governor")),
        "memory_mb": {"peak_rss": peak_rss},
        "power": power,
        "power_note": None if power is not None else meter.reason,
        "accuracy": accuracy,
        **({"streams": streams} if streams is not None else {}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **({"latency_samples_ms": {k: [round(v, 4) for v in vals] for k, vals in stages.items()}}
           if spec.keep_samples else {}),
    }  # fmt: skip


def _streams(rt, frames: list[np.ndarray], spec: CandidateSpec) -> dict:
    """The record's ``streams``: the artifact serving concurrent streams (see :mod:`edgeyolo.bench.streams`),
    and the peak memory with them."""
    from edgeyolo.bench.streams import DEFAULT_DURATION_S, measure_streams

    duration = spec.streams_duration_s or DEFAULT_DURATION_S
    out = measure_streams(rt.open_streams, frames, streams=spec.streams, fps=spec.target_fps,
                          budget_ms=spec.latency_budget_ms, duration_s=duration)  # fmt: skip
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


def _intervals(labeled, sizes, dets, names, per_image_out: str | None) -> dict:
    """Bootstrap intervals of mAP over the val images and, when asked, the per-image evaluation they came from
    (the sidecar that paired comparisons between candidates read)."""
    from edgeyolo._io import sha256_file
    from edgeyolo.bench.bootstrap import FORMAT, accuracy_ci, per_image

    pi = per_image(labeled, sizes, dets, names)
    out: dict = {"ci": accuracy_ci(pi)}
    if per_image_out:
        path = pi.save(per_image_out)
        out["per_image"] = {"format": FORMAT, "file": None, "sha256": sha256_file(path), "images": len(pi.images),
                            "image_digest": pi.image_digest, "detections": pi.detections,
                            "kept": int(pi.det_score.size)}  # fmt: skip
    return out
