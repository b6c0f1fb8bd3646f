"""Camera-shaped inputs against square ones: each camera-shaped candidate's square twin (same model, training
size, format, precision, runtime and long side, square input), the latency ratio and the paired mAP50-95
difference between them, and the notes records carry when the val images do not have the camera's aspect."""

from __future__ import annotations

from dataclasses import dataclass

from edgeyolo.select.paired import difference, ordering, paired_interval
from edgeyolo.select.text import signed_ci
from edgeyolo.select.types import Candidate, Selection


def square_twin(sel: Selection, c: Candidate) -> Candidate | None:
    """The square candidate a camera-shaped ``c`` is compared with, or None (``c`` is square, or no such
    candidate was measured): same model, training size, format, precision and runtime, and a square input of
    ``c``'s long side."""
    if c.is_square:
        return None
    long = max(c.hw)
    return next((t for t in sel.candidates if t.is_square and t.hw[0] == long and t.model == c.model
                 and t.train_imgsz == c.train_imgsz and t.format == c.format and t.precision == c.precision
                 and t.runtime == c.runtime), None)  # fmt: skip


def square_twins(sel: Selection) -> list[tuple[Candidate, Candidate]]:
    """(camera-shaped candidate, its square twin) for every camera-shaped candidate whose twin was measured, in
    the selection's candidate order."""
    return [(c, t) for c in sel.candidates if (t := square_twin(sel, c)) is not None]


@dataclass
class ShapeComparison:
    """A camera-shaped candidate against its square twin: latency at the selection's metric, mAP50-95."""

    camera: Candidate
    square: Candidate
    metric: str
    latency_ratio: float | None  # camera / square latency (None: the square's is 0)
    map_diff: float | None  # camera minus square mAP50-95 (None: either has no accuracy)
    map_diff_ci: tuple[float, float] | None  # its paired 95% interval (None: no per-image data)
    verdict: str  # "no accuracy lost", "loses accuracy", "gains accuracy", "accuracy not measured" or
    # "accuracy not compared (measured on other val images)"

    @property
    def accuracy_text(self) -> str:
        """``mAP difference +0.002 [-0.010, +0.012]: no accuracy lost`` (the point difference alone, said so,
        without per-image data)."""
        if self.map_diff is None:
            return self.verdict
        if self.map_diff_ci is None:
            return f"mAP difference {self.map_diff:+.3f} (point estimate, no per-image data): {self.verdict}"
        lo, hi = self.map_diff_ci
        return f"mAP difference {self.map_diff:+.3f} [{lo:+.3f}, {hi:+.3f}]: {self.verdict}"

    @property
    def text(self) -> str:
        """``0.53x the latency, mAP difference +0.002 [-0.010, +0.012]: no accuracy lost``."""
        ratio = "latency ratio n/a" if self.latency_ratio is None else f"{self.latency_ratio:.2f}x the latency"  # fmt: skip
        return f"{ratio}, {self.accuracy_text}"

    def to_dict(self) -> dict:
        c, s = self.camera, self.square
        return {
            "camera": c.name, "square": s.name, "camera_artifact": c.artifact, "square_artifact": s.artifact,
            "shape": c.input_shape.to_json(), "shape_label": c.shape_label, "metric": self.metric,
            "camera_ms": c.latency_ms, "square_ms": s.latency_ms, "latency_ratio": self.latency_ratio,
            "camera_map50_95": c.map50_95, "square_map50_95": s.map50_95, "map_diff": self.map_diff,
            "map_diff_ci": list(self.map_diff_ci) if self.map_diff_ci else None, "paired": self.map_diff_ci is not None,
            "verdict": self.verdict, "text": self.text, "shape_note": c.shape_note,
        }  # fmt: skip


def compare_shape(sel: Selection, camera: Candidate, square: Candidate) -> ShapeComparison:
    """The latency ratio and the paired mAP50-95 difference of a camera-shaped candidate vs its square twin.

    The verdict is the selection's tie rule (:func:`edgeyolo.select.paired.ordering`) on the paired interval,
    or without per-image data on the point difference: "no accuracy lost" when they tie (0 strictly inside the
    interval, or all of it within the selection's tie margin), else "loses accuracy" or "gains accuracy".
    """
    ratio = round(camera.latency_ms / square.latency_ms, 4) if square.latency_ms else None
    diff = ci = None
    if camera.map50_95 is None or square.map50_95 is None:
        verdict = "accuracy not measured"
    elif camera.other_val_set or square.other_val_set:
        verdict = "accuracy not compared (measured on other val images)"
    else:
        diff = round(camera.map50_95 - square.map50_95, 5)
        ci = paired_interval(camera, square)
        side = ordering(difference(camera, square), sel.map_tie_margin)
        verdict = {0: "no accuracy lost", 1: "gains accuracy", -1: "loses accuracy"}[side]
    return ShapeComparison(camera, square, sel.metric, ratio, diff, ci, verdict)


def shape_comparisons(sel: Selection) -> list[ShapeComparison]:
    """Every camera-shaped candidate with a measured square twin, compared with it."""
    return [compare_shape(sel, c, t) for c, t in square_twins(sel)]


def camera_reason(sel: Selection, best: Candidate) -> str:
    """One sentence for the selection's reason when the selected candidate is camera-shaped and its square twin
    was measured ('' otherwise): how much faster the camera shape is and what it costs in accuracy."""
    twin = square_twin(sel, best)
    if twin is None:
        return ""
    cmp = compare_shape(sel, best, twin)
    ratio = f"{cmp.latency_ratio:.2f}x" if cmp.latency_ratio is not None else "n/a times"
    text = (f" The camera shape won: {best.shape_label} runs at {ratio} the {sel.metric} of its square twin "
            f"{twin.name} ({best.latency_ms:.1f} vs {twin.latency_ms:.1f} ms)")  # fmt: skip
    if cmp.map_diff is None:
        text += f", {cmp.verdict}"
    elif cmp.map_diff_ci is not None:
        text += (f", with a mAP50-95 difference of {cmp.map_diff:+.3f} (paired 95% CI {signed_ci(cmp.map_diff_ci)}): "
                 f"{cmp.verdict}")  # fmt: skip
    else:
        text += f", with a mAP50-95 difference of {cmp.map_diff:+.3f} (point estimate, no per-image data): {cmp.verdict}"
    if best.shape_note:
        text += "; its accuracy was measured on val images that are not what the camera sends (see the note)"
    return text + "."


def shape_notes(sel: Selection) -> list[str]:
    """The records' shape notes (a camera aspect the val images do not have), one per distinct note, naming the
    candidates it concerns."""
    by_note: dict[str, list[str]] = {}
    for c in sel.candidates:
        if c.shape_note:
            by_note.setdefault(c.shape_note, []).append(c.name)
    out = []
    for note, names in by_note.items():
        shown = ", ".join(names[:3]) + (f", ... ({len(names)} in all)" if len(names) > 3 else "")
        out.append(f"{shown}: {note}")
    return out
