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

- ``__init__.py``: :func:`train` and :func:`resume` (through ``edgeyolo._backend.trainer``).
- ``config.py``: :class:`TrainConfig`, ``--config`` YAML files, a run's recipe from its saved settings.
- ``resolve.py``: :func:`prepare`, the checks and the resolution of a config into recipe and arguments.
- ``hooks.py``: the :class:`~edgeyolo.train.hooks.Recipe` the backend's trainer calls each epoch.
- ``progloss.py``, ``stal.py`` + ``stal_loader.py``, ``loader.py``: ProgLoss gains, STAL, loader settings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edgeyolo._io import write_text_atomic
from edgeyolo.errors import CheckpointError, ConfigError
from edgeyolo.recipe import parse_devices
from edgeyolo.train.config import CONFIG_FILE, TrainConfig, config_from_file, recipe_from_settings
from edgeyolo.train.resolve import Log, prepare

__all__ = ["CONFIG_FILE", "TrainConfig", "TrainResult", "config_from_file", "model_stem", "prepare",
           "recipe_from_settings", "resume", "train"]  # fmt: skip

# Called after each trained epoch with (0-based epoch, validation metrics of the NMS-free head); True stops.
OnEpoch = Callable[[int, dict[str, float]], bool]


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


def model_stem(model: str) -> str:
    return Path(model).stem


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
    from edgeyolo._backend.trainer import epoch_end_callback, train_detector

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
    from edgeyolo._backend.checkpoints import checkpoint_progress, recover_checkpoints
    from edgeyolo._backend.trainer import train_detector

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
