"""Does ``edgeyolo bench`` measure what the reference tools measure? And how much does p50 move run to run?

For one OpenVINO and one ONNX artifact, the inference-stage p50 that ``edgeyolo bench`` records (fresh
worker process, warm-up, val images) vs
  - OpenVINO: ``benchmark_app -hint none -nstreams 1 -nthreads N -api sync`` (the vendor's tool), and
  - a bare timing loop (``infer``/``session.run`` on one pre-made tensor, same threads, in this process).
(For the ONNX artifact the reference is only the bare loop: ``onnxruntime_perf_test`` is not on PyPI, and
``benchmark_app`` would run the .onnx through OpenVINO, a different runtime.)
The tools run interleaved, ``--rounds`` times, so drift of the machine hits all alike. Goal: edgeyolo
within 10% of each reference. The run-to-run spread is the coefficient of variation of edgeyolo's p50
over the rounds. Uses the demo's artifacts (``make demo``) when present, else exports an untrained yolo26n.

    .venv/bin/python benchmarks/fidelity.py [--threads 2] [--iterations 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _artifacts(tmp: Path) -> dict[str, Path]:
    demo = Path("demo/artifacts")
    found = {"openvino": demo / "yolo26n-320-openvino-fp32", "onnx": demo / "yolo26n-320-onnx-fp32"}
    if all((p / "manifest.json").is_file() for p in found.values()):
        return found
    from edgeyolo._backend.env import import_ultralytics
    from edgeyolo.export import ExportConfig, export
    from edgeyolo.profiles import TargetSpec, load_profile

    import_ultralytics()
    from ultralytics import YOLO

    weights = tmp / "yolo26n.pt"
    YOLO("yolo26n.yaml").save(str(weights))
    targets = (TargetSpec("openvino", "fp32", "openvino"), TargetSpec("onnx", "fp32", "onnxruntime"))
    arts = export(ExportConfig(profile=load_profile("x86-cpu"), weights=weights, out=tmp / "a", imgsz=(320,),
                               targets=targets)).artifacts  # fmt: skip
    return {"openvino": arts[0], "onnx": arts[1]}


def edgeyolo_p50(art: Path, threads: int, iterations: int, out: Path) -> float:
    from edgeyolo.bench import BenchConfig, benchmark
    from edgeyolo.profiles import load_profile

    r = benchmark(BenchConfig(profile=load_profile("x86-cpu"), artifacts=(art,), out=out, threads=threads,
                              warmup=20, iterations=iterations, force=True))  # fmt: skip
    rec = r.records[-1]
    if rec["status"] != "ok":
        raise SystemExit(f"edgeyolo bench failed: {rec['message']}")
    return rec["latency_ms"]["inference"]["p50"]


def benchmark_app_p50(art: Path, threads: int, iterations: int) -> float:
    exe = shutil.which("benchmark_app", path=str(Path(sys.executable).parent)) or "benchmark_app"
    cmd = [exe, "-m", str(art / "model.xml"), "-d", "CPU", "-hint", "none", "-nstreams", "1",
           "-nthreads", str(threads), "-api", "sync", "-niter", str(iterations)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = re.search(r"Median:\s+([\d.]+)\s*ms", out)
    if not m:
        raise SystemExit(f"no 'Median:' in benchmark_app output:\n{out[-2000:]}")
    return float(m.group(1))


def bare_p50(art: Path, threads: int, iterations: int) -> float:
    """The runtime call alone on a pre-made tensor, set up the way edgeyolo sets it up."""
    from edgeyolo.runtime import load_runtime

    rt = load_runtime(art, threads=threads)
    x = np.random.default_rng(0).random((1, 3, rt.artifact.imgsz, rt.artifact.imgsz), np.float32)
    if rt.name == "openvino":
        run = lambda: rt.request.infer({0: x})  # noqa: E731
    else:
        name = rt.session.get_inputs()[0].name
        run = lambda: rt.session.run(None, {name: x})  # noqa: E731
    for _ in range(20):
        run()
    t = np.empty(iterations)
    for i in range(iterations):
        t0 = time.perf_counter()
        run()
        t[i] = (time.perf_counter() - t0) * 1e3
    return float(np.percentile(t, 50))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))

    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        arts = _artifacts(tmp)
        refs = {
            "openvino": {"benchmark_app": benchmark_app_p50, "bare loop": bare_p50},
            "onnx": {"bare loop": bare_p50},
        }
        got: dict[tuple[str, str], list[float]] = {}
        for r in range(a.rounds):
            for fmt, art in arts.items():
                got.setdefault((fmt, "edgeyolo"), []).append(
                    edgeyolo_p50(art, a.threads, a.iterations, tmp / "r.jsonl")
                )
                for name, fn in refs[fmt].items():
                    got.setdefault((fmt, name), []).append(fn(art, a.threads, a.iterations))
            print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)

    print(
        f"inference-stage p50, {a.threads} threads, {a.iterations} iterations, {a.rounds} rounds (median of rounds)"
    )
    for fmt, art in arts.items():
        ours = np.array(got[(fmt, "edgeyolo")])
        cv = ours.std(ddof=1) / ours.mean() if len(ours) > 1 else 0.0
        print(f"{fmt:<9} {art.name}")
        print(
            f"  edgeyolo bench   {np.median(ours):7.2f} ms   rounds: {', '.join(f'{v:.2f}' for v in ours)}   CV {cv:.3f}"
        )
        for name in refs[fmt]:
            ref = np.array(got[(fmt, name)])
            ratio = np.median(ours) / np.median(ref)
            verdict = "within 10%" if abs(ratio - 1) <= 0.10 else "NOT within 10%"
            print(f"  {name:<15}  {np.median(ref):7.2f} ms   ratio edgeyolo/{name} {ratio:.3f} ({verdict})")


if __name__ == "__main__":
    main()
