"""The bootstrap's mAP is COCO's (faster-coco-eval's) exactly: counted once it is the evaluator's mAP50-95 and
mAP50, and a resample is a brute-force evaluation of the val set with the drawn images duplicated (issue 23)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeyolo.bench import bootstrap as B
from edgeyolo.bench.accuracy import coco_map
from edgeyolo.data.yolo import LabeledImage
from edgeyolo.runtime.types import Detections

NAMES = ["a", "b", "c", "d"]  # "d" has detections but no ground truth
H, W = 240, 320


def _scene(seed: int, n_images: int = 40, boxes=(100, 50, 200, 0), ties: bool = False, jitter: float = 0.25):
    """Exactly ``boxes[c]`` ground-truth boxes of class c; 0-2 detections per box (moved by up to ``jitter`` of
    its size, 10% with a wrong class) and random false positives; ``ties``: scores on a grid of 5 values, so
    detections of one image tie (same class and score) while differing in being true positives."""
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
                x1, y1 = (
                    (xc - bw / 2) * W + j * bw * W * rng.normal(),
                    (yc - bh / 2) * H + j * bh * H * rng.normal(),
                )
                xyxy.append(
                    [x1, y1, x1 + bw * W * (1 + j * rng.normal()), y1 + bh * H * (1 + j * rng.normal())]
                )
                classes.append(c if rng.uniform() > 0.1 else rng.integers(0, len(NAMES)))
                scores.append(rng.uniform(0.3, 1.0))
        for _ in range(rng.integers(0, 6)):
            x, y = rng.uniform(0, W - 40), rng.uniform(0, H - 40)
            xyxy.append([x, y, x + 30, y + 30])
            classes.append(rng.integers(0, len(NAMES)))
            scores.append(rng.uniform(0, 0.8))
        s = np.array(scores, np.float32)
        if ties:
            s = (np.round(s * 4) / 4).astype(np.float32)
        order = np.argsort(-s, kind="stable")
        dets.append(Detections(np.array(xyxy, np.float32).reshape(-1, 4)[order], s[order],
                               np.array(classes, np.int64)[order]))  # fmt: skip
    return items, [(H, W)] * n_images, dets


def _brute_force(items, sizes, dets, weights) -> tuple[float, float]:
    """faster-coco-eval on the val set in which image i appears ``weights[i]`` times (new image ids, copies next
    to each other)."""
    rep = np.repeat(np.arange(len(items)), np.asarray(weights, np.int64))
    r = coco_map([items[i] for i in rep], [sizes[i] for i in rep], [dets[i] for i in rep], NAMES)
    return r["map50_95"], r["map50"]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ties", [False, True], ids=["scores", "tied-scores"])
def test_counted_once_is_the_evaluators_map(seed, ties):
    """Classes with exactly 100, 50 and 200 boxes put tp / npig on the recall points themselves."""
    items, sizes, dets = _scene(seed, ties=ties)
    lib = coco_map(items, sizes, dets, NAMES)
    m, m50 = B.weighted_map(B.per_image(items, sizes, dets, NAMES), np.ones((1, len(items))))
    assert m[0] == pytest.approx(lib["map50_95"], abs=1e-12)
    assert m50[0] == pytest.approx(lib["map50"], abs=1e-12)


def test_one_class_of_100_boxes_reads_precision_at_the_recall_point():
    """Every true-positive count lands on a recall point k/100; before issue 23 the float32 recall fell just
    below some of them and the next, lower precision was read (0.3377 for 0.3415)."""
    items, sizes, dets = _scene(0, n_images=100, boxes=(100, 0, 0, 0), jitter=0.08)
    for d in dets:
        d.classes[:] = 0
    lib = coco_map(items, sizes, dets, NAMES)
    m, m50 = B.weighted_map(B.per_image(items, sizes, dets, NAMES), np.ones((1, 100)))
    assert (m[0], m50[0]) == pytest.approx((lib["map50_95"], lib["map50"]), abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("ties", [False, True], ids=["scores", "tied-scores"])
def test_a_resample_is_the_duplicated_val_set(seed, ties):
    """The bootstrap's own resample and weights up to 4 (images left out, drawn up to 4 times) against
    faster-coco-eval on the duplicated images; tied detections of one image take turns across its copies."""
    items, sizes, dets = _scene(10 + seed, n_images=30, boxes=(50, 13, 100, 0), ties=ties)
    pi = B.per_image(items, sizes, dets, NAMES)
    weights = np.random.default_rng(seed).integers(0, 5, (3, len(items)))
    weights[0] = B.resample_weights(len(items), 1, seed)[0]
    m, m50 = B.weighted_map(pi, weights)
    for j, w in enumerate(weights):
        assert (m[j], m50[j]) == pytest.approx(_brute_force(items, sizes, dets, w), abs=1e-12)


def test_tied_true_and_false_positive_at_the_end_of_a_class():
    """One image's last detections tie, a true positive then a duplicate: drawn twice, COCO ranks them TP FP TP
    FP, so the duplicate after the class's last true positive still counts."""
    lab = np.array([[0, 0.3, 0.3, 0.2, 0.2], [0, 0.7, 0.7, 0.2, 0.2]], np.float32)
    items = [LabeledImage(Path(f"{i}.jpg"), lab[i : i + 1]) for i in range(2)]
    box = [[(x - 0.1) * W, (y - 0.1) * H, (x + 0.1) * W, (y + 0.1) * H] for _, x, y, _, _ in lab]
    dets = [Detections(np.array([box[0]], np.float32), np.array([0.9], np.float32), np.array([0])),
            Detections(np.array([box[1], box[1]], np.float32), np.array([0.5, 0.5], np.float32),
                       np.array([0, 0]))]  # fmt: skip
    sizes = [(H, W)] * 2
    pi = B.per_image(items, sizes, dets, NAMES)
    assert pi.det_score.size == 3  # the tied duplicate is kept
    for w in ([1, 1], [1, 2], [2, 3], [0, 2]):
        m, m50 = B.weighted_map(pi, np.array([w]))
        assert (m[0], m50[0]) == pytest.approx(_brute_force(items, sizes, dets, w), abs=1e-12)


def test_more_than_300_detections_of_one_class_in_an_image():
    """COCO counts the first 300 of each image and class (maxDets); the rest are in no list at all."""
    items, sizes, dets = _scene(5, n_images=6, boxes=(20, 5, 0, 0))
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 200, (320, 2))
    d = dets[0]
    dets[0] = Detections(np.r_[d.xyxy, np.c_[xy, xy + 40]].astype(np.float32),
                         np.r_[d.scores, rng.uniform(0.5, 1, 320)].astype(np.float32),
                         np.r_[d.classes, np.zeros(320, np.int64)])  # fmt: skip
    lib = coco_map(items, sizes, dets, NAMES)
    pi = B.per_image(items, sizes, dets, NAMES)
    m, m50 = B.weighted_map(pi, np.ones((1, 6)))
    assert (m[0], m50[0]) == pytest.approx((lib["map50_95"], lib["map50"]), abs=1e-12)
    w = np.array([2, 0, 1, 3, 1, 1])
    m, m50 = B.weighted_map(pi, w[None])
    assert (m[0], m50[0]) == pytest.approx(_brute_force(items, sizes, dets, w), abs=1e-12)


def test_recall_counts_are_cocos_float64_comparison():
    """The least tp with tp / npig >= r in float64, for every recall point: np.searchsorted(rc, r, 'left') on
    COCO's recall rc = tp / npig, as faster-coco-eval's accumulate does (std::lower_bound)."""
    npig = np.arange(1, 1201)
    got = B._recall_counts(npig)
    for n, k in zip(npig, got):
        assert np.array_equal(
            k, np.searchsorted(np.arange(n + 1) / n, np.linspace(0.0, 1.0, 101), side="left")
        )


def test_resample_draws_are_unchanged():
    """Drawn a block at a time, the resamples are the ones drawn all at once before (seed 0, 1000 resamples):
    intervals of existing records stay reproducible."""
    for n in (40, 5000):
        idx = np.random.default_rng(0).integers(0, n, size=(1000, n))
        before = np.stack([np.bincount(row, minlength=n) for row in idx]).astype(np.float32)
        assert np.array_equal(B.resample_weights(n), before)


def test_weights_must_be_whole_counts():
    items, sizes, dets = _scene(0, n_images=5, boxes=(4, 0, 0, 0))
    pi = B.per_image(items, sizes, dets, NAMES)
    for bad in (np.full((1, 5), 0.5), -np.ones((1, 5)), np.ones((1, 4))):
        with pytest.raises(ValueError):
            B.weighted_map(pi, bad)
    m, m50 = B.weighted_map(pi, np.zeros((1, 5)))
    assert np.isnan(m[0]) and np.isnan(m50[0])  # no image drawn: no ground truth, no mAP
