"""edgeyolo diagnose: overfitting, the document's metric rules, F1-optimal threshold, confusions, CLI, HTML."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from edgeyolo import diagnose as dg
from edgeyolo.cli import main
from edgeyolo.diagnose import (
    ClassThreshold,
    Confusion,
    Diagnosis,
    Finding,
    Overfitting,
    Threshold,
    ValidationCurves,
    best_thresholds,
    class_rules,
    diagnose,
    diagnosis_html,
    find_overfitting_onset,
    load_conf_threshold,
    load_diagnosis,
    top_confusions,
)
from edgeyolo.errors import DatasetError, ResultsError

# The header Ultralytics 8.4.190 writes for a YOLO26 detection run (checked against the tiny_run fixture below):
# the end-to-end head has no DFL (reg_max 1) and logs its L1 box term as l1_loss.
HEADER = (
    "epoch,time,train/box_loss,train/cls_loss,train/l1_loss,metrics/precision(B),metrics/recall(B),"
    "metrics/mAP50(B),metrics/mAP50-95(B),val/box_loss,val/cls_loss,val/l1_loss,lr/pg0,lr/pg1,lr/pg2"
)
SHARES = (0.3, 0.6, 0.1)  # how a summed loss is split over box, cls, l1 in the crafted files
HEALTHY = (0.80, 0.78, 0.80, 0.56)  # P, R, mAP50, mAP50-95: balanced, boxes tight (ratio 0.7)


def write_run(root: Path, train, val, metrics=HEALTHY, args: dict | None = None, progloss=None,
              name: str = "run") -> Path:  # fmt: skip
    """A run folder with results.csv (real column names), args.yaml and optionally progloss.csv.

    ``train``/``val``: summed loss per epoch, or (n, 3) box/cls/l1 values. ``metrics``: one (P, R, mAP50,
    mAP50-95) tuple for every epoch (mAP50-95 nudged up so the last epoch is best) or one per epoch.
    """
    run = root / name
    run.mkdir(parents=True)
    train, val = np.asarray(train, dtype=float), np.asarray(val, dtype=float)
    if train.ndim == 1:
        train, val = np.outer(train, SHARES), np.outer(val, SHARES)
    n = len(train)
    if np.ndim(metrics) == 1:
        metrics = [(*metrics[:3], metrics[3] - 0.001 * (n - 1 - i)) for i in range(n)]
    lines = [HEADER]
    for i in range(n):
        vals = [i + 1, 10.0 * (i + 1), *train[i], *metrics[i], *val[i], 0.01, 0.01, 0.01]
        lines.append(",".join(f"{v:.6g}" for v in vals))
    (run / "results.csv").write_text("\n".join(lines) + "\n")
    a = {"task": "detect", "model": "yolo26s.yaml", "data": str(root / "missing" / "data.yaml"), "epochs": n,
         "imgsz": 128, "patience": 50, "weight_decay": 0.0005, "mosaic": 1.0, "mixup": 0.1, "box": 7.5, "cls": 0.5,
         "dfl": 1.5}  # fmt: skip
    a.update(args or {})
    (run / "args.yaml").write_text(yaml.safe_dump(a))
    if progloss is not None:
        # (box, cls) per epoch as older runs logged it, or (box, cls, dfl) as the L1 gain now moves with box
        dfl = len(progloss[0]) == 3
        rows = ["epoch,box,cls," + ("dfl," if dfl else "") + "o2m,o2o,stal_intensity"]
        rows += [f"{e},{','.join(str(g) for g in gains)},0.5,0.5,0.0" for e, gains in enumerate(progloss)]
        (run / "progloss.csv").write_text("\n".join(rows) + "\n")
    return run


def falling(n: int, start: float = 6.0, step: float = 0.1) -> np.ndarray:
    return start - step * np.arange(n)


# ---------------------------------------------------------------- overfitting
def v_shaped(n: int = 20, low: int = 10) -> np.ndarray:
    """A val loss that falls to its low at epoch ``low`` and rises after it."""
    return np.array(
        [3.0 - 0.1 * e if e <= low else 3.0 - 0.1 * low + 0.08 * (e - low) for e in range(1, n + 1)]
    )


def peaked(n: int = 20, peak: int = 10, metrics=HEALTHY) -> list[tuple]:
    """Per-epoch metrics whose mAP50-95 peaks at epoch ``peak`` and then slowly declines."""
    return [(*metrics[:3], metrics[3] - 0.01 * abs(e - peak)) for e in range(1, n + 1)]


def test_overfitting_onset_and_advice(tmp_path, tiny_data):
    n = 20
    val = v_shaped(n) + 0.015 * (-1) ** np.arange(n)  # a small zigzag on top: the noise smoothing must absorb
    run = write_run(tmp_path, falling(n), val, metrics=peaked(n), args={"data": str(tiny_data)})
    d = diagnose(run)
    o = d.overfitting
    assert o.detected and o.loss_gap and o.onset_epoch == 11 and o.last_good_epoch == 10
    assert o.val_loss[1] > o.val_loss[0] and o.train_loss[1] < o.train_loss[0]
    assert o.gap[1] > o.gap[0] and o.map50_95 == pytest.approx((0.56, 0.55))
    assert o.loss_terms == ["train/box_loss", "train/cls_loss", "train/l1_loss"]
    advice = " ".join(o.advice)
    assert "yolo26s -> yolo26n" in advice  # smaller model scale
    assert "0.0003-0.0007" in advice and "try 0.0007" in advice  # weight decay range of the document
    assert "for 16 training images the document's table says mosaic=1, mixup=0.3 (--aug small)" in advice
    assert "this run used mosaic=1.0, mixup=0.1" in advice
    assert "best.pt comes from epoch 10, before the onset (epoch 11)" in advice
    assert "Overfitting from epoch 11" in dg.format_diagnosis(d)


def test_loss_gap_while_map_improves_is_not_overfitting(tmp_path):
    """The val loss rises while val mAP keeps improving (a few confident mistakes inflate the val cls loss):
    reported as a gap to watch, without the overfitting verdict or its advice."""
    n = 20
    metrics = [(*HEALTHY[:3], 0.30 + 0.01 * e) for e in range(1, n + 1)]
    o = diagnose(write_run(tmp_path, falling(n), v_shaped(n), metrics=metrics)).overfitting
    assert o.loss_gap and not o.detected and o.onset_epoch == 11 and o.advice == []
    assert "kept improving (0.400 -> 0.500): not overfitting yet" in o.note


def test_augmentation_advice_when_already_strong():
    from edgeyolo.diagnose import overfitting as dg  # the private helper lives there

    args = {"mosaic": 1.0, "mixup": 0.3}
    assert "the table's strongest" in dg._augmentation_advice(args, 240)
    assert "(mosaic=1, mixup=0.3, --aug small) is the next step" in dg._augmentation_advice(args, 5000)
    assert "--aug large" in dg._augmentation_advice({"mosaic": 0.0, "mixup": 0.0}, 50_000)


def test_onset_rule_on_plain_arrays():
    train = falling(12)
    v_shape = np.array([5, 4, 3, 2, 1, 2, 3, 4, 5, 6, 7, 8], dtype=float)
    assert find_overfitting_onset(train, v_shape) == 5  # index of epoch 6, the first rise
    bump = np.array([5, 4, 3, 3.5, 4, 4.5, 5, 5.5, 2, 1.5, 1.2, 1.0])  # rises for 4 epochs, then recovers
    assert find_overfitting_onset(train, bump) is None
    spike = np.array([5, 4.8, 4.6, 4.4, 6.0, 4.0, 3.8, 3.6, 3.4, 3.2, 3.0, 2.8])  # one noisy epoch
    assert find_overfitting_onset(train, spike) is None
    flat = 2.0 + 0.001 * np.arange(12)  # creeping up by 0.05%/epoch: a plateau, not a gap
    assert find_overfitting_onset(train, flat) is None


def test_progloss_gains_are_divided_out(tmp_path):
    """ProgLoss raises the box gain and lowers the cls gain every epoch; the raw logged sums then show a fake
    gap (train falls because cls dominates it, val rises because box dominates it), the rescaled ones do not."""
    n = 12
    box_gain = np.linspace(3.75, 7.5, n)
    cls_gain = np.linspace(1.0, 0.5, n)
    decay = np.linspace(1.0, 0.8, n)  # what the model really learns: every term falls 20%
    train = np.stack([0.1 * decay * box_gain, 4.0 * decay * cls_gain, 0.05 * decay * 1.5], 1)
    val = np.stack([0.6 * decay * box_gain, 0.5 * decay * cls_gain, 0.05 * decay * 1.5], 1)
    assert find_overfitting_onset(train.sum(1), val.sum(1)) is not None  # raw sums: a fake gap
    run = write_run(tmp_path, train, val, progloss=list(zip(box_gain, cls_gain)))
    o = diagnose(run).overfitting
    assert o.rescaled and not o.detected, o.note


def test_progloss_l1_gain_is_divided_out(tmp_path):
    """The L1 box term's gain (dfl) moves with box under ProgLoss; a val loss dominated by that term rises with
    its gain alone. Divided by the logged dfl column, nothing is left of the fake gap; an older progloss.csv
    without the column is read as before (box/cls only)."""
    n = 12
    box_gain, cls_gain = np.linspace(3.75, 7.5, n), np.linspace(1.0, 0.5, n)
    dfl_gain = 1.5 * box_gain / 7.5
    decay = np.linspace(1.0, 0.8, n)
    train = np.stack([0.1 * decay * box_gain, 4.0 * decay * cls_gain, 0.05 * decay * dfl_gain], 1)
    val = np.stack([0.1 * decay * box_gain, 0.5 * decay * cls_gain, 2.0 * decay * dfl_gain], 1)
    assert find_overfitting_onset(train.sum(1), val.sum(1)) is not None  # raw sums: a fake gap
    run = write_run(tmp_path / "new", train, val, progloss=list(zip(box_gain, cls_gain, dfl_gain)))
    o = diagnose(run).overfitting
    assert o.rescaled and not o.loss_gap and not o.detected, o.note
    old = write_run(tmp_path / "old", train, val, progloss=list(zip(box_gain, cls_gain)))
    assert diagnose(old).overfitting.loss_gap  # without the column the L1 gain's rise stays in the loss


# ---------------------------------------------------------------- metric rules
@pytest.mark.parametrize(
    ("metrics", "rule", "numbers"),
    [
        ((0.90, 0.50, 0.70, 0.49), "high_precision_low_recall", ["0.900", "0.500", "0.400"]),
        ((0.45, 0.88, 0.70, 0.49), "high_recall_low_precision", ["0.880", "0.450", "0.430"]),
        ((0.80, 0.79, 0.82, 0.30), "high_map50_low_map50_95", ["0.820", "0.300", "0.37"]),
    ],
)
def test_metric_rule_fires_with_its_numbers(tmp_path, metrics, rule, numbers):
    run = write_run(tmp_path, falling(8), falling(8, 5.0), metrics=metrics)
    d = diagnose(run)
    assert [f.rule for f in d.findings] == [rule]
    f = d.findings[0]
    for number in numbers:
        assert number in f.evidence, f.evidence
    assert f.action == dg.RULES[rule][2] and f.cause == dg.RULES[rule][1]
    assert "epoch 8 (best.pt)" in f.evidence


def test_healthy_run_fires_nothing(tmp_path):
    run = write_run(tmp_path, falling(30), falling(30, 5.0, 0.05))
    d = diagnose(run)
    assert not d.overfitting.detected and d.findings == [] and d.confusions == []
    assert d.best_epoch == 30 and d.metrics["map50_95"] == pytest.approx(0.56)
    assert d.threshold is None and any("No weights" in n for n in d.notes)  # skipped with a note, no failure
    saved = json.loads((run / "diagnosis.json").read_text())
    assert saved["conf_threshold"] is None and saved["findings"] == []
    assert load_conf_threshold(run) is None


def test_cls_loss_stalled(tmp_path):
    n = 30
    train = np.stack(
        [falling(n, 1.0, 0.01), np.r_[falling(n - 12, 4.0, 0.1), np.full(12, 2.4)], np.full(n, 0.1)], 1
    )
    val = train * 1.1
    gains = [(7.5, 0.5)] * n  # an edgeyolo run (progloss.csv) with constant gains
    d = diagnose(write_run(tmp_path, train, val, progloss=gains, name="edgeyolo"))
    assert [f.rule for f in d.findings] == ["cls_loss_stalled"]
    assert "--progloss manual" in d.findings[0].action and "2.4" in d.findings[0].evidence
    plain = diagnose(write_run(tmp_path, train, val, name="plain"))  # no progloss.csv: not ProgLoss's fault
    assert [f.rule for f in plain.findings] == ["cls_loss_stalled"] and "--progloss" not in plain.findings[
        0
    ].action


def curves_for(names, precision, recall, *, ap50=None, ap50_95=None, instances=None, pr_precision=None,
               matrix=None, **label_stats) -> ValidationCurves:  # fmt: skip
    """Validation curves with the given fields; ``label_stats``: train_instances and sizes, when given."""
    k = len(precision)
    grid = np.linspace(0, 1, 1000)
    return ValidationCurves(
        conf=grid, class_ids=np.arange(k), precision=np.asarray(precision), recall=np.asarray(recall),
        pr_precision=np.asarray(pr_precision if pr_precision is not None else [1 - 0.5 * grid] * k),
        ap50=np.asarray(ap50 if ap50 is not None else [0.7] * k),
        ap50_95=np.asarray(ap50_95 if ap50_95 is not None else [0.5] * k),
        instances=np.asarray(instances if instances is not None else [50] * k), names=list(names),
        matrix=np.asarray(matrix if matrix is not None else np.zeros((k + 1, k + 1))), matrix_conf=0.25,
        **{key: np.asarray(v) for key, v in label_stats.items() if v is not None},
    )  # fmt: skip


def test_class_rules():
    grid = np.linspace(0, 1, 1000)
    cliff = np.where(grid < 0.5, 0.95, 0.40)  # precision collapses at recall 0.5: a hard-example cluster
    smooth_pr = 1 - 0.5 * grid
    recall = [np.full(1000, 0.9)] * 3
    c = curves_for(["car", "bus", "bike"], [np.full(1000, 0.8)] * 3, recall, ap50_95=[0.60, 0.55, 0.10],
                   instances=[80, 60, 6], pr_precision=[cliff, smooth_pr, smooth_pr])  # fmt: skip
    found = {(f.rule, f.class_name): f for f in class_rules(c)}
    assert set(found) == {("class_ap_low", "bike"), ("pr_curve_drop", "car")}
    low = found[("class_ap_low", "bike")]
    assert "0.100" in low.evidence and "0.575" in low.evidence and "6 labelled objects" in low.evidence
    assert "cls_pw" in low.action
    drop = found[("pr_curve_drop", "car")]
    assert drop.values["precision_before"] == pytest.approx(0.95) and drop.values["precision_after"] == 0.40
    assert 0.44 <= drop.values["recall"] <= 0.5
    # the same cliff on a class with few objects is a staircase, not evidence
    few = curves_for(["car"], [np.full(1000, 0.8)], recall[:1], instances=[10], pr_precision=[cliff])
    assert class_rules(few) == []
    # not cliffs: the fall from the (0, 1) sentinel to a first detection, the low-precision tail of a mediocre
    # curve, and the line drawn from the maximum recall (0.9) down to (1, 0)
    start = np.where(grid < 0.04, 1 - 12.5 * grid, 0.5)
    tail = np.where(grid < 0.8, 0.45, 0.1)
    end = np.where(grid < 0.9, 0.9, 0.9 * (1 - grid) / 0.1)
    fine = curves_for(["a", "b", "c"], [np.full(1000, 0.8)] * 3, recall, pr_precision=[start, tail, end])
    assert class_rules(fine) == []


NAMES4 = ["circle", "square", "triangle", "star"]


def write_dataset(root: Path, images: dict[str, list[tuple[int, int, list[tuple[int, float]]]]]) -> Path:
    """A YOLO dataset on disk: per split, images as (width, height, [(class, box side, normalised)])."""
    import cv2

    for split, items in images.items():
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i, (w, h, boxes) in enumerate(items):
            cv2.imwrite(str(root / "images" / split / f"{i}.png"), np.zeros((h, w, 3), np.uint8))
            rows = [f"{c} 0.5 0.5 {side:g} {side * w / h:g}" for c, side in boxes]  # square boxes in pixels
            (root / "labels" / split / f"{i}.txt").write_text("".join(r + "\n" for r in rows))
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump({"path": str(root), "train": "images/train", "val": "images/val",
                                    "names": NAMES4}))  # fmt: skip
    return data


def shapes_dataset(root: Path, train_counts: tuple[int, int, int, int], triangle_side: float) -> Path:
    """Training images holding ``train_counts`` objects per class; 4 validation images, each with 5 objects of
    every class: circle, square and star 51 px wide at 128 px, triangle ``triangle_side`` of the image."""
    train = [(128, 128, [(c, 0.3)]) for c, n in enumerate(train_counts) for _ in range(n)]
    val = [(128, 128, [(c, triangle_side if c == 2 else 0.4) for c in range(4) for _ in range(5)])] * 4
    return write_dataset(root, {"train": train, "val": val})


def low_triangle_curves(train_instances, sizes, matrix=None) -> ValidationCurves:
    """'triangle' at AP50-95 0.10 against 0.50-0.60 for the others; 20 validation objects per class."""
    flat = [np.full(1000, 0.8)] * 4
    return curves_for(NAMES4, flat, flat, ap50_95=[0.60, 0.55, 0.10, 0.50], instances=[20] * 4, matrix=matrix,
                      train_instances=train_instances, sizes=sizes)  # fmt: skip


def triangle_matrix(confused: int, missed: int, objects=(20, 20, 20, 20)) -> np.ndarray:
    """[predicted, true] at the deploy threshold for ``objects`` per class: one missed of each other class;
    triangle: ``confused`` detected as 'star', ``missed`` not detected, the rest found."""
    m = np.zeros((5, 5), dtype=np.int64)
    for c in (0, 1, 3):
        m[c, c], m[4, c] = objects[c] - 1, 1
    m[2, 2], m[3, 2], m[4, 2] = objects[2] - confused - missed, confused, missed
    return m


IMBALANCE_WORDS = ("imbalance", "cls_pw", "class weight", "inverse frequency", "add samples")


def test_class_label_stats_at_the_validation_size(tmp_path):
    """Labels per class: training objects, and validation objects by COCO size at the size the model sees them."""
    data = write_dataset(tmp_path, {
        "train": [(128, 128, [(0, 0.3), (0, 0.3), (2, 0.3)]), (128, 128, [])],  # one background image
        # 256x128 letterboxed to 128: a 0.15-wide box is 38 px in the file (medium) but 19 px at 128 (small);
        # 0.05 of 128 is 6 px (small), 0.4 of 128 is 51 px (medium), 0.9 is 115 px (large)
        "val": [(256, 128, [(1, 0.15)]), (128, 128, [(2, 0.05), (2, 0.05), (0, 0.4), (3, 0.9)])],
    })  # fmt: skip
    train, sizes = dg.count_class_labels(data, "val", imgsz=128)
    assert train.tolist() == [2, 0, 1, 0]
    assert sizes.tolist() == [[0, 1, 0], [1, 0, 0], [2, 0, 0], [0, 0, 1]]  # [small, medium, large] per class
    _, at_512 = dg.count_class_labels(data, "val", imgsz=512)  # 4x the pixels: the 19 px box becomes 77 px
    assert at_512[1].tolist() == [0, 1, 0] and at_512[0].tolist() == [0, 0, 1]  # 51 px -> 205 px: large


def test_low_ap_class_with_few_training_labels_is_imbalance(tmp_path):
    """'triangle' has 3 training labels against 40: class imbalance, with the class-weight remedy; the counts
    that say so come from the training split, not the balanced validation split."""
    data = shapes_dataset(tmp_path, (40, 40, 3, 40), triangle_side=0.4)
    train, sizes = dg.count_class_labels(data, "val", imgsz=128)
    assert train.tolist() == [40, 40, 3, 40] and sizes.sum(1).tolist() == [20] * 4
    (f,) = class_rules(low_triangle_curves(train, sizes, triangle_matrix(confused=0, missed=12)))
    assert f.rule == "class_ap_low" and f.class_name == "triangle"
    assert f.cause == "Class imbalance" and "cls_pw" in f.action
    assert "3 training labels vs a median of 40 for the other classes" in f.evidence, f.evidence
    assert f.values["instances"] == 3 and f.values["others_instances_median"] == 40


def test_low_ap_class_with_enough_labels_is_a_hard_class(tmp_path):
    """The demo's case: 'triangle' has 33 training labels against a median of 25, so its low AP is not an
    imbalance; the cause and the action follow what the run shows: it is confused with 'star' and its objects
    are small."""
    # the numbers, from a cache without label statistics: 33 labelled objects vs a median of 25
    demo = low_triangle_curves(None, None, triangle_matrix(confused=12, missed=5, objects=(25, 25, 33, 20)))
    demo.instances = np.array([25, 25, 33, 20])
    (f,) = class_rules(demo)
    text = f"{f.cause} {f.evidence} {f.action}".lower()
    assert not [w for w in IMBALANCE_WORDS if w in text], text
    assert f.cause == "Hard class, not under-represented: confused with 'star'"
    assert "33 labelled objects in the validation split vs a median of 25 for the other classes" in f.evidence
    assert "12 of 33 (36%) detected as 'star', 5 of 33 (15%) missed vs 4% for the other classes" in f.evidence
    assert "more (and harder) examples of both 'triangle' and 'star'" in f.action
    # with the dataset's labels: training counts, and the sizes of its validation objects
    data = shapes_dataset(tmp_path, (25, 25, 33, 20), triangle_side=0.05)  # triangles 6 px wide at 128
    train, sizes = dg.count_class_labels(data, "val", imgsz=128)
    assert train.tolist() == [25, 25, 33, 20]
    (f,) = class_rules(low_triangle_curves(train, sizes, triangle_matrix(confused=7, missed=5)))
    assert f.rule == "class_ap_low" and f.class_name == "triangle"
    text = f"{f.cause} {f.evidence} {f.action}".lower()
    assert not [w for w in IMBALANCE_WORDS if w in text], text
    assert f.cause.startswith("Hard class") and "confused with 'star'" in f.cause and "small" in f.cause
    assert "33 training labels vs a median of 25 for the other classes" in f.evidence, f.evidence
    assert "7 of 20 (35%) detected as 'star'" in f.evidence  # at the deploy threshold (the matrix's)
    assert "5 of 20 (25%) missed vs 5% for the other classes" in f.evidence
    assert (
        "100% of its validation objects are small (< 32x32 px as the model sees them) vs 0% for the"
        in f.evidence
    )
    assert "'triangle' and 'star'" in f.action and "--preset small-objects" in f.action
    assert f.values["confused_share"] == pytest.approx(0.35) and f.values["small_share"] == 1.0
    # medium-sized triangles, never confused: nothing in the run explains the gap, and it says so, still
    # without blaming the label count
    data = shapes_dataset(tmp_path / "plain", (25, 25, 33, 20), triangle_side=0.4)
    (plain,) = class_rules(low_triangle_curves(*dg.count_class_labels(data, "val", imgsz=128),
                                               triangle_matrix(confused=0, missed=1)))  # fmt: skip
    text = f"{plain.cause} {plain.evidence} {plain.action}".lower()
    assert not [w for w in IMBALANCE_WORDS if w in text], text
    assert (
        plain.cause.startswith("Hard class") and "neither its confusions nor its object sizes" in plain.cause
    )


def test_low_ap_class_without_label_statistics():
    """A cache written before the label statistics existed: the validation split's counts decide, and say so;
    the confusion matrix still tells a hard class's cause."""
    few = low_triangle_curves(None, None)
    few.instances = np.array([20, 20, 4, 20])
    (f,) = class_rules(few)
    assert f.cause == "Class imbalance"
    assert (
        "4 labelled objects in the validation split vs a median of 20 for the other classes (< 0.5x)"
        in f.evidence
    )
    (same,) = class_rules(low_triangle_curves(None, None))  # 20 against 20, no matrix: nothing to tell why
    assert (
        same.cause == "Hard class, not under-represented: no confusion matrix or label statistics to tell why"
    )
    assert "imbalance" not in same.action.lower()
    fp = triangle_matrix(confused=0, missed=1)
    fp[2, 4] = 30  # 'triangle' fired on background 30 times
    (bg,) = class_rules(low_triangle_curves(None, None, fp))
    assert bg.cause == "Hard class, not under-represented: false positives on background"
    assert "30 of its 49 detections (61%) on background vs 0% for the other classes" in bg.evidence
    assert bg.action == dg.CONFUSION_ACTIONS["background_fp"]


# ---------------------------------------------------------------- threshold and confusions
def test_f1_optimal_threshold_on_known_curves():
    x = np.linspace(0, 1, 1000)
    # class a: P = x, R = 1 - x -> F1 = 2x(1-x), peak at 0.5 (P = R = 0.5)
    # class b: P = min(x + 0.4, 1), R = 1 - x -> F1 peak where x + 0.4 = 1 - x, at 0.3 (P = R = 0.7)
    # mean F1: d/dx [2x(1-x) + 2(x+0.4)(1-x)/1.4] = 0 -> x = (2 + 0.6/0.7) / (4 + 2/0.7) = 0.41667
    c = curves_for(["a", "b"], [x, np.minimum(x + 0.4, 1)], [1 - x, 1 - x], instances=[30, 20])
    overall, per_class = best_thresholds(c)
    a, b = per_class
    assert a.name == "a" and a.best.conf == pytest.approx(0.5, abs=0.002)
    assert a.best.precision == pytest.approx(0.5, abs=0.003) and a.best.recall == pytest.approx(
        0.5, abs=0.003
    )
    assert b.best.conf == pytest.approx(0.3, abs=0.002) and b.best.f1 == pytest.approx(0.7, abs=0.003)
    assert b.instances == 20
    assert overall.conf == pytest.approx(2.857 / 6.857, abs=0.002)
    assert overall.precision == pytest.approx((overall.conf + overall.conf + 0.4) / 2, abs=0.003)
    # F1 = 0 everywhere: no threshold rather than a meaningless one
    zero = curves_for(["a"], [np.zeros(1000)], [np.zeros(1000)])
    assert best_thresholds(zero) == (None, [ClassThreshold(0, "a", 50, None)])
    # a model that is mostly wrong (best F1 0.05 < MIN_THRESHOLD_F1): no threshold either
    weak = curves_for(["a"], [np.full(1000, 0.03)], [np.full(1000, 0.2)])
    assert best_thresholds(weak) == (None, [ClassThreshold(0, "a", 50, None)])
    # a flat top (no detection changes state between 0 and 0.6): its middle, not its lowest confidence
    flat_p, flat_r = np.where(x <= 0.6, 0.8, 1.0), np.where(x <= 0.6, 0.8, 0.0)
    overall, (a,) = best_thresholds(curves_for(["a"], [flat_p], [flat_r]))
    assert 0.25 <= a.best.conf <= 0.31 and a.best.f1 == pytest.approx(0.8) and overall.conf == a.best.conf


def test_top_confusions():
    names = ["cat", "dog", "bird"]
    m = np.zeros((4, 4), dtype=int)  # [predicted, true]; index 3 = background
    m[0, 0], m[1, 1], m[2, 2] = 40, 50, 18
    m[1, 0] = 7  # cats detected as dogs
    m[3, 2] = 12  # birds missed
    m[1, 3] = 9  # dogs on background
    m[3, 0] = 3  # cats missed
    m[0, 1] = 1
    top = top_confusions(m, names, n=4)
    assert [(c.kind, c.true, c.predicted, c.count) for c in top] == [
        ("missed", "bird", None, 12),
        ("background_fp", None, "dog", 9),
        ("confusion", "cat", "dog", 7),
        ("missed", "cat", None, 3),
    ]
    assert top[0].share == pytest.approx(12 / 30)  # of the 30 labelled birds
    assert top[1].share == pytest.approx(9 / 66)  # of the 66 dog detections
    assert top[2].share == pytest.approx(7 / 50)  # of the 50 labelled cats
    assert "negative samples" in top[1].action and "discriminative" in top[2].action


# ---------------------------------------------------------------- bad input
def _no_results(tmp: Path) -> Path:
    (tmp / "empty-run").mkdir()
    return tmp / "empty-run"


def _write(tmp: Path, text: str) -> Path:
    run = tmp / "run"
    run.mkdir()
    (run / "results.csv").write_text(text)
    return run


GOOD_ROW = "1,1.0,1.4,8.7,0.05,0.1,0.2,0.1,0.05,1.5,8.8,0.05,0.01,0.01,0.01"


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda t: t / "nope", r"Run folder '.*nope' not found; pass a training run folder"),
        (lambda t: (t / "f.txt").write_text("x") and t / "f.txt", r"is a file; pass the training run folder"),
        (_no_results, r"results\.csv' not found: diagnose needs the results\.csv"),
        (lambda t: _write(t, ""), r"results\.csv: empty; let training finish"),
        (lambda t: _write(t, HEADER + "\n"), r"results\.csv: no epochs recorded yet"),
        (lambda t: _write(t, "epoch,time,train/box_loss\n1,2,3\n"),
         r"results\.csv: missing column\(s\) 'metrics/precision\(B\)'.*expected the results\.csv of an Ultralytics"),
        (lambda t: _write(t, HEADER + "\n" + GOOD_ROW.replace("8.7", "oops") + "\n"),
         r"results\.csv: line 2: 'oops' in column 'train/cls_loss' is not a number"),
        (lambda t: _write(t, HEADER + "\n" + GOOD_ROW + ",7\n"), r"results\.csv: line 2 has 16 fields, the header 15"),
        (lambda t: _write(t, "\x00\x01garbage\x02\n\x03"), r"results\.csv: missing column"),
    ],
)  # fmt: skip
def test_bad_run_folder(tmp_path, make, match):
    run = make(tmp_path)
    with pytest.raises(ResultsError, match=match) as e:
        diagnose(run)
    assert "\n" not in str(e.value)


def test_bad_args_yaml(tmp_path):
    run = write_run(tmp_path, falling(5), falling(5))
    (run / "args.yaml").write_text("a: [unclosed\n")
    with pytest.raises(ResultsError, match=r"args\.yaml: not valid YAML"):
        diagnose(run)
    (run / "args.yaml").unlink()
    assert any("No args.yaml" in n for n in diagnose(run).notes)  # missing is fine: defaults, with a note


def test_dataset_needed_for_the_curves(tmp_path):
    run = write_run(tmp_path, falling(5), falling(5))
    (run / "weights").mkdir()
    (run / "weights" / "best.pt").write_bytes(b"not read before the dataset is found")
    with pytest.raises(
        DatasetError, match=r"missing/data\.yaml' \(from .*args\.yaml\) not found.*pass --data"
    ):
        diagnose(run)
    with pytest.raises(DatasetError, match=r"other\.yaml' \(from --data\) not found"):
        diagnose(run, data=tmp_path / "other.yaml")
    args = yaml.safe_load((run / "args.yaml").read_text())
    del args["data"]
    (run / "args.yaml").write_text(yaml.safe_dump(args))
    with pytest.raises(DatasetError, match=r"args\.yaml names no dataset.*pass --data D\.yaml"):
        diagnose(run)


def test_load_conf_threshold(tmp_path):
    assert load_conf_threshold(tmp_path) is None
    (tmp_path / "diagnosis.json").write_text(json.dumps({"schema": dg.SCHEMA, "conf_threshold": 0.31}))
    assert load_conf_threshold(tmp_path) == 0.31
    assert load_conf_threshold(tmp_path / "diagnosis.json") == 0.31
    assert load_diagnosis(tmp_path / "nothing-here") is None
    with pytest.raises(ResultsError, match="incomplete diagnosis"):
        load_diagnosis(tmp_path)  # the hand-written file above has a schema and a threshold, nothing else
    (tmp_path / "diagnosis.json").write_text("{")
    with pytest.raises(ResultsError, match="not valid JSON; run 'edgeyolo diagnose"):
        load_conf_threshold(tmp_path)


# ---------------------------------------------------------------- HTML
def test_html_escapes_user_text():
    evil = "<script>alert(1)</script>"
    d = Diagnosis(
        run_dir=f"/runs/{evil}", epochs=3, best_epoch=3,
        metrics={"precision": 0.5, "recall": 0.5, "map50": 0.5, "map50_95": 0.3},
        overfitting=Overfitting(detected=True, note=f"note {evil}", advice=[f"advice {evil}"]),
        findings=[Finding("class_ap_low", f"Class '{evil}' AP much lower", "Class imbalance", f"AP {evil}", "Add")],
        threshold=Threshold(0.3, 0.6, 0.5, 0.55),
        class_thresholds=[ClassThreshold(0, evil, 5, Threshold(0.2, 0.5, 0.5, 0.5)), ClassThreshold(1, "ok", 3, None)],
        confusions=[Confusion("confusion", evil, "ok", 2, 0.4, "act")], confusion_conf=0.3, notes=[evil],
    )  # fmt: skip
    page = diagnosis_html(d)
    assert diagnosis_html(Diagnosis.from_dict(json.loads(json.dumps(d.to_dict())))) == page  # JSON round trip
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("&lt;script&gt;") == 8
    assert "<table>" in page and "0.300" in page


# ---------------------------------------------------------------- real run, cache, CLI
@pytest.fixture(scope="module")
def diagnosed_run(tiny_run, tmp_path_factory):
    """A copy of the tiny training run (the session fixture stays untouched), diagnosed once."""
    run = tmp_path_factory.mktemp("diag") / tiny_run.run_dir.name
    shutil.copytree(tiny_run.run_dir, run)
    messages = []
    d = diagnose(run, log=messages.append)
    return run, d, messages


def test_real_run_end_to_end(diagnosed_run, tiny_data):
    run, d, messages = diagnosed_run
    header = (run / "results.csv").read_text().splitlines()[0].split(",")
    assert header[:12] == HEADER.split(",")[:12]  # the crafted files above use the real column names
    assert any("validating best.pt" in m for m in messages)
    curves = ValidationCurves.load(run / dg.CURVES_FILE)
    names = yaml.safe_load(Path(tiny_data).read_text())["names"]
    assert curves is not None and curves.names == (list(names.values()) if isinstance(names, dict) else names)
    assert curves.conf.shape == (1000,) and curves.precision.shape == (len(curves.class_ids), 1000)
    assert curves.images == 8 and curves.instances.sum() > 0
    nc = len(curves.names)
    assert curves.matrix.shape == (nc + 1, nc + 1)
    assert (curves.matrix.sum(0)[:nc] == curves.instances).all()  # every labelled object counted once
    assert curves.meta["nms"] is False and curves.meta["val_imgsz"] == 128
    # the dataset's labels, kept with the curves: the validation objects by size are the objects Ultralytics
    # counted, and the training counts are the rows of the training label files
    assert curves.sizes.shape == (nc, 3) and (curves.sizes.sum(1) == curves.instances).all()
    rows = [line.split()[0] for f in (Path(tiny_data).parent / "labels" / "train").glob("*.txt")
            for line in f.read_text().splitlines() if line.strip()]  # fmt: skip
    assert curves.train_instances.tolist() == [rows.count(str(c)) for c in range(nc)]
    saved = json.loads((run / "diagnosis.json").read_text())
    assert saved["schema"] == dg.SCHEMA and "conf_threshold" in saved and "conf_threshold_per_class" in saved
    assert saved["conf_threshold"] == d.conf_threshold == load_conf_threshold(run)
    assert load_diagnosis(run) == d
    assert d.epochs == 2 and d.weights.endswith("best.pt") and d.confusion_conf is not None


def test_second_call_uses_the_cache(diagnosed_run, monkeypatch):
    run, first, _ = diagnosed_run
    import edgeyolo._backend.validate as ul

    def no_validation(*a, **k):
        raise AssertionError("validated again instead of reading val_curves.npz")

    monkeypatch.setattr(ul, "validation_curves", no_validation)
    t0 = time.perf_counter()
    again = diagnose(run)
    assert time.perf_counter() - t0 < 1.0
    assert again.to_dict() == first.to_dict()
    # a fresh interpreter diagnoses from the cache without importing torch or ultralytics
    code = ("import sys; from edgeyolo.diagnose import diagnose; diagnose(sys.argv[1]); "
            "assert not {'torch', 'ultralytics'} & set(sys.modules), 'imported torch'")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    calls = []
    monkeypatch.setattr(ul, "validation_curves", lambda *a, **k: calls.append(k) or ValidationCurves.load(
        run / dg.CURVES_FILE))  # fmt: skip
    saved = (run / dg.CURVES_FILE).read_bytes(), (run / dg.DIAGNOSIS_FILE).read_bytes()
    try:
        diagnose(run, imgsz=160)  # another image size: the cache does not match, validate again
        assert calls and calls[0]["imgsz"] == 160
        diagnose(run, imgsz=160)  # ... and the new cache serves the next call
        assert len(calls) == 1
    finally:  # the later tests expect the run as the fixture diagnosed it
        (run / dg.CURVES_FILE).write_bytes(saved[0])
        (run / dg.DIAGNOSIS_FILE).write_bytes(saved[1])


def test_cache_without_label_statistics_is_completed(diagnosed_run, monkeypatch):
    """A val_curves.npz written before the label statistics were kept gets them from the dataset, without
    validating again, and keeps them."""
    run, first, _ = diagnosed_run
    import edgeyolo._backend.validate as ul

    def no_validation(*a, **k):
        raise AssertionError("validated again instead of reading val_curves.npz")

    monkeypatch.setattr(ul, "validation_curves", no_validation)
    saved = (run / dg.CURVES_FILE).read_bytes(), (run / dg.DIAGNOSIS_FILE).read_bytes()
    try:
        old = ValidationCurves.load(run / dg.CURVES_FILE)
        stats = old.train_instances, old.sizes
        old.train_instances = old.sizes = None
        old.save(run / dg.CURVES_FILE)
        assert ValidationCurves.load(run / dg.CURVES_FILE).sizes is None
        assert diagnose(run).to_dict() == first.to_dict()
        again = ValidationCurves.load(run / dg.CURVES_FILE)
        assert (again.train_instances == stats[0]).all() and (again.sizes == stats[1]).all()
    finally:
        (run / dg.CURVES_FILE).write_bytes(saved[0])
        (run / dg.DIAGNOSIS_FILE).write_bytes(saved[1])


def test_cli_text_json_and_errors(diagnosed_run, runner, tmp_path):
    run, d, _ = diagnosed_run
    text = runner.invoke(main, ["diagnose", str(run)])
    assert text.exit_code == 0, text.output
    assert "Overfitting:" in text.stdout and "Metric-based diagnosis" in text.stdout
    assert "Top confusions" in text.stdout
    js = runner.invoke(main, ["diagnose", str(run), "--json"])
    assert js.exit_code == 0, js.output
    parsed = json.loads(js.stdout)
    assert parsed["schema"] == dg.SCHEMA and parsed["best_epoch"] == d.best_epoch
    assert parsed["conf_threshold"] == d.conf_threshold
    crafted = write_run(tmp_path, falling(20), v_shaped(20), metrics=peaked(20, 10, (0.9, 0.5, 0.7, 0.49)))
    out = runner.invoke(main, ["diagnose", str(crafted)])
    assert (
        out.exit_code == 0 and "Overfitting: YES" in out.stdout and "High precision, low recall" in out.stdout
    )
    bad = runner.invoke(main, ["diagnose", str(tmp_path / "nope")])
    assert bad.exit_code == 1 and "not found" in bad.output and "Traceback" not in bad.output
