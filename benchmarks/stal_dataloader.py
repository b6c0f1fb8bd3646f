"""STAL's cost in the data pipeline: training samples per second with and without it, one process.

On a GPU the data loader is often the bottleneck (yolo26n at 320 px trains faster than 8 workers augment),
so the per-sample cost of STAL is what an epoch pays there; on a CPU the model's compute hides it (see
stal.py's epoch times). Builds the library's training dataset (mosaic, mixup 0.1: the medium preset) on
the demo data and alternates rounds with and without STAL so machine drift hits both alike. Two figures:
the difference of the per-sample times (everything STAL changes, downstream transforms included; noisy on a
shared machine) and the time spent inside STAL's ``__call__`` per sample over the time without STAL (what
STAL itself costs; steadier, since both sides of the ratio are timed in the same round). Times are the
process's CPU time by default (a loader worker is CPU-bound, and on a machine shared with other work the
wall time mostly measures the others); ``--clock wall`` for wall time.
    .venv/bin/python benchmarks/stal_dataloader.py --rounds 6
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
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    a = ap.parse_args()
    now = time.process_time if a.clock == "cpu" else time.perf_counter

    from edgeyolo._backend.env import import_ultralytics
    from edgeyolo._backend.trainer import insert_before_format
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

        timed = _Timed(SmallTargetAugment(StalConfig(), seed=0), now)

        def dataset(stal: bool):
            ds = build_yolo_dataset(cfg, d["train"], 32, d, mode="train")
            if stal:
                insert_before_format(ds, timed)
            # warm up: file cache, and STAL's bank full as it is after the first ~100 images
            for _ in range(4):
                for i in range(len(ds)):
                    ds[i]
                if not stal or timed.transform.bank_size >= timed.transform.cfg.bank:
                    break
            return ds

        sets = {False: dataset(False), True: dataset(True)}
        ms: dict[bool, list[float]] = {False: [], True: []}
        inside: list[float] = []
        for _ in range(a.rounds):
            for stal, ds in sets.items():
                timed.seconds = 0.0
                t0 = now()
                for i in range(len(ds)):
                    ds[i]
                ms[stal].append((now() - t0) / len(ds) * 1e3)
                if stal:
                    inside.append(timed.seconds / len(ds) * 1e3)
    off, on = float(np.median(ms[False])), float(np.median(ms[True]))
    own = float(np.median([x / y for x, y in zip(inside, ms[False])]))
    print(
        f"{a.rounds} alternating rounds of {a.train} samples at {a.imgsz} px (median {a.clock} ms per sample)"
    )
    print(f"STAL off {off:6.3f} ms   {1e3 / off:7.1f} samples/s")
    print(f"STAL on  {on:6.3f} ms   {1e3 / on:7.1f} samples/s   (inside STAL {np.median(inside):.3f} ms)")
    print(f"STAL per-sample overhead, whole pipeline {on / off - 1:+.1%}")
    print(f"STAL per-sample cost, its own time        {own:+.1%} (goal <= +5%)")


class _Timed:
    """Wraps the transform and adds up the time spent in it."""

    def __init__(self, transform, now) -> None:
        self.transform, self.now, self.seconds = transform, now, 0.0
        self.transforms = [transform]  # find_stal looks inside

    def __call__(self, labels):
        t0 = self.now()
        out = self.transform(labels)
        self.seconds += self.now() - t0
        return out


if __name__ == "__main__":
    main()
