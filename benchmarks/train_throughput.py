"""Training throughput: `edgeyolo train` (full recipe) vs plain Ultralytics `model.train`, and the data loader.

Each variant trains yolo26n from its YAML in its own process on the same synthetic dataset; images/s is
training images per epoch divided by the mean epoch time after the first epoch (results.csv 'time': the
epoch's training and its validation, what a user waits for). Variants run in alternating rounds so the
machine's drift hits each alike; the median over rounds is printed.

Variants (``--variants``, comma-separated):
- ``ultralytics-default``: `YOLO("yolo26n.yaml").train(data, epochs, imgsz, device)`, everything else the
  library's default (batch 16, workers 8 -- 0 on CPU --, no cache, optimizer auto, its augmentation).
- ``ultralytics-same``: plain Ultralytics with exactly the arguments `edgeyolo train` resolves (batch,
  MuSGD, augmentation preset, loss gains, loader plan), no recipe trainer; with edgeyolo's float32 Newton-Schulz on CPU tensors
  (the library's bfloat16 one makes a CPU run several times slower), so the ratio is the recipe's own cost.
- ``edgeyolo``: `edgeyolo train --stal` with the loader chosen from the machine.
- ``edgeyolo:workers=8,cache=off``: the recipe with `edgeyolo train` options added (``key=value`` for
  ``--key value``, ``no-stal`` for ``--no-stal``), e.g. given loader settings.
On a GPU both sides get the precision edgeyolo picks there (bf16 on compute capability >= 8.0).

    .venv/bin/python benchmarks/train_throughput.py --epochs 3 --rounds 3
    python benchmarks/train_throughput.py --device 0 --batch 32 --train 640 --epochs 4 --rounds 2 \\
        --variants ultralytics-default,ultralytics-same,edgeyolo:workers=8,cache=off,edgeyolo
``--loader`` measures the data loader alone instead (no model): images/s out of the library's
InfiniteDataLoader with the recipe's transforms (augmentation preset, STAL), for each ``--loader-workers``
count and with/without the RAM cache, alternating:
    .venv/bin/python benchmarks/train_throughput.py --loader --loader-workers 0,1,2 --batches 24
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PLAIN = """
import json, os, sys
os.environ["YOLO_OFFLINE"] = "1"; os.environ["YOLO_AUTOINSTALL"] = "False"
if sys.argv[3] == "patched":
    from edgeyolo._backend.env import import_ultralytics
    import_ultralytics()
from ultralytics import YOLO
args = json.loads(sys.argv[2])
YOLO("yolo26n.yaml").train(data=sys.argv[1], project=sys.argv[4], name="run", exist_ok=True, **args)
"""

# Settings common to every variant: short warm-up, no close_mosaic switch inside a few epochs, no plots.
COMMON = {"warmup_epochs": 1, "close_mosaic": 0, "plots": False}


def _images_per_s(run: Path, n_train: int) -> float:
    with open(run / "results.csv", newline="") as f:
        t = [float(r["time"]) for r in csv.DictReader(f)]
    per_epoch = (t[-1] - t[0]) / (len(t) - 1)
    return n_train / per_epoch


def _gpu_amp(device: str) -> object:
    import torch

    from edgeyolo.recipe import mixed_precision

    dev = int(device.split(",")[0].removeprefix("cuda:"))
    return mixed_precision([torch.cuda.get_device_capability(dev)], (torch.cuda.get_device_name(dev),))[0]


def _recipe_args(data: Path, a: argparse.Namespace, extra: dict) -> tuple[dict, dict]:
    """The library arguments `edgeyolo train` resolves for these settings, and its loader plan."""
    from edgeyolo.profiles import load_profile
    from edgeyolo.train import TrainConfig, prepare

    cfg = TrainConfig(profile=load_profile("x86-cpu"), data=data, out=Path("unused"), epochs=a.epochs, imgsz=a.imgsz,
                      batch=a.batch, device=a.device, stal=True, overrides=extra)  # fmt: skip
    _, args, settings, _ = prepare(cfg)
    return {**args, "epochs": a.epochs, "imgsz": a.imgsz, "batch": settings["batch"], "device": a.device, "nms": False,
            "verbose": False}, settings  # fmt: skip


def _run_variant(variant: str, data: Path, out: Path, a: argparse.Namespace, env: dict, extra: dict,
                 same_args: dict) -> float:  # fmt: skip
    name, _, opts = variant.partition(":")
    if name.startswith("ultralytics"):
        if name == "ultralytics-default":
            args = {"epochs": a.epochs, "imgsz": a.imgsz, "device": a.device, "verbose": False, **COMMON}
            if "amp" in extra:
                args["amp"] = extra["amp"]
            mode = "plain"
        else:
            args, mode = same_args, "patched"
        cmd = [sys.executable, "-c", PLAIN, str(data), json.dumps(args), mode, str(out)]
    else:
        given = dict(kv.split("=", 1) if "=" in kv else (kv, None) for kv in opts.split(",") if kv)
        (out / "extra.yaml").parent.mkdir(parents=True, exist_ok=True)
        (out / "extra.yaml").write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in extra.items()))
        cmd = [sys.executable, "-m", "edgeyolo", "train", "--profile", "x86-cpu", "--data", str(data), "--epochs",
               str(a.epochs), "--imgsz", str(a.imgsz), "--device", a.device, "--out", str(out), "--name", "run",
               "--stal", "--config", str(out / "extra.yaml")]  # fmt: skip
        if a.batch is not None:
            cmd += ["--batch", str(a.batch)]
        for k, v in given.items():
            cmd += [f"--{k}"] + ([v] if v is not None else [])
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"{variant} failed:\n{p.stderr[-3000:]}")
    return _images_per_s(out / "run", a.train)


def _loader_bench(a: argparse.Namespace, data: Path) -> None:
    """Images/s out of the library's DataLoader with the recipe's transforms (no model), alternating."""
    from edgeyolo._backend.env import import_ultralytics
    from edgeyolo._backend.trainer import insert_before_format
    from edgeyolo.recipe import AUG_PRESETS
    from edgeyolo.train.stal import SmallTargetAugment, StalConfig
    from edgeyolo.train.stal_loader import tag_loader_epochs

    import_ultralytics()
    from ultralytics.cfg import get_cfg
    from ultralytics.data import build_dataloader, build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset
    from ultralytics.utils import LOGGER

    LOGGER.setLevel("WARNING")
    d = check_det_dataset(str(data))
    counts = [int(x) for x in a.loader_workers.split(",")]
    configs = [(w, c) for w in counts for c in ("off", "ram")]
    rates: dict[tuple[int, str], list[float]] = {k: [] for k in configs}
    for _ in range(a.rounds):
        for w, cache in configs:
            cfg = get_cfg(overrides={**AUG_PRESETS[a.aug].overrides, "imgsz": a.imgsz, "data": str(data),
                                     "cache": cache if cache != "off" else False})  # fmt: skip
            ds = build_yolo_dataset(cfg, d["train"], a.batch, d, mode="train")
            stal = SmallTargetAugment(StalConfig(), seed=0)
            insert_before_format(ds, stal)
            loader = build_dataloader(ds, a.batch, w, shuffle=True, device="cpu")
            tag_loader_epochs(loader, stal)
            it = iter(_endless(loader))
            for _ in range(max(2, w * 2)):  # warm-up: workers started, first prefetches done
                next(it)
            t0 = time.perf_counter()
            for _ in range(a.batches):
                next(it)
            rates[(w, cache)].append(a.batches * a.batch / (time.perf_counter() - t0))
            loader.close()
    print(f"data loader alone: {a.batches} batches of {a.batch} at {a.imgsz} px, aug preset {a.aug} + STAL, "
          f"{len(os.sched_getaffinity(0))} cores, {a.rounds} alternating rounds (median images/s)")  # fmt: skip
    for (w, cache), v in rates.items():
        print(f"workers {w}  cache {cache:<3}  {np.median(v):7.1f} images/s   (rounds: "
              f"{', '.join(f'{x:.1f}' for x in v)})")  # fmt: skip


def _endless(loader):
    while True:
        yield from loader


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--train", type=int, default=96, help="training images (synthetic demo data)")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=None, help="default: edgeyolo's choice (8 on CPU)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--variants", default=None, help="default: ultralytics-default,ultralytics-same,edgeyolo "
                    "(on a GPU also edgeyolo:workers=8,cache=off)")  # fmt: skip
    ap.add_argument("--loader", action="store_true", help="measure the data loader alone (no model)")
    ap.add_argument("--loader-workers", default="0,1,2")
    ap.add_argument("--batches", type=int, default=24, help="--loader: timed batches per measurement")
    ap.add_argument("--aug", default="small", help="--loader: augmentation preset (the demo's is small)")
    a = ap.parse_args()
    gpu = a.device != "cpu"
    variants = (a.variants or ("ultralytics-default,ultralytics-same,edgeyolo:workers=8,cache=off,edgeyolo" if gpu
                               else "ultralytics-default,ultralytics-same,edgeyolo")).split(",")  # fmt: skip
    variants = _join_options(variants)

    from edgeyolo.data.synth import SynthConfig, synthesize

    with tempfile.TemporaryDirectory() as tmp:
        data = synthesize(SynthConfig(out=Path(tmp) / "d", train=a.train, val=16, imgsz=a.imgsz)).data_yaml
        if a.loader:
            a.batch = a.batch or 8  # edgeyolo's CPU batch; the loader alone has no device to choose for
            _loader_bench(a, data)
            return
        env = {
            **os.environ,
            "EDGEYOLO_HOME": str(Path(tmp) / "home"),
            "YOLO_CONFIG_DIR": str(Path(tmp) / "home"),
        }
        extra: dict = dict(COMMON)
        if gpu:
            extra["amp"] = _gpu_amp(a.device)
        same_args, settings = _recipe_args(data, a, extra)
        plan = settings["loader"]
        rates: dict[str, list[float]] = {v: [] for v in variants}
        for r in range(a.rounds):
            for v in variants if r % 2 == 0 else variants[::-1]:
                out = Path(tmp) / f"{v.replace(':', '_').replace(',', '_').replace('=', '-')}-{r}"
                rates[v].append(_run_variant(v, data, out, a, env, extra, same_args))
                print(f"round {r + 1}: {v:<32} {rates[v][-1]:7.2f} images/s", flush=True)
    med = {v: float(np.median(x)) for v, x in rates.items()}
    print()
    print(f"{a.device}, batch {settings['batch']} ({settings['batch_reason']}; the library's default: 16), "
          f"{a.train} training images at {a.imgsz} px, {a.epochs} epochs, "
          f"{len(os.sched_getaffinity(0))} cores, {a.rounds} round(s) (median images/s)")  # fmt: skip
    print(f"edgeyolo's loader plan: workers {plan['workers']} ({plan['reasons']['workers']}); cache {plan['cache']} "
          f"({plan['reasons']['cache']})")  # fmt: skip
    for v, x in med.items():
        print(f"{v:<32} {x:7.2f} images/s   (rounds: {', '.join(f'{y:.2f}' for y in rates[v])})")
    if "edgeyolo" in med:
        e = med["edgeyolo"]
        if "ultralytics-same" in med:
            print(
                f"edgeyolo / ultralytics at the same settings = {e / med['ultralytics-same']:.2f} (goal >= 0.95)"
            )
        if "ultralytics-default" in med:
            print(f"edgeyolo / ultralytics defaults            = {e / med['ultralytics-default']:.2f} (goal >= 1.3 on a GPU)")  # fmt: skip


def _join_options(parts: list[str]) -> list[str]:
    """'edgeyolo:workers=8', 'cache=off' (split on the commas) -> 'edgeyolo:workers=8,cache=off'."""
    out: list[str] = []
    for p in parts:
        if "=" in p and ":" not in p and out and ":" in out[-1]:
            out[-1] += "," + p
        else:
            out.append(p)
    return out


if __name__ == "__main__":
    main()
