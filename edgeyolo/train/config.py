"""The training configuration: :class:`TrainConfig`, a ``--config`` YAML read into it, and the recipe of a
run rebuilt from the settings it saved (``edgeyolo_train.yaml``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edgeyolo.errors import ConfigError
from edgeyolo.profiles import DeviceProfile, load_profile
from edgeyolo.recipe import LOSS_PRESETS
from edgeyolo.train.hooks import Recipe
from edgeyolo.train.progloss import DEFAULT_DFL, ProgLossConfig

CONFIG_FILE = "edgeyolo_train.yaml"


@dataclass(frozen=True)
class TrainConfig:
    profile: DeviceProfile
    data: Path  # YOLO data.yaml
    out: Path  # runs are written to out/<name>/
    model: str = "yolo26n.yaml"  # model YAML (from scratch) or a local .pt
    epochs: int = 100
    # Training size (square); a WxH string or Shape trains square at its long side and is deployed at that shape.
    # Default: the profile's first size.
    imgsz: int | str | Any | None = None
    # The inputs the run is meant to be deployed at (recorded in edgeyolo_train.yaml; training and best.pt stay
    # square). None: square, the camera shape (the profile's camera, else the val images' aspect) and --imgsz WxH.
    deploy_shapes: tuple[Any, ...] | None = None
    batch: int | None = None  # total over all GPUs; None: from GPU memory per the document's table
    device: str | None = None  # "cpu", "0", "0,1"; None = CUDA 0 when present, else CPU
    name: str | None = None  # default: <model>-<imgsz>
    optimizer: str = "MuSGD"
    lr0: float | None = None  # base (single-GPU, batch 16) LR; None: the library's default for the optimizer
    patience: int = 50  # early stopping: epochs without improvement of the deployed head's fitness
    seed: int = 0
    deterministic: bool = True
    preset: str = "general"  # loss preset name, or "auto" (from the dataset check)
    box: float | None = None  # box loss gain replacing the preset's (recorded as loss preset "custom")
    cls: float | None = None  # cls loss gain replacing the preset's (recorded as loss preset "custom")
    aug: str | None = None  # augmentation preset name; None: chosen from the dataset check
    aerial: bool = False  # aerial/satellite imagery (augmentation preset)
    stal: bool | None = None  # None: on when the dataset check recommends it
    stal_config: Any = None  # StalConfig; None: defaults
    progloss: ProgLossConfig = field(default_factory=ProgLossConfig)
    assign_min_px: float | None = None  # small-target label assignment: GT sides below this are enlarged
    check: bool = True  # run the dataset check first
    workers: int | None = None  # data loader workers per training process; None: from the machine (loader.py)
    cache: str | None = None  # image cache: ram, disk or off; None: ram when the dataset fits (loader.py)
    overrides: dict[str, Any] = field(default_factory=dict)  # further ultralytics train arguments


def recipe_from_settings(settings: dict[str, Any], where: str) -> Recipe:
    """The Recipe a run was trained with, from its saved ``edgeyolo_train.yaml`` settings."""
    stal = settings.get("stal")
    if stal is not None:
        stal = stal_config_from_dict(stal, where)
    gains = settings.get("loss_gains")
    if gains is None:  # written before loss_gains was recorded: a named preset and the library's dfl
        preset = LOSS_PRESETS[settings["loss_preset"]]
        gains = {
            "box": preset.box,
            "cls": preset.cls,
            "dfl": settings.get("train_args", {}).get("dfl", DEFAULT_DFL),
        }
    return Recipe(base_box=float(gains["box"]), base_cls=float(gains["cls"]), base_dfl=float(gains["dfl"]),
                  progloss=ProgLossConfig.from_dict(settings["progloss"]), stal=stal,
                  assign_min_px=settings.get("assign_min_px"))  # fmt: skip


def stal_config_from_dict(d: dict[str, Any], where: str) -> Any:
    """A StalConfig from YAML (as saved in edgeyolo_train.yaml or written in a --config file)."""
    from dataclasses import fields

    from edgeyolo.train.stal import StalConfig

    unknown = sorted(set(d) - {f.name for f in fields(StalConfig)})
    if unknown:
        raise ConfigError(f"{where}: stal_config: unknown key '{unknown[0]}'")
    return StalConfig(**d)


# Keys of a --config YAML that are TrainConfig fields; every other key is an ultralytics train argument.
CONFIG_KEYS = {f.name for f in dataclasses.fields(TrainConfig)} - {
    "profile",
    "overrides",
    "stal_config",
    "progloss",
}


def config_from_file(path: str | Path) -> dict[str, Any]:
    """Read a train config YAML (e.g. a tuner's best.yaml) into TrainConfig keyword arguments."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"Train config '{p}' not found.")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: must be a mapping of training settings")
    kwargs: dict[str, Any] = {}
    overrides: dict[str, Any] = {}
    for k, v in data.items():
        if k == "profile":
            kwargs["profile"] = load_profile(v)
        elif k == "progloss":
            kwargs["progloss"] = ProgLossConfig.from_dict(v or {})
        elif k == "stal_config":
            kwargs["stal_config"] = stal_config_from_dict(v or {}, str(p))
        elif k in CONFIG_KEYS:
            kwargs[k] = Path(v) if k in ("data", "out") else v
        else:
            overrides[k] = v
    kwargs["overrides"] = overrides
    return kwargs
