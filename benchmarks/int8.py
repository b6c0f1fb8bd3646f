"""INT8 vs FP32 on this CPU: latency ratio and mAP50-95 drop, OpenVINO and ONNX Runtime.

Uses a properly trained model: the demo's (``make demo``) by default. Each artifact is exported with the
demo dataset for calibration and benchmarked in its own process (edgeyolo bench). Goal: OpenVINO INT8
<= 0.7x the FP32 latency with <= 0.02 mAP50-95 drop.
    .venv/bin/python benchmarks/int8.py [--weights demo/train/yolo26n-320/weights/best.pt] [--data demo/data/data.yaml]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default="demo/train/yolo26n-320/weights/best.pt")
    ap.add_argument("--data", default="demo/data/data.yaml")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    if not Path(a.weights).is_file():
        raise SystemExit(f"{a.weights} not found: run 'make demo' first or pass --weights/--data")

    from edgeyolo.bench import BenchConfig, benchmark
    from edgeyolo.export import ExportConfig, export
    from edgeyolo.profiles import TargetSpec, load_profile

    profile = load_profile("x86-cpu")
    targets = tuple(TargetSpec(f, p, r) for f, r in (("onnx", "onnxruntime"), ("openvino", "openvino"))
                    for p in ("fp32", "int8"))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        ex = export(ExportConfig(profile=profile, weights=Path(a.weights), out=Path(tmp), imgsz=(a.imgsz,),
                                 targets=targets, data=Path(a.data), allow_degraded=True))  # fmt: skip
        # Rounds of every candidate, each in its own process (as edgeyolo bench runs them): the machine's
        # speed drifts between minutes, so one pass can favour whichever candidate ran in a quiet moment.
        by: dict[tuple[str, str], list[dict]] = {}
        for i in range(a.rounds):
            res = benchmark(BenchConfig(profile=profile, artifacts=tuple(ex.artifacts), out=Path(tmp) / f"r{i}.jsonl",
                                        data=Path(a.data), iterations=a.iterations))  # fmt: skip
            for r in res.records:
                if r["status"] == "ok":
                    by.setdefault((r["candidate"]["format"], r["candidate"]["precision"]), []).append(r)

    def median(records: list[dict], stage: str) -> float:
        return float(np.median([r["latency_ms"][stage]["p50"] for r in records]))

    print(f"{a.rounds} rounds, median of each round's p50")
    for fmt in ("openvino", "onnx"):
        fp32, int8 = by.get((fmt, "fp32")), by.get((fmt, "int8"))
        if not (fp32 and int8):
            print(f"{fmt}: missing a candidate")
            continue
        l32, l8 = median(fp32, "end_to_end"), median(int8, "end_to_end")
        i32, i8 = median(fp32, "inference"), median(int8, "inference")
        m32, m8 = fp32[0]["accuracy"]["map50_95"], int8[0]["accuracy"]["map50_95"]
        print(f"{fmt:<9} FP32 e2e p50 {l32:6.2f} ms (infer {i32:6.2f}), INT8 {l8:6.2f} ms (infer {i8:6.2f}): "
              f"ratio {l8 / l32:.2f} e2e, {i8 / i32:.2f} inference; mAP50-95 {m32:.4f} -> {m8:.4f} (drop {m32 - m8:+.4f})")  # fmt: skip
    print("goal: OpenVINO INT8 <= 0.70x FP32 latency with <= 0.02 mAP50-95 drop")


if __name__ == "__main__":
    main()
