"""Training through the library: model specs, the trainer class that carries a recipe, train arguments.

The trainer knows no training logic of edgeyolo's: the recipe it is given (``edgeyolo.train.hooks.Recipe``)
supplies a transform for the training dataset (STAL), adjusts the training loader, and sets up each epoch
(ProgLoss gains, its log); see :class:`TrainingRecipe`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from edgeyolo._backend.env import import_ultralytics
from edgeyolo.errors import ConfigError, WeightsNotFoundError


def model_yaml_path(name: str) -> Path | None:
    """The shipped config for a model YAML name such as ``yolo26n.yaml`` (scale letter stripped), if any."""
    import_ultralytics()
    from ultralytics.utils.checks import check_yaml

    unified = re.sub(
        r"(\d+)([nslmx])(.+)?$", r"\1\3", name
    )  # yolo26n.yaml -> yolo26.yaml, as ultralytics does
    for candidate in (name, unified):
        found = check_yaml(candidate, hard=False)
        if found:
            return Path(found)
    return None


def resolve_model(model: str) -> str:
    """Check a model spec before anything slow starts: a model YAML or a ``.pt`` file on disk.

    Raises:
        WeightsNotFoundError: ``.pt`` weights that are not on disk (they would be downloaded).
        ConfigError: anything that is neither.
    """
    p = Path(model).expanduser()
    if p.suffix == ".pt":
        if not p.is_file():
            raise WeightsNotFoundError(
                f"Weights '{model}' not found on disk; edgeyolo never downloads weights. "
                f"Pass a local .pt path, or a model YAML such as {p.stem}.yaml to train from scratch."
            )
        return str(p.resolve())
    if p.suffix in (".yaml", ".yml"):
        if p.is_file():
            return str(p.resolve())
        if model_yaml_path(model) is not None:
            return model
        raise ConfigError(
            f"Model config '{model}' not found; use a shipped one such as yolo26n.yaml or a path."
        )
    raise ConfigError(f"Model '{model}' must be a model YAML (yolo26n.yaml) or a local .pt file.")


@dataclass
class TrainOutput:
    run_dir: Path
    best: Path
    last: Path
    metrics: dict[str, float]  # final validation metrics of best.pt (deployed NMS-free head)
    epochs_run: int


class TrainingRecipe(Protocol):
    """What the trainer asks of the recipe it carries; the recipe travels to DDP ranks by pickling."""

    def train_transform(self, seed: int) -> Any:
        """A transform for the training dataset, run just before ``Format``; None for none."""
        ...

    def prepare_loader(self, loader: Any, transform: Any) -> None:
        """Adjust the training loader of a dataset holding ``transform``, before its first iteration."""
        ...

    def start_epoch(self, trainer: Any, transform: Any, write_log: bool) -> None:
        """Set up the epoch about to start; ``write_log``: this process writes the run's files."""
        ...


def make_trainer_class(recipe: TrainingRecipe) -> type:
    """A DetectionTrainer subclass carrying ``recipe`` (its transform in the train dataset, per-epoch setup).

    Built per run so the recipe is a class attribute: under DDP the library ships the trainer class to
    each rank with cloudpickle, and a class made here travels by value, recipe included.
    """
    import_ultralytics()
    import torch
    from ultralytics.models.yolo.detect import DetectionTrainer

    class EdgeYoloTrainer(DetectionTrainer):
        edgeyolo_recipe = recipe

        def __init__(self, *args: Any, **kwargs: Any):
            import_ultralytics()  # DDP ranks unpickle this class in a fresh process: patches and offline too
            overrides = kwargs.get("overrides") or (args[1] if len(args) > 1 else None) or {}
            super().__init__(*args, **kwargs)
            if self.device.type == "cpu" and overrides.get("workers") is not None:
                # The library sets workers=0 for any CPU training; edgeyolo's loader plan (or the user) chose.
                self.args.workers = int(overrides["workers"])
            self.stal_transform = None  # the recipe's train transform (STAL), made once per run
            self.add_callback("on_train_epoch_start", EdgeYoloTrainer._on_epoch_start)

        def get_model(self, cfg=None, weights=None, verbose=True):
            model = super().get_model(cfg=cfg, weights=weights, verbose=verbose)
            if self.world_size > 1:  # one BatchNorm statistic across all GPUs
                model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
            return model

        def build_dataset(self, img_path: str, mode: str = "train", batch: int | None = None):
            dataset = super().build_dataset(img_path, mode, batch)
            if mode == "train" and getattr(dataset, "augment", False):
                if self.stal_transform is None:  # an out-of-memory retry rebuilds the dataset mid-run
                    self.stal_transform = self.edgeyolo_recipe.train_transform(int(self.args.seed))
                if self.stal_transform is not None:
                    insert_before_format(dataset, self.stal_transform)
            return dataset

        def get_dataloader(self, dataset_path: str, batch_size: int = 16, rank: int = 0, mode: str = "train"):
            loader = super().get_dataloader(dataset_path, batch_size, rank, mode)
            if mode == "train" and self.stal_transform is not None:
                self.edgeyolo_recipe.prepare_loader(loader, self.stal_transform)
            return loader

        @staticmethod
        def _on_epoch_start(trainer: Any) -> None:
            trainer.edgeyolo_recipe.start_epoch(trainer, trainer.stal_transform, _is_rank_zero())

    return EdgeYoloTrainer


def _is_rank_zero() -> bool:
    """The main process (no DDP) or DDP rank 0: the one that writes run files."""
    from ultralytics.utils import RANK

    return RANK in {-1, 0}


def insert_before_format(dataset: Any, transform: Any) -> None:
    """Put ``transform`` just before ``Format`` now and whenever the dataset rebuilds its transforms
    (close_mosaic does), so STAL sees xyxy pixel boxes at training size."""
    original = dataset.build_transforms

    def build_transforms(hyp: Any, _original=original) -> Any:
        transforms = _original(hyp)
        transforms.insert(len(transforms.transforms) - 1, transform)
        return transforms

    dataset.build_transforms = build_transforms
    dataset.transforms.insert(len(dataset.transforms.transforms) - 1, transform)


def train_detector(
    model: str,
    data: Path,
    *,
    epochs: int,
    imgsz: int,
    batch: int,
    device: str,
    out_dir: Path,
    name: str,
    recipe: TrainingRecipe | None = None,
    resume: Path | None = None,
    callbacks: dict[str, list[Any]] | None = None,
    **overrides: Any,
) -> TrainOutput:
    """Train with ``nms=False`` so validation, early stopping and best.pt use the deployed head.

    With ``resume`` (a ``last.pt``), the run continues from its last completed epoch with the arguments
    stored in the checkpoint.
    """
    import_ultralytics()
    from ultralytics import YOLO

    trainer_cls = make_trainer_class(recipe) if recipe is not None else None
    if resume is not None:
        yolo = YOLO(str(resume), task="detect")
        args: dict[str, Any] = {"resume": True, "data": str(Path(data).resolve())}
        # The run's workers, passed on: on CPU the library loads in the main process unless told (the trainer
        # class restores a given number), and a resumed run would lose the loader that edgeyolo chose.
        workers = (getattr(yolo, "ckpt", None) or {}).get("train_args", {}).get("workers")
        if workers is not None:
            args["workers"] = int(workers)
    else:
        yolo = YOLO(resolve_model(model), task="detect")
        args = dict(
            data=str(Path(data).resolve()), epochs=epochs, imgsz=imgsz, batch=batch, device=device,
            project=str(Path(out_dir).resolve()), name=name, exist_ok=True, nms=False, verbose=False, **overrides,
        )  # fmt: skip
    for event, fns in (callbacks or {}).items():
        for fn in fns:
            yolo.add_callback(event, fn)
    yolo.train(trainer=trainer_cls, **args)
    trainer = yolo.trainer
    metrics = {k: float(v) for k, v in (trainer.metrics or {}).items() if isinstance(v, (int, float))}
    return TrainOutput(
        run_dir=Path(trainer.save_dir),
        best=Path(trainer.best),
        last=Path(trainer.last),
        metrics=metrics,
        epochs_run=int(trainer.epoch) + 1,
    )


def epoch_end_callback(on_epoch: Any) -> Any:
    """An ``on_fit_epoch_end`` callback that calls ``on_epoch(epoch, metrics)`` once per trained epoch.

    ``epoch`` is 0-based; ``metrics`` holds that epoch's validation (NMS-free head, e.g.
    ``metrics/mAP50-95(B)``) and ``fitness``. A true return stops training after this epoch through the
    library's own early-stop flag, so best.pt is still validated and the data loaders close. The library
    fires the event once more from ``final_eval`` (for best.pt); that call is not passed on.
    """
    state = {"ended": False}

    def callback(trainer: Any) -> None:
        if state["ended"]:
            return
        metrics = {k: float(v) for k, v in (trainer.metrics or {}).items() if isinstance(v, (int, float))}
        if getattr(trainer, "fitness", None) is not None:
            metrics.setdefault("fitness", float(trainer.fitness))
        if on_epoch(int(trainer.epoch), metrics):
            trainer.stop = True
        state["ended"] = bool(trainer.stop)

    return callback


def train_argument_names() -> set[str]:
    """Every argument name the library's trainer accepts."""
    import_ultralytics()
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return set(DEFAULT_CFG_DICT)


def default_train_argument(key: str) -> Any:
    import_ultralytics()
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return DEFAULT_CFG_DICT[key]
