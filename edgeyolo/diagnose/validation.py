"""The run's validation curves: read from ``val_curves.npz`` when it matches, else computed through the
backend and cached there with the dataset's label statistics per class."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from edgeyolo.curves import ValidationCurves
from edgeyolo.diagnose.results import ARGS_FILE, CURVES_FILE
from edgeyolo.diagnose.types import Log
from edgeyolo.errors import DatasetError, EdgeYoloError


def pick_weights(run: Path, notes: list[str]) -> Path | None:
    """The weights the curves come from: best.pt, else last.pt (noted), else None (noted)."""
    best, last = run / "weights" / "best.pt", run / "weights" / "last.pt"
    if best.is_file():
        return best
    if last.is_file():
        notes.append(f"No weights/best.pt: the threshold and confusions come from {last.name}.")
        return last
    notes.append(f"No weights in {run / 'weights'}: skipped the confidence threshold, the per-class rules and the "
                 f"confusions (they need validation curves of best.pt).")  # fmt: skip
    return None


def _cache_key(weights: Path, data: str, imgsz: int | None, split: str) -> dict[str, Any]:
    st = weights.stat()
    return {"weights": str(weights.resolve()), "weights_size": st.st_size, "weights_mtime_ns": st.st_mtime_ns,
            "data": data, "imgsz": imgsz, "split": split}  # fmt: skip


def _resolve_data(run: Path, data: str | os.PathLike | None, args: dict[str, Any]) -> str:
    if data is not None:
        return str(Path(data).expanduser().resolve())
    if args.get("data"):
        return str(Path(str(args["data"])).expanduser().resolve())
    raise DatasetError(
        f"{run / ARGS_FILE} names no dataset, and the validation curves need one: pass --data D.yaml "
        f"(the dataset the run was trained on)."
    )


def load_curves(run: Path, weights: Path, data: str | os.PathLike | None, args: dict[str, Any], *,
                imgsz: int | None = None, device: str | None = None, split: str = "val",
                log: Log = lambda m: None) -> ValidationCurves:  # fmt: skip
    """The run's validation curves: from ``val_curves.npz`` when it matches the weights, dataset, image size
    and split, otherwise computed through Ultralytics (the backend) and cached."""
    data_path = _resolve_data(run, data, args)
    imgsz = imgsz or (int(args["imgsz"]) if isinstance(args.get("imgsz"), int) else None)
    key = _cache_key(weights, data_path, imgsz, split)
    cache = run / CURVES_FILE
    cached = ValidationCurves.load(cache)
    if cached is not None and all(cached.meta.get(k) == v for k, v in key.items()):
        log(f"[diagnose] validation curves from {cache}")
        if cached.sizes is None and _add_label_stats(cached, data_path, split):
            cached.save(cache)  # a cache from before the label statistics were kept: completed once
        return cached
    if not Path(data_path).is_file():
        src = "--data" if data is not None else str(run / ARGS_FILE)
        raise DatasetError(
            f"Dataset '{data_path}' (from {src}) not found; the validation curves need it: pass --data D.yaml "
            f"(the dataset the run was trained on)."
        )
    from edgeyolo.data.yolo import load_dataset

    ds = load_dataset(data_path)
    if split not in ds.splits:
        raise DatasetError(
            f"{data_path}: no '{split}' split to validate on; add e.g. {split}: images/{split}"
        )
    from edgeyolo._backend.validate import validation_curves

    log(f"[diagnose] validating {weights.name} on {data_path} ({split}, NMS-free head) for the F1 curves")
    curves = validation_curves(weights, Path(data_path), imgsz=imgsz, device=device, split=split)
    curves.meta.update(key)
    _add_label_stats(curves, data_path, split)
    curves.save(cache)
    return curves


def count_class_labels(
    data: str | os.PathLike, split: str, imgsz: int
) -> tuple[np.ndarray | None, np.ndarray]:
    """Labels per class: training objects, and the objects of ``split`` by size as the model sees them.

    Args:
        data: the dataset's data.yaml.
        split: the split the sizes are counted on (the validated one).
        imgsz: the validation image size: each image is letterboxed so its long side is ``imgsz``, as
            validation does, before its boxes are sorted into COCO's small / medium / large areas.

    Returns:
        (nc,) objects per class in the training split (None when the dataset declares none), and (nc, 3)
        objects per class in ``split`` that are small, medium, large.

    Raises:
        DatasetError: the data.yaml, a split path or a label file is malformed.
    """
    from PIL import Image  # Pillow comes with matplotlib; it reads an image's size from its header alone

    from edgeyolo.data.check import MEDIUM_AREA, SMALL_AREA
    from edgeyolo.data.yolo import label_path_for, list_images, load_dataset, read_labels

    ds = load_dataset(data)
    nc = ds.nc

    def labels_of(image: Path) -> np.ndarray:
        rows = read_labels(label_path_for(image))
        return rows[(rows[:, 0] >= 0) & (rows[:, 0] < nc)]  # an out-of-range class: `data check` reports it

    train = None
    if "train" in ds.splits:
        train = np.zeros(nc, np.int64)
        for image in list_images(ds.splits["train"], str(ds.yaml_path)):
            train += np.bincount(labels_of(image)[:, 0].astype(np.int64), minlength=nc)
    sizes = np.zeros((nc, 3), np.int64)
    for image in list_images(ds.splits[split], str(ds.yaml_path)) if split in ds.splits else []:
        rows = labels_of(image)
        if not len(rows):
            continue
        try:
            with Image.open(image) as im:
                w, h = im.size
        except (OSError, ValueError):  # an unreadable image: validation skips it too
            continue
        r = imgsz / max(w, h)
        area = (rows[:, 3] * w * r) * (rows[:, 4] * h * r)
        np.add.at(sizes, (rows[:, 0].astype(np.int64), np.digitize(area, [SMALL_AREA, MEDIUM_AREA])), 1)
    return train, sizes


def _add_label_stats(curves: ValidationCurves, data: str, split: str) -> bool:
    """Add :func:`count_class_labels` to the curves; False when the dataset cannot say (the per-class rule then
    counts the validation split's labels and looks at no sizes)."""
    imgsz = curves.meta.get("val_imgsz")
    if not isinstance(imgsz, int) or not Path(data).is_file():
        return False
    try:
        train, sizes = count_class_labels(data, split, imgsz)
    except (EdgeYoloError, OSError):
        return False
    if len(sizes) != len(curves.names):  # another dataset than the weights were trained on
        return False
    curves.train_instances, curves.sizes = train, sizes
    return True
