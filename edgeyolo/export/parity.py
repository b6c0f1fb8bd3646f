"""Parity of an exported artifact against the PyTorch model on the same images."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from edgeyolo.runtime.types import Detections


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes, ``[len(a), len(b)]``."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)), np.float32)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


@dataclass
class ParityReport:
    images: int
    reference: int  # reference (PyTorch) detections above the threshold
    matched: int  # artifact detections matched to a reference one (same class, IoU >= 0.5)
    missed: int  # reference detections the artifact did not produce
    extra: int  # artifact detections with no reference twin
    mean_iou: float | None  # over matched pairs
    min_iou: float | None
    max_score_diff: float | None

    @property
    def match_rate(self) -> float:
        return self.matched / self.reference if self.reference else 1.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["match_rate"] = round(self.match_rate, 4)
        return d


def compare_detections(
    reference: Sequence[Detections], candidate: Sequence[Detections], iou: float = 0.5
) -> ParityReport:
    """Greedy one-to-one matching per image, highest reference score first."""
    ious, diffs = [], []
    n_ref = n_match = n_extra = 0
    for ref, cand in zip(reference, candidate):
        n_ref += len(ref)
        m = box_iou(ref.xyxy, cand.xyxy)
        m[ref.classes[:, None] != cand.classes[None, :]] = 0.0
        used = np.zeros(len(cand), bool)
        for i in np.argsort(-ref.scores):
            if not len(cand):
                break
            row = np.where(used, -1.0, m[i])
            j = int(row.argmax())
            if row[j] >= iou:
                used[j] = True
                n_match += 1
                ious.append(float(row[j]))
                diffs.append(abs(float(ref.scores[i]) - float(cand.scores[j])))
        n_extra += int((~used).sum())
    return ParityReport(
        images=len(reference), reference=n_ref, matched=n_match, missed=n_ref - n_match, extra=n_extra,
        mean_iou=round(float(np.mean(ious)), 5) if ious else None,
        min_iou=round(float(np.min(ious)), 5) if ious else None,
        max_score_diff=round(float(np.max(diffs)), 6) if diffs else None,
    )  # fmt: skip
