"""Confidence intervals for mAP by bootstrap over val images, and paired differences between candidates.

The per-image evaluation is faster-coco-eval's (the COCO protocol the records' mAP comes from): for each IoU
threshold it matches every detection to the ground truth of its image. What a resample needs from that is
small and is kept per candidate in a sidecar file (``PerImage``, ``.npz``): for each detection its image,
class, score and whether it is a true positive at each threshold, and the ground-truth count per image and
class. A resample of the val images (with replacement) is then the same COCO accumulation with each image
counted as often as it was drawn, done here in numpy for all resamples at once; with every image counted once
it reproduces the library's mAP50 and mAP50-95.

The resamples come from a fixed seed and depend only on the number of images, so two candidates scored on the
same val images are resampled together: the interval of their difference is paired (each resample compares
both on the same images), far narrower than two separate intervals when the candidates err on the same
images.

Torch-free: numpy, and faster-coco-eval only to build ``PerImage``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT = "edgeyolo.per-image/1"
RESAMPLES = 1000  # bootstrap resamples of the val images
SEED = 0  # fixed: the same resamples for every candidate scored on the same number of images
CONFIDENCE = 0.95  # two-sided percentile intervals
MAX_DETS = 300  # as in bench.accuracy: NMS-free heads emit up to 300 boxes per image, all counted
_RECALL_POINTS = np.linspace(0.0, 1.0, 101)  # COCO's 101-point interpolated precision
_CHUNK = 64  # resamples accumulated at once (memory: CHUNK x thresholds x detections of a class)


@dataclass
class PerImage:
    """What a candidate's COCO evaluation leaves per image, enough to re-accumulate it on any resample.

    Detections are stored in COCO's accumulation order (score descending; ties by image, then by their order
    in the image) and, per class, only up to its last true positive: later detections are false positives at
    every threshold in every resample and cannot change an interpolated precision.
    """

    images: list[str]  # val image file names, in evaluation order (pairing checks they match)
    classes: list[str]
    iou_thresholds: np.ndarray  # [T]
    det_image: np.ndarray  # [N] int32 image index
    det_class: np.ndarray  # [N] int16 class index
    det_score: np.ndarray  # [N] float32
    det_tp: np.ndarray  # [N] uint16 bitmask: bit t set = true positive at iou_thresholds[t]
    gt_count: np.ndarray  # [images, classes] uint16 ground-truth boxes per image and class
    detections: int = 0  # detections evaluated, before the trailing false positives were dropped

    @property
    def image_digest(self) -> str:
        """Identifies the val images and their order: candidates pair only when these are equal."""
        return hashlib.sha256("\n".join(self.images).encode()).hexdigest()[:16]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT,
            "images": self.images,
            "classes": self.classes,
            "detections": self.detections,
        }
        with open(path, "wb") as f:
            np.savez_compressed(
                f, meta=np.array(json.dumps(meta)), iou_thresholds=self.iou_thresholds, det_image=self.det_image,
                det_class=self.det_class, det_score=self.det_score, det_tp=self.det_tp, gt_count=self.gt_count,
            )  # fmt: skip
        return path

    @classmethod
    def load(cls, path: str | Path) -> PerImage:
        """Raises ValueError when the file is not an edgeyolo per-image file."""
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != FORMAT:
                raise ValueError(f"{path}: not an {FORMAT} file")
            return cls(images=list(meta["images"]), classes=list(meta["classes"]),
                       iou_thresholds=z["iou_thresholds"], det_image=z["det_image"], det_class=z["det_class"],
                       det_score=z["det_score"], det_tp=z["det_tp"], gt_count=z["gt_count"],
                       detections=int(meta.get("detections", 0)))  # fmt: skip


def per_image(images, sizes: Sequence[tuple[int, int]], detections, names: Sequence[str]) -> PerImage:
    """Per-image matches of ``detections`` (``Detections`` per image) to the labels of ``images``
    (``LabeledImage``), by faster-coco-eval, one evaluation per IoU threshold."""
    from faster_coco_eval import COCO, COCOeval_faster

    from edgeyolo.bench.accuracy import to_coco_detections, to_coco_ground_truth

    gt_dict = to_coco_ground_truth(images, sizes, names)
    dets = to_coco_detections(detections)
    k = len(names)
    gt_count = np.zeros((len(images), k), np.uint16)
    for a in gt_dict["annotations"]:
        gt_count[a["image_id"] - 1, a["category_id"]] += 1
    n = len(dets)
    tp = np.zeros(n, np.uint16)
    thresholds = np.linspace(0.5, 0.95, 10)
    if n and gt_dict["annotations"]:
        with contextlib.redirect_stdout(io.StringIO()):
            gt = COCO(gt_dict)
            dt = gt.loadRes(dets)  # detection ids 1..n in the order of ``dets``
            for t, thr in enumerate(thresholds):
                ev = COCOeval_faster(gt, dt, iouType="bbox", extra_calc=True)
                ev.params.iouThrs = np.array([thr])
                ev.params.maxDets = [MAX_DETS]
                ev.params.areaRng, ev.params.areaRngLbl = [[0.0, 1e10]], ["all"]
                ev.evaluate()
                ev.accumulate()
                for pair in ev.eval["matched"]:  # "<detection id>_<ground-truth id>"
                    tp[int(pair.split("_", 1)[0]) - 1] |= np.uint16(1 << t)
    det_image = np.array([d["image_id"] - 1 for d in dets], np.int32)
    det_class = np.array([d["category_id"] for d in dets], np.int16)
    det_score = np.array([d["score"] for d in dets], np.float32)
    # COCO's order: score descending; ties by image, then by position within the image.
    order = np.lexsort((np.arange(n), det_image, -det_score.astype(np.float64)))
    keep = []
    has_gt = gt_count.sum(axis=0) > 0
    for c in range(k):
        idx = order[det_class[order] == c]
        if not has_gt[c] or idx.size == 0:
            continue  # a class without ground truth is left out of mAP in every resample
        hits = np.nonzero(tp[idx])[0]
        keep.append(idx[: hits[-1] + 1] if hits.size else idx[:1])
    kept = np.concatenate(keep) if keep else np.zeros(0, np.int64)
    return PerImage(
        images=[i.path.name for i in images], classes=list(names), iou_thresholds=thresholds,
        det_image=det_image[kept], det_class=det_class[kept], det_score=det_score[kept], det_tp=tp[kept],
        gt_count=gt_count, detections=n,
    )  # fmt: skip


def resample_weights(n_images: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """[resamples, n_images]: how often each image is drawn in each resample (row 0 of the result is a
    resample, not the original set)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n_images, size=(resamples, n_images))
    return np.stack([np.bincount(row, minlength=n_images) for row in idx]).astype(np.float32)


def weighted_map(pi: PerImage, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mAP50-95, mAP50) for each row of ``weights`` ([B, images]: the count of each image), by COCO's
    accumulation (101-point interpolated precision, classes without ground truth left out). NaN where no
    class has ground truth.

    An interpolated precision is the highest precision at any point of the ranked list with at least that
    recall, and the highest is always reached right after a true positive; so only the points at detections
    that are a true positive at some threshold are computed. The counts there (true positives, detections
    so far) are per image, so a resample's counts are its image weights times a fixed count matrix.
    """
    w = np.atleast_2d(np.asarray(weights, np.float32))
    b, n_img = w.shape
    t = len(pi.iou_thresholds)
    k = len(pi.classes)
    ap = np.full((b, k, t), np.nan)
    npig_all = w @ pi.gt_count.astype(np.float32)  # [B, K]
    for c in range(k):
        npig = npig_all[:, c]
        valid = npig > 0
        if not valid.any():
            continue
        ap[valid, c, :] = 0.0  # ground truth, no true positive: precision 0
        sel = np.nonzero(pi.det_class == c)[0]  # this class's detections, in ranked order
        hits = np.nonzero(pi.det_tp[sel])[0]  # positions (in the class's list) of the points that count
        if hits.size == 0:
            continue
        img = pi.det_image[sel].astype(np.int64)
        bits = ((pi.det_tp[sel][:, None] >> np.arange(t, dtype=np.uint16)) & 1).astype(bool)  # [n, T]
        counts = [_counts_upto(img, np.ones(len(sel), bool), hits, n_img)]  # detections so far, per image
        counts += [_counts_upto(img, bits[:, j], hits, n_img) for j in range(t)]  # true positives so far
        m = np.concatenate(counts, axis=1)  # [images, (1 + T) * points]
        rows = np.nonzero(valid)[0]
        for s in range(0, rows.size, _CHUNK):
            r = rows[s : s + _CHUNK]
            got = (w[r] @ m).reshape(r.size, 1 + t, hits.size)
            dets, tps = got[:, :1, :], got[:, 1:, :]
            ap[r, c, :] = _ap(tps, dets, npig[r])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample in which no class has ground truth
        map50_95 = np.nanmean(ap.reshape(b, -1), axis=1)
        map50 = np.nanmean(ap[:, :, 0], axis=1)
    return map50_95, map50


def _counts_upto(img: np.ndarray, mask: np.ndarray, points: np.ndarray, n_img: int) -> np.ndarray:
    """[images, points]: how many of the masked detections of each image are at or before each point."""
    n = img.size
    pos = np.nonzero(mask)[0]
    keys = np.sort(img[pos] * n + pos)
    starts = np.searchsorted(keys, np.arange(n_img) * n)
    upto = np.searchsorted(keys, (np.arange(n_img)[:, None] * n + points[None, :]).ravel(), side="right")
    return (upto.reshape(n_img, -1) - starts[:, None]).astype(np.float32)


def _ap(tps: np.ndarray, dets: np.ndarray, npig: np.ndarray) -> np.ndarray:
    """AP per (resample, threshold) of one class from the counts at its points: ``tps`` [B, T, P] true
    positives so far, ``dets`` [B, 1, P] detections so far, ``npig`` [B] ground-truth boxes."""
    b, t, p = tps.shape
    rc = tps / npig[:, None, None]
    pr = tps / (dets + np.spacing(1))
    pr = np.maximum.accumulate(pr[..., ::-1], axis=2)[..., ::-1]  # precision made monotone, from the right
    # First point with recall >= each recall point, for every (resample, threshold) row at once: rows are laid
    # end to end with an offset of 2 (recall <= 1) so one sorted search serves all of them.
    rows = b * t
    offset = 2.0 * np.arange(rows)[:, None]
    flat = (rc.reshape(rows, p) + offset).ravel()
    pos = np.searchsorted(flat, (_RECALL_POINTS[None, :] + offset).ravel(), side="left").reshape(rows, -1)
    pos -= (np.arange(rows) * p)[:, None]
    inside = pos < p
    q = np.where(inside, pr.reshape(rows, p)[np.arange(rows)[:, None], np.minimum(pos, p - 1)], 0.0)
    return q.mean(axis=1).reshape(b, t)


def interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Two-sided percentile interval of bootstrap ``values`` (NaNs ignored)."""
    v = np.asarray(values, np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return (float("nan"), float("nan"))
    a = (1 - confidence) / 2
    lo, hi = np.quantile(v, [a, 1 - a])
    return (round(float(lo), 5), round(float(hi), 5))


@dataclass
class Bootstrap:
    """A candidate's mAP over the bootstrap resamples (same seed and size: same resamples for every candidate
    on the same val images)."""

    map50_95: np.ndarray  # [resamples]
    map50: np.ndarray
    image_digest: str
    resamples: int
    seed: int
    images: int = 0  # val images resampled


def bootstrap(pi: PerImage, resamples: int = RESAMPLES, seed: int = SEED) -> Bootstrap:
    m, m50 = weighted_map(pi, resample_weights(len(pi.images), resamples, seed))
    return Bootstrap(m, m50, pi.image_digest, resamples, seed, len(pi.images))


def accuracy_ci(
    pi: PerImage, resamples: int = RESAMPLES, seed: int = SEED, confidence: float = CONFIDENCE
) -> dict:
    """The ``accuracy.ci`` of a record: intervals of mAP50-95 and mAP50 and how they were made."""
    bs = bootstrap(pi, resamples, seed)
    return {
        "map50_95": list(interval(bs.map50_95, confidence)), "map50": list(interval(bs.map50, confidence)),
        "confidence": confidence, "resamples": resamples, "seed": seed, "images": len(pi.images),
        "method": "percentile bootstrap over val images (COCO per-image matches, faster-coco-eval)",
    }  # fmt: skip


def paired_difference(a: Bootstrap, b: Bootstrap, metric: str = "map50_95", confidence: float = CONFIDENCE
                      ) -> tuple[float, float] | None:  # fmt: skip
    """Interval of ``a - b`` over the same resamples; None when the two were not scored on the same images
    (or with other resamples), so they cannot be paired."""
    if (a.image_digest, a.resamples, a.seed) != (b.image_digest, b.resamples, b.seed):
        return None
    return interval(getattr(a, metric) - getattr(b, metric), confidence)


__all__ = ["Bootstrap", "PerImage", "accuracy_ci", "bootstrap", "interval", "paired_difference", "per_image",
           "resample_weights", "weighted_map"]  # fmt: skip
