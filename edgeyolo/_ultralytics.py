"""The only module that imports ultralytics.

Ultralytics reaches for the network in several places (settings sync, font download, auto-install of
missing packages, weight and dataset downloads). Everything here runs offline: the environment is set
before the first import, and names that would trigger a download are refused up front.
Results are converted into edgeyolo's own types before they leave this module.
"""

from __future__ import annotations

import os
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeyolo.errors import BackendUnavailableError, CheckpointError, ConfigError, WeightsNotFoundError

if TYPE_CHECKING:
    import numpy as np

    from edgeyolo.runtime.types import Detections

_READY = False
_SETTINGS_OFF = dict(
    sync=False, clearml=False, comet=False, dvc=False, mlflow=False, raytune=False,
    tensorboard=False, wandb=False, vscode_msg=False, openvino_msg=False,
)  # fmt: skip


def edgeyolo_home() -> Path:
    """Where edgeyolo keeps its caches (``EDGEYOLO_HOME``, default ``~/.cache/edgeyolo``)."""
    return Path(os.environ.get("EDGEYOLO_HOME", Path.home() / ".cache" / "edgeyolo")).expanduser()


def _prepare_environment() -> Path:
    config_dir = edgeyolo_home() / "ultralytics"
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "False"
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
    # Plots ask for Arial.ttf and download it when missing, even offline; matplotlib ships a free font.
    font_dir = Path(os.environ["YOLO_CONFIG_DIR"]) / "Ultralytics"  # ultralytics' USER_CONFIG_DIR
    font_dir.mkdir(parents=True, exist_ok=True)
    try:
        import matplotlib

        src = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        for name in ("Arial.ttf", "Arial.Unicode.ttf"):
            if src.is_file() and not (font_dir / name).exists():
                shutil.copyfile(src, font_dir / name)
    except ImportError:
        pass
    return config_dir


def import_ultralytics() -> Any:
    """Import ultralytics with the network switched off; one clear error when it is not installed."""
    global _READY
    if not _READY:
        _prepare_environment()
        from edgeyolo._offline import disable_vendor_telemetry

        disable_vendor_telemetry()
    try:
        import ultralytics
        from ultralytics.utils import SETTINGS
    except ImportError as e:
        raise BackendUnavailableError(
            f"training and export need ultralytics and torch ({e.name} is missing): pip install 'edgeyolo[train]'"
        ) from None
    if not _READY:
        SETTINGS.update(_SETTINGS_OFF)
        _patch_muon_cpu_precision()
        _patch_amp_check()
        _READY = True
    return ultralytics


def _patch_muon_cpu_precision() -> None:
    """Run MuSGD's Newton-Schulz orthogonalisation in float32 on CPU tensors.

    Ultralytics computes it in bfloat16, which CPUs without native bf16 matmul emulate: on a 2-core AVX2
    machine the optimizer step then costs more than forward and backward together (measured 4.7 s vs 0.18 s
    for a [8, 256, 1152] batch). Same iteration and coefficients; float32 is at least as accurate. GPU
    tensors keep the library's bfloat16 path.
    """
    try:
        from ultralytics.optim import muon
    except ImportError:  # an ultralytics without MuSGD
        return
    original = muon.zeropower_via_newtonschulz5
    if getattr(original, "_edgeyolo_cpu_fp32", False):
        return

    def zeropower_via_newtonschulz5(G, eps: float = 1e-7):
        if G.device.type != "cpu":
            return original(G, eps)
        X = G.reshape(-1, G.size(-2), G.size(-1)).float()
        X = X / (X.norm(dim=(-2, -1), keepdim=True) + eps)
        tall = G.size(-2) > G.size(-1)
        if tall:
            X = X.transpose(-2, -1)
        a, b, c = 3.4445, -4.7750, 2.0315
        for _ in range(5):
            A = X @ X.transpose(-2, -1)
            B = torch.baddbmm(A, A, A, beta=b, alpha=c)
            X = torch.baddbmm(X, B, X, beta=a)
        if tall:
            X = X.transpose(-2, -1)
        return X.reshape(G.shape)

    import torch

    zeropower_via_newtonschulz5._edgeyolo_cpu_fp32 = True
    muon.zeropower_via_newtonschulz5 = zeropower_via_newtonschulz5


def _patch_amp_check() -> None:
    """Keep the float16 AMP check from downloading yolo26n.pt.

    The library compares FP32 and AMP detections of a downloaded yolo26n.pt before float16 training. When
    that file is not already in its weights folder, edgeyolo keeps only the check's offline part: the
    library's pattern of GPUs known to break float16 AMP. bfloat16 runs skip the check in the library.
    """
    from ultralytics.engine import trainer as trainer_module
    from ultralytics.utils import LOGGER, WEIGHTS_DIR

    original = trainer_module.check_amp
    if getattr(original, "_edgeyolo_offline", False):
        return

    def check_amp(model):
        import torch

        from edgeyolo.recipe import fp16_amp_breaks

        device = next(model.parameters()).device
        if device.type != "cuda" or (WEIGHTS_DIR / "yolo26n.pt").is_file():
            return original(model)
        gpu = torch.cuda.get_device_name(device)
        if fp16_amp_breaks(gpu):
            LOGGER.warning(f"AMP: {gpu} is known to give NaN losses with float16 AMP; training in float32")
            return False
        LOGGER.info(
            f"AMP: float16 on {gpu}; output check skipped (it needs yolo26n.pt, which edgeyolo never downloads)"
        )
        return True

    check_amp._edgeyolo_offline = True
    trainer_module.check_amp = check_amp


def model_yaml_path(name: str) -> Path | None:
    """The shipped config for a model YAML name such as ``yolo26n.yaml`` (scale letter stripped), if any."""
    import re

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


def make_trainer_class(recipe: Any) -> type:
    """A DetectionTrainer subclass carrying edgeyolo's recipe (STAL in the train dataset, per-epoch hooks).

    Built per run so the recipe is a class attribute: under DDP the library ships the trainer class to
    each rank with cloudpickle, and a class made here travels by value, recipe included.
    """
    import_ultralytics()
    import torch
    from ultralytics.models.yolo.detect import DetectionTrainer

    from edgeyolo.train.hooks import apply_epoch, log_epoch

    class EdgeYoloTrainer(DetectionTrainer):
        edgeyolo_recipe = recipe

        def __init__(self, *args: Any, **kwargs: Any):
            import_ultralytics()  # DDP ranks unpickle this class in a fresh process: patches and offline too
            overrides = kwargs.get("overrides") or (args[1] if len(args) > 1 else None) or {}
            super().__init__(*args, **kwargs)
            if self.device.type == "cpu" and overrides.get("workers") is not None:
                # The library sets workers=0 for any CPU training; edgeyolo's loader plan (or the user) chose.
                self.args.workers = int(overrides["workers"])
            self.stal_transform = None
            self.add_callback("on_train_epoch_start", EdgeYoloTrainer._on_epoch_start)

        def get_model(self, cfg=None, weights=None, verbose=True):
            model = super().get_model(cfg=cfg, weights=weights, verbose=verbose)
            if self.world_size > 1:  # one BatchNorm statistic across all GPUs
                model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
            return model

        def build_dataset(self, img_path: str, mode: str = "train", batch: int | None = None):
            dataset = super().build_dataset(img_path, mode, batch)
            stal_cfg = self.edgeyolo_recipe.stal
            if mode == "train" and stal_cfg is not None and getattr(dataset, "augment", False):
                from edgeyolo.train.stal import SmallTargetAugment

                if self.stal_transform is None:  # an out-of-memory retry rebuilds the dataset mid-run
                    self.stal_transform = SmallTargetAugment(stal_cfg, seed=int(self.args.seed))
                _insert_before_format(dataset, self.stal_transform)
            return dataset

        def get_dataloader(self, dataset_path: str, batch_size: int = 16, rank: int = 0, mode: str = "train"):
            loader = super().get_dataloader(dataset_path, batch_size, rank, mode)
            if mode == "train" and self.stal_transform is not None:
                from edgeyolo.train.stal import tag_loader_epochs

                tag_loader_epochs(loader, self.stal_transform)  # workers prefetch across epoch boundaries
            return loader

        @staticmethod
        def _on_epoch_start(trainer: Any) -> None:
            row = apply_epoch(trainer, trainer.edgeyolo_recipe, trainer.stal_transform)
            if _is_rank_zero():
                log_epoch(trainer.save_dir, row)

    return EdgeYoloTrainer


def _is_rank_zero() -> bool:
    """The main process (no DDP) or DDP rank 0: the one that writes run files."""
    from ultralytics.utils import RANK

    return RANK in {-1, 0}


def _insert_before_format(dataset: Any, transform: Any) -> None:
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
    recipe: Any = None,
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


def _load_checkpoint(path: Path) -> dict[str, Any]:
    import_ultralytics()
    import torch

    try:
        return torch.load(str(path), map_location="cpu", weights_only=False)
    except (EOFError, RuntimeError, OSError, ValueError, pickle.UnpicklingError) as e:  # cut off mid-write
        raise CheckpointError(f"'{path}' is incomplete or damaged ({type(e).__name__}); the run was probably "
                              "killed while saving it") from None  # fmt: skip


def _saved_at_best_epoch(ckpt: dict[str, Any]) -> bool:
    """A training checkpoint written at the epoch that is its run's best so far (best.pt gets the same bytes)."""
    fitness = (ckpt.get("train_metrics") or {}).get("fitness")
    return ckpt.get("best_fitness") is not None and fitness == ckpt["best_fitness"]


def recover_checkpoints(weights_dir: Path) -> list[str]:
    """Repair what a kill during a checkpoint write left in a run's weights folder; one note per repair.

    Each epoch the library writes last.pt and then, when that epoch is the best so far, the same bytes to
    best.pt, both in place; at the end it rewrites both without the optimizer. So:
    - best.pt damaged or missing, last.pt readable and saved at its best epoch (a kill between the two
      writes of one epoch): best.pt becomes a copy of last.pt, exactly what was being written.
    - best.pt damaged, last.pt readable but not saved at its best epoch (a kill while stripping best.pt at
      the end): best.pt becomes a copy of last.pt (the final epoch's weights; the best epoch's are lost
      unless it was the final one), and the note says so.
    - last.pt damaged, best.pt readable and still holding its optimizer: last.pt becomes a copy of best.pt,
      so a resume continues from the best epoch (the epochs after it are trained again) instead of
      starting over.
    A damaged file is kept beside as ``*.damaged``. Both damaged, or last.pt damaged with no usable
    best.pt: CheckpointError (nothing to continue from).
    """
    best, last = weights_dir / "best.pt", weights_dir / "last.pt"
    best_ckpt = None
    if best.is_file():
        try:
            best_ckpt = _load_checkpoint(best)
        except CheckpointError:
            if not last.is_file():
                raise CheckpointError(
                    f"'{best}' is damaged and there is no last.pt to restore it from"
                ) from None
            last_ckpt = _load_checkpoint(last)  # raises when both are damaged
            best.replace(best.with_name("best.pt.damaged"))
            shutil.copyfile(last, best)
            if _saved_at_best_epoch(last_ckpt):
                return [
                    f"{best} was cut off while being saved; restored from last.pt, saved at the same (best) epoch"
                ]
            return [f"{best} was cut off while being saved; best.pt is now a copy of last.pt, the final epoch's "
                    "weights (the best epoch's are lost unless it was the final one)"]  # fmt: skip
    if not last.is_file():
        return []
    try:
        last_ckpt = _load_checkpoint(last)
    except CheckpointError:
        if best_ckpt is None or best_ckpt.get("optimizer") is None:
            raise
        last.replace(last.with_name("last.pt.damaged"))
        shutil.copyfile(best, last)
        return [f"{last} was cut off while being saved; continuing from best.pt (epoch "
                f"{int(best_ckpt.get('epoch', -1)) + 1}), the epochs after it are trained again"]  # fmt: skip
    if best_ckpt is None and _saved_at_best_epoch(last_ckpt):
        shutil.copyfile(last, best)
        return [f"{best} was missing (killed before it was written); restored from last.pt, saved at the same "
                "(best) epoch"]  # fmt: skip
    return []


def checkpoint_progress(last: Path) -> tuple[int | None, int]:
    """(last completed 0-based epoch, total epochs) of a training checkpoint; epoch None when finished.

    Raises:
        CheckpointError: the file cannot be read (e.g. truncated by a kill while it was saved).
    """
    ckpt = _load_checkpoint(last)
    epochs = int((ckpt.get("train_args") or {}).get("epochs", 0))
    epoch = ckpt.get("epoch", -1)
    if epoch is None or epoch < 0 or ckpt.get("optimizer") is None or epoch + 1 >= epochs:
        return None, epochs
    return int(epoch), epochs


def head_structure(head: Any) -> str | None:
    """None when the detection head can run NMS-free, else what was found instead.

    The one-to-one branches (``one2one_cv2`` box, ``one2one_cv3`` class) are what the NMS-free output is
    computed from. The head's ``end2end`` flag is not: a YOLO26 trained with the library's defaults
    (``nms=None``) stores ``end2end = False`` although both branches are there, and the library's export
    with ``nms=False`` switches them on. Only a head without them (YOLOv8/YOLO11, or a YOLO26 fused with
    its one-to-one branch removed) cannot be deployed NMS-free.
    """
    missing = [b for b in ("one2one_cv2", "one2one_cv3") if getattr(head, b, None) is None]
    if not missing:
        return None
    return f"a {type(head).__name__} head without its one-to-one branch ({', '.join(missing)} missing)"


def checkpoint_info(weights: Path) -> dict[str, Any]:
    """Class names, NMS-free capability (``end2end``, and ``head`` when not) and training image size."""
    import_ultralytics()
    from ultralytics import YOLO

    yolo = YOLO(str(weights), task="detect")
    head = yolo.model.model[-1]
    train_args = getattr(yolo, "ckpt", {}).get("train_args", {}) if isinstance(yolo.ckpt, dict) else {}
    found = head_structure(head)
    return {
        "names": [yolo.names[i] for i in range(len(yolo.names))],
        "end2end": found is None,
        "head": found,
        "imgsz": train_args.get("imgsz"),
        "model": Path(str(train_args.get("model", weights))).stem,
    }


def export_model(weights: Path, *, format: str, imgsz: int, quantize: int = 32, data: Path | None = None,
                 max_det: int = 300, device: str = "cpu", **kwargs: Any) -> Path:  # fmt: skip
    """Export with ``nms=False`` (NMS-free end-to-end head); returns the file or folder written."""
    import_ultralytics()
    from ultralytics import YOLO

    if quantize == 8 and data is None:
        raise ConfigError("INT8 export needs calibration images: pass --data D.yaml")
    yolo = YOLO(str(weights), task="detect")
    args: dict[str, Any] = dict(
        format=format, imgsz=imgsz, nms=False, max_det=max_det, batch=1, device=device
    )
    if quantize != 32:
        args["quantize"] = quantize
    if data is not None:  # without data, INT8 calibration falls back to a dataset download
        args["data"] = str(Path(data).resolve())
    args.update(kwargs)
    return Path(yolo.export(**args))


def predict_torch(weights: Path, images: list[np.ndarray], *, imgsz: int, conf: float, max_det: int = 300
                  ) -> list[Detections]:  # fmt: skip
    """PyTorch reference detections from the NMS-free head, in original image pixels (for parity checks)."""
    import_ultralytics()
    import numpy as np
    from ultralytics import YOLO

    from edgeyolo.runtime.types import Detections

    yolo = YOLO(str(weights), task="detect")
    out = []
    for img in images:
        r = yolo.predict(img, imgsz=imgsz, conf=conf, nms=False, max_det=max_det, device="cpu", verbose=False,
                         rect=False)[0]  # fmt: skip
        b = r.boxes
        out.append(
            Detections(
                xyxy=b.xyxy.cpu().numpy().astype(np.float32),
                scores=b.conf.cpu().numpy().astype(np.float32),
                classes=b.cls.cpu().numpy().astype(np.int64),
            )
        )
    return out


def validation_curves(weights: Path, data: Path, *, imgsz: int | None = None, split: str = "val",
                      batch: int = 16, device: str | None = None, max_det: int = 300) -> Any:  # fmt: skip
    """Validate ``weights`` on ``data`` and return an ``edgeyolo.diagnose.ValidationCurves``.

    The graph that ships runs: the NMS-free one-to-one head (``nms=False``) with export's ``max_det`` and a
    square letterbox (``rect=False``, as a fixed-shape export sees its input), at confidence 0.001 so the
    curves cover the whole range. Ultralytics counts its confusion matrix at the validation confidence (0.001,
    i.e. every low-score detection is a false positive); here the matrix is recounted from each image's
    predictions at the F1-optimal confidence, the threshold a deployment would use.
    """
    import_ultralytics()
    import logging
    import tempfile

    import numpy as np
    import torch
    from ultralytics import YOLO
    from ultralytics.models.yolo.detect import DetectionValidator
    from ultralytics.utils import LOGGER
    from ultralytics.utils.metrics import ConfusionMatrix

    from edgeyolo.diagnose import MATRIX_IOU, VAL_CONF, ValidationCurves, matrix_conf_for

    validators: list[Any] = []
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []

    class CurvesValidator(DetectionValidator):
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            validators.append(self)

        def _process_batch(self, preds: dict[str, Any], batch: dict[str, Any]) -> dict[str, Any]:
            # one image's predictions and labels, both in letterboxed pixels: replayed for the confusion matrix
            pairs.append(({k: v.detach().cpu() for k, v in preds.items() if k in ("bboxes", "conf", "cls")},
                          {"bboxes": batch["bboxes"].detach().cpu(), "cls": batch["cls"].detach().cpu()}))  # fmt: skip
            return super()._process_batch(preds, batch)

    if device is None:
        device = "0" if torch.cuda.is_available() else "cpu"
    yolo = YOLO(str(weights), task="detect")
    if imgsz is None:
        train_args = yolo.ckpt.get("train_args", {}) if isinstance(yolo.ckpt, dict) else {}
        imgsz = int(train_args.get("imgsz") or 640)
    level = LOGGER.level
    LOGGER.setLevel(
        logging.WARNING
    )  # the library logs (and draws progress bars) to stdout, which --json owns
    try:
        with tempfile.TemporaryDirectory(prefix="edgeyolo-val-") as tmp:
            yolo.val(validator=CurvesValidator, data=str(Path(data).resolve()), split=split, imgsz=imgsz,
                     batch=batch, device=device, conf=VAL_CONF, nms=False, max_det=max_det, rect=False, plots=False,
                     save_json=False, verbose=False, project=tmp, name="val", exist_ok=True)  # fmt: skip
    finally:
        LOGGER.setLevel(level)
    v = validators[-1]
    box, names = v.metrics.box, [v.names[i] for i in range(len(v.names))]
    nc = len(names)
    nt = v.metrics.nt_per_class
    instances = np.zeros(nc, dtype=np.int64) if nt is None else np.asarray(nt, dtype=np.int64)
    class_ids = np.asarray(box.ap_class_index, dtype=np.int64)
    k, grid = len(class_ids), np.linspace(0, 1, 1000)

    def rows(a: Any, width: int) -> np.ndarray:
        a = np.asarray(a, dtype=np.float64)
        return a.reshape(k, width) if a.size == k * width else np.zeros((k, width))

    all_ap = rows(box.all_ap, 10)
    precision, recall = rows(box.p_curve, grid.size), rows(box.r_curve, grid.size)
    matrix_conf = matrix_conf_for(grid, precision, recall)
    cm = ConfusionMatrix(names=v.names)
    for preds, labels in pairs:
        cm.process_batch(preds, labels, conf=matrix_conf, iou_thres=MATRIX_IOU)
    return ValidationCurves(
        conf=grid, class_ids=class_ids, precision=precision, recall=recall,
        pr_precision=rows(box.prec_values, grid.size), ap50=all_ap[:, 0], ap50_95=all_ap.mean(1),
        instances=instances, names=names, matrix=np.asarray(cm.matrix, dtype=np.int64), matrix_conf=matrix_conf,
        images=int(v.seen), meta={"val_imgsz": imgsz, "max_det": max_det, "nms": False, "conf": VAL_CONF},
    )  # fmt: skip
