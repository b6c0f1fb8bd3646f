"""Validation curves of a detector and the F1-optimal operating points on them.

:class:`ValidationCurves` is what one validation of the weights yields, as plain numpy (``val_curves.npz``);
the backend computes it (``edgeyolo._backend.validate``) and the diagnosis reads it. The threshold functions
pick the confidence that maximizes F1, overall and per class, and the confidence the confusion matrix is
counted at. Plain numpy: neither torch nor ultralytics is imported here.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CURVES_SCHEMA = 1  # of the file ValidationCurves.save writes

# Box filter over 5% of the confidence grid before taking the F1 peak, as Ultralytics does for its F1_curve.png:
# a single-grid-point spike on a small validation set is not a threshold to deploy.
F1_SMOOTH = 0.05
# Below this best F1 no threshold is recommended: the model is mostly wrong at every confidence, and a
# threshold tuned on that is noise (the notes say so instead).
MIN_THRESHOLD_F1 = 0.1
VAL_CONF = 0.001  # confidence the curves are validated at (Ultralytics' val default): the lowest threshold
MATRIX_FALLBACK_CONF = (
    0.25  # matrix confidence when no threshold is recommended (Ultralytics' predict default)
)
MATRIX_IOU = 0.45  # IoU matching the confusion matrix uses (Ultralytics' detection validator default)


@dataclass
class Threshold:
    """An operating point on the validation curves."""

    conf: float
    precision: float
    recall: float
    f1: float


@dataclass
class ClassThreshold:
    class_id: int
    name: str
    instances: int  # labelled objects in the validation split
    best: Threshold | None  # None when the class has no detection with F1 > 0


@dataclass
class ValidationCurves:
    """What one validation of the weights yields, as plain numpy (the cache file's content).

    Curve rows are the classes that have labels in the split (``class_ids``), as Ultralytics computes them.
    """

    conf: np.ndarray  # (G,) confidence grid; also the recall grid of pr_precision
    class_ids: np.ndarray  # (K,) class id of each curve row
    precision: np.ndarray  # (K, G) precision vs confidence
    recall: np.ndarray  # (K, G) recall vs confidence
    pr_precision: np.ndarray  # (K, G) precision vs recall at IoU 0.5 (monotone envelope, as AP uses)
    ap50: np.ndarray  # (K,)
    ap50_95: np.ndarray  # (K,)
    instances: np.ndarray  # (nc,) labelled objects per class in the split
    names: list[str]  # (nc,) class names, index = class id
    matrix: np.ndarray  # (nc+1, nc+1) counts [predicted, true]; index nc = background
    matrix_conf: float  # confidence the matrix was counted at
    images: int = 0
    meta: dict[str, Any] = field(default_factory=dict)  # what was validated: weights, data, imgsz, split
    # The dataset's labels (count_class_labels); None in a cache written before they were kept.
    train_instances: np.ndarray | None = None  # (nc,) labelled objects per class in the training split
    sizes: np.ndarray | None = None  # (nc, 3) objects per class in the validated split that are small, medium
    # and large (COCO areas) in the pixels the model sees at the validation image size

    @property
    def f1(self) -> np.ndarray:
        """(K, G) F1 vs confidence, as Ultralytics computes it."""
        return 2 * self.precision * self.recall / (self.precision + self.recall + 1e-16)

    def save(self, path: str | os.PathLike) -> Path:
        """Write to ``path`` (.npz, no pickles) atomically."""
        path = Path(path)
        arrays = {k: getattr(self, k) for k in ("conf", "class_ids", "precision", "recall", "pr_precision",
                                                "ap50", "ap50_95", "instances", "matrix")}  # fmt: skip
        arrays.update(
            {k: getattr(self, k) for k in ("train_instances", "sizes") if getattr(self, k) is not None}
        )
        arrays["names"] = np.array(self.names, dtype=str)
        arrays["scalars"] = np.array([self.matrix_conf, self.images], dtype=np.float64)
        arrays["meta"] = np.array(json.dumps({"schema": CURVES_SCHEMA, **self.meta}))
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> ValidationCurves | None:
        """Read a file written by :meth:`save`; None when it is missing, unreadable or of another schema."""
        try:
            with np.load(Path(path), allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta.get("schema") != CURVES_SCHEMA:
                    return None
                scalars = z["scalars"]
                return cls(
                    conf=z["conf"], class_ids=z["class_ids"], precision=z["precision"], recall=z["recall"],
                    pr_precision=z["pr_precision"], ap50=z["ap50"], ap50_95=z["ap50_95"], instances=z["instances"],
                    names=[str(n) for n in z["names"]], matrix=z["matrix"], matrix_conf=float(scalars[0]),
                    images=int(scalars[1]), meta=meta,
                    **{k: z[k] for k in ("train_instances", "sizes") if k in z.files},
                )  # fmt: skip
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            return None


def _smooth_grid(y: np.ndarray, f: float = F1_SMOOTH) -> np.ndarray:
    """Box filter over a fraction f of the grid, edges padded with the end values (Ultralytics' smooth)."""
    nf = round(len(y) * f * 2) // 2 + 1
    pad = np.ones(nf // 2)
    return np.convolve(np.concatenate((pad * y[0], y, pad * y[-1])), np.ones(nf) / nf, mode="valid")


def f1_optimal_index(f1: np.ndarray) -> int | None:
    """Grid index of the (smoothed) F1 peak of one F1-vs-confidence curve; None when F1 is 0 everywhere.

    A flat top (common on small validation sets: no detection changes state over a range of confidences)
    resolves to its middle, away from both edges, rather than to its lowest confidence.
    """
    f1 = np.nan_to_num(np.asarray(f1, dtype=np.float64))
    if f1.size == 0 or not (f1 > 0).any():
        return None
    s = _smooth_grid(f1)
    top = np.isclose(s, s.max(), rtol=1e-9, atol=1e-12)
    first = int(np.argmax(top))
    last = first + (int(np.argmin(top[first:])) if not top[first:].all() else len(top) - first) - 1
    return (first + last) // 2


def f1_peak(conf: np.ndarray, precision: np.ndarray, recall: np.ndarray) -> Threshold | None:
    """The operating point at the F1 peak of one P/R-vs-confidence pair of curves.

    None when F1 never reaches MIN_THRESHOLD_F1: a threshold tuned on a model that is mostly wrong is noise.
    """
    f1 = 2 * precision * recall / (precision + recall + 1e-16)
    i = f1_optimal_index(f1)
    if i is None or f1.max() < MIN_THRESHOLD_F1:
        return None
    # below the validation confidence the curves are flat copies of their value there, not measurements
    c = max(float(conf[i]), VAL_CONF)
    return Threshold(
        conf=round(c, 4), precision=float(precision[i]), recall=float(recall[i]), f1=float(f1[i])
    )


def best_thresholds(curves: ValidationCurves) -> tuple[Threshold | None, list[ClassThreshold]]:
    """The confidence maximizing F1: over all classes (the mean of the per-class F1 curves, as Ultralytics'
    F1_curve.png draws it) and per class, with P and R there (for all classes: their means)."""
    per_class = []
    for row, cid in enumerate(int(c) for c in curves.class_ids):
        best = f1_peak(curves.conf, curves.precision[row], curves.recall[row])
        per_class.append(ClassThreshold(cid, curves.names[cid], int(curves.instances[cid]), best))
    if not len(curves.class_ids):
        return None, per_class
    f1 = curves.f1.mean(0)
    i = f1_optimal_index(f1)
    if i is None or f1.max() < MIN_THRESHOLD_F1:
        return None, per_class
    c = max(float(curves.conf[i]), VAL_CONF)
    p, r = curves.precision.mean(0), curves.recall.mean(0)
    return Threshold(conf=round(c, 4), precision=float(p[i]), recall=float(r[i]), f1=float(f1[i])), per_class


def matrix_conf_for(conf: np.ndarray, precision: np.ndarray, recall: np.ndarray) -> float:
    """The confidence to count the confusion matrix at: the overall F1 peak (the threshold to deploy)."""
    k = len(precision)
    curves = ValidationCurves(
        conf=conf, class_ids=np.arange(k), precision=precision, recall=recall, pr_precision=precision,
        ap50=np.zeros(k), ap50_95=np.zeros(k), instances=np.zeros(k, dtype=np.int64), names=[""] * k,
        matrix=np.zeros((k + 1, k + 1)), matrix_conf=0.0,
    )  # fmt: skip
    overall, _ = best_thresholds(curves)
    return MATRIX_FALLBACK_CONF if overall is None else overall.conf
