"""NCNN FP32/FP16 vs ONNX Runtime FP32 vs OpenVINO FP32 on this CPU: end-to-end latency and mAP50-95.

One set of weights (the demo's, ``make demo``, by default) is exported to the four targets with the demo
dataset (parity checked against PyTorch). Each round benchmarks every artifact with ``edgeyolo bench``'s
harness, each candidate in a process of its own, the same thread count for all, the order rotated from round
to round so the machine's drift (other jobs, clocks) hits each alike; the median of the rounds' p50 is
reported, with the ratios to ONNX Runtime FP32. The NCNN candidates' top-k runs in numpy and is timed as
postprocess, so end to end is the figure to compare.
    .venv/bin/python benchmarks/ncnn.py [--weights best.pt] [--data data.yaml] [--imgsz 320] [--threads 2]

Measured on the shared 2-core AMD EPYC dev machine (load average ~5 from other jobs), demo-style weights
trained at 160 px (mAP50-95 0.50 at 160): with 1 thread NCNN FP32 is 1.12x ONNX Runtime at 160 px and 1.26x
at 320 px, and 0.90x / 1.04x OpenVINO; NCNN FP16 is 1.04-1.16x NCNN FP32 (x86 has no FP16 arithmetic:
FP16 storage is converted back). With 2 threads NCNN degraded far more than the others under the
oversubscription (2.9x ONNX Runtime at 320 px): OpenMP's barriers stall when a thread is descheduled. mAP50-95
of every NCNN artifact equals ONNX Runtime's within 0.0002. NCNN's advantage is an ARM one (published Pi 5
figures); on x86 it is a correctness check of the artifact, not a speed claim.

pnnx pairing (checked by hand when NCNN export was added, yolo26n at 160 px, the library's own NCNN export
and edgeyolo's one-to-one graph): pnnx 20260704 (yanked) + ncnn 1.0.20260526 segfaults at extraction
(pnnx/pnnx#293); pnnx 20260526 and 20261020 run on ncnn 1.0.20260526 and 1.0.20261020. edgeyolo pins
pnnx 20261020.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

# This script shares its name with the ncnn package: keep its folder off the import path, or `import ncnn`
# (in export's load-back check) would import this file.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

CANDIDATES = (("ncnn", "fp32", "ncnn"), ("ncnn", "fp16", "ncnn"), ("onnx", "fp32", "onnxruntime"),
              ("openvino", "fp32", "openvino"))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default="demo/train/yolo26n-320/weights/best.pt")
    ap.add_argument("--data", default="demo/data/data.yaml")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--keep", help="export into this folder (kept) instead of a temporary one")
    a = ap.parse_args()
    if not (Path(a.weights).is_file() and Path(a.data).is_file()):
        raise SystemExit(f"{a.weights} or {a.data} not found: run 'make demo' first or pass --weights/--data")

    from edgeyolo.bench import BenchConfig, benchmark
    from edgeyolo.export import ExportConfig, export
    from edgeyolo.profiles import TargetSpec, load_profile

    profile = load_profile("x86-cpu")
    targets = tuple(TargetSpec(*c) for c in CANDIDATES)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(a.keep or tmp)
        ex = export(ExportConfig(profile=profile, weights=Path(a.weights), out=root / "artifacts", imgsz=(a.imgsz,),
                                 targets=targets, data=Path(a.data), allow_degraded=True))  # fmt: skip
        failed = [f"{i.target.key}: {i.reason}" for i in ex.items if i.status != "ok"]
        if failed:
            raise SystemExit("export failed: " + "; ".join(failed))
        arts = list(ex.artifacts)
        by: dict[tuple[str, str], list[dict]] = {}
        for i in range(a.rounds):
            order = arts[i % len(arts) :] + arts[: i % len(arts)]
            res = benchmark(BenchConfig(profile=profile, artifacts=tuple(order), out=root / f"r{i}.jsonl",
                                        data=Path(a.data), iterations=a.iterations, threads=a.threads, force=True))  # fmt: skip
            for r in res.records:
                if r["status"] != "ok":
                    raise SystemExit(f"{r['candidate']['artifact']}: {r.get('message')}")
                by.setdefault((r["candidate"]["format"], r["candidate"]["precision"]), []).append(r)

    def median(key: tuple[str, str], stage: str) -> float:
        return float(np.median([r["latency_ms"][stage]["p50"] for r in by[key]]))

    ref = median(("onnx", "fp32"), "end_to_end")
    first = by[("ncnn", "fp32")][0]
    print(f"yolo26n {a.imgsz} px, {a.threads} threads, {a.rounds} rounds x {a.iterations} iterations, val images of "
          f"{a.data}; median of the rounds' p50; machine: {first['device'].get('cpu')} "
          "(shared with other jobs while measured)")  # fmt: skip
    print(
        f"{'candidate':<14} {'e2e p50':>8} {'infer':>7} {'post':>6} {'vs ORT':>7} {'mAP50-95':>9}  rounds (e2e p50)"
    )
    for fmt, prec, _ in CANDIDATES:
        key = (fmt, prec)
        e2e = median(key, "end_to_end")
        acc = by[key][0]["accuracy"]
        rounds = ", ".join(f"{r['latency_ms']['end_to_end']['p50']:.2f}" for r in by[key])
        print(f"{fmt + ' ' + prec:<14} {e2e:8.2f} {median(key, 'inference'):7.2f} {median(key, 'postprocess'):6.2f} "
              f"{e2e / ref:7.3f} {acc['map50_95']:9.4f}  ({rounds})")  # fmt: skip
    m = {k: by[k][0]["accuracy"]["map50_95"] for k in by}
    print(f"NCNN FP32 / OpenVINO FP32 e2e = {median(('ncnn', 'fp32'), 'end_to_end') / median(('openvino', 'fp32'), 'end_to_end'):.3f}; "
          f"NCNN FP16 / NCNN FP32 = {median(('ncnn', 'fp16'), 'end_to_end') / median(('ncnn', 'fp32'), 'end_to_end'):.3f}")  # fmt: skip
    print(f"mAP50-95 NCNN FP32 - ONNX FP32 = {m[('ncnn', 'fp32')] - m[('onnx', 'fp32')]:+.4f} (goal |.| <= 0.01); "
          f"NCNN FP16 - NCNN FP32 = {m[('ncnn', 'fp16')] - m[('ncnn', 'fp32')]:+.4f}")  # fmt: skip
    print("NCNN settings:", first["settings"]["runtime"])
    print("versions:", {k: v for r in (first, by[("onnx", "fp32")][0], by[("openvino", "fp32")][0])
                        for k, v in r["device"]["runtime_versions"].items()})  # fmt: skip


if __name__ == "__main__":
    main()
