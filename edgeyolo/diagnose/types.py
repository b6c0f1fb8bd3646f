"""The diagnosis and its parts, as :func:`~edgeyolo.diagnose.diagnose` returns them and diagnosis.json holds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from edgeyolo.curves import ClassThreshold, Threshold
from edgeyolo.diagnose.overfitting import Overfitting

Log = Callable[[str], None]

SCHEMA = "edgeyolo.diagnosis/1"


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
