"""Checking a :class:`~edgeyolo.train.config.TrainConfig` and resolving it into the run's recipe, the
library's training arguments and the settings saved in the run folder.

Batch size from GPU memory, loss and augmentation presets (given or from the dataset check), STAL on or
off, the linear LR scaling rule over several GPUs, mixed precision, and the data loader's workers and image
cache from the machine (``loader.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeyolo.errors import ConfigError, DatasetError
from edgeyolo.recipe import (
    AUG_PRESETS,
    LOSS_PRESETS,
    batch_for,
    mixed_precision,
    parse_devices,
    scaled_lr,
)
from edgeyolo.train.config import TrainConfig
from edgeyolo.train.hooks import Recipe

Log = Callable[[str], None]

# Library arguments that edgeyolo owns: set them through TrainConfig fields, not overrides.
_OWNED = {"data", "epochs", "imgsz", "batch", "device", "project", "name", "optimizer", "patience", "seed",
          "deterministic", "nms", "box", "cls", "resume", "model", "workers", "cache"}  # fmt: skip


def default_device() -> str:
    try:
        import torch
    except ImportError:
        return "cpu"
    return "0" if torch.cuda.is_available() else "cpu"


def gpu_memory_gib(device: str) -> float | None:
    """Memory of the first GPU of ``device`` (None on CPU)."""
    devices = parse_devices(device)
    if not devices:
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_properties(_device_index(devices[0])).total_memory / 2**30


def cuda_devices(device: str) -> tuple[list[tuple[int, int]], tuple[str, ...]]:
    """Compute capability and name of each CUDA device in ``device`` (empty on CPU or without CUDA)."""
    devices = parse_devices(device)
    if not devices:
        return [], ()
    import torch

    if not torch.cuda.is_available():
        return [], ()
    ids = [_device_index(d) for d in devices]
    return [tuple(torch.cuda.get_device_capability(i)) for i in ids], tuple(
        torch.cuda.get_device_name(i) for i in ids
    )


def _device_index(d: str) -> int:
    try:
        return int(d)
    except ValueError:
        raise ConfigError(
            f"train: --device '{d}' is not a CUDA device index; use cpu, 0, or 0,1,..."
        ) from None


def _scale_of(model: str) -> str:
    import re

    m = re.search(r"yolo\w*?\d+([nsmlx])", Path(model).stem)
    return m.group(1) if m else "n"


def _check_overrides(overrides: dict[str, Any]) -> None:
    if "label_smoothing" in overrides:
        raise ConfigError(
            "label_smoothing was removed from Ultralytics' YOLO26 training and has no effect there; edgeyolo "
            "does not emulate it. Remove the key (use the cls-priority preset or more data against overconfidence)."
        )
    owned = sorted(set(overrides) & _OWNED)
    if owned:
        raise ConfigError(f"train: set '{owned[0]}' with its own option, not as an extra training argument")
    from edgeyolo._backend.trainer import train_argument_names

    unknown = sorted(set(overrides) - train_argument_names())
    if unknown:
        raise ConfigError(
            f"train: unknown training argument '{unknown[0]}'; see 'yolo cfg' for the valid ones"
        )


def _check_manual_progloss(cfg: TrainConfig) -> None:
    """Manual ProgLoss phases are absolute gains: a preset's or given gains would be dropped without a word."""
    if cfg.progloss.mode != "manual":
        return
    if cfg.preset != "general":
        raise ConfigError(
            f"train: --progloss manual phases are absolute box/cls gains, so --preset {cfg.preset} would be "
            "ignored; drop --preset (write the gains you want into the phases) or use --progloss auto or off"
        )
    given = [k for k in ("box", "cls") if getattr(cfg, k) is not None]
    if given:
        raise ConfigError(
            f"train: --progloss manual phases are absolute box/cls gains, so '{given[0]}' would be ignored; "
            "drop it (write the gains you want into the phases) or use --progloss auto or off"
        )


def _check_loader_options(cfg: TrainConfig) -> None:
    from edgeyolo.train.loader import check_workers, parse_cache

    if cfg.workers is not None:
        check_workers(cfg.workers)
    if cfg.cache is not None:
        parse_cache(cfg.cache)


def _stal_config(cfg: TrainConfig) -> Any:
    from edgeyolo.train.stal import StalConfig

    return cfg.stal_config if cfg.stal_config is not None else StalConfig()


def prepare(
    cfg: TrainConfig, log: Log = lambda m: None
) -> tuple[Recipe, dict[str, Any], dict[str, Any], list[str]]:
    """Check the dataset and resolve the recipe: (recipe, ultralytics args, settings to save, warnings)."""
    from edgeyolo._backend.trainer import resolve_model
    from edgeyolo.data.yolo import list_images, load_dataset

    dataset = load_dataset(cfg.data)  # a missing or malformed data.yaml fails before anything slow starts
    resolve_model(cfg.model)
    _check_overrides(cfg.overrides)
    if cfg.epochs < 1:
        raise ConfigError(f"train: --epochs must be >= 1, got {cfg.epochs}")
    if cfg.batch is not None and cfg.batch < 1:
        raise ConfigError(f"train: --batch must be >= 1, got {cfg.batch}")
    from edgeyolo.shapes import parse_shape

    given = parse_shape(cfg.imgsz or cfg.profile.imgsz[0], "train --imgsz")
    imgsz = given.long  # trained square at the long side (mosaic needs it); deployed at the shapes below
    if cfg.preset != "auto" and cfg.preset not in LOSS_PRESETS:
        raise ConfigError(f"train: unknown --preset '{cfg.preset}'; known: auto, {', '.join(LOSS_PRESETS)}")
    if cfg.aug is not None and cfg.aug not in AUG_PRESETS:
        raise ConfigError(f"train: unknown --aug '{cfg.aug}'; known: {', '.join(AUG_PRESETS)}")
    for key in ("box", "cls"):
        value = getattr(cfg, key)
        if value is not None and not value > 0:
            raise ConfigError(f"train: '{key}' (loss gain) must be > 0, got {value}")
    if cfg.assign_min_px is not None and not cfg.assign_min_px > 0:
        raise ConfigError(f"train: --assign-min-px must be > 0 pixels, got {cfg.assign_min_px}")
    _check_manual_progloss(cfg)
    _check_loader_options(cfg)

    warnings: list[str] = []
    recs: dict[str, Any] = {}
    if cfg.check:
        from edgeyolo.data.check import check_dataset

        report = check_dataset(cfg.data, imgsz=imgsz, aerial=cfg.aerial)
        if report.fatal:
            first = report.errors[0]
            more = f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
            raise DatasetError(
                f"{first.file}: {first.message}{more}; nothing was trained. Run 'edgeyolo data check {cfg.data}' for the full list."
            )
        warnings = [f"{w.file}: {w.message}" for w in report.warnings]
        recs = {r.key: r for r in report.recommendations}
        for w in warnings:
            log(f"[check] warning: {w}")

    device = cfg.device or default_device()
    gpus = len(parse_devices(device))
    batch_reason = "given"
    batch = cfg.batch
    nbs = cfg.overrides.get("nbs")
    if batch is None:
        memory = gpu_memory_gib(device)
        train_split = dataset.splits.get("train") if memory is not None else None
        train_images = len(list_images(train_split, str(dataset.yaml_path))) if train_split else None
        plan = batch_for(memory, _scale_of(cfg.model), imgsz, train_images, max(gpus, 1))
        batch, batch_reason = plan.batch * max(gpus, 1), plan.reason
        nbs = nbs or plan.nbs

    loss_name: str | None = cfg.preset
    if loss_name == "auto":
        loss_name = recs["loss_preset"].value if "loss_preset" in recs else "general"
    loss = LOSS_PRESETS[loss_name]
    base_box = cfg.box if cfg.box is not None else loss.box
    base_cls = cfg.cls if cfg.cls is not None else loss.cls
    if cfg.box is not None or cfg.cls is not None:
        loss_name = "custom"  # given gains (a tuner's): no preset's name describes them
    elif cfg.progloss.mode == "manual":
        loss_name = None  # the phases' absolute gains replace any preset's
    aug_name = cfg.aug or (recs["augmentation"].value if "augmentation" in recs else "medium")
    aug = AUG_PRESETS[aug_name]
    stal_on = cfg.stal if cfg.stal is not None else bool(recs["stal"].value) if "stal" in recs else False

    args: dict[str, Any] = {**aug.overrides, "optimizer": cfg.optimizer, "patience": cfg.patience,
                            "seed": cfg.seed, "deterministic": cfg.deterministic, "box": base_box, "cls": base_cls}  # fmt: skip
    if aug.overrides.get("copy_paste") and stal_on:
        args.pop(
            "copy_paste"
        )  # box-only data: STAL is the copy/paste that works; the library's needs polygons
    if nbs is not None:
        args["nbs"] = nbs
    lr_note = None
    if cfg.lr0 is not None or gpus > 1:
        from edgeyolo._backend.trainer import default_train_argument

        base = cfg.lr0 if cfg.lr0 is not None else float(default_train_argument("lr0"))
        args["lr0"] = scaled_lr(base, batch // max(gpus, 1), max(gpus, 1)) if gpus > 1 else base
        if gpus > 1:
            lr_note = f"linear scaling: {base:g} x ({batch} / 16) = {args['lr0']:g} over {gpus} GPUs"
            args.setdefault("warmup_epochs", max(3.0, float(cfg.overrides.get("warmup_epochs", 3.0))))
    machine = _loader_machine(device, gpus)
    loader = _plan_loader(cfg, dataset, machine, imgsz, batch)
    args.update(loader.train_args)
    amp, precision = mixed_precision(*cuda_devices(device))
    if gpus and "amp" not in cfg.overrides:
        args["amp"] = amp
    elif "amp" in cfg.overrides:
        precision = f"amp={cfg.overrides['amp']} (given)"
    args.update(cfg.overrides)
    if "dfl" not in args:
        from edgeyolo._backend.trainer import default_train_argument

        args["dfl"] = float(default_train_argument("dfl"))

    recipe = Recipe(base_box=base_box, base_cls=base_cls, base_dfl=float(args["dfl"]), progloss=cfg.progloss,
                    stal=_stal_config(cfg) if stal_on else None, assign_min_px=cfg.assign_min_px)  # fmt: skip
    settings = {
        "edgeyolo_train": 1,
        "profile": cfg.profile.name,
        "profile_source": cfg.profile.source,
        "data": str(Path(cfg.data).resolve()),
        "model": cfg.model,
        "epochs": cfg.epochs,
        "imgsz": imgsz,
        "deploy_shapes": _deploy_shapes(cfg, given),
        "batch": batch,
        "batch_reason": batch_reason,
        "device": device,
        "precision": precision,
        "loss_preset": loss_name,  # None: manual ProgLoss phases; "custom": box/cls given
        "loss_gains": {"box": base_box, "cls": base_cls, "dfl": recipe.base_dfl},  # ProgLoss' base gains
        "aug_preset": aug_name,
        "stal": dataclasses.asdict(recipe.stal) if recipe.stal is not None else None,
        "progloss": cfg.progloss.to_dict(),
        "assign_min_px": cfg.assign_min_px,
        "lr_scaling": lr_note,
        "loader": loader.to_dict(),  # workers, cache, pinned memory, persistent workers, each with its reason
        "machine": dataclasses.asdict(machine),
        "recommendations": {k: {"value": _plain(r.value), "reason": r.reason} for k, r in recs.items()},
        "train_args": {k: _plain(v) for k, v in args.items()},
    }
    return recipe, args, settings, warnings


def _deploy_shapes(cfg: TrainConfig, given: Any) -> dict[str, Any]:
    """The inputs this run is meant for (training and best.pt stay square): ``shapes`` as labels (320, 320x192)
    and where the camera shape came from."""
    from edgeyolo.shapes import shape_of

    if cfg.deploy_shapes is not None:
        shapes, why = [shape_of(s) for s in cfg.deploy_shapes], "given by the sweep (edgeyolo run)"
    else:
        from edgeyolo.data import aspect_text, val_aspect

        if cfg.profile.camera is not None:
            aspect, why = cfg.profile.camera, f"profile camera {cfg.profile.camera.label}"
        else:
            aspect, share, n = val_aspect(cfg.data)
            why = f"val images {aspect_text(aspect, share, n)}" + ("" if aspect is not None else ": square")
        extra = () if given.is_square else (given,)
        shapes = list(cfg.profile.deploy_shapes(given.long, aspect, extra))
    return {"shapes": [s.label for s in shapes], "hw": [s.to_json() for s in shapes], "camera": why}


def _loader_machine(device: str, gpus: int) -> Any:
    """The machine the loader plan is made for (a test replaces ``loader.describe_machine``)."""
    from edgeyolo.train import loader

    visible = None
    if gpus:
        import torch

        visible = torch.cuda.device_count() if torch.cuda.is_available() else None
    return loader.describe_machine(gpus, visible)


def _plan_loader(cfg: TrainConfig, dataset: Any, machine: Any, imgsz: int, batch: int) -> Any:
    from edgeyolo.data.yolo import list_images
    from edgeyolo.train.loader import cache_bytes, plan_loader

    where = str(dataset.yaml_path)
    split_images = {
        s: list_images(dataset.splits[s], where) if s in dataset.splits else [] for s in ("train", "val")
    }
    size = sum(cache_bytes(images, imgsz) for images in split_images.values())
    return plan_loader(machine, batch=batch, imgsz=imgsz,
                       train_images=len(split_images["train"]), cache_size=size, workers=cfg.workers,
                       cache=cfg.cache)  # fmt: skip


def _plain(v: Any) -> Any:
    if dataclasses.is_dataclass(v):
        return dataclasses.asdict(v)
    if isinstance(v, tuple):
        return list(v)
    return v
