"""edgeyolo's runtime end to end vs the bare ONNX Runtime call vs Ultralytics' predict, same image and threads.

On one ONNX artifact (yolo26n, 320): edgeyolo letterbox + inference + decode, a bare ``session.run`` on a
pre-made tensor, and ``YOLO(artifact).predict()``. Goals: edgeyolo <= 1.15x the bare call and >= 1.3x
faster than Ultralytics predict. Uses the demo's weights when present (``make demo``), else an untrained
yolo26n built from its YAML (same compute).
    .venv/bin/python benchmarks/runtime_overhead.py [--weights best.pt] [--threads 2] [--n 300]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def _timeit_interleaved(fns: list, n: int, warmup: int = 20) -> list[np.ndarray]:
    """Round-robin over the variants so machine drift (other load, clocks) hits each alike."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    out = [np.empty(n) for _ in fns]
    for i in range(n):
        for k, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            out[k][i] = (time.perf_counter() - t0) * 1e3
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default="demo/train/yolo26n-320/weights/best.pt")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--n", type=int, default=300)
    a = ap.parse_args()

    from edgeyolo._ultralytics import import_ultralytics
    from edgeyolo.data.synth import SynthConfig, synthesize
    from edgeyolo.export import ExportConfig, export
    from edgeyolo.profiles import TargetSpec, load_profile
    from edgeyolo.runtime import load_runtime

    import_ultralytics()
    from ultralytics import YOLO

    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(a.weights)
        if not weights.is_file():
            weights = Path(tmp) / "yolo26n.pt"
            YOLO("yolo26n.yaml").save(str(weights))
        art = export(ExportConfig(profile=load_profile("x86-cpu"), weights=weights, out=Path(tmp) / "a", imgsz=(320,),
                                  targets=(TargetSpec("onnx", "fp32", "onnxruntime"),))).artifacts[0]  # fmt: skip
        data = synthesize(SynthConfig(out=Path(tmp) / "d", train=1, val=1, imgsz=640)).data_yaml
        img = cv2.imread(
            str(next((data.parent / "images" / "val").glob("*.jpg")))
        )  # 640x480: real letterboxing

        rt = load_runtime(art, threads=a.threads)
        tensor = rt.preprocess(img)[0].copy()
        name = rt.session.get_inputs()[0].name
        yolo = YOLO(str(art / "model.onnx"), task="detect")
        ours, bare, ul = _timeit_interleaved(
            [
                lambda: rt.predict(img, conf=0.25),
                lambda: rt.session.run(None, {name: tensor}),
                lambda: yolo.predict(img, imgsz=320, conf=0.25, verbose=False),
            ],
            a.n,
        )

    def row(name, t):
        print(
            f"{name:<34} p50 {np.percentile(t, 50):7.2f} ms   p90 {np.percentile(t, 90):7.2f} ms   mean {t.mean():7.2f} ms"
        )

    print(f"{a.n} runs, {a.threads} threads, 640x480 image -> 320 input")
    row("bare session.run (tensor ready)", bare)
    row("edgeyolo runtime (end to end)", ours)
    row("Ultralytics YOLO(onnx).predict", ul)
    print(f"edgeyolo / bare      = {np.median(ours) / np.median(bare):.3f}  (goal <= 1.15)")
    print(f"Ultralytics / edgeyolo = {np.median(ul) / np.median(ours):.3f}  (goal >= 1.3)")
    print(
        "note: Ultralytics' ONNX backend picks its own thread count; edgeyolo and the bare call use --threads"
    )


if __name__ == "__main__":
    main()
