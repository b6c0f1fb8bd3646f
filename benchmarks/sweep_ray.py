"""`edgeyolo run` sequential vs `--ray-address local`: wall time and whether the outputs are the same.

A sweep of 2 models x 2 sizes (tiny epochs, the demo-style synthetic dataset, ONNX FP32 only) run twice into
two folders: once as today (one training after another on this machine), once with every training and export a
Ray task on a local Ray with all cores (one CPU per training unless --gpus-per-training). Prints the wall time
of the whole run and of its train + export phase (up to the first benchmark), their ratio, and whether the two
run folders hold the same files and manifests (the per-image sidecars are compared by count: their names hold
checksums), with each training's mAP50-95 side by side (CPU training is not bit-reproducible across thread
counts, so those agree within the library's run-to-run noise, not exactly). On a 2-core machine the ratio is
bounded by the cores; on a GPU machine pass --gpus-per-training 1 --device 0.

    .venv/bin/python benchmarks/sweep_ray.py --epochs 2 --imgsz 96,128
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import yaml


def _layout(out: Path) -> tuple[set[str], dict[str, list[str]]]:
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    sidecars = {f for f in files if f.startswith("results.per-image/")}
    files = (files - sidecars - {f for f in files if f.endswith("val_curves.npz")}) | {
        f"sidecars:{len(sidecars)}"
    }
    return files, {f: sorted(json.loads((out / f).read_text())) for f in files if f.endswith("manifest.json")}


def _run(cfg, log_prefix: str) -> tuple[float, float]:
    """(whole run, train + export phase) in seconds."""
    from edgeyolo.pipeline import run_pipeline

    t0 = time.perf_counter()
    marks: dict[str, float] = {}

    def log(msg: str) -> None:
        if msg.startswith("[bench]") and "bench" not in marks:
            marks["bench"] = time.perf_counter() - t0
        if msg.startswith(("[plan]", "[ray]", "[train ", "[bench]", "[select]")):
            print(f"{log_prefix} {msg[:160]}", flush=True)

    run_pipeline(cfg, log=log)
    total = time.perf_counter() - t0
    return total, marks.get("bench", total)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="yolo26n,yolo26s")
    ap.add_argument("--imgsz", default="96,128")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--train", type=int, default=32)
    ap.add_argument("--val", type=int, default=16)
    ap.add_argument("--device", default="cpu", help="sequential training device (cpu, 0)")
    ap.add_argument("--gpus-per-training", type=float, default=None)
    ap.add_argument("--num-cpus", type=int, default=os.cpu_count())
    a = ap.parse_args()

    from edgeyolo.data.synth import SynthConfig, synthesize
    from edgeyolo.pipeline import PipelineConfig
    from edgeyolo.profiles import load_profile

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sizes = tuple(int(s) for s in a.imgsz.split(","))
        data = synthesize(
            SynthConfig(out=tmp / "data", train=a.train, val=a.val, imgsz=max(sizes), seed=0)
        ).data_yaml
        d = load_profile("x86-cpu").to_dict()
        d.update(
            name="sweep-bench", targets=[{"format": "onnx", "precision": "fp32", "runtime": "onnxruntime"}]
        )
        (tmp / "p.yaml").write_text(yaml.safe_dump(d))
        base = dict(profile=load_profile(tmp / "p.yaml"), data=data, models=tuple(a.models.split(",")), imgsz=sizes,
                    epochs=a.epochs, batch=8, camera_shapes=False, bench_iterations=5, bench_warmup=1, bench_rounds=1,
                    train_overrides={"nbs": 8, "warmup_epochs": 0, "plots": False})  # fmt: skip
        seq = _run(PipelineConfig(out=tmp / "seq", device=a.device, **base), "[sequential]")
        ray = _run(PipelineConfig(out=tmp / "ray", ray_address="local", num_cpus=a.num_cpus,
                                  gpus_per_training=a.gpus_per_training, **base), "[ray]")  # fmt: skip
        same_files = _layout(tmp / "seq") == _layout(tmp / "ray")
        print(f"\n{len(base['models'])} models x {len(sizes)} sizes, {a.epochs} epochs, {a.train} train images, "
              f"{os.cpu_count()} cores")  # fmt: skip
        print(f"sequential: {seq[0]:.1f} s (train + export {seq[1]:.1f} s)")
        print(f"ray local : {ray[0]:.1f} s (train + export {ray[1]:.1f} s)")
        print(
            f"ratio sequential / ray: {seq[0] / ray[0]:.2f}x whole run, {seq[1] / ray[1]:.2f}x train + export"
        )
        print(f"same files and manifests: {'yes' if same_files else 'NO'}")
        if not same_files:
            (fs, ms), (fr, mr) = _layout(tmp / "seq"), _layout(tmp / "ray")
            print(
                f"  only sequential: {sorted(fs - fr)}\n  only ray: {sorted(fr - fs)}\n  manifests differ: {ms != mr}"
            )
        for run in sorted((tmp / "seq" / "train").iterdir()):
            m = [
                json.loads((tmp / w / "train" / run.name / "done.json").read_text())["map50_95"]
                for w in ("seq", "ray")
            ]
            print(f"  {run.name}: mAP50-95 sequential {m[0]:.4f}, ray {m[1]:.4f}")


if __name__ == "__main__":
    main()
