"""Training throughput: `edgeyolo train` (full recipe) vs plain Ultralytics `model.train`, same settings.

Each variant trains yolo26n from its YAML in its own process on the same demo dataset; images/s is
training images per epoch divided by the mean epoch time after the first epoch (results.csv 'time').
Variants: plain Ultralytics as installed; plain Ultralytics with edgeyolo's float32 Newton-Schulz on CPU
(isolates the recipe's own overhead); edgeyolo train (STAL + ProgLoss + presets).
    .venv/bin/python benchmarks/train_throughput.py --epochs 4
On a CUDA GPU (both variants in the precision edgeyolo picks there; more images, a larger batch):
    python benchmarks/train_throughput.py --device 0 --batch 32 --train 640 --epochs 4 [--workers 16]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ARGS = dict(epochs=4, imgsz=320, batch=8, device="cpu", optimizer="MuSGD", seed=0, nms=False, nbs=8,
            warmup_epochs=1, close_mosaic=0, mosaic=1.0, mixup=0.3, plots=False, val=True, verbose=False)  # fmt: skip

PLAIN = """
import json, os, sys
os.environ["YOLO_OFFLINE"] = "1"; os.environ["YOLO_AUTOINSTALL"] = "False"
if sys.argv[3] == "patched":
    from edgeyolo._ultralytics import import_ultralytics
    import_ultralytics()
from ultralytics import YOLO
args = json.loads(sys.argv[2])
YOLO("yolo26n.yaml").train(data=sys.argv[1], project=sys.argv[4], name="run", exist_ok=True, **args)
"""


def _images_per_s(run: Path, n_train: int) -> float:
    with open(run / "results.csv", newline="") as f:
        t = [float(r["time"]) for r in csv.DictReader(f)]
    per_epoch = (t[-1] - t[0]) / (len(t) - 1)
    return n_train / per_epoch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--train", type=int, default=96)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--workers", type=int, default=8, help="data loader workers (the library's default: 8)")
    a = ap.parse_args()
    gpu = a.device != "cpu"
    nbs = 64 if gpu else 8
    args = {
        **ARGS,
        "epochs": a.epochs,
        "device": a.device,
        "batch": a.batch,
        "nbs": nbs,
        "workers": a.workers,
    }
    if gpu:  # the precision edgeyolo picks for this GPU, given to both variants
        import torch

        from edgeyolo.train.recipe import mixed_precision

        dev = int(a.device.split(",")[0].removeprefix("cuda:"))
        args["amp"] = mixed_precision(
            [torch.cuda.get_device_capability(dev)], (torch.cuda.get_device_name(dev),)
        )[0]
    from edgeyolo.data.synth import SynthConfig, synthesize

    with tempfile.TemporaryDirectory() as tmp:
        data = synthesize(SynthConfig(out=Path(tmp) / "d", train=a.train, val=16, imgsz=320)).data_yaml
        env = {
            **os.environ,
            "EDGEYOLO_HOME": str(Path(tmp) / "home"),
            "YOLO_CONFIG_DIR": str(Path(tmp) / "home"),
        }
        results = {}
        for variant in ("plain",) if gpu else ("plain", "patched"):
            out = Path(tmp) / variant
            subprocess.run([sys.executable, "-c", PLAIN, str(data), json.dumps(args), variant, str(out)], env=env,
                           check=True, capture_output=True)  # fmt: skip
            results[variant] = _images_per_s(out / "run", a.train)
        out = Path(tmp) / "edgeyolo"
        cmd = [sys.executable, "-m", "edgeyolo", "train", "--profile", "x86-cpu", "--data", str(data), "--epochs",
               str(a.epochs), "--imgsz", "320", "--batch", str(a.batch), "--device", a.device, "--out", str(out),
               "--name", "run", "--stal", "--config", str(Path(tmp) / "extra.yaml")]  # fmt: skip
        extra = f"nbs: {nbs}\nworkers: {a.workers}\nwarmup_epochs: 1\nclose_mosaic: 0\nplots: false\n" + (
            f"amp: {json.dumps(args['amp'])}\n" if gpu else ""
        )
        (Path(tmp) / "extra.yaml").write_text(extra)
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        results["edgeyolo"] = _images_per_s(out / "run", a.train)
    p, e = results["plain"], results["edgeyolo"]
    print(f"{a.device}, batch {a.batch}, {a.workers} workers, {a.train} training images at 320 px")
    print(f"plain ultralytics            {p:7.2f} images/s")
    if "patched" in results:
        print(f"ultralytics + fp32 NS on CPU {results['patched']:7.2f} images/s")
    print(f"edgeyolo train (full recipe) {e:7.2f} images/s")
    print(f"edgeyolo / plain ultralytics   = {e / p:.2f} (goal >= 0.95)")
    if "patched" in results:
        print(f"edgeyolo / same optimizer path = {e / results['patched']:.2f} (the recipe's own overhead)")


if __name__ == "__main__":
    main()
