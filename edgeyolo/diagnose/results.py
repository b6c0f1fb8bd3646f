"""The run folder's files and reading them: results.csv (losses and metrics per epoch), args.yaml, and
edgeyolo's progloss.csv (the loss gains in force per epoch)."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from edgeyolo.errors import ResultsError

RESULTS_FILE = "results.csv"
ARGS_FILE = "args.yaml"
# edgeyolo.train.hooks.PROGLOSS_LOG, not imported: that would pull in the whole train package.
PROGLOSS_FILE = "progloss.csv"
CURVES_FILE = "val_curves.npz"
DIAGNOSIS_FILE = "diagnosis.json"

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


def read_args(run: Path, notes: list[str]) -> dict[str, Any]:
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


def gain_scales(run: Path, args: dict[str, Any], epochs: np.ndarray) -> tuple[dict[str, np.ndarray], bool]:
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
