"""Training checkpoints: reading them, repairing what a kill during a save left, and what they hold.

:func:`checkpoint_progress` (how far a run got), :func:`recover_checkpoints` (best.pt / last.pt after a kill
mid-write), :func:`checkpoint_info` (class names, training size, NMS-free capability per
:func:`head_structure`).
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import Any

from edgeyolo._backend.env import import_ultralytics
from edgeyolo.errors import CheckpointError


def load_checkpoint(path: Path) -> dict[str, Any]:
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
            best_ckpt = load_checkpoint(best)
        except CheckpointError:
            if not last.is_file():
                raise CheckpointError(
                    f"'{best}' is damaged and there is no last.pt to restore it from"
                ) from None
            last_ckpt = load_checkpoint(last)  # raises when both are damaged
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
        last_ckpt = load_checkpoint(last)
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
    ckpt = load_checkpoint(last)
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
        "model": _model_name(Path(weights), train_args),
    }


def _model_name(weights: Path, train_args: dict) -> str:
    """The model a checkpoint was trained from (``yolo26n``). A resumed training's checkpoints record the
    ``last.pt`` it resumed from instead: then edgeyolo's own record of the run (``edgeyolo_train.yaml`` beside
    ``weights/``) names it."""
    model = Path(str(train_args.get("model", weights))).stem
    record = weights.parent.parent / "edgeyolo_train.yaml"
    if model in ("last", "best") and record.is_file():
        import yaml

        saved = (yaml.safe_load(record.read_text()) or {}).get("model")
        if saved:
            return Path(str(saved)).stem
    return model
