"""What selection works with and returns: the latency metrics, the tie and drop defaults, one
:class:`Candidate` per benchmarked artifact and the :class:`Selection` with its rule in words."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from edgeyolo.shapes import Shape

Metric = Literal["p50", "p90", "p95", "p99"]
METRICS: tuple[str, ...] = ("p50", "p90", "p95", "p99")
# The tie margin (profile key map_tie_margin): a mAP50-95 difference whose whole paired interval is within it is a
# tie (then lower latency wins), as is one whose interval has 0 strictly inside it. Without per-image data (records
# from before intervals) the point difference is read the same way: an FP16 twin scoring 0.26371 vs FP32's 0.26372
# is a tie. Identical detections give an interval of exactly 0, a tie at any margin.
DEFAULT_MAP_TIE_MARGIN = 0.001
DEFAULT_MAX_MAP_DROP = 0.02


@dataclass
class Candidate:
    """The fields of one benchmark record that selection needs."""

    name: str
    model: str
    imgsz: int
    format: str
    precision: str
    latency_ms: float  # end-to-end latency at the chosen percentile
    map50_95: float | None
    map50: float | None
    size_bytes: int
    artifact: str
    map_drop: float | None = None  # vs the FP32 twin; None when this is FP32 or no twin was measured
    on_front: bool = False
    within_budget: bool = False
    eligible: bool = False
    note: str = ""
    runtime: str = ""
    twin: str | None = None  # artifact of the FP32 twin the drop was measured against
    misses: list[str] = field(default_factory=list)  # the requirements it fails, in words
    train_imgsz: int | None = None  # the size the model was trained at (imgsz is the size it runs at)
    map50_95_ci: tuple[float, float] | None = None  # 95% bootstrap interval over the val images
    map50_ci: tuple[float, float] | None = None
    latency_ci: tuple[float, float] | None = None  # of latency_ms: range over rounds, or a sample bootstrap
    drop_ci: tuple[float, float] | None = None  # paired interval of the drop vs the FP32 twin
    rival: str | None = None  # the candidate it competes with: the selected one (or, for that, the runner-up)
    rival_diff: float | None = None  # mAP50-95 of this one minus the rival's
    rival_ci: tuple[float, float] | None = None  # paired interval of that difference
    rival_tied: bool | None = None  # whether the tie rule ties it with its rival (the selection's margin)
    latency_vs_rival: str | None = None  # "faster", "slower" or "within noise" (None: no interval to tell)
    boot: Any = field(default=None, repr=False, compare=False)  # bootstrap.Bootstrap from the per-image data
    shape: tuple[int, int] | None = None  # the input (h, w); None: square imgsz (records before shapes)
    shape_note: str | None = None  # why this input's accuracy may not be the camera's (from the record)
    val_set: str | None = (
        None  # the images its accuracy was measured on, in words ('40 images of d.yaml (val)')
    )
    other_val_set: bool = (
        False  # measured on other images than the candidates compared: accuracy not compared
    )
    streams_capacity: int | None = None  # the most streams it served at streams_target_fps (bench --streams)
    streams_target_fps: float | None = None  # each stream's frame rate in that measurement
    streams_aggregate_fps: float | None = None  # the highest aggregate FPS of its streams trials
    serves_streams: bool | None = None  # with select --streams K: whether it serves K (None: not asked)
    streams_miss: str | None = None  # why it does not (not measured, too few streams, ...)

    @property
    def deploy_imgsz(self) -> int:
        return self.imgsz

    @property
    def hw(self) -> tuple[int, int]:
        """The network input as (h, w): the record's shape, or square ``imgsz``."""
        return (int(self.shape[0]), int(self.shape[1])) if self.shape else (self.imgsz, self.imgsz)

    @property
    def input_shape(self) -> Shape:
        return Shape(*self.hw)

    @property
    def shape_label(self) -> str:
        """``320`` for a square input, ``320x192`` (width x height) for a camera-shaped one."""
        return self.input_shape.label

    @property
    def is_square(self) -> bool:
        return self.input_shape.is_square

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d.pop("boot", None)
        d["misses"] = list(self.misses)
        d["paired"] = self.boot is not None
        d["shape"] = self.input_shape.to_json()  # always [h, w], square imgsz for records before shapes
        d["shape_label"] = self.shape_label
        return d


@dataclass
class Selection:
    """The outcome of :func:`select`: every candidate, the front, the choice and why."""

    metric: Metric
    budget_ms: float | None
    max_map_drop: float
    candidates: list[Candidate] = field(default_factory=list)
    selected: Candidate | None = None
    fastest: Candidate | None = None
    reason: str = ""
    errors: list[dict] = field(default_factory=list)  # records with status error
    min_map: float | None = None
    fps: float | None = None  # set when the budget was given as a frame rate
    budget_source: str | None = None  # "budget_ms", "fps", "profile" or None (no budget)
    closest: Candidate | None = None  # when nothing fits: the candidate nearest to fitting
    device: str | None = None  # 'profile @ hostname' of the records
    notes: list[str] = field(default_factory=list)  # what the records could not support (old records, ...)
    bootstrap: dict | None = None  # resamples, seed, confidence, images of the paired intervals (None: none)
    emulated: str | None = None  # the records were measured under emulation: 'qemu-aarch64-static on x86_64'
    map_tie_margin: float = (
        DEFAULT_MAP_TIE_MARGIN  # mAP50-95 differences within it (all of the interval) are ties
    )
    val_set: str | None = None  # the images the compared accuracies were measured on, in words
    streams: int | None = (
        None  # select --streams K: candidates must serve K concurrent streams at their target
    )
    streams_fps: float | None = None  # that target frame rate, when every record measured the same one

    @property
    def front(self) -> list[Candidate]:
        return sorted((c for c in self.candidates if c.on_front), key=lambda c: c.latency_ms)

    def by_artifact(self, artifact: str) -> Candidate | None:
        return next((c for c in self.candidates if c.artifact == artifact), None)

    @property
    def rule(self) -> str:
        """The selection rule with this selection's parameters, in one paragraph."""
        bs = self.bootstrap
        reqs = [f"end-to-end {self.metric} <= {budget_text(self)}" if self.budget_ms is not None else None,
                f"mAP50-95 >= {self.min_map:g}" if self.min_map is not None else None,
                (f"{self.streams} concurrent stream(s) served at "
                 + (f"{self.streams_fps:g} FPS each" if self.streams_fps is not None else "the target FPS")
                 + " within the latency budget (bench --streams)") if self.streams is not None else None,
                f"mAP50-95 drop vs its FP32 twin <= {self.max_map_drop:g}"
                + (" (for an FP16/INT8 candidate, the upper end of its paired 95% drop interval)" if bs else "")]  # fmt: skip
        m = f"{self.map_tie_margin:g}"
        if bs:
            fallback = " (a record without per-image data: its point difference, read the same way)" if any(
                c.boot is None and c.map50_95 is not None and not c.other_val_set for c in self.candidates) else ""  # fmt: skip
            ties = (f"Accuracy differences are paired {bs['confidence']:.0%} bootstrap intervals over the "
                    f"{bs['images']} val images ({bs['resamples']} resamples, seed {bs['seed']}){fallback}: a candidate "
                    "is tied with the best when 0 lies strictly inside the interval of their difference or the whole "
                    f"interval is within ±{m} mAP50-95 (map_tie_margin), so one worse on some images and better on "
                    "none is not tied unless by that little. Ties go to lower latency, then smaller artifact; a "
                    "latency difference counts when the 95% t-interval of its mean paired per-pass difference "
                    "excludes 0 (each pass reverses the previous one's order), else it is reported as within the "
                    "measurement noise.")  # fmt: skip
        else:
            ties = (f"mAP50-95 within {m} counts as a tie (map_tie_margin; no per-image data for intervals), won by "
                    "lower latency, then smaller artifact.")  # fmt: skip
        if self.val_set:
            ties += f" Only accuracies measured on the same val images ({self.val_set}) are compared."
        return (
            f"Pareto front over (end-to-end {self.metric} latency, lower is better; mAP50-95, higher is better). "
            f"Selected: the highest-mAP50-95 candidate with {', '.join(r for r in reqs if r)}. {ties} If nothing "
            "fits, the fastest candidate and the one closest to fitting are named."
        )

    def to_dict(self) -> dict:
        return {
            "metric": f"end_to_end {self.metric}",
            "device": self.device,
            "emulated": self.emulated,
            "budget_ms": self.budget_ms,
            "budget_source": self.budget_source,
            "fps": self.fps,
            "min_map": self.min_map,
            "max_map_drop": self.max_map_drop,
            "map_tie_margin": self.map_tie_margin,
            "val_set": self.val_set,
            "streams": self.streams,
            "streams_fps": self.streams_fps,
            "rule": self.rule,
            "selected": self.selected.name if self.selected else None,
            "selected_artifact": self.selected.artifact if self.selected else None,
            "fastest": self.fastest.name if self.fastest else None,
            "closest": self.closest.name if self.closest else None,
            "reason": self.reason,
            "notes": list(self.notes),
            "bootstrap": self.bootstrap,
            "front": [c.name for c in self.front],
            "candidates": [c.to_dict() for c in self.candidates],
            "errors": [
                {"artifact": e.get("candidate", {}).get("artifact"), "message": e.get("message")}
                for e in self.errors
            ],  # fmt: skip
        }


def budget_text(sel: Selection) -> str:
    """The latency budget in words, with the frame rate it came from when it was given as one."""
    return f"{sel.budget_ms:g} ms" if sel.fps is None else f"{sel.budget_ms:.4g} ms ({sel.fps:g} FPS)"
