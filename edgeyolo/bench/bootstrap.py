"""Confidence intervals for mAP by bootstrap over val images, and paired differences between candidates.

The per-image evaluation is faster-coco-eval's (the COCO protocol the records' mAP comes from): for each IoU
threshold it matches every detection to the ground truth of its image. What a resample needs from that is
small and is kept per candidate in a sidecar file (``PerImage``, ``.npz``): for each detection its image,
class, score and whether it is a true positive at each threshold, and the ground-truth count per image and
class. A resample of the val images (with replacement) is then the same COCO accumulation with each image
counted as often as it was drawn, done here in numpy (``weighted_map``): it is faster-coco-eval's mAP50-95
and mAP50 of the val set with the drawn images duplicated, to the bit (integer counts, COCO's float64 recall
comparison and its order of tied detections), and with every image counted once the library's own mAP. Its
memory grows with the detections, not with images x ranks: a COCO-sized split (5000 images, 80 classes,
1000 resamples) takes under 200 MB and seconds (benchmarks/bootstrap_memory.py), so it runs on the device.

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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

FORMAT = "edgeyolo.per-image/1"
RESAMPLES = 1000  # bootstrap resamples of the val images
SEED = 0  # fixed: the same resamples for every candidate scored on the same number of images
CONFIDENCE = 0.95  # two-sided percentile intervals
MAX_DETS = 300  # as in bench.accuracy: NMS-free heads emit up to 300 boxes per image, all counted
_RECALL_POINTS = np.linspace(0.0, 1.0, 101)  # COCO's recThrs (101-point interpolated precision), same values
_BLOCK = 32  # resamples whose COCO precision tables (thresholds x 101 x classes, float64) are held at once
_CELLS = 1 << 20  # elements in the largest working array of one class in weighted_map (8 MB of int64/float64)


@dataclass
class PerImage:
    """What a candidate's COCO evaluation leaves per image, enough to re-accumulate it on any resample.

    Detections are stored in COCO's accumulation order (score descending; ties by image, then by their order
    in the image), at most ``MAX_DETS`` per image and class as COCO counts them, and, per class, only up to
    its last true positive and the detections of that image tied with it: later detections are false
    positives at every threshold in every resample and cannot change an interpolated precision.
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
    score = np.array([d["score"] for d in dets], np.float64)
    det_score = score.astype(np.float32)
    # COCO's order: score descending; ties by image, then by position within the image.
    order = np.lexsort((np.arange(n), det_image, -score))
    # COCO counts the first MAX_DETS of each image and class in that order; the rest are not in its lists at all.
    order = order[_rank_in_group(det_image[order].astype(np.int64) * k + det_class[order]) < MAX_DETS]
    keep = []
    has_gt = gt_count.sum(axis=0) > 0
    for c in range(k):
        idx = order[det_class[order] == c]
        if not has_gt[c] or idx.size == 0:
            continue  # a class without ground truth is left out of mAP in every resample
        hits = np.nonzero(tp[idx])[0]
        if not hits.size:
            keep.append(idx[:1])
            continue
        # Up to the last true positive and the detections tied with it in its image (same score): where that
        # image is drawn twice, its copies take turns in COCO's order, so they are not all past the last one.
        end = hits[-1] + 1
        last = idx[hits[-1]]
        while end < idx.size and det_image[idx[end]] == det_image[last] and score[idx[end]] == score[last]:
            end += 1
        keep.append(idx[:end])
    kept = np.concatenate(keep) if keep else np.zeros(0, np.int64)
    return PerImage(
        images=[i.path.name for i in images], classes=list(names), iou_thresholds=thresholds,
        det_image=det_image[kept], det_class=det_class[kept], det_score=det_score[kept], det_tp=tp[kept],
        gt_count=gt_count, detections=n,
    )  # fmt: skip


def _rank_in_group(group: np.ndarray) -> np.ndarray:
    """For each entry, how many earlier entries have the same ``group`` value."""
    n = group.size
    by_group = np.argsort(group, kind="stable")
    g = group[by_group]
    first = np.r_[True, g[1:] != g[:-1]] if n else np.zeros(0, bool)
    rank = np.empty(n, np.int64)
    rank[by_group] = np.arange(n) - np.maximum.accumulate(np.where(first, np.arange(n), 0))
    return rank


def resample_weights(n_images: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """[resamples, n_images]: how often each image is drawn in each resample (row 0 of the result is a
    resample, not the original set). The draws are made a block of rows at a time from one generator, which
    gives the same numbers as drawing them all at once."""
    rng = np.random.default_rng(seed)
    out = np.empty((resamples, n_images), np.float32)
    step = max(1, _CELLS // max(n_images, 1))
    for s in range(0, resamples, step):
        rows = min(step, resamples - s)
        idx = rng.integers(0, n_images, size=(rows, n_images))
        idx += np.arange(rows)[:, None] * n_images
        out[s : s + rows] = np.bincount(idx.ravel(), minlength=rows * n_images).reshape(rows, n_images)
    return out


def weighted_map(pi: PerImage, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mAP50-95, mAP50) for each row of ``weights`` ([B, images]: how often each image is counted, whole
    numbers): COCO's accumulation of the val set in which image i appears ``weights[b, i]`` times (its copies
    next to each other, in val order), to the bit. NaN where no class has ground truth.

    COCO ranks a class's detections (score descending, ties by image), counts true positives ``tp`` and
    detections ``n`` down the list, makes precision ``tp / n`` monotone from the right and reads it, for each
    of 101 recall points r, at the first rank with ``tp / npig >= r`` (float64, ``npig`` ground-truth boxes).
    At one IoU threshold only the last rank of each run of true positives is needed for that ("ends"):
    precision rises along the run, so its last rank carries the monotone precision of all of it, and the first
    rank reaching a recall point lies in such a run. In a resample an end holds the counts of the last drawn
    detection up to it, which is again the last of a run (images left out only merge runs). At the ends the
    counts of a resample are sums of image weights over sparse per-class lists: memory linear in the
    detections, not images x ranks.
    The recall lookup is made on integer counts (the least ``tp`` whose float64 quotient reaches each point),
    so it is exact. Tied detections of one image (same class and score) that differ in being true positives
    are expanded into one copy per possible weight, each counted where the image is drawn that often: the
    duplicated set's order. The mean is COCO's: over the [thresholds, recall points, classes] table of each
    resample, classes without ground truth in it left out.

    Raises:
        ValueError: ``weights`` is not [B, images] of non-negative whole numbers.
    """
    w = np.atleast_2d(np.asarray(weights))
    if w.ndim != 2 or w.shape[1] != len(pi.images):
        raise ValueError(f"weights must be [resamples, {len(pi.images)}], got {list(w.shape)}")
    wi = w.astype(np.int32)
    if not np.array_equal(wi, w) or (wi < 0).any():
        raise ValueError("weights must be non-negative whole numbers (how often each image is counted)")
    b = wi.shape[0]
    t, k = len(pi.iou_thresholds), len(pi.classes)
    wmax = int(wi.max()) if wi.size else 0
    # Ground truth per class as sparse (image, count) lists, class by class: npig without a float matmul.
    gt_cls, gt_img = np.nonzero(pi.gt_count.T)
    gt_n = pi.gt_count[gt_img, gt_cls].astype(np.int32)
    with_gt = np.unique(gt_cls)
    gt_start = np.searchsorted(gt_cls, with_gt)
    plans = {int(c): _plan(pi, int(c), wmax) for c in with_gt}
    map50_95, map50 = np.full(b, np.nan), np.full(b, np.nan)
    for s in range(0, b, _BLOCK):
        wb = wi[s : s + _BLOCK]
        npig = np.zeros((wb.shape[0], k), np.int64)
        if with_gt.size:
            npig[:, with_gt] = np.add.reduceat(np.take(wb, gt_img, axis=1) * gt_n, gt_start, axis=1)
        prec = np.zeros((wb.shape[0], k, t, _RECALL_POINTS.size))  # [rows, K, T, R]; 0 where nothing reached
        for c, plan in plans.items():
            rows = np.nonzero(npig[:, c] > 0)[0]
            if plan is None or rows.size == 0:
                continue  # ground truth but no true positive: precision 0
            step = max(1, _CELLS // max(plan.seg_img.size, plan.tp_img.size, plan.end_det.size))
            for r in range(0, rows.size, step):
                rr = rows[r : r + step]
                prec[rr, c] = _precision(plan, wb[rr], npig[rr, c])
        for j in range(wb.shape[0]):
            # COCO's summary: the mean over its [T, R, K] table of the classes with ground truth, in its order.
            v = prec[j, npig[j] > 0]
            if v.size:
                map50_95[s + j] = np.mean(np.moveaxis(v, 0, -1).ravel())
                map50[s + j] = np.mean(v[:, 0].T.ravel())
    return map50_95, map50


class _Plan(NamedTuple):
    """One class's ranked detections reduced to what its counts at the ends need, per IoU threshold. ``*_copy``
    0 counts an image's weight; c >= 1 is the c-th copy of an expanded tie, counted 1 where the weight is >= c.
    """

    seg_img: np.ndarray  # [G] detections grouped by image and by the next rank that is an end (any threshold)
    seg_copy: np.ndarray  # [G]
    seg_count: np.ndarray  # [G] int32 detections in the group
    seg_start: np.ndarray  # [U] first group of each such rank
    tp_img: np.ndarray  # [sum of TP_t] the true positives at each threshold, threshold after threshold
    tp_copy: np.ndarray
    tp_first: np.ndarray  # [L] for each end (threshold after threshold): its threshold's first true positive
    tp_at: np.ndarray  # [L] and its own position, both in the running count of ``tp_img`` (0: before any)
    end_det: np.ndarray  # [L] its rank among the U ranks
    lens: np.ndarray  # [T] ends at each threshold


def _plan(pi: PerImage, c: int, wmax: int) -> _Plan | None:
    """Class ``c``'s plan for weights up to ``wmax``; None when it has no true positive at any threshold."""
    sel = np.nonzero(pi.det_class == c)[0]  # in ranked order
    img, tp = pi.det_image[sel].astype(np.int64), pi.det_tp[sel]
    copy = np.zeros(sel.size, np.int64)
    if wmax > 1 and sel.size > 1:
        pos, copy = _expand_mixed_ties(img, pi.det_score[sel], tp, wmax)
        img, tp = img[pos], tp[pos]
    t = len(pi.iou_thresholds)
    hit = ((tp[None, :] >> np.arange(t, dtype=np.uint16)[:, None]) & 1).astype(bool)  # [T, N]
    if not hit.any():
        return None
    end = hit & ~np.c_[hit[:, 1:], np.zeros((t, 1), bool)]  # last true positive of a run, per threshold
    ranks = np.nonzero(end.any(axis=0))[0]  # U ranks where some threshold needs the detection count
    upto = ranks[-1] + 1  # later detections count nowhere
    span = len(pi.images) * (wmax + 1)
    seg = np.searchsorted(ranks, np.arange(upto), side="left")  # the rank each detection is counted at
    key, count = np.unique((seg * len(pi.images) + img[:upto]) * (wmax + 1) + copy[:upto], return_counts=True)
    seg_of, rest = np.divmod(key, span)
    hits = [np.nonzero(h)[0] for h in hit]
    ends = [np.nonzero(e)[0] for e in end]
    tp_base = np.cumsum([0] + [h.size for h in hits[:-1]])
    lens = np.array([e.size for e in ends], np.int64)
    all_hits = np.concatenate(hits)
    return _Plan(
        seg_img=rest // (wmax + 1), seg_copy=rest % (wmax + 1), seg_count=count.astype(np.int32),
        seg_start=np.searchsorted(seg_of, np.arange(ranks.size), side="left"),
        tp_img=img[all_hits], tp_copy=copy[all_hits], tp_first=np.repeat(tp_base, lens),
        tp_at=np.concatenate([b + 1 + np.searchsorted(h, e) for b, h, e in zip(tp_base, hits, ends)]),
        end_det=np.searchsorted(ranks, np.concatenate(ends)), lens=lens,
    )  # fmt: skip


def _expand_mixed_ties(
    img: np.ndarray, score: np.ndarray, tp: np.ndarray, wmax: int
) -> tuple[np.ndarray, np.ndarray]:
    """(positions, copy) of a class's ranked list in which each tie of one image (adjacent, same image and
    score) whose detections differ in their true-positive bits is repeated ``wmax`` times, copy 1..wmax: the
    order of the duplicated set, where an image's copies follow each other. Other detections keep copy 0."""
    n = img.size
    new = np.r_[True, (img[1:] != img[:-1]) | (score[1:] != score[:-1])]
    run = np.cumsum(new) - 1
    starts = np.nonzero(new)[0]
    mixed = np.zeros(starts.size, bool)
    mixed[run[tp != tp[starts[run]]]] = True
    if not mixed.any():
        return np.arange(n), np.zeros(n, np.int64)
    rep = np.where(mixed, wmax, 1)
    blk = np.repeat(np.arange(starts.size), rep)  # the tie of each block
    blk_copy = np.where(mixed[blk], np.arange(blk.size) - np.repeat(np.cumsum(rep) - rep, rep) + 1, 0)
    blen = np.diff(np.r_[starts, n])[blk]
    pos = np.repeat(starts[blk], blen) + np.arange(int(blen.sum())) - np.repeat(np.cumsum(blen) - blen, blen)
    return pos, np.repeat(blk_copy, blen)


def _weights_of(w: np.ndarray, img: np.ndarray, copy: np.ndarray) -> np.ndarray:
    """[rows, len(img)] how often each listed detection is counted in each row of ``w``."""
    g = np.take(w, img, axis=1)
    v = np.nonzero(copy)[0]
    if v.size:
        g[:, v] = g[:, v] >= copy[v]
    return g


def _precision(plan: _Plan, w: np.ndarray, npig: np.ndarray) -> np.ndarray:
    """[rows, T, 101] COCO's interpolated precision of one class in each row of ``w`` (``npig`` > 0 its
    ground-truth boxes there)."""
    m, t, n = w.shape[0], plan.lens.size, plan.end_det.size
    g = _weights_of(w, plan.seg_img, plan.seg_copy)
    if plan.seg_count.size and plan.seg_count.max() > 1:
        g *= plan.seg_count
    det = np.cumsum(np.add.reduceat(g, plan.seg_start, axis=1), axis=1, dtype=np.int64)  # [m, U]
    run = np.zeros((m, plan.tp_img.size + 1), np.int64)
    np.cumsum(_weights_of(w, plan.tp_img, plan.tp_copy), axis=1, out=run[:, 1:])
    tp = np.take(run, plan.tp_at, axis=1) - np.take(run, plan.tp_first, axis=1)  # [m, L], thresholds in turn
    pr = np.empty(m * n + 1)  # + one past the end for the lookups that find nothing
    pr[-1] = 0.0
    np.divide(tp, np.maximum(np.take(det, plan.end_det, axis=1), 1), out=pr[:-1].reshape(m, n))  # as COCO's
    # The first end with tp >= the least count reaching each recall point, for every (row, threshold) at once:
    # their ends lie end to end, counts offset past the largest count, so one search serves all.
    big = int(max(npig.max(), tp.max(initial=0))) + 2  # tp <= npig unless the per-image data is inconsistent
    which = np.arange(m)[:, None] * t + np.repeat(np.arange(t), plan.lens)[None, :]  # [m, L] (row, threshold)
    keys = (tp + which * big).ravel()
    seg_start = np.arange(m)[:, None] * n + np.r_[0, np.cumsum(plan.lens)[:-1]][None, :]  # [m, T] in pr
    need = _recall_counts(npig)[:, None, :] + (np.arange(m * t) * big).reshape(m, t)[..., None]  # [m, T, R]
    at = np.searchsorted(keys, need.ravel(), side="left")
    found = (at.reshape(m, t, -1) - seg_start[..., None]) < plan.lens[None, :, None]
    # Monotone precision at each found end: the maxima between consecutive found ends, then their running
    # maximum from the last recall point back (a lookup that finds nothing adds 0).
    block = np.maximum.reduceat(pr, at).reshape(m, t, -1)
    block[~found] = 0.0
    return np.maximum.accumulate(block[..., ::-1], axis=2)[..., ::-1] * found


def _recall_counts(npig: np.ndarray) -> np.ndarray:
    """[rows, 101] the least true-positive count ``k`` with ``k / npig >= r`` in float64 for each recall point
    r (COCO's comparison; that quotient never decreases with k, so it holds from k on)."""
    n = npig.astype(np.float64)[:, None]
    k = np.ceil(_RECALL_POINTS * n).astype(np.int64)
    while True:
        lower = (k > 0) & ((k - 1) / n >= _RECALL_POINTS)
        higher = k / n < _RECALL_POINTS
        if not (lower.any() or higher.any()):
            return k
        k += higher.astype(np.int64) - lower


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
