"""The document's metric rules ("Diagnosing Model Issues with Metrics") and the top confusions.

Overall rules on P, R, mAP50, mAP50-95; per-class rules on the validation curves (a class far below the
others, with its cause following the evidence; a sudden drop in a PR curve); the classification-loss stall;
the largest off-diagonal cells of the confusion matrix. The thresholds below are edgeyolo's.
"""

from __future__ import annotations

import numpy as np

from edgeyolo.curves import ValidationCurves
from edgeyolo.diagnose.results import TrainingLog
from edgeyolo.diagnose.types import Confusion, Finding

# Metric rules. The document's table ("Diagnosing Model Issues with Metrics") names the patterns but gives no
# numbers; these are edgeyolo's, chosen so that a healthy detector fires none of them.
PR_GAP = 0.15  # P and R as results.csv reports them sit at the max-F1 confidence, where a balanced detector
# has them within a few points of each other; a gap this wide means one side clearly dominates
PR_HIGH = 0.5  # ... and the dominating one must be at least this to be called "high"
MAP_RATIO_LOW = 0.5  # mAP50-95 / mAP50 below this = imprecise boxes: YOLO detectors on COCO score mAP50-95 at
# roughly 0.7x their mAP50, so boxes that keep only half their AP between IoU 0.5 and 0.95 are loose
MAP50_HIGH = 0.3  # "high mAP50": while mAP50 itself is low the ratio says nothing about box quality
CLASS_AP_RATIO = 0.5  # a class whose AP50-95 is below half the median of the other classes...
CLASS_AP_GAP = 0.1  # ... and at least this far below it (uniformly weak classes are not an imbalance)
# Such a class is blamed on imbalance only when it really has fewer labels: fewer training labels than this
# fraction of the other classes' median. Otherwise it is a hard class, and the cause names what the run shows
# about it, each where it stands out:
CLASS_FEW_LABELS = 0.5
CLASS_CONFUSED_SHARE = 0.1  # ... at least this share of its objects detected as one other class
CLASS_SHARE_GAP = 0.15  # ... its share of small objects, of missed objects, or of background false positives
# among its detections at least this much (absolute) above the other classes' pooled share
PR_DROP = 0.3  # PR curve "sudden drop": precision falls by at least this ...
PR_DROP_SPAN = 0.05  # ... within this much recall, between recall PR_DROP_SPAN and the class's maximum recall
# (the curve starts from a (0, 1) sentinel, and after the maximum recall it is drawn to (1, 0))
PR_DROP_FROM = (
    0.6  # ... from a precision of at least this: the low-confidence tail of a mediocre curve always
)
# falls; a cliff from a good precision is the hard-example cluster the document means
PR_DROP_MIN_INSTANCES = 20  # fewer labelled objects make every PR curve a staircase of large steps
CLS_STALL_EPOCHS = 10  # ProgLoss advice: "cls loss not decreasing for a long time" = no new low in 10 epochs
CLS_STALL_MIN_GAIN = 0.01  # ... lower than 1% below the best value before them
TOP_CONFUSIONS = 5  # confusion-matrix cells listed

# The document's rule table: rule id -> (observation, possible cause, solution).
RULES: dict[str, tuple[str, str, str]] = {
    "high_precision_low_recall": (
        "High precision, low recall", "Many missed detections",
        "Lower the confidence threshold; add small-object data.",
    ),
    "high_recall_low_precision": (
        "High recall, low precision", "Many false positives",
        "Raise the confidence threshold; add negative samples (background-only images).",
    ),
    "high_map50_low_map50_95": (
        "High mAP50, low mAP50-95", "Imprecise boxes",
        "Increase the box loss weight (edgeyolo train --preset high-iou: box 12.0, cls 0.3); refine the annotations.",
    ),
    "class_ap_low": (  # its cause only where the class has fewer labels; otherwise see class_ap_low()
        "Class AP much lower", "Class imbalance",
        "Add samples of this class, or use class weights (train argument cls_pw, e.g. 1.0 = inverse frequency).",
    ),
    "pr_curve_drop": (
        "PR curve sudden drop", "Hard example cluster", "Hard negative mining; data augmentation.",
    ),
    "cls_loss_stalled": (
        "Classification loss not decreasing for a long time", "The ProgLoss schedule does not suit the dataset",
        "Fall back to manual ProgLoss: edgeyolo train --progloss manual --progloss-phases 0.3:5:1,1.0:7.5:0.5.",
    ),
}  # fmt: skip

CONFUSION_ACTIONS = {
    "confusion": "Needs more discriminative features: more (and harder) examples of both classes; check the "
    "labels of the pair.",
    "background_fp": "Add negative samples (background-only images); a higher confidence threshold also removes "
    "them, at some recall.",
    "missed": "Lower the confidence threshold, or give small objects more capacity (a larger --imgsz, "
    "--preset small-objects, STAL).",
}


def metric_rules(metrics: dict[str, float], best_epoch: int) -> list[Finding]:
    """The document's overall rules on P, R, mAP50, mAP50-95 (as results.csv reports them)."""
    out = []
    p, r, m50, m = (metrics[k] for k in ("precision", "recall", "map50", "map50_95"))
    where = f"at epoch {best_epoch} (best.pt)"
    if p - r >= PR_GAP and p >= PR_HIGH:
        out.append(_finding("high_precision_low_recall",
                            f"precision {p:.3f} vs recall {r:.3f} {where}: gap {p - r:.3f} >= {PR_GAP}",
                            precision=p, recall=r))  # fmt: skip
    if r - p >= PR_GAP and r >= PR_HIGH:
        out.append(_finding("high_recall_low_precision",
                            f"recall {r:.3f} vs precision {p:.3f} {where}: gap {r - p:.3f} >= {PR_GAP}",
                            precision=p, recall=r))  # fmt: skip
    if m50 >= MAP50_HIGH and m / m50 < MAP_RATIO_LOW:
        out.append(_finding("high_map50_low_map50_95",
                            f"mAP50 {m50:.3f} but mAP50-95 {m:.3f} {where}: ratio {m / m50:.2f} < {MAP_RATIO_LOW} "
                            f"(about 0.7 is typical)", map50=m50, map50_95=m, ratio=m / m50))  # fmt: skip
    return out


def _share(part: np.ndarray, whole: np.ndarray) -> float | None:
    """Pooled share sum(part) / sum(whole); None when whole is empty."""
    total = float(np.sum(whole))
    return float(np.sum(part)) / total if total > 0 else None


def _than_others(share: float | None) -> str:
    return "" if share is None else f" vs {share:.0%} for the other classes"


def _stands_out(share: float, others: float | None) -> bool:
    return others is not None and share - others >= CLASS_SHARE_GAP


def class_ap_low(curves: ValidationCurves, cid: int, others: list[int], ap: float, median: float) -> Finding:
    """The document's "class AP much lower" rule for one class, its cause following the evidence.

    The document blames class imbalance; that holds only when the class has clearly fewer labels (training
    labels when the dataset was read, else the validation split's). Otherwise the class is hard to learn, and
    the cause and the action name what the run shows about it where that stands out from the other classes:
    the class it is confused with and how often it is missed or fired on background (the confusion matrix at
    the deploy threshold), and its share of small objects.

    Args:
        curves: the run's validation curves.
        cid: the class id.
        others: ids of the classes it is compared with.
        ap: its AP50-95.
        median: the median AP50-95 of the others.
    """
    names, name = curves.names, curves.names[cid]
    if curves.train_instances is not None:
        counts, what = np.asarray(curves.train_instances), "training labels"
    else:
        counts, what = np.asarray(curves.instances), "labelled objects in the validation split"
    n, other_n = int(counts[cid]), float(np.median(counts[others]))
    values = {
        "ap50_95": ap,
        "others_median": median,
        "instances": float(n),
        "others_instances_median": other_n,
    }
    evidence = [f"AP50-95 {ap:.3f} vs median {median:.3f} of the other classes (< {CLASS_AP_RATIO}x and >= "
                f"{CLASS_AP_GAP} below)"]  # fmt: skip
    labels = f"{n} {what} vs a median of {other_n:.0f} for the other classes"
    if n < CLASS_FEW_LABELS * other_n:
        _, cause, action = RULES["class_ap_low"]
        evidence.append(f"{labels} (< {CLASS_FEW_LABELS}x)")
        return Finding(rule="class_ap_low", observation=f"Class '{name}' AP much lower", cause=cause,
                       evidence="; ".join(evidence), action=action, values=values, class_name=name)  # fmt: skip
    evidence.append(f"{labels}: not under-represented")

    causes: list[str] = []
    actions: list[str] = []
    looked_at: list[str] = []
    small_stands_out = missed_stands_out = False
    m = np.asarray(curves.matrix, dtype=np.float64)
    nc = m.shape[0] - 1
    true_total = float(m[:, cid].sum())  # its labelled objects, each counted once (matched or missed)
    if nc == len(names) and true_total > 0:
        looked_at.append("confusions")
        col = m[:nc, cid].copy()
        col[cid] = 0
        other = int(np.argmax(col))
        confused, missed = col[other] / true_total, m[nc, cid] / true_total
        others_missed = _share(m[nc, others], m[:, others])
        seen = []
        if col[other]:
            seen.append(f"{col[other]:.0f} of {true_total:.0f} ({confused:.0%}) detected as '{names[other]}'")
        seen.append(
            f"{m[nc, cid]:.0f} of {true_total:.0f} ({missed:.0%}) missed{_than_others(others_missed)}"
        )
        values.update(confused_share=float(confused), missed_share=float(missed))
        if confused >= CLASS_CONFUSED_SHARE:
            causes.append(f"confused with '{names[other]}'")
            actions.append(f"More discriminative features: more (and harder) examples of both '{name}' and "
                           f"'{names[other]}'; check the labels of the pair.")  # fmt: skip
        missed_stands_out = _stands_out(missed, others_missed)
        detections = float(m[cid].sum())
        if detections > 0:
            fp, others_fp = m[cid, nc] / detections, _share(m[others, nc], m[others])
            values["background_fp_share"] = float(fp)
            if _stands_out(fp, others_fp):
                seen.append(f"{m[cid, nc]:.0f} of its {detections:.0f} detections ({fp:.0%}) on background"
                            f"{_than_others(others_fp)}")  # fmt: skip
                causes.append("false positives on background")
                actions.append(CONFUSION_ACTIONS["background_fp"])
        evidence.append(f"at confidence {curves.matrix_conf:.3f}: " + ", ".join(seen))
    if curves.sizes is not None and np.sum(curves.sizes[cid]) > 0:
        from edgeyolo.data.check import SMALL_AREA

        looked_at.append("object sizes")
        sizes = np.asarray(curves.sizes, dtype=np.float64)
        small, others_small = float(sizes[cid, 0] / sizes[cid].sum()), _share(sizes[others, 0], sizes[others])
        side = round(SMALL_AREA**0.5)
        evidence.append(f"{small:.0%} of its validation objects are small (< {side}x{side} px as the model sees "
                        f"them){_than_others(others_small)}")  # fmt: skip
        values["small_share"] = small
        if others_small is not None:
            values["others_small_share"] = others_small
        small_stands_out = _stands_out(small, others_small)
    if missed_stands_out:
        causes.append("often missed")
    if small_stands_out:
        causes.append("many small objects" if small < 0.5 else "mostly small objects")
        actions.append(
            "Give small objects more capacity: a larger --imgsz, --preset small-objects, STAL (--stal)."
        )
    elif missed_stands_out:
        actions.append("Lower the confidence threshold for it (its own F1-optimal one is listed with the "
                       "thresholds), or add harder, more varied examples of it.")  # fmt: skip
    if not causes:
        if len(looked_at) == 2:
            causes.append("neither its confusions nor its object sizes explain the gap")
        elif looked_at:
            causes.append(f"its {looked_at[0]} do not explain the gap")
        else:
            causes.append("no confusion matrix or label statistics to tell why")
        actions.append("Look at its validation images and labels: inconsistent boxes, or an appearance that varies "
                       "more than the other classes' (pose, occlusion, clutter); hard negative mining and data "
                       "augmentation.")  # fmt: skip
    return Finding(
        rule="class_ap_low", observation=f"Class '{name}' AP much lower",
        cause="Hard class, not under-represented: " + "; ".join(causes), evidence="; ".join(evidence),
        action=" ".join(actions), values=values, class_name=name,
    )  # fmt: skip


def class_rules(curves: ValidationCurves) -> list[Finding]:
    """The document's per-class rules: one class far below the others, a sudden drop in a PR curve."""
    out = []
    names = curves.names
    ids = [int(c) for c in curves.class_ids]
    if len(ids) >= 2:
        for row, cid in enumerate(ids):
            ap = float(curves.ap50_95[row])
            median = float(np.median(np.delete(curves.ap50_95, row)))
            if ap < CLASS_AP_RATIO * median and median - ap >= CLASS_AP_GAP:
                out.append(class_ap_low(curves, cid, [c for c in ids if c != cid], ap, median))
    x = curves.conf  # the recall grid of pr_precision
    span = max(1, int(round(PR_DROP_SPAN / (x[1] - x[0])))) if len(x) > 1 else 1
    for row, cid in enumerate(ids):
        if curves.instances[cid] < PR_DROP_MIN_INSTANCES or curves.ap50[row] <= 0:
            continue
        max_recall = float(curves.recall[row].max())
        prec = curves.pr_precision[row]
        valid = (
            np.flatnonzero((x[:-span] >= PR_DROP_SPAN) & (x[span:] <= max_recall)) if len(x) > span else []
        )
        if not len(valid):
            continue
        drops = np.where(prec[valid] >= PR_DROP_FROM, prec[valid] - prec[valid + span], 0.0)
        i = int(valid[np.argmax(drops)])
        if drops.max() >= PR_DROP:
            title, cause, action = RULES["pr_curve_drop"]
            out.append(Finding(
                rule="pr_curve_drop", observation=f"PR curve of '{names[cid]}' drops suddenly", cause=cause,
                evidence=(f"precision {prec[i]:.2f} -> {prec[i + span]:.2f} between recall {x[i]:.2f} and "
                          f"{x[i + span]:.2f} (a drop >= {PR_DROP} from >= {PR_DROP_FROM} within {PR_DROP_SPAN} "
                          f"recall)"),
                action=action, values={"recall": float(x[i]), "precision_before": float(prec[i]),
                                       "precision_after": float(prec[i + span])}, class_name=names[cid],
            ))  # fmt: skip
    return out


def cls_loss_rule(log: TrainingLog, scales: dict[str, np.ndarray], edgeyolo_run: bool) -> list[Finding]:
    """ProgLoss advice: classification loss not decreasing for a long time."""
    cls = log.train["cls"] * scales["cls"]
    cls = cls[np.isfinite(cls)]
    if len(cls) < 2 * CLS_STALL_EPOCHS:
        return []
    before, last = cls[:-CLS_STALL_EPOCHS].min(), cls[-CLS_STALL_EPOCHS:].min()
    if last <= before * (1 - CLS_STALL_MIN_GAIN):
        return []
    title, cause, action = RULES["cls_loss_stalled"]
    if not edgeyolo_run:
        cause = "The classification gain or the labels (this run did not use edgeyolo's ProgLoss)"
        action = "Check the class labels; try the cls-priority loss preset (box 5.0, cls 1.0) or a higher cls gain."
    return [Finding(
        rule="cls_loss_stalled", observation=title, cause=cause,
        evidence=(f"train cls loss: lowest {last:.4g} in the last {CLS_STALL_EPOCHS} epochs vs {before:.4g} before "
                  f"(not {CLS_STALL_MIN_GAIN:.0%} lower)"),
        action=action, values={"recent_min": float(last), "earlier_min": float(before)},
    )]  # fmt: skip


def _finding(rule: str, evidence: str, **values: float) -> Finding:
    observation, cause, action = RULES[rule]
    return Finding(rule=rule, observation=observation, cause=cause, evidence=evidence, action=action,
                   values={k: float(v) for k, v in values.items()})  # fmt: skip


def top_confusions(matrix: np.ndarray, names: list[str], n: int = TOP_CONFUSIONS) -> list[Confusion]:
    """The n largest off-diagonal cells of a [predicted, true] matrix whose last row/column is background."""
    matrix = np.asarray(matrix)
    nc = matrix.shape[0] - 1
    true_total = matrix.sum(0)  # per true class: every labelled object is counted once (matched or missed)
    pred_total = matrix.sum(1)
    cells = []
    for p in range(nc + 1):
        for t in range(nc + 1):
            count = int(round(matrix[p, t]))
            if p == t or count <= 0:
                continue
            if t == nc:
                kind, share = "background_fp", count / pred_total[p]
            elif p == nc:
                kind, share = "missed", count / true_total[t]
            else:
                kind, share = "confusion", count / true_total[t]
            cells.append(Confusion(
                kind=kind, true=None if t == nc else names[t], predicted=None if p == nc else names[p], count=count,
                share=float(share), action=CONFUSION_ACTIONS[kind],
            ))  # fmt: skip
    cells.sort(key=lambda c: (-c.count, -c.share))
    return cells[:n]
