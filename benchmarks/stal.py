"""STAL on vs off: small-object mAP, overall mAP50-95 and epoch time, same data, seed and epochs.

Trains yolo26n from its YAML twice on the demo dataset (many objects under 32 px) and scores both
best.pt files with the COCO protocol (APsmall = boxes under 32x32 px). CPU, so keep it short:
    .venv/bin/python benchmarks/stal.py --epochs 15 --train 128 --val 48
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import cv2


def _score(weights: Path, data_yaml: Path, imgsz: int) -> dict:
    from edgeyolo._backend.predict import predict_torch
    from edgeyolo.bench.accuracy import coco_map
    from edgeyolo.data.yolo import load_dataset, load_split

    ds = load_dataset(data_yaml)
    items = load_split(ds, "val")
    images = [cv2.imread(str(i.path)) for i in items]
    dets = predict_torch(weights, images, imgsz=imgsz, conf=0.001)
    return coco_map(items, [im.shape[:2] for im in images], dets, ds.names)


def _epoch_seconds(run_dir: Path) -> float:
    with open(run_dir / "results.csv", newline="") as f:
        times = [float(r["time"]) for r in csv.DictReader(f)]
    return (times[-1] - times[0]) / max(len(times) - 1, 1) if len(times) > 1 else times[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--train", type=int, default=128)
    ap.add_argument("--val", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    from edgeyolo.data.synth import SynthConfig, synthesize
    from edgeyolo.profiles import load_profile
    from edgeyolo.train import TrainConfig, train

    with tempfile.TemporaryDirectory() as tmp:
        data = synthesize(
            SynthConfig(out=Path(tmp) / "data", train=a.train, val=a.val, imgsz=a.imgsz, seed=a.seed)
        ).data_yaml
        rows = {}
        for stal in (False, True):
            r = train(TrainConfig(profile=load_profile("x86-cpu"), data=data, out=Path(tmp) / "runs", epochs=a.epochs,
                                  imgsz=a.imgsz, batch=8, device="cpu", seed=a.seed, stal=stal,
                                  name=f"stal-{'on' if stal else 'off'}",
                                  overrides={"nbs": 8, "warmup_epochs": 1, "close_mosaic": 2, "plots": False}))  # fmt: skip
            rows[stal] = {**_score(r.best, data, a.imgsz), "epoch_s": _epoch_seconds(r.run_dir)}
        off, on = rows[False], rows[True]
        print(f"{'':10} {'mAP50-95':>9} {'APsmall':>9} {'APmedium':>9} {'epoch s':>8}")
        for name, m in (("STAL off", off), ("STAL on", on)):
            print(
                f"{name:10} {m['map50_95']:9.4f} {m['map_small'] or 0:9.4f} {m['map_medium'] or 0:9.4f} {m['epoch_s']:8.2f}"
            )
        print(f"APsmall gain {((on['map_small'] or 0) - (off['map_small'] or 0)):+.4f}; "
              f"mAP50-95 change {on['map50_95'] - off['map50_95']:+.4f}; "
              f"epoch-time overhead {on['epoch_s'] / off['epoch_s'] - 1:+.1%} (goal <= +5%)")  # fmt: skip


if __name__ == "__main__":
    main()
