"""Validation curves of a checkpoint through the library, on the NMS-free head that ships.

The library's validator is subclassed to keep each image's predictions, so the confusion matrix can be
recounted at the F1-optimal confidence; the result is an :class:`edgeyolo.curves.ValidationCurves`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeyolo._backend.env import import_ultralytics
from edgeyolo.curves import MATRIX_IOU, VAL_CONF, ValidationCurves, matrix_conf_for


def validation_curves(weights: Path, data: Path, *, imgsz: int | None = None, split: str = "val",
                      batch: int = 16, device: str | None = None, max_det: int = 300) -> ValidationCurves:  # fmt: skip
    """Validate ``weights`` on ``data`` and return its :class:`~edgeyolo.curves.ValidationCurves`.

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
