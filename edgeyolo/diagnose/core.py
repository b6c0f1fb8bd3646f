"""Diagnosing a run folder end to end, and reading a saved diagnosis back."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from edgeyolo._io import write_json_atomic
from edgeyolo.curves import MIN_THRESHOLD_F1, best_thresholds
from edgeyolo.diagnose.overfitting import check_overfitting, regularization_advice
from edgeyolo.diagnose.results import (
    CURVES_FILE,
    DIAGNOSIS_FILE,
    RESULTS_FILE,
    gain_scales,
    read_args,
    read_results,
)
from edgeyolo.diagnose.rules import class_rules, cls_loss_rule, metric_rules, top_confusions
from edgeyolo.diagnose.types import SCHEMA, Diagnosis, Log
from edgeyolo.diagnose.validation import load_curves, pick_weights
from edgeyolo.errors import EdgeYoloError, ResultsError


def _train_images(data: str | None) -> int | None:
    if not data or not Path(data).is_file():
        return None
    from edgeyolo.data.yolo import list_images, load_dataset

    try:
        ds = load_dataset(data)
        return len(list_images(ds.splits.get("train", []), str(data))) if "train" in ds.splits else None
    except (EdgeYoloError, OSError):
        return None


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
    args = read_args(run, notes)
    scales, rescaled = gain_scales(run, args, history.epochs)

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
    weights = pick_weights(run, notes)
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
