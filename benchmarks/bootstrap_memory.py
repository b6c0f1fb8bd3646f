"""The bootstrap of mAP over val images (``edgeyolo.bench.bootstrap``): exact against faster-coco-eval, and its
memory and time at COCO size (issue 23, items 1 and 5). Today's accumulation (the dense float32 version before
issue 23, kept below as ``_old_weighted_map``) and the current one, side by side:

1. One class with exactly 100 ground-truth boxes, each image counted once: the value against COCO's
   (``edgeyolo.bench.accuracy.coco_map``, faster-coco-eval).
2. Random cases (classes with exactly 50/100/200 boxes; half of them tie-heavy: scores on a grid of 5 values):
   the worst error counted once against ``coco_map``, and the worst error of resamples against a brute-force
   faster-coco-eval of the resampled val set (each drawn image literally duplicated, with new image ids, its
   copies next to each other). Both methods read the same per-image data (``per_image``).
3. A COCO-sized val split from synthetic per-image data (5000 images x 80 classes, ~36.8k boxes, 300
   detections per image, ~30% of the boxes one class): ``bootstrap`` (1000 resamples, seed 0) in a fresh
   process per method; peak RSS of that process (VmHWM, and what it held before the step) and the time. The
   goal: at most 300 MB and 30 s.

    .venv/bin/python benchmarks/bootstrap_memory.py [--cases 40] [--images 5000] [--classes 80] [--skip-old]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NAMES = ["a", "b", "c", "d"]
SEED_100 = 0


# ---------------------------------------------------------------- today's method (before issue 23), verbatim
def _old_resample_weights(n_images: int, resamples: int = 1000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n_images, size=(resamples, n_images))
    return np.stack([np.bincount(row, minlength=n_images) for row in idx]).astype(np.float32)


def _old_weighted_map(pi, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import warnings

    w = np.atleast_2d(np.asarray(weights, np.float32))
    b, n_img = w.shape
    t = len(pi.iou_thresholds)
    k = len(pi.classes)
    ap = np.full((b, k, t), np.nan)
    npig_all = w @ pi.gt_count.astype(np.float32)
    for c in range(k):
        npig = npig_all[:, c]
        valid = npig > 0
        if not valid.any():
            continue
        ap[valid, c, :] = 0.0
        sel = np.nonzero(pi.det_class == c)[0]
        hits = np.nonzero(pi.det_tp[sel])[0]
        if hits.size == 0:
            continue
        img = pi.det_image[sel].astype(np.int64)
        bits = ((pi.det_tp[sel][:, None] >> np.arange(t, dtype=np.uint16)) & 1).astype(bool)
        counts = [_old_counts_upto(img, np.ones(len(sel), bool), hits, n_img)]
        counts += [_old_counts_upto(img, bits[:, j], hits, n_img) for j in range(t)]
        m = np.concatenate(counts, axis=1)
        rows = np.nonzero(valid)[0]
        for s in range(0, rows.size, 64):
            r = rows[s : s + 64]
            got = (w[r] @ m).reshape(r.size, 1 + t, hits.size)
            ap[r, c, :] = _old_ap(got[:, 1:, :], got[:, :1, :], npig[r])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(ap.reshape(b, -1), axis=1), np.nanmean(ap[:, :, 0], axis=1)


def _old_counts_upto(img, mask, points, n_img):
    n = img.size
    pos = np.nonzero(mask)[0]
    keys = np.sort(img[pos] * n + pos)
    starts = np.searchsorted(keys, np.arange(n_img) * n)
    upto = np.searchsorted(keys, (np.arange(n_img)[:, None] * n + points[None, :]).ravel(), side="right")
    return (upto.reshape(n_img, -1) - starts[:, None]).astype(np.float32)


def _old_ap(tps, dets, npig):
    b, t, p = tps.shape
    rc = tps / npig[:, None, None]
    pr = tps / (dets + np.spacing(1))
    pr = np.maximum.accumulate(pr[..., ::-1], axis=2)[..., ::-1]
    rows = b * t
    offset = 2.0 * np.arange(rows)[:, None]
    flat = (rc.reshape(rows, p) + offset).ravel()
    points = np.linspace(0.0, 1.0, 101)
    pos = np.searchsorted(flat, (points[None, :] + offset).ravel(), side="left").reshape(rows, -1)
    pos -= (np.arange(rows) * p)[:, None]
    inside = pos < p
    q = np.where(inside, pr.reshape(rows, p)[np.arange(rows)[:, None], np.minimum(pos, p - 1)], 0.0)
    return q.mean(axis=1).reshape(b, t)


# ---------------------------------------------------------------- small cases against faster-coco-eval
def scene(
    seed: int,
    n_images: int = 40,
    boxes: tuple[int, ...] = (100, 50, 200, 0),
    ties: bool = False,
    jitter: float = 0.25,
    h: int = 240,
    w: int = 320,
):
    """Labelled images with exactly ``boxes[c]`` ground-truth boxes of class c, and detections: 0-2 per box
    (moved by up to ``jitter`` of its size: true positives up to some IoU threshold, duplicates, 10% with a
    wrong class) plus random false positives; ``ties`` puts the scores on a grid of 5 values."""
    from edgeyolo.data.yolo import LabeledImage
    from edgeyolo.runtime.types import Detections

    rng = np.random.default_rng(seed)
    labels: list[list] = [[] for _ in range(n_images)]
    for c, count in enumerate(boxes):
        for i in rng.integers(0, n_images, count):
            labels[i].append([c, *rng.uniform(0.15, 0.85, 2), *rng.uniform(0.05, 0.25, 2)])
    items = [
        LabeledImage(Path(f"i{i}.jpg"), np.array(lab, np.float32).reshape(-1, 5))
        for i, lab in enumerate(labels)
    ]
    dets = []
    for item in items:
        xyxy, scores, classes = [], [], []
        for c, xc, yc, bw, bh in item.labels:
            for _ in range(rng.choice([0, 1, 1, 1, 2])):
                j = rng.uniform(0, jitter)
                x1 = (xc - bw / 2) * w + j * bw * w * rng.normal()
                y1 = (yc - bh / 2) * h + j * bh * h * rng.normal()
                xyxy.append(
                    [x1, y1, x1 + bw * w * (1 + j * rng.normal()), y1 + bh * h * (1 + j * rng.normal())]
                )
                classes.append(c if rng.uniform() > 0.1 else rng.integers(0, len(NAMES)))
                scores.append(rng.uniform(0.3, 1.0))
        for _ in range(rng.integers(0, 6)):
            x, y = rng.uniform(0, w - 40), rng.uniform(0, h - 40)
            xyxy.append([x, y, x + 30, y + 30])
            classes.append(rng.integers(0, len(NAMES)))
            scores.append(rng.uniform(0, 0.8))
        s = np.array(scores, np.float32)
        if ties:
            s = (np.round(s * 4) / 4).astype(np.float32)
        order = np.argsort(-s, kind="stable")
        dets.append(Detections(np.array(xyxy, np.float32).reshape(-1, 4)[order], s[order],
                               np.array(classes, np.int64)[order]))  # fmt: skip
    return items, [(h, w)] * n_images, dets


def brute_force(items, sizes, dets, weights) -> tuple[float, float]:
    """faster-coco-eval's (mAP50-95, mAP50) of the val set with image i duplicated ``weights[i]`` times."""
    from edgeyolo.bench.accuracy import coco_map

    rep = np.repeat(np.arange(len(items)), np.asarray(weights, np.int64))
    r = coco_map([items[i] for i in rep], [sizes[i] for i in rep], [dets[i] for i in rep], NAMES)
    return r["map50_95"], r["map50"]


def hundred_boxes() -> dict:
    """One class with exactly 100 boxes (one per image), each image counted once."""
    from edgeyolo.bench import bootstrap as B
    from edgeyolo.bench.accuracy import coco_map

    items, sizes, dets = scene(SEED_100, n_images=100, boxes=(100, 0, 0, 0), jitter=0.08)
    for d in dets:
        d.classes[:] = 0
    pi = B.per_image(items, sizes, dets, NAMES)
    lib = coco_map(items, sizes, dets, NAMES)
    ones = np.ones((1, len(items)))
    old, new = _old_weighted_map(pi, ones), B.weighted_map(pi, ones)
    return {key: {"coco": lib[key], "old": float(old[i][0]), "new": float(new[i][0])}
            for i, key in enumerate(("map50_95", "map50"))}  # fmt: skip


def random_cases(n: int, resamples: int = 3) -> dict:
    from edgeyolo.bench import bootstrap as B
    from edgeyolo.bench.accuracy import coco_map

    worst = {"once_old": 0.0, "once_new": 0.0, "resample_old": 0.0, "resample_new": 0.0, "new_vs_old": 0.0}
    exact = {"once": 0, "resample": 0}
    counted = {"once": 0, "resample": 0}
    for seed in range(n):
        items, sizes, dets = scene(seed, ties=bool(seed % 2))
        pi = B.per_image(items, sizes, dets, NAMES)
        lib = coco_map(items, sizes, dets, NAMES)
        ones = np.ones((1, len(items)))
        new, old = B.weighted_map(pi, ones), _old_weighted_map(pi, ones)
        for i, key in enumerate(("map50_95", "map50")):
            worst["once_new"] = max(worst["once_new"], abs(new[i][0] - lib[key]))
            worst["once_old"] = max(worst["once_old"], abs(old[i][0] - lib[key]))
            exact["once"] += bool(new[i][0] == lib[key])
            counted["once"] += 1
        w = np.random.default_rng(1000 + seed).integers(0, 4, (resamples, len(items)))
        w[0] = B.resample_weights(len(items), 1, seed)[0]
        new, old = B.weighted_map(pi, w), _old_weighted_map(pi, w)
        for j in range(resamples):
            ref = brute_force(items, sizes, dets, w[j])
            for i in range(2):
                worst["resample_new"] = max(worst["resample_new"], abs(new[i][j] - ref[i]))
                worst["resample_old"] = max(worst["resample_old"], abs(old[i][j] - ref[i]))
                exact["resample"] += bool(new[i][j] == ref[i])
                counted["resample"] += 1
                if (
                    abs(old[i][j] - ref[i]) < 1e-9
                ):  # where today's method is right, the new one agrees with it
                    worst["new_vs_old"] = max(worst["new_vs_old"], abs(new[i][j] - old[i][j]))
    return {"worst": {k: float(v) for k, v in worst.items()}, "bit_equal": exact, "values": counted}


# ---------------------------------------------------------------- COCO-sized synthetic per-image data
def synthetic(
    n_images: int = 5000, n_classes: int = 80, boxes: int = 36781, per_image: int = 300, seed: int = 0
):
    """PerImage of a COCO-sized val split: ~30% of the boxes in class 0 (the rest Zipf), 85% of the boxes found
    (true positive up to a random IoU threshold, scores ~ Beta(4, 1.5)), the rest of 300 detections per image
    false positives (scores ~ Beta(1, 8)); each class kept up to its last true positive."""
    from edgeyolo.bench.bootstrap import PerImage

    rng = np.random.default_rng(seed)
    freq = 1.0 / np.arange(1, n_classes + 1) ** 1.1
    freq[0] = 0.0
    freq = 0.7 * freq / freq.sum()
    freq[0] = 0.3
    gt_img, gt_cls = rng.integers(0, n_images, boxes), rng.choice(n_classes, boxes, p=freq)
    gt_count = np.zeros((n_images, n_classes), np.uint16)
    np.add.at(gt_count, (gt_img, gt_cls), 1)
    found = rng.uniform(size=boxes) < 0.85
    passed = rng.integers(1, 11, boxes)[found]  # true positive at IoU 0.50 .. 0.50 + 0.05 (passed - 1)
    n_fp = np.maximum(per_image - np.bincount(gt_img[found], minlength=n_images), 0)
    fp_img = np.repeat(np.arange(n_images), n_fp)
    img = np.r_[gt_img[found], fp_img].astype(np.int32)
    cls = np.r_[gt_cls[found], rng.choice(n_classes, fp_img.size, p=freq)].astype(np.int16)
    score = np.r_[rng.beta(4, 1.5, found.sum()), rng.beta(1, 8, fp_img.size)].astype(np.float32)
    tp = np.r_[(1 << passed) - 1, np.zeros(fp_img.size, np.int64)].astype(np.uint16)
    order = np.lexsort((np.arange(img.size), img, -score.astype(np.float64)))  # COCO's
    keep = []
    for c in range(n_classes):
        idx = order[cls[order] == c]
        hits = np.nonzero(tp[idx])[0]
        if gt_count[:, c].any() and idx.size:
            keep.append(idx[: hits[-1] + 1] if hits.size else idx[:1])
    kept = np.concatenate(keep)
    return PerImage(images=[f"{i:06d}.jpg" for i in range(n_images)], classes=[f"c{c}" for c in range(n_classes)],
                    iou_thresholds=np.linspace(0.5, 0.95, 10), det_image=img[kept], det_class=cls[kept],
                    det_score=score[kept], det_tp=tp[kept], gt_count=gt_count, detections=int(img.size))  # fmt: skip


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(method: str, npz: str) -> None:
    """In a fresh process: load the per-image data, run the bootstrap, print time and memory as JSON."""
    from edgeyolo.bench import bootstrap as B

    pi = B.PerImage.load(npz)
    before = _status_mb("VmRSS")
    t0 = time.perf_counter()
    if method == "old":
        m, m50 = _old_weighted_map(pi, _old_resample_weights(len(pi.images)))
    else:
        bs = B.bootstrap(pi)
        m, m50 = bs.map50_95, bs.map50
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": round(seconds, 2), "peak_rss_mb": round(_status_mb("VmHWM"), 1),
                      "before_mb": round(before, 1), "ci": list(B.interval(m)), "ci50": list(B.interval(m50)),
                      "first": [float(v) for v in m[:3]]}))  # fmt: skip


def big(images: int, classes: int, skip_old: bool) -> dict:
    pi = synthetic(images, classes)
    info = {"images": images, "classes": classes, "kept_detections": int(pi.det_score.size),
            "class0_detections": int((pi.det_class == 0).sum()),
            "class0_true_positive_ranks": int((pi.det_tp[pi.det_class == 0] > 0).sum())}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        npz = str(pi.save(Path(tmp) / "pi.npz"))
        for method in ("new",) if skip_old else ("old", "new"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", method, npz], capture_output=True, text=True
            )
            if out.returncode:
                info[method] = {"error": out.stderr.strip().splitlines()[-1:], "rc": out.returncode}
            else:
                info[method] = json.loads(out.stdout.strip().splitlines()[-1])
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=40)
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--classes", type=int, default=80)
    ap.add_argument("--skip-old", action="store_true", help="COCO size: only the current method")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--child", nargs=2, metavar=("METHOD", "NPZ"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    result = {"hundred_boxes": hundred_boxes()}
    print("1. one class, 100 boxes, counted once:")
    for key, h in result["hundred_boxes"].items():
        print(f"   {key:>8}: COCO {h['coco']:.6f}  today {h['old']:.6f} (off by {abs(h['old'] - h['coco']):.2e})  "
              f"now {h['new']:.6f} (off by {abs(h['new'] - h['coco']):.2e})")  # fmt: skip
    result["random"] = r = random_cases(args.cases)
    w, e, n = r["worst"], r["bit_equal"], r["values"]
    print(f"2. {args.cases} random cases (half tie-heavy), worst error against faster-coco-eval:")
    print(
        f"   counted once:           today {w['once_old']:.2e}   now {w['once_new']:.2e} "
        f"(bit-equal {e['once']}/{n['once']})"
    )
    print(
        f"   resamples (brute force): today {w['resample_old']:.2e}   now {w['resample_new']:.2e} "
        f"(bit-equal {e['resample']}/{n['resample']})"
    )
    print(f"   where today's is right (< 1e-9), |now - today| <= {w['new_vs_old']:.2e}")
    result["coco_size"] = b = big(args.images, args.classes, args.skip_old)
    print(
        f"3. {b['images']} images x {b['classes']} classes, 1000 resamples: {b['kept_detections']} kept detections, "
        f"class 0: {b['class0_detections']} ({b['class0_true_positive_ranks']} true-positive ranks)"
    )
    for method, label in (("old", "today"), ("new", "now")):
        if method not in b:
            continue
        m = b[method]
        if "error" in m:
            print(f"   {label:>5}: failed (rc {m['rc']}): {m['error']}")
            continue
        print(
            f"   {label:>5}: peak RSS {m['peak_rss_mb']:7.1f} MB (held {m['before_mb']:.1f} MB before the step), "
            f"{m['seconds']:6.2f} s; mAP50-95 interval {m['ci']}, mAP50 {m['ci50']}"
        )
    if "old" in b and "new" in b and "error" not in b["old"]:
        print(
            f"   ratios now/today: peak RSS {b['new']['peak_rss_mb'] / b['old']['peak_rss_mb']:.3f}, "
            f"time {b['new']['seconds'] / b['old']['seconds']:.3f}"
        )
    goal = b["new"]["peak_rss_mb"] <= 300 and b["new"]["seconds"] <= 30
    print(f"   goal (now: <= 300 MB, <= 30 s): {'met' if goal else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
