"""Diagnose a training run: overfitting, the source document's metric rules, the F1-optimal confidence
threshold and the top confusions.

Reads a run folder written by Ultralytics or ``edgeyolo train`` (``results.csv``, ``args.yaml``,
``weights/best.pt``, and edgeyolo's ``progloss.csv`` when present). The loss and metric checks need only
the CSV; the threshold, the per-class rules and the confusions need the validation curves of the run's
weights, computed once through Ultralytics on the NMS-free head that ships and cached in
``val_curves.npz`` with the dataset's label statistics per class (training labels, validation objects by
size), so a second diagnosis is instant and never imports torch. The result is written to
``diagnosis.json``; :func:`load_conf_threshold` reads the deployable threshold back.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from edgeyolo._io import write_json_atomic
from edgeyolo.errors import DatasetError, EdgeYoloError, ResultsError

Log = Callable[[str], None]

RESULTS_FILE = "results.csv"
ARGS_FILE = "args.yaml"
# edgeyolo.train.hooks.PROGLOSS_LOG, not imported: that would pull in the whole train package.
PROGLOSS_FILE = "progloss.csv"
CURVES_FILE = "val_curves.npz"
DIAGNOSIS_FILE = "diagnosis.json"
SCHEMA = "edgeyolo.diagnosis/1"
CURVES_SCHEMA = 1

# ---------------------------------------------------------------- thresholds
# Overfitting. The document's rule: training loss still falling while validation loss rises.
# Centred moving average over epochs: one noisy validation epoch can neither fake nor hide a trend, and a
# centred window (unlike an EMA) does not push the onset later than it happened.
SMOOTH_WINDOW = 3
# k: consecutive epochs in which the smoothed val loss rises while the smoothed train loss falls. One outlier
# epoch moves at most two smoothed points, so three in a row is a trend, and short runs can still show it.
OVERFIT_EPOCHS = 3
# ... and from then on the val loss climbs at least 1% above its pre-onset value (a plateau wobbling in the
# fourth digit is not overfitting). The rise must also last: the smoothed val loss never comes back down to
# its pre-onset value later in the run (a transient bump, e.g. when mosaic closes, is not a trend).
OVERFIT_MIN_RISE = 0.01
# A loss gap alone is not overfitting while the val accuracy still improves: the val cls loss (BCE) can grow
# with a few confident mistakes while the ranking, i.e. mAP, keeps getting better (seen on small val sets).
# Overfitting needs the best val mAP50-95 after the onset to stay within 2% (relative; 0.005 absolute near
# zero) of the best before it; otherwise it is reported as a loss gap to watch.
MAP_STILL_IMPROVING = 0.02
MAP_STILL_IMPROVING_ABS = 0.005
# Weight decay range the document gives for small datasets ("optimal values range around 0.0003~0.0007").
WEIGHT_DECAY_RANGE = (0.0003, 0.0007)

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

# Confidence threshold and confusions.
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
TOP_CONFUSIONS = 5

METRIC_COLUMNS = {
    "precision": "metrics/precision(B)",
    "recall": "metrics/recall(B)",
    "map50": "metrics/mAP50(B)",
    "map50_95": "metrics/mAP50-95(B)",
}
# The third box term: YOLO26 (reg_max 1, no DFL) logs its L1 box term as l1_loss; DFL heads log dfl_loss.
# Both are weighted by the `dfl` gain.
LOSS_COLUMNS = {"box": ("box_loss",), "cls": ("cls_loss",), "dfl": ("l1_loss", "dfl_loss")}
DEFAULT_GAINS = {"box": 7.5, "cls": 0.5, "dfl": 1.5}  # Ultralytics' defaults, when args.yaml is missing

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

CONFUSION_LABELS = {
    "confusion": "class confusion",
    "background_fp": "background false positive",
    "missed": "missed",
}


# ---------------------------------------------------------------- result types
@dataclass
class Overfitting:
    """The generalization-gap check on the summed train and val losses."""

    detected: bool
    note: str  # one sentence: what was found, or why nothing could be judged
    onset_epoch: int | None = None  # first epoch of the sustained val-loss rise
    last_good_epoch: int | None = None  # the epoch before it: lowest smoothed val loss before the rise
    train_loss: tuple[float, float] | None = None  # smoothed summed train loss at last_good_epoch, last epoch
    val_loss: tuple[float, float] | None = None  # smoothed summed val loss at the same two epochs
    epochs_checked: int = 0
    loss_gap: bool = (
        False  # the loss pattern was found (detected also needs the val mAP to have stopped improving)
    )
    map50_95: tuple[float, float] | None = None  # best val mAP50-95 up to last_good_epoch, and after it
    k: int = OVERFIT_EPOCHS
    loss_terms: list[str] = field(default_factory=list)  # results.csv columns summed (train/ side)
    rescaled: bool = False  # losses divided by edgeyolo's per-epoch ProgLoss gains (progloss.csv)
    advice: list[str] = field(default_factory=list)  # regularization advice from the document

    @property
    def gap(self) -> tuple[float, float] | None:
        """Generalization gap (val - train loss) at last_good_epoch and at the last epoch."""
        if self.train_loss is None or self.val_loss is None:
            return None
        return (self.val_loss[0] - self.train_loss[0], self.val_loss[1] - self.train_loss[1])


@dataclass
class Finding:
    """One rule of the document's table that fired, with the numbers that triggered it."""

    rule: str  # key of RULES
    observation: str
    cause: str
    evidence: str  # the numbers and the threshold they crossed
    action: str
    values: dict[str, float] = field(default_factory=dict)
    class_name: str | None = None  # for per-class rules


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
class Confusion:
    """One off-diagonal cell of the confusion matrix ([predicted, true], background last)."""

    kind: Literal["confusion", "background_fp", "missed"]
    true: str | None  # None for a background false positive
    predicted: str | None  # None for a missed object
    count: int
    share: float  # of the true class's objects (confusion, missed), of the predicted class's detections (fp)
    action: str


@dataclass
class Diagnosis:
    run_dir: str
    epochs: int  # epochs recorded in results.csv
    best_epoch: int  # highest mAP50-95 (Ultralytics' fitness, the epoch best.pt comes from)
    metrics: dict[str, float]  # precision, recall, map50, map50_95 at best_epoch
    overfitting: Overfitting
    findings: list[Finding] = field(default_factory=list)
    threshold: Threshold | None = None  # F1-optimal confidence over all classes (mean F1 curve)
    class_thresholds: list[ClassThreshold] = field(default_factory=list)
    confusions: list[Confusion] = field(default_factory=list)
    confusion_conf: float | None = None  # confidence the confusion matrix was counted at
    weights: str | None = None  # the weights the curves come from
    curves_file: str | None = None
    notes: list[str] = field(default_factory=list)  # parts skipped and why, data caveats

    @property
    def conf_threshold(self) -> float | None:
        return None if self.threshold is None else self.threshold.conf

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["overfitting"]["gap"] = self.overfitting.gap
        return {
            "schema": SCHEMA,
            "conf_threshold": self.conf_threshold,
            "conf_threshold_per_class": {
                c.name: (None if c.best is None else c.best.conf) for c in self.class_thresholds
            },
            **d,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Diagnosis:
        """Rebuild a diagnosis from :meth:`to_dict`'s output (e.g. a diagnosis.json)."""

        def pair(v: Any) -> tuple[float, float] | None:
            return None if v is None else (float(v[0]), float(v[1]))

        def point(v: dict | None) -> Threshold | None:
            return None if v is None else Threshold(**v)

        o = {k: v for k, v in d["overfitting"].items() if k != "gap"}
        for k in ("train_loss", "val_loss", "map50_95"):
            o[k] = pair(o.get(k))
        return cls(
            run_dir=d["run_dir"], epochs=d["epochs"], best_epoch=d["best_epoch"], metrics=d["metrics"],
            overfitting=Overfitting(**o), findings=[Finding(**f) for f in d["findings"]],
            threshold=point(d["threshold"]),
            class_thresholds=[ClassThreshold(**{**c, "best": point(c["best"])}) for c in d["class_thresholds"]],
            confusions=[Confusion(**c) for c in d["confusions"]], confusion_conf=d["confusion_conf"],
            weights=d["weights"], curves_file=d["curves_file"], notes=d["notes"],
        )  # fmt: skip


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


# ---------------------------------------------------------------- results.csv
@dataclass
class TrainingLog:
    """results.csv as arrays, one entry per epoch (1-based, as Ultralytics writes them)."""

    epochs: np.ndarray
    train: dict[str, np.ndarray]  # loss term (box, cls, dfl) -> logged value
    val: dict[str, np.ndarray]
    metrics: dict[str, np.ndarray]  # precision, recall, map50, map50_95
    columns: dict[str, str]  # "train/box" etc. -> the column it came from


def read_results(path: str | os.PathLike) -> TrainingLog:
    """Parse an Ultralytics detection ``results.csv``.

    Raises:
        ResultsError: the file is missing, empty, lacks a needed column or holds a non-number.
    """
    path = Path(path)
    if not path.is_file():
        raise ResultsError(
            f"'{path}' not found: diagnose needs the results.csv Ultralytics writes into a training run folder; "
            f"pass a run folder such as runs/train/yolo26n-320."
        )
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8", errors="replace").splitlines()))
    except csv.Error as e:
        raise ResultsError(f"{path}: not a CSV file ({e}); pass the results.csv of a training run.") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise ResultsError(f"{path}: empty; let training finish at least one epoch, then diagnose again.")
    header = [c.strip() for c in rows[0]]
    index = {name: i for i, name in enumerate(header)}

    columns: dict[str, str] = {"epoch": "epoch", **{f"metrics/{k}": v for k, v in METRIC_COLUMNS.items()}}
    missing: list[str] = [c for c in columns.values() if c not in index]
    for split in ("train", "val"):
        for term, names in LOSS_COLUMNS.items():
            found = next((f"{split}/{n}" for n in names if f"{split}/{n}" in index), None)
            if found is not None:
                columns[f"{split}/{term}"] = found
            elif term != "dfl":  # the third box term is optional (a head without one logs two losses)
                missing.append(f"{split}/{names[0]}")
    if missing:
        raise ResultsError(
            f"{path}: missing column(s) {', '.join(repr(m) for m in missing)}; expected the results.csv of an "
            f"Ultralytics detection run (its header starts with {', '.join(header[:3]) or 'nothing'})."
        )

    values: dict[str, list[float]] = {k: [] for k in columns}
    for line_no, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ResultsError(
                f"{path}: line {line_no} has {len(row)} fields, the header {len(header)}; delete or fix that line."
            )
        for key, col in columns.items():
            cell = row[index[col]].strip()
            try:
                values[key].append(float(cell))
            except ValueError:
                raise ResultsError(
                    f"{path}: line {line_no}: '{cell[:20]}' in column '{col}' is not a number; fix or delete the line."
                ) from None
    if not values["epoch"]:
        raise ResultsError(f"{path}: no epochs recorded yet; let training finish at least one epoch.")

    # A resumed plain-Ultralytics run can repeat epochs: keep the last row of each, in epoch order.
    epochs = np.array(values["epoch"], dtype=np.int64)
    last = {int(e): i for i, e in enumerate(epochs)}
    order = np.array([last[e] for e in sorted(last)])
    arr = {k: np.asarray(v, dtype=np.float64)[order] for k, v in values.items()}
    return TrainingLog(
        epochs=epochs[order],
        train={t: arr[f"train/{t}"] for t in LOSS_COLUMNS if f"train/{t}" in arr},
        val={t: arr[f"val/{t}"] for t in LOSS_COLUMNS if f"val/{t}" in arr},
        metrics={k: arr[f"metrics/{k}"] for k in METRIC_COLUMNS},
        columns={k: v for k, v in columns.items() if k != "epoch"},
    )


def _read_args(run: Path, notes: list[str]) -> dict[str, Any]:
    p = run / ARGS_FILE
    if not p.is_file():
        notes.append(
            f"No {ARGS_FILE} in the run folder: loss gains, model and dataset are unknown (defaults used)."
        )
        return {}
    try:
        args = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ResultsError(
            f"{p}: not valid YAML ({getattr(e, 'problem', e)}); restore the args.yaml Ultralytics wrote."
        ) from None
    if not isinstance(args, dict):
        raise ResultsError(f"{p}: must be the mapping of training arguments Ultralytics writes.")
    return args


def _gain_scales(run: Path, args: dict[str, Any], epochs: np.ndarray) -> tuple[dict[str, np.ndarray], bool]:
    """Per-epoch factors that bring each logged loss term back to the run's base gains.

    Logged losses are multiplied by the gains in force (``box``, ``cls``, ``dfl``). edgeyolo's ProgLoss changes
    them every epoch (``progloss.csv``; the ``dfl`` column, the L1 box term's gain, only in newer runs), which
    alone would move the summed loss; dividing by that epoch's gain
    and multiplying by the base gain leaves only what the model learned. Both train and val of an epoch use the
    same gains.
    """
    base = {t: float(args.get(t, DEFAULT_GAINS[t]) or DEFAULT_GAINS[t]) for t in DEFAULT_GAINS}
    scales = {t: np.ones(len(epochs)) for t in DEFAULT_GAINS}
    p = run / PROGLOSS_FILE
    if not p.is_file():
        return scales, False
    position = {int(e): i for i, e in enumerate(epochs)}
    try:
        with open(p, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                i = position.get(int(float(row["epoch"])) + 1)  # progloss.csv epochs are 0-based
                if i is None:
                    continue
                for t in ("box", "cls", "dfl"):
                    if t not in row:  # progloss.csv written before the L1 gain moved with box
                        continue
                    gain = float(row[t])
                    scales[t][i] = base[t] / gain if gain > 0 else 1.0  # a zero gain: nothing to undo
    except (KeyError, ValueError, TypeError):
        return {t: np.ones(len(epochs)) for t in DEFAULT_GAINS}, False
    return scales, True


def _smooth_epochs(y: np.ndarray, window: int = SMOOTH_WINDOW) -> np.ndarray:
    """Centred moving average; the window shrinks at both ends instead of padding."""
    half = window // 2
    return np.array([y[max(0, i - half) : i + half + 1].mean() for i in range(len(y))])


def find_overfitting_onset(train: np.ndarray, val: np.ndarray, k: int = OVERFIT_EPOCHS) -> int | None:
    """Index of the first epoch of a sustained generalization gap, or None.

    On the smoothed curves: for k consecutive epochs the val loss rises while the train loss falls; from then
    on it climbs at least OVERFIT_MIN_RISE above its pre-onset value and never comes back down to it.
    """
    t, v = _smooth_epochs(train), _smooth_epochs(val)
    for s in range(1, len(v) - k + 1):
        steps = range(s, s + k)
        if not all(v[j] > v[j - 1] and t[j] < t[j - 1] for j in steps):
            continue
        end = s + k - 1
        if v[end:].max() >= v[s - 1] * (1 + OVERFIT_MIN_RISE) and v[end:].min() > v[s - 1]:
            return s
    return None


def _summed_losses(
    log: TrainingLog, scales: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    terms = [t for t in LOSS_COLUMNS if t in log.train and t in log.val]
    train = sum(log.train[t] * scales[t] for t in terms)
    val = sum(log.val[t] * scales[t] for t in terms)
    return np.asarray(train, dtype=np.float64), np.asarray(val, dtype=np.float64), terms


def check_overfitting(log: TrainingLog, scales: dict[str, np.ndarray], rescaled: bool) -> Overfitting:
    """The generalization-gap check (advice is added by :func:`diagnose`, which knows the run's settings)."""
    train, val, terms = _summed_losses(log, scales)
    cols = [log.columns[f"train/{t}"] for t in terms]
    ok = np.isfinite(train) & np.isfinite(val)
    common = dict(k=OVERFIT_EPOCHS, loss_terms=cols, rescaled=rescaled)
    if not ok.all():
        first_bad = int(log.epochs[np.argmin(ok)])
        note = f"the loss is not a number from epoch {first_bad}: training diverged there (lower lr0, or amp=False)"
        if not ok[0]:
            return Overfitting(detected=False, note=note[0].upper() + note[1:] + ".", **common)
        cut = int(np.argmin(ok))
        train, val, epochs = train[:cut], val[:cut], log.epochs[:cut]
    else:
        note, epochs = "", log.epochs
    n = len(epochs)
    if n < OVERFIT_EPOCHS + 1:
        return Overfitting(
            detected=False, epochs_checked=n, **common,
            note=f"Only {n} epoch(s) recorded: judging a trend needs at least {OVERFIT_EPOCHS + 1}.",
        )  # fmt: skip
    s = find_overfitting_onset(train, val)
    t, v = _smooth_epochs(train), _smooth_epochs(val)
    if s is None:
        text = (f"No generalization gap: the val loss never rose for {OVERFIT_EPOCHS} consecutive epochs while "
                f"the train loss fell (over {n} epochs).")  # fmt: skip
        if note:
            text += f" Note: {note}."
        return Overfitting(detected=False, note=text, epochs_checked=n, **common)
    onset, good = int(epochs[s]), int(epochs[s - 1])
    m = np.nan_to_num(log.metrics["map50_95"][: len(epochs)])
    before, after = float(m[:s].max()), float(m[s:].max())
    improving = after > before + max(MAP_STILL_IMPROVING * before, MAP_STILL_IMPROVING_ABS)
    losses = (f"the train loss kept falling ({t[s - 1]:.4g} -> {t[-1]:.4g}) while the val loss rose "
              f"({v[s - 1]:.4g} -> {v[-1]:.4g}) after its low at epoch {good}")  # fmt: skip
    if improving:
        text = (f"A generalization gap in the losses from epoch {onset} ({losses}), but val mAP50-95 kept improving "
                f"({before:.3f} -> {after:.3f}): not overfitting yet; watch it.")  # fmt: skip
    else:
        text = f"Overfitting from epoch {onset}: {losses}; val mAP50-95 stopped improving ({before:.3f} -> best {after:.3f} after)."
    if note:
        text += f" Note: {note}."
    return Overfitting(
        detected=not improving, note=text, onset_epoch=onset, last_good_epoch=good, loss_gap=True,
        map50_95=(before, after), train_loss=(float(t[s - 1]), float(t[-1])),
        val_loss=(float(v[s - 1]), float(v[-1])), epochs_checked=n, **common,
    )  # fmt: skip


# ---------------------------------------------------------------- advice and rules
_SCALES = "nsmlx"


def _smaller_model(model: str) -> tuple[str | None, str | None]:
    """(current scale name, next smaller name) from a model spec like yolo26s.yaml or /x/yolo26m.pt."""
    m = re.search(r"(yolo\w*?\d+)([nsmlx])(?=[-_.]|$)", Path(str(model)).stem + ".")
    if not m:
        return None, None
    family, scale = m.group(1), m.group(2)
    i = _SCALES.index(scale)
    return f"{family}{scale}", (f"{family}{_SCALES[i - 1]}" if i > 0 else None)


def regularization_advice(args: dict[str, Any], train_images: int | None, best_epoch: int,
                          onset_epoch: int | None) -> list[str]:  # fmt: skip
    """The document's remedies for overfitting, made concrete with the run's own settings."""
    advice = []
    current, smaller = _smaller_model(str(args.get("model", "")))
    data_note = f" (the run has {train_images} training images)" if train_images is not None else ""
    if smaller:
        advice.append(f"First remedy, per the document: more training data{data_note}, or a smaller model scale "
                      f"({current} -> {smaller}). Regularization is a secondary aid.")  # fmt: skip
    else:
        scale = f" ({current} is the smallest scale)" if current else ""
        advice.append(f"First remedy, per the document: more (and more varied) training data{data_note}, or a "
                      f"smaller model{scale}. Regularization is a secondary aid.")  # fmt: skip
    lo, hi = WEIGHT_DECAY_RANGE
    wd = args.get("weight_decay")
    if isinstance(wd, (int, float)) and wd < hi:
        advice.append(f"Weight decay: {wd:g} now; small datasets are sensitive to it, and the document's good range "
                      f"is {lo:g}-{hi:g}: try {hi:g} (weight_decay in a --config YAML).")  # fmt: skip
    elif isinstance(wd, (int, float)):
        advice.append(f"Weight decay is already {wd:g} (the document's range: {lo:g}-{hi:g}); more decay is unlikely "
                      f"to help, see the other remedies.")  # fmt: skip
    else:
        advice.append(f"Weight decay: the document's good range for small datasets is {lo:g}-{hi:g}.")
    advice.append(_augmentation_advice(args, train_images))
    if onset_epoch is not None:
        where = "before" if best_epoch < onset_epoch else "after"
        advice.append(f"best.pt comes from epoch {best_epoch}, {where} the onset (epoch {onset_epoch}); epochs past "
                      f"it only cost time: fewer --epochs or a smaller --patience (now "
                      f"{args.get('patience', 'unknown')}).")  # fmt: skip
    return advice


# The document's augmentation table by dataset size: (upper bound on training images, preset, mosaic, mixup).
AUG_BY_SIZE = ((999, "small", 1.0, 0.3), (10_000, "medium", 1.0, 0.1), (None, "large", 0.5, 0.0))


def _augmentation_advice(args: dict[str, Any], train_images: int | None) -> str:
    mosaic, mixup = args.get("mosaic"), args.get("mixup")
    if train_images is None:
        now = f" (now mosaic={mosaic}, mixup={mixup})" if mosaic is not None or mixup is not None else ""
        return (f"Augmentation widens the training distribution{now}; the document's table: < 1000 images "
                f"mosaic=1.0 mixup=0.3 (--aug small), medium mixup=0.1 (--aug medium), > 10k images mosaic=0.5 "
                f"mixup=0.0 (--aug large).")  # fmt: skip
    i = next(i for i, (limit, *_) in enumerate(AUG_BY_SIZE) if limit is None or train_images <= limit)
    _, name, rec_mosaic, rec_mixup = AUG_BY_SIZE[i]
    try:
        at_least = float(mosaic) >= rec_mosaic and float(mixup) >= rec_mixup
    except (TypeError, ValueError):
        at_least = False
    table = f"for {train_images} training images the document's table says mosaic={rec_mosaic:g}, mixup={rec_mixup:g}"
    if not at_least:
        return f"Augmentation: {table} (--aug {name}); this run used mosaic={mosaic}, mixup={mixup}."
    if i == 0:
        return (f"Augmentation: {table}, and this run already used mosaic={mosaic}, mixup={mixup}, the table's "
                f"strongest; more data or a smaller model is the way on.")  # fmt: skip
    stronger = AUG_BY_SIZE[i - 1]
    return (f"Augmentation: {table}, which this run already used; against overfitting, the next stronger row "
            f"(mosaic={stronger[2]:g}, mixup={stronger[3]:g}, --aug {stronger[1]}) is the next step.")  # fmt: skip


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


# ---------------------------------------------------------------- thresholds and confusions
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


# ---------------------------------------------------------------- validation curves (cached)
def _weights(run: Path, notes: list[str]) -> Path | None:
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
    and split, otherwise computed through Ultralytics and cached."""
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
    from edgeyolo._ultralytics import validation_curves

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


def _train_images(data: str | None) -> int | None:
    if not data or not Path(data).is_file():
        return None
    from edgeyolo.data.yolo import list_images, load_dataset
    from edgeyolo.errors import EdgeYoloError

    try:
        ds = load_dataset(data)
        return len(list_images(ds.splits.get("train", []), str(data))) if "train" in ds.splits else None
    except (EdgeYoloError, OSError):
        return None


# ---------------------------------------------------------------- the diagnosis
def diagnose(run_dir: str | os.PathLike, data: str | os.PathLike | None = None, *, imgsz: int | None = None,
             device: str | None = None, split: str = "val", log: Log = lambda m: None) -> Diagnosis:  # fmt: skip
    """Diagnose a training run folder and write ``diagnosis.json`` into it.

    Args:
        run_dir: an Ultralytics / edgeyolo training run folder (results.csv, args.yaml, weights/best.pt).
        data: the dataset to validate on; default: the one in args.yaml.
        imgsz: validation image size; default: the training size.
        device: validation device; default: CUDA 0 when present, else CPU.
        split: dataset split for the validation curves.
        log: progress messages.

    Raises:
        ResultsError: the folder, results.csv or args.yaml is missing or malformed.
        DatasetError: the weights need validating and the dataset is missing or malformed.
    """
    run = Path(run_dir).expanduser()
    if not run.exists():
        raise ResultsError(f"Run folder '{run}' not found; pass a training run folder such as runs/train/yolo26n-320 "
                           f"(it holds results.csv and weights/best.pt).")  # fmt: skip
    if not run.is_dir():
        raise ResultsError(
            f"'{run}' is a file; pass the training run folder that holds it (results.csv, weights/)."
        )
    history = read_results(run / RESULTS_FILE)
    notes: list[str] = []
    args = _read_args(run, notes)
    scales, rescaled = _gain_scales(run, args, history.epochs)

    overfit = check_overfitting(history, scales, rescaled)
    best_i = int(np.argmax(np.nan_to_num(history.metrics["map50_95"], nan=-1.0)))
    best_epoch = int(history.epochs[best_i])
    metrics = {k: float(v[best_i]) for k, v in history.metrics.items()}
    if overfit.detected:
        data_for_count = str(data) if data is not None else args.get("data")
        overfit.advice = regularization_advice(
            args, _train_images(data_for_count), best_epoch, overfit.onset_epoch
        )

    findings = metric_rules(metrics, best_epoch) + cls_loss_rule(history, scales, rescaled)
    if metrics["map50"] < 0.05:
        notes.append(f"mAP50 is {metrics['map50']:.3f} at its best: the model has barely learned yet, so the metric "
                     f"rules have little to work with; train longer first.")  # fmt: skip

    d = Diagnosis(run_dir=str(run), epochs=len(history.epochs), best_epoch=best_epoch, metrics=metrics,
                  overfitting=overfit, findings=findings, notes=notes)  # fmt: skip
    weights = _weights(run, notes)
    if weights is not None:
        curves = load_curves(run, weights, data, args, imgsz=imgsz, device=device, split=split, log=log)
        d.weights, d.curves_file = str(weights), str(run / CURVES_FILE)
        d.threshold, d.class_thresholds = best_thresholds(curves)
        if d.threshold is None:
            best = float(curves.f1.mean(0).max()) if len(curves.class_ids) else 0.0
            notes.append(f"F1 stays below {MIN_THRESHOLD_F1} at every confidence on the validation set (best "
                         f"{best:.3f}): the model is not ready to deploy, so no threshold is recommended.")  # fmt: skip
        d.findings += class_rules(curves)
        d.confusions = top_confusions(curves.matrix, curves.names)
        d.confusion_conf = curves.matrix_conf
    write_json_atomic(run / DIAGNOSIS_FILE, d.to_dict())
    return d


def _read_diagnosis(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    p = Path(run_dir).expanduser()
    if p.is_dir():
        p = p / DIAGNOSIS_FILE
    if not p.is_file():
        return None
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ResultsError(f"{p}: not valid JSON; run 'edgeyolo diagnose {p.parent}' again.") from None
    if not isinstance(d, dict) or d.get("schema") != SCHEMA:
        raise ResultsError(f"{p}: not a diagnosis written by edgeyolo ({SCHEMA}); run 'edgeyolo diagnose "
                           f"{p.parent}' again.")  # fmt: skip
    return d


def load_conf_threshold(run_dir: str | os.PathLike) -> float | None:
    """The F1-optimal confidence threshold saved by :func:`diagnose` for a run (folder or its diagnosis.json).

    Returns None when the run has not been diagnosed or has no threshold (the model's F1 stayed too low).

    Raises:
        ResultsError: diagnosis.json exists but is not what diagnose writes.
    """
    d = _read_diagnosis(run_dir)
    conf = None if d is None else d.get("conf_threshold")
    return float(conf) if isinstance(conf, (int, float)) and 0 < conf < 1 else None


def load_diagnosis(run_dir: str | os.PathLike) -> Diagnosis | None:
    """The diagnosis saved in a run folder (or a diagnosis.json path), without recomputing; None if none.

    Raises:
        ResultsError: diagnosis.json exists but is not what diagnose writes.
    """
    d = _read_diagnosis(run_dir)
    if d is None:
        return None
    try:
        return Diagnosis.from_dict(d)
    except (KeyError, TypeError, IndexError, ValueError):
        raise ResultsError(f"{Path(run_dir) / DIAGNOSIS_FILE if Path(run_dir).is_dir() else run_dir}: incomplete "
                           f"diagnosis; run 'edgeyolo diagnose' on the run folder again.") from None  # fmt: skip


# ---------------------------------------------------------------- presentation
def _pct(x: float) -> str:
    return f"{x:.0%}"


def _confusion_text(c: Confusion) -> str:
    if c.kind == "missed":
        return f"missed: {c.count} '{c.true}' not detected ({_pct(c.share)} of '{c.true}')"
    if c.kind == "background_fp":
        return f"background false positive: {c.count} '{c.predicted}' on background ({_pct(c.share)} of its detections)"
    return f"confusion: {c.count} '{c.true}' detected as '{c.predicted}' ({_pct(c.share)} of '{c.true}')"


def _verdict(o: Overfitting) -> str:
    return "yes" if o.detected else "no (a loss gap to watch)" if o.loss_gap else "no"


def format_diagnosis(d: Diagnosis) -> str:
    """The diagnosis as plain text, for the terminal."""
    m = d.metrics
    lines = [f"Run {d.run_dir}: {d.epochs} epochs; best epoch {d.best_epoch}: P {m['precision']:.3f}  "
             f"R {m['recall']:.3f}  mAP50 {m['map50']:.3f}  mAP50-95 {m['map50_95']:.3f}", ""]  # fmt: skip
    o = d.overfitting
    lines.append(f"Overfitting: {_verdict(o).upper() if o.detected else _verdict(o)}")
    lines.append(f"  {o.note}")
    if o.loss_terms:
        how = " rescaled to the base gains (ProgLoss changed them per epoch)" if o.rescaled else ""
        lines.append(f"  (sum of {' + '.join(o.loss_terms)} and the val/ twins{how}; {SMOOTH_WINDOW}-epoch centred "
                     f"mean; k = {o.k})")  # fmt: skip
    for a in o.advice:
        lines.append(f"  - {a}")
    lines += ["", f"Metric-based diagnosis: {len(d.findings)} rule(s) fired"]
    for f in d.findings:
        lines.append(f"  * {f.observation} -> {f.cause}")
        lines.append(f"      {f.evidence}")
        lines.append(f"      action: {f.action}")
    lines.append("")
    if d.threshold is not None:
        t = d.threshold
        lines.append(f"Confidence threshold (F1-optimal, all classes): {t.conf:.3f}  P {t.precision:.3f}  "
                     f"R {t.recall:.3f}  F1 {t.f1:.3f}")  # fmt: skip
        width = max([len(c.name) for c in d.class_thresholds] + [5])
        for c in d.class_thresholds:
            if c.best is None:
                lines.append(f"  {c.name:<{width}}  no threshold (F1 < {MIN_THRESHOLD_F1})  n={c.instances}")
            else:
                b = c.best
                lines.append(f"  {c.name:<{width}}  {b.conf:.3f}  P {b.precision:.3f}  R {b.recall:.3f}  "
                             f"F1 {b.f1:.3f}  n={c.instances}")  # fmt: skip
        lines.append(f"  (saved in {Path(d.run_dir) / DIAGNOSIS_FILE})")
    else:
        lines.append("Confidence threshold: none (see notes)")
    if d.confusion_conf is not None:
        lines += ["", f"Top confusions (at confidence {d.confusion_conf:.3f}):"]
        if not d.confusions:
            lines.append("  none")
        for c in d.confusions:
            lines.append(f"  {_confusion_text(c)}")
            lines.append(f"      action: {c.action}")
    if d.notes:
        lines += ["", "Notes:"] + [f"  - {n}" for n in d.notes]
    return "\n".join(lines)


def diagnosis_html(d: Diagnosis) -> str:
    """The diagnosis as an HTML fragment (no scripts, every piece of run/user text escaped) for a report.

    The fragment goes into a report page (``extra_sections``), so it is built from the report's page pieces.
    """
    from edgeyolo.report.html import esc as e
    from edgeyolo.report.html import num, table

    m = d.metrics
    out = ['<div class="edgeyolo-diagnosis">',
           f"<p>Run <code>{e(d.run_dir)}</code>: {d.epochs} epochs; best epoch {d.best_epoch}: P {m['precision']:.3f}, "
           f"R {m['recall']:.3f}, mAP50 {m['map50']:.3f}, mAP50-95 {m['map50_95']:.3f}.</p>"]  # fmt: skip
    o = d.overfitting
    out.append(f"<h3>Overfitting: {e(_verdict(o))}</h3><p>{e(o.note)}</p>")
    if o.advice:
        out.append("<ul>" + "".join(f"<li>{e(a)}</li>" for a in o.advice) + "</ul>")
    out.append(f"<h3>Metric-based diagnosis ({len(d.findings)} rule(s) fired)</h3>")
    if d.findings:
        out.append(table(["Observation", "Evidence", "Possible cause", "Action"],
                         [[f.observation, f.evidence, f.cause, f.action] for f in d.findings], sortable=False))  # fmt: skip
    out.append("<h3>Confidence threshold (F1-optimal)</h3>")
    if d.threshold is not None:
        t = d.threshold
        out.append(
            f"<p>All classes: <b>{t.conf:.3f}</b> (P {t.precision:.3f}, R {t.recall:.3f}, F1 {t.f1:.3f}).</p>"
        )
        rows = [[c.name, *([num(c.best.conf, 3), num(c.best.precision, 3), num(c.best.recall, 3), num(c.best.f1, 3)]
                           if c.best is not None else ["-"] * 4), num(c.instances)] for c in d.class_thresholds]  # fmt: skip
        out.append(table(["Class", "Threshold", "P", "R", "F1", "Objects"], rows, sortable=False))
    else:
        out.append("<p>None (see the notes).</p>")
    if d.confusion_conf is not None:
        out.append(f"<h3>Top confusions (at confidence {d.confusion_conf:.3f})</h3>")
        if d.confusions:
            rows = [[CONFUSION_LABELS[c.kind], c.true or "background", c.predicted or "background", num(c.count),
                     _pct(c.share), c.action] for c in d.confusions]  # fmt: skip
            out.append(table(["Kind", "True", "Predicted", "Count", "Share", "Action"], rows, sortable=False))
        else:
            out.append("<p>None.</p>")
    if d.notes:
        out.append("<h3>Notes</h3><ul>" + "".join(f"<li>{e(n)}</li>" for n in d.notes) + "</ul>")
    out.append("</div>")
    return "\n".join(out)
