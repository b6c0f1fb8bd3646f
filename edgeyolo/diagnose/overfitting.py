"""Overfitting: the generalization-gap check on the summed train and val losses, and the document's remedies
made concrete with the run's own settings."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeyolo.diagnose.results import LOSS_COLUMNS, TrainingLog

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
    """The generalization-gap check (advice is added by :func:`~edgeyolo.diagnose.diagnose`, which knows the run's settings)."""
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
