"""STAL's cost in the data pipeline: training samples per second with and without it, one process.

On a GPU the data loader is often the bottleneck (yolo26n at 320 px trains faster than 8 workers augment),
so the per-sample cost of STAL is what an epoch pays there; on a CPU the model's compute hides it (see
stal.py's epoch times). Builds the library's training dataset (mosaic, mixup 0.1: the medium preset) on
the demo data and alternates rounds with and without STAL so machine drift hits both alike:
    .venv/bin/python benchmarks/stal_dataloader.py --rounds 4
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--train", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=4)
    a = ap.parse_args()

    from edgeyolo._ultralytics import _insert_before_format, import_ultralytics
    from edgeyolo.data.synth import SynthConfig, synthesize
    from edgeyolo.train.stal import SmallTargetAugment, StalConfig

    import_ultralytics()
    from ultralytics.cfg import get_cfg
    from ultralytics.data import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset
    from ultralytics.utils import LOGGER

    LOGGER.setLevel("WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        data = synthesize(SynthConfig(out=Path(tmp) / "d", train=a.train, val=8, imgsz=a.imgsz)).data_yaml
        d = check_det_dataset(str(data))
        cfg = get_cfg(overrides=dict(imgsz=a.imgsz, mosaic=1.0, mixup=0.1, data=str(data)))

        def dataset(stal: bool):
            ds = build_yolo_dataset(cfg, d["train"], 32, d, mode="train")
            if stal:
                _insert_before_format(ds, SmallTargetAugment(StalConfig(), seed=0))
            for i in range(8):  # warm up (file cache, STAL's bank)
                ds[i]
            return ds

        sets = {False: dataset(False), True: dataset(True)}
        ms: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(a.rounds):
            for stal, ds in sets.items():
                t0 = time.perf_counter()
                for i in range(len(ds)):
                    ds[i]
                ms[stal].append((time.perf_counter() - t0) / len(ds) * 1e3)
    off, on = float(np.median(ms[False])), float(np.median(ms[True]))
    print(f"{a.rounds} rounds of {a.train} samples at {a.imgsz} px (median ms per sample)")
    print(f"STAL off {off:6.3f} ms   {1e3 / off:7.1f} samples/s")
    print(f"STAL on  {on:6.3f} ms   {1e3 / on:7.1f} samples/s")
    print(
        f"STAL per-sample overhead {on / off - 1:+.1%} (goal <= +5% epoch time where the loader is the bottleneck)"
    )


if __name__ == "__main__":
    main()
