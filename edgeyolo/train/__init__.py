"""Training YOLO26 for a device profile.

The model is selected on the NMS-free head that ships (``nms=False`` during validation), at the
profile's first image size unless one is given, with MuSGD chosen explicitly (the library's ``auto``
would pick AdamW on short runs).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeyolo.data.yolo import load_dataset
from edgeyolo.errors import ConfigError
from edgeyolo.profiles import DeviceProfile


@dataclass(frozen=True)
class TrainConfig:
    profile: DeviceProfile
    data: Path  # YOLO data.yaml
    out: Path  # runs are written to out/<name>/
    model: str = "yolo26n.yaml"  # model YAML (from scratch) or a local .pt
    epochs: int = 100
    imgsz: int | None = None  # default: the profile's first size
    batch: int = 16
    device: str | None = None  # "cpu", "0", "0,1"; None = CUDA when present, else CPU
    name: str | None = None  # default: <model>-<imgsz>
    optimizer: str = "MuSGD"
    patience: int = 50  # early stopping: epochs without improvement of the deployed head's fitness
    seed: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)  # further ultralytics train arguments


@dataclass
class TrainResult:
    run_dir: Path
    best: Path
    last: Path
    imgsz: int
    epochs_run: int
    seconds: float
    metrics: dict[str, float]  # validation of best.pt: precision, recall, mAP50, mAP50-95 (NMS-free head)

    @property
    def map50_95(self) -> float | None:
        return self.metrics.get("metrics/mAP50-95(B)")


def default_device() -> str:
    try:
        import torch
    except ImportError:
        return "cpu"
    return "0" if torch.cuda.is_available() else "cpu"


def model_stem(model: str) -> str:
    return Path(model).stem


def train(cfg: TrainConfig) -> TrainResult:
    """Train and return where best.pt is, with its validation metrics."""
    from edgeyolo._ultralytics import resolve_model, train_detector

    load_dataset(cfg.data)  # fail on a missing or malformed data.yaml before anything slow starts
    resolve_model(cfg.model)
    if cfg.epochs < 1:
        raise ConfigError(f"train: --epochs must be >= 1, got {cfg.epochs}")
    if cfg.batch < 1:
        raise ConfigError(f"train: --batch must be >= 1, got {cfg.batch}")
    imgsz = cfg.imgsz or cfg.profile.imgsz[0]
    if imgsz % 32:
        raise ConfigError(f"train: --imgsz {imgsz} is not a multiple of 32 (the model's largest stride)")
    name = cfg.name or f"{model_stem(cfg.model)}-{imgsz}"
    t0 = time.perf_counter()
    out = train_detector(
        cfg.model, Path(cfg.data), epochs=cfg.epochs, imgsz=imgsz, batch=cfg.batch,
        device=cfg.device or default_device(), out_dir=Path(cfg.out), name=name,
        optimizer=cfg.optimizer, patience=cfg.patience, seed=cfg.seed, **cfg.overrides,
    )  # fmt: skip
    return TrainResult(
        run_dir=out.run_dir, best=out.best, last=out.last, imgsz=imgsz, epochs_run=out.epochs_run,
        seconds=time.perf_counter() - t0, metrics=out.metrics,
    )  # fmt: skip
