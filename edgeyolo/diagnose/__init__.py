"""Diagnose a training run: overfitting, the source document's metric rules, the F1-optimal confidence
threshold and the top confusions.

Reads a run folder written by Ultralytics or ``edgeyolo train`` (``results.csv``, ``args.yaml``,
``weights/best.pt``, and edgeyolo's ``progloss.csv`` when present). The loss and metric checks need only
the CSV; the threshold, the per-class rules and the confusions need the validation curves of the run's
weights, computed once through Ultralytics on the NMS-free head that ships and cached in
``val_curves.npz`` with the dataset's label statistics per class (training labels, validation objects by
size), so a second diagnosis is instant and never imports torch. The result is written to
``diagnosis.json``; :func:`load_conf_threshold` reads the deployable threshold back.

- ``core.py``: :func:`diagnose` end to end; reading a saved diagnosis back.
- ``types.py``: :class:`Diagnosis` and its parts (``Finding``, ``Confusion``).
- ``results.py``: the run folder's files; results.csv, args.yaml and progloss.csv parsed.
- ``overfitting.py``: the generalization-gap check and the document's remedies.
- ``rules.py``: the document's metric rules and the top confusions.
- ``validation.py``: the validation curves, cached or computed through the backend; label statistics.
- ``render.py``: the diagnosis as text and as an HTML fragment.

The curves and the F1-optimal threshold live in :mod:`edgeyolo.curves`, shared with the backend.
"""

from edgeyolo.curves import ClassThreshold, Threshold, ValidationCurves, best_thresholds
from edgeyolo.diagnose.core import diagnose, load_conf_threshold, load_diagnosis
from edgeyolo.diagnose.overfitting import Overfitting, find_overfitting_onset
from edgeyolo.diagnose.render import diagnosis_html, format_diagnosis
from edgeyolo.diagnose.results import CURVES_FILE, DIAGNOSIS_FILE
from edgeyolo.diagnose.rules import CONFUSION_ACTIONS, RULES, class_rules, top_confusions
from edgeyolo.diagnose.types import SCHEMA, Confusion, Diagnosis, Finding
from edgeyolo.diagnose.validation import count_class_labels

__all__ = [
    "CONFUSION_ACTIONS", "CURVES_FILE", "DIAGNOSIS_FILE", "RULES", "SCHEMA", "ClassThreshold", "Confusion",
    "Diagnosis", "Finding", "Overfitting", "Threshold", "ValidationCurves", "best_thresholds", "class_rules",
    "count_class_labels", "diagnose", "diagnosis_html", "find_overfitting_onset", "format_diagnosis",
    "load_conf_threshold", "load_diagnosis", "top_confusions",
]  # fmt: skip
