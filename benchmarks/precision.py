"""Mixed precision on a CUDA GPU: bfloat16 (edgeyolo's default on compute capability >= 8.0) vs float16 AMP
vs float32, same data, seed, batch and epochs.

Trains yolo26n from its YAML once per precision with the full recipe, then scores each best.pt with the
COCO protocol. Prints seconds per epoch, mAP50-95 and the ratios to float16 (the library's
default). Needs a CUDA GPU:
    python benchmarks/precision.py --epochs 30 --train 800 --val 200 --batch 32
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from stal import _epoch_seconds, _score  # noqa: E402  (same epoch timing and COCO scoring of a best.pt)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--train", type=int, default=800)
    ap.add_argument("--val", type=int, default=200)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precisions", default="bf16,fp16,fp32")
    a = ap.parse_args()

    import torch

    if not torch.cuda.is_available():
        sys.exit("precision.py needs a CUDA GPU (mixed precision is a GPU feature)")
    from edgeyolo.data.synth import SynthConfig, synthesize
    from edgeyolo.profiles import load_profile
    from edgeyolo.train import TrainConfig, train

    amp_values = {"bf16": "bf16", "fp16": True, "fp32": False}
    print(f"GPU: {torch.cuda.get_device_name(0)}, capability {torch.cuda.get_device_capability(0)}")
    with tempfile.TemporaryDirectory() as tmp:
        data = synthesize(
            SynthConfig(out=Path(tmp) / "data", train=a.train, val=a.val, imgsz=a.imgsz, seed=a.seed)
        ).data_yaml
        rows = {}
        print(f"{'':6} {'mAP50-95':>9} {'mAP50':>7} {'epoch s':>8} {'total s':>8}", flush=True)
        for name in a.precisions.split(","):
            r = train(TrainConfig(profile=load_profile("x86-cpu"), data=data, out=Path(tmp) / "runs", epochs=a.epochs,
                                  imgsz=a.imgsz, batch=a.batch, device="0", seed=a.seed, name=name,
                                  overrides={"amp": amp_values[name], "plots": False}))  # fmt: skip
            rows[name] = {
                **_score(r.best, data, a.imgsz),
                "epoch_s": _epoch_seconds(r.run_dir),
                "total_s": r.seconds,
            }
            m = rows[name]
            print(
                f"{name:6} {m['map50_95']:9.4f} {m['map50']:7.4f} {m['epoch_s']:8.2f} {m['total_s']:8.1f}",
                flush=True,
            )
        base = rows.get("fp16")
        if base:
            for name, m in rows.items():
                if name != "fp16":
                    print(f"{name} vs fp16: epoch time x{m['epoch_s'] / base['epoch_s']:.3f}, "
                          f"mAP50-95 {m['map50_95'] - base['map50_95']:+.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
