"""Choosing the candidate to ship: Pareto front over (p90 latency, mAP50-95) and the budget rule.

Selected: the highest-mAP candidate within the latency budget whose mAP drop vs its FP32 twin (same
model and image size) is within ``max_map_drop``; ties (within ``MAP_TIE``) go to lower latency, then
smaller artifact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from edgeyolo.errors import ConfigError

Metric = Literal["p50", "p90", "p95", "p99"]
# mAP50-95 differences below this count as a tie (then lower latency wins): an FP16 twin scoring 0.26371
# vs FP32's 0.26372 on a few hundred boxes is measurement noise, not a reason to ship the slower one.
MAP_TIE = 0.001


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

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Selection:
    metric: Metric
    budget_ms: float | None
    max_map_drop: float
    candidates: list[Candidate] = field(default_factory=list)
    selected: Candidate | None = None
    fastest: Candidate | None = None
    reason: str = ""
    errors: list[dict] = field(default_factory=list)  # records with status error

    @property
    def front(self) -> list[Candidate]:
        return sorted((c for c in self.candidates if c.on_front), key=lambda c: c.latency_ms)

    def to_dict(self) -> dict:
        return {
            "metric": f"end_to_end {self.metric}",
            "budget_ms": self.budget_ms,
            "max_map_drop": self.max_map_drop,
            "selected": self.selected.name if self.selected else None,
            "fastest": self.fastest.name if self.fastest else None,
            "reason": self.reason,
            "front": [c.name for c in self.front],
            "candidates": [c.to_dict() for c in self.candidates],
            "errors": [
                {"artifact": e.get("candidate", {}).get("artifact"), "message": e.get("message")}
                for e in self.errors
            ],  # fmt: skip
        }


def candidate_name(rec: dict) -> str:
    c = rec["candidate"]
    return f"{c.get('model')}-{c.get('imgsz')}-{c.get('format')}-{c.get('precision')}"


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For (latency, accuracy) points: True where no other point is at least as good on both and better on one."""
    flags = []
    for i, (lat, acc) in enumerate(points):
        dominated = any(
            (l2 <= lat and a2 >= acc) and (l2 < lat or a2 > acc)
            for j, (l2, a2) in enumerate(points)
            if j != i
        )
        flags.append(not dominated)
    return flags


def _latest_per_candidate(records: Sequence[dict]) -> list[dict]:
    """When a candidate was measured more than once, the newest ok record counts."""
    latest: dict[str, dict] = {}
    for rec in records:
        if rec.get("status") == "ok":
            latest[rec["candidate"]["artifact"]] = rec
    return list(latest.values())


def select(
    records: Sequence[dict],
    budget_ms: float | None = None,
    max_map_drop: float | None = None,
    metric: Metric = "p90",
) -> Selection:
    """Apply the selection rule to benchmark records (budget and max drop default to the records' profile)."""
    if metric not in ("p50", "p90", "p95", "p99"):
        raise ConfigError(f"select: unknown metric '{metric}'; use p50, p90, p95 or p99")
    ok = _latest_per_candidate(records)
    errors = [r for r in records if r.get("status") != "ok"]
    settings = next((r.get("settings", {}) for r in ok), {})
    budget = budget_ms if budget_ms is not None else settings.get("latency_budget_ms")
    drop_limit = max_map_drop if max_map_drop is not None else settings.get("max_map_drop") or 0.02
    sel = Selection(metric=metric, budget_ms=budget, max_map_drop=drop_limit, errors=errors)
    if not ok:
        sel.reason = "No successful benchmark records to choose from."
        return sel

    for rec in ok:
        c, acc = rec["candidate"], rec.get("accuracy") or {}
        sel.candidates.append(Candidate(
            name=candidate_name(rec), model=c["model"], imgsz=int(c["imgsz"]), format=c["format"],
            precision=c["precision"], latency_ms=float(rec["latency_ms"]["end_to_end"][metric]),
            map50_95=acc.get("map50_95"), map50=acc.get("map50"), size_bytes=int(c.get("size_bytes", 0)),
            artifact=c["artifact"],
        ))  # fmt: skip

    for cand in sel.candidates:
        if cand.precision == "fp32" or cand.map50_95 is None:
            continue
        twins = [t for t in sel.candidates if t.precision == "fp32" and t.model == cand.model
                 and t.imgsz == cand.imgsz and t.map50_95 is not None]  # fmt: skip
        twins.sort(key=lambda t: t.format != cand.format)  # same format first
        if twins:
            cand.map_drop = round(twins[0].map50_95 - cand.map50_95, 5)
        else:
            cand.note = "no FP32 twin measured; mAP drop unknown"

    scored = [c for c in sel.candidates if c.map50_95 is not None]
    for c, flag in zip(scored, pareto_front([(c.latency_ms, c.map50_95) for c in scored])):
        c.on_front = flag
    for c in sel.candidates:
        c.within_budget = budget is None or c.latency_ms <= budget
        drop_ok = c.map_drop is None or c.map_drop <= drop_limit
        c.eligible = c.within_budget and c.map50_95 is not None and drop_ok
        if c.map50_95 is None:
            c.note = "no accuracy measured (benchmark with --data)"
        elif not drop_ok:
            c.note = f"loses {c.map_drop:.3f} mAP50-95 vs FP32 (limit {drop_limit:.3f})"

    sel.fastest = min(sel.candidates, key=lambda c: (c.latency_ms, c.size_bytes))
    eligible = [c for c in sel.candidates if c.eligible]
    budget_txt = f"the {metric} budget of {budget:g} ms" if budget is not None else "no latency budget"
    if eligible:
        top = max(c.map50_95 for c in eligible)
        tied = [c for c in eligible if c.map50_95 >= top - MAP_TIE]
        best = min(tied, key=lambda c: (c.latency_ms, c.size_bytes))
        sel.selected = best
        others = len(eligible) - 1
        sel.reason = (
            f"{best.name} has the highest mAP50-95 ({best.map50_95:.3f}) of the {others + 1} candidate"
            f"{'s' if others else ''} within {budget_txt} ({best.latency_ms:.1f} ms end to end"
            + (f", {-best.map_drop:+.3f} mAP50-95 vs its FP32 twin" if best.map_drop is not None else "")
            + ")."
        )
    elif not scored:
        sel.reason = "No candidate has an accuracy measurement; benchmark with --data to select by mAP."
    else:
        f = sel.fastest
        sel.reason = (
            f"No candidate meets {budget_txt} within the allowed mAP drop; the fastest is {f.name} at "
            f"{f.latency_ms:.1f} ms" + (f" (mAP50-95 {f.map50_95:.3f})." if f.map50_95 is not None else ".")
        )
    return sel
