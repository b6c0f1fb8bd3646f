"""Training YOLO26 for a device profile with edgeyolo's recipe.

The recipe on top of the library's loop: the dataset is checked first (fatal problems refuse to train),
MuSGD is chosen explicitly (the library's ``auto`` picks AdamW on short runs), the model is selected on
the NMS-free head that ships (``nms=False`` in validation), loss and augmentation presets come from the
source document's tables, STAL pastes small targets with a decaying intensity, ProgLoss schedules the
box/cls gains (and the L1 box gain with box), and several GPUs train with DDP under the linear LR scaling
rule. The data loader's workers and image cache are chosen from the machine (``loader.py``). The exact
configuration is saved as ``edgeyolo_train.yaml`` in the run folder (``loss_preset`` names
the preset whose gains apply: ``custom`` for given box/cls gains, none under manual ProgLoss phases), and
``resume`` continues a killed run from it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edgeyolo._io import write_text_atomic
from edgeyolo.errors import CheckpointError, ConfigError, DatasetError
from edgeyolo.profiles import DeviceProfile, load_profile
from edgeyolo.train.hooks import Recipe
from edgeyolo.train.progloss import DEFAULT_DFL, ProgLossConfig
from edgeyolo.recipe import (
    AUG_PRESETS,
    LOSS_PRESETS,
    batch_for,
    mixed_precision,
    parse_devices,
    scaled_lr,
)

CONFIG_FILE = "edgeyolo_train.yaml"
Log = Callable[[str], None]
# Called after each trained epoch with (0-based epoch, validation metrics of the NMS-free head); True stops.
OnEpoch = Callable[[int, dict[str, float]], bool]

# Library arguments that edgeyolo owns: set them through TrainConfig fields, not overrides.
_OWNED = {"data", "epochs", "imgsz", "batch", "device", "project", "name", "optimizer", "patience", "seed",
          "deterministic", "nms", "box", "cls", "resume", "model", "workers", "cache"}  # fmt: skip


@dataclass(frozen=True)
class TrainConfig:
    profile: DeviceProfile
    data: Path  # YOLO data.yaml
    out: Path  # runs are written to out/<name>/
    model: str = "yolo26n.yaml"  # model YAML (from scratch) or a local .pt
    epochs: int = 100
    imgsz: int | None = None  # default: the profile's first size
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


@dataclass
class TrainResult:
    run_dir: Path
    best: Path
    last: Path
    imgsz: int
    epochs_run: int
    seconds: float
    metrics: dict[str, float]  # validation of best.pt: precision, recall, mAP50, mAP50-95 (NMS-free head)
    settings: dict[str, Any] = field(default_factory=dict)  # the resolved recipe, as saved in the run folder
    warnings: list[str] = field(default_factory=list)

    @property
    def map50_95(self) -> float | None:
        return self.metrics.get("metrics/mAP50-95(B)")


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


def model_stem(model: str) -> str:
    return Path(model).stem


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
    from edgeyolo._ultralytics import train_argument_names

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
    from edgeyolo._ultralytics import resolve_model
    from edgeyolo.data.yolo import list_images, load_dataset

    dataset = load_dataset(cfg.data)  # a missing or malformed data.yaml fails before anything slow starts
    resolve_model(cfg.model)
    _check_overrides(cfg.overrides)
    if cfg.epochs < 1:
        raise ConfigError(f"train: --epochs must be >= 1, got {cfg.epochs}")
    if cfg.batch is not None and cfg.batch < 1:
        raise ConfigError(f"train: --batch must be >= 1, got {cfg.batch}")
    imgsz = cfg.imgsz or cfg.profile.imgsz[0]
    if imgsz % 32:
        raise ConfigError(f"train: --imgsz {imgsz} is not a multiple of 32 (the model's largest stride)")
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
        from edgeyolo._ultralytics import default_train_argument

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
        from edgeyolo._ultralytics import default_train_argument

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


def train(
    cfg: TrainConfig,
    log: Log = lambda m: None,
    on_epoch: OnEpoch | None = None,
    callbacks: dict[str, list[Callable[[Any], None]]] | None = None,
) -> TrainResult:
    """Check, resolve the recipe, train, and return where best.pt is with its validation metrics.

    ``on_epoch(epoch, metrics)`` runs after each epoch's validation (a tuner reports to its pruner there);
    returning True stops training after that epoch, best.pt still validated. Single-device runs only: under
    DDP the epochs run in other processes. ``callbacks`` adds Ultralytics callbacks (event name -> functions
    of the trainer, e.g. ``{"on_train_batch_end": [fn]}``) to watch or adjust the run.
    """
    from edgeyolo._ultralytics import epoch_end_callback, train_detector

    recipe, args, settings, warnings = prepare(cfg, log)
    imgsz, batch, device = settings["imgsz"], settings["batch"], settings["device"]
    if on_epoch is not None and len(parse_devices(device)) > 1:
        raise ConfigError(f"train: per-epoch callbacks need a single device, got --device {device}")
    callbacks = {event: list(fns) for event, fns in (callbacks or {}).items()}
    if on_epoch is not None:
        callbacks.setdefault("on_fit_epoch_end", []).append(epoch_end_callback(on_epoch))
    name = cfg.name or f"{model_stem(cfg.model)}-{imgsz}"
    run_dir = Path(cfg.out) / name
    write_text_atomic(run_dir / CONFIG_FILE, yaml.safe_dump(settings, sort_keys=False))
    log(f"[train] {cfg.model} at {imgsz} px, batch {batch} ({settings['batch_reason']}), loss preset "
        f"{settings['loss_preset'] or 'none (manual ProgLoss phases)'}, augmentation {settings['aug_preset']}, STAL {'on' if recipe.stal else 'off'}, "
        f"ProgLoss {cfg.progloss.mode}, {settings['precision']}, {_loader_note(settings['loader'])}")  # fmt: skip
    t0 = time.perf_counter()
    out = train_detector(cfg.model, Path(cfg.data), epochs=cfg.epochs, imgsz=imgsz, batch=batch, device=device,
                         out_dir=Path(cfg.out), name=name, recipe=recipe, callbacks=callbacks, **args)  # fmt: skip
    return TrainResult(
        run_dir=out.run_dir, best=out.best, last=out.last, imgsz=imgsz, epochs_run=out.epochs_run,
        seconds=time.perf_counter() - t0, metrics=out.metrics, settings=settings, warnings=warnings,
    )  # fmt: skip


def _loader_note(loader: dict[str, Any]) -> str:
    cache = {"ram": "images cached in RAM", "disk": "images cached on disk"}.get(
        loader["cache"], "no image cache"
    )
    return f"{loader['workers']} loader workers, {cache}"


def resume(run_dir: str | Path, log: Log = lambda m: None) -> TrainResult:
    """Continue a run that stopped before its last epoch, with the recipe saved in its folder."""
    from edgeyolo._ultralytics import checkpoint_progress, recover_checkpoints, train_detector

    run_dir = Path(run_dir)
    cfg_file, last = run_dir / CONFIG_FILE, run_dir / "weights" / "last.pt"
    if not cfg_file.is_file():
        raise ConfigError(f"'{run_dir}' has no {CONFIG_FILE}; pass a run folder written by 'edgeyolo train'.")
    if not last.is_file():
        raise ConfigError(
            f"'{last}' not found: the run stopped before its first epoch finished; start it again."
        )
    try:
        for note in recover_checkpoints(last.parent):
            log(f"[train] {note}")
        epoch, epochs = checkpoint_progress(last)
    except CheckpointError as e:
        raise CheckpointError(
            f"{e}; it cannot be resumed: start the training again without --resume"
        ) from None
    if epoch is None:
        raise ConfigError(
            f"'{run_dir}' finished all its epochs; nothing to resume. Start a new run to train more."
        )
    settings = yaml.safe_load(cfg_file.read_text())

    recipe = recipe_from_settings(settings, str(cfg_file))
    _truncate_results(run_dir / "results.csv", epoch + 1)
    log(f"[train] resuming {run_dir} after epoch {epoch + 1} of {epochs}")
    t0 = time.perf_counter()
    out = train_detector(settings["model"], Path(settings["data"]), epochs=epochs, imgsz=settings["imgsz"],
                         batch=settings["batch"], device=settings["device"], out_dir=run_dir.parent,
                         name=run_dir.name, recipe=recipe, resume=last)  # fmt: skip
    return TrainResult(
        run_dir=out.run_dir, best=out.best, last=out.last, imgsz=settings["imgsz"], epochs_run=out.epochs_run,
        seconds=time.perf_counter() - t0, metrics=out.metrics, settings=settings,
    )  # fmt: skip


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


def _truncate_results(results_csv: Path, last_saved_epoch: int) -> None:
    """Drop rows of epochs after the checkpoint: a kill between writing an epoch's metrics and saving its
    checkpoint leaves a row that the resumed run would write again."""
    if not results_csv.is_file():
        return
    lines = results_csv.read_text().splitlines(keepends=True)
    if not lines:
        return
    keep = [lines[0]] + [ln for ln in lines[1:] if ln.strip() and float(ln.split(",")[0]) <= last_saved_epoch]
    if len(keep) != len(lines):
        write_text_atomic(results_csv, "".join(keep))


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
