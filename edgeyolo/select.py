"""Choosing the candidate to ship: Pareto front over (p90 latency, mAP50-95) and the budget rule.

Selected: the highest-mAP candidate within the latency budget (and at or above ``min_map`` when given) whose
mAP drop vs its FP32 twin (same model and image size) is within ``max_map_drop``; ties (within ``MAP_TIE``)
go to lower latency, then smaller artifact. When nothing fits, the selection names the fastest candidate and
the one closest to fitting (smallest relative shortfall over all the requirements). Selection is per device:
records from several machines are never pooled (``device=`` picks one; ``edgeyolo compare`` sets them side
by side).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from edgeyolo.errors import ConfigError

Metric = Literal["p50", "p90", "p95", "p99"]
METRICS: tuple[str, ...] = ("p50", "p90", "p95", "p99")
# mAP50-95 differences below this count as a tie (then lower latency wins): an FP16 twin scoring 0.26371
# vs FP32's 0.26372 on a few hundred boxes is measurement noise, not a reason to ship the slower one.
MAP_TIE = 0.001
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

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["misses"] = list(self.misses)
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

    @property
    def front(self) -> list[Candidate]:
        return sorted((c for c in self.candidates if c.on_front), key=lambda c: c.latency_ms)

    def by_artifact(self, artifact: str) -> Candidate | None:
        return next((c for c in self.candidates if c.artifact == artifact), None)

    @property
    def rule(self) -> str:
        """The selection rule with this selection's parameters, in one paragraph."""
        reqs = [f"end-to-end {self.metric} <= {_budget_text(self)}" if self.budget_ms is not None else None,
                f"mAP50-95 >= {self.min_map:g}" if self.min_map is not None else None,
                f"mAP50-95 drop vs its FP32 twin <= {self.max_map_drop:g}"]  # fmt: skip
        return (
            f"Pareto front over (end-to-end {self.metric} latency, lower is better; mAP50-95, higher is better). "
            f"Selected: the highest-mAP50-95 candidate with {', '.join(r for r in reqs if r)}; mAP50-95 within "
            f"{MAP_TIE:g} counts as a tie, won by lower latency, then smaller artifact. If nothing fits, the "
            "fastest candidate and the one closest to fitting are named."
        )

    def to_dict(self) -> dict:
        return {
            "metric": f"end_to_end {self.metric}",
            "device": self.device,
            "budget_ms": self.budget_ms,
            "budget_source": self.budget_source,
            "fps": self.fps,
            "min_map": self.min_map,
            "max_map_drop": self.max_map_drop,
            "rule": self.rule,
            "selected": self.selected.name if self.selected else None,
            "selected_artifact": self.selected.artifact if self.selected else None,
            "fastest": self.fastest.name if self.fastest else None,
            "closest": self.closest.name if self.closest else None,
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


def device_label(device: dict | None) -> str:
    """'profile @ hostname' of a record's ``device`` (what tells runs on different machines apart); for a device
    benchmarked over SSH, its name (the inventory name or user@host:port) instead of the hostname."""
    device = device or {}
    host, profile = device.get("name") or device.get("hostname"), device.get("profile")
    return f"{profile or '?'} @ {host}" if host else str(profile or "unknown device")


def devices_of(records: Sequence[dict]) -> list[str]:
    """The devices that produced successful records, in order of appearance."""
    return list(dict.fromkeys(device_label(r.get("device")) for r in records if r.get("status") == "ok"))


def records_of_device(records: Sequence[dict], device: str) -> list[dict]:
    """The records of one device, named by its label ('rpi5 @ pi'), hostname or profile.

    Error records that name no host (a candidate that failed before reaching a device) are kept.

    Raises:
        ConfigError: no device, or more than one, matches.
    """
    known = devices_of(records)

    def matches(rec: dict) -> bool:
        d = rec.get("device") or {}
        return device in (device_label(d), d.get("hostname"), d.get("profile"), d.get("name"), d.get("host"))

    hits = list(
        dict.fromkeys(
            device_label(r.get("device")) for r in records if r.get("status") == "ok" and matches(r)
        )
    )
    if len(hits) != 1:
        what = "matches no device" if not hits else f"matches {len(hits)} devices ({'; '.join(hits)})"
        raise ConfigError(f"--device '{device}' {what}; the records come from: {'; '.join(known) or 'none'}")
    return [r for r in records if device_label(r.get("device")) == hits[0]
            or (r.get("status") != "ok" and not (r.get("device") or {}).get("hostname") and matches(r))]  # fmt: skip


def latest_per_candidate(records: Sequence[dict]) -> list[dict]:
    """When a candidate was measured more than once on a device, the newest ok record counts."""
    latest: dict[tuple[str, str], dict] = {}
    for rec in records:
        if rec.get("status") == "ok":
            latest[(device_label(rec.get("device")), rec["candidate"]["artifact"])] = rec
    return list(latest.values())


def _budget_text(sel: Selection) -> str:
    return f"{sel.budget_ms:g} ms" if sel.fps is None else f"{sel.budget_ms:.4g} ms ({sel.fps:g} FPS)"


def _requirements(sel: Selection) -> str:
    parts = []
    if sel.budget_ms is not None:
        parts.append(f"the {sel.metric} budget of {_budget_text(sel)}")
    if sel.min_map is not None:
        parts.append(f"mAP50-95 >= {sel.min_map:g}")
    return " with ".join(parts)


def _check_options(budget_ms, fps, min_map, max_map_drop, metric) -> None:
    if metric not in METRICS:
        raise ConfigError(f"select: unknown metric '{metric}'; use p50, p90, p95 or p99")
    if budget_ms is not None and fps is not None:
        raise ConfigError(
            f"select: got both a budget of {budget_ms:g} ms (--budget-ms) and {fps:g} FPS (--fps); give one"
        )
    if budget_ms is not None and not budget_ms > 0:
        raise ConfigError(f"select: the latency budget (--budget-ms) must be > 0 ms, got {budget_ms:g}")
    if fps is not None and not fps > 0:
        raise ConfigError(f"select: the frame rate (--fps) must be > 0, got {fps:g}")
    if min_map is not None and not 0 <= min_map <= 1:
        hint = f"; did you mean {min_map / 100:g}?" if 1 < min_map <= 100 else ""
        raise ConfigError(f"select: --min-map is a mAP50-95 between 0 and 1, got {min_map:g}{hint}")
    if max_map_drop is not None and not 0 <= max_map_drop <= 1:
        raise ConfigError(f"select: max_map_drop must be between 0 and 1 (mAP50-95), got {max_map_drop:g}")


def _shortfall(c: Candidate, sel: Selection) -> tuple[float, list[str]]:
    """How far a candidate is from fitting, relative to each requirement (0 = fits), and the misses in words."""
    total, misses = 0.0, []
    if sel.budget_ms is not None and c.latency_ms > sel.budget_ms:
        total += (c.latency_ms - sel.budget_ms) / sel.budget_ms
        misses.append(f"{c.latency_ms - sel.budget_ms:.1f} ms over the budget")
    if sel.min_map is not None and c.map50_95 is not None and c.map50_95 < sel.min_map:
        total += (sel.min_map - c.map50_95) / max(sel.min_map, 1e-6)
        misses.append(f"mAP50-95 {sel.min_map - c.map50_95:.3f} below the minimum {sel.min_map:g}")
    if c.map_drop is not None and c.map_drop > sel.max_map_drop:
        total += (c.map_drop - sel.max_map_drop) / max(sel.max_map_drop, 0.01)
        misses.append(f"loses {c.map_drop:.3f} mAP50-95 vs FP32 (limit {sel.max_map_drop:g})")
    return total, misses


def select(
    records: Sequence[dict],
    budget_ms: float | None = None,
    max_map_drop: float | None = None,
    metric: Metric = "p90",
    *,
    fps: float | None = None,
    min_map: float | None = None,
    device: str | None = None,
) -> Selection:
    """Apply the selection rule to the benchmark records of one device.

    Args:
        records: benchmark records (``edgeyolo.bench/1``); error records are listed, never selected.
        budget_ms: end-to-end latency budget at ``metric``; default: the records' profile budget.
        max_map_drop: how much mAP50-95 a non-FP32 candidate may lose vs its FP32 twin; default: the profile's.
        metric: the end-to-end latency percentile the budget applies to.
        fps: a frame-rate target, i.e. a budget of ``1000 / fps`` ms; exclusive with ``budget_ms``.
        min_map: candidates below this mAP50-95 are not selected.
        device: when the records come from several devices, the one to select for (label, hostname or
            profile); a budget rule across devices would compare latencies of different machines.

    Raises:
        ConfigError: an option is out of range, both ``budget_ms`` and ``fps`` are given, or the records come
            from several devices and ``device`` does not name one of them.
    """
    _check_options(budget_ms, fps, min_map, max_map_drop, metric)
    if device is not None:
        records = records_of_device(records, device)
    elif len(found := devices_of(records)) > 1:
        raise ConfigError(
            f"The records come from {len(found)} devices ({'; '.join(found)}); select for one with --device "
            "(e.g. --device " + repr(found[0]) + ") or compare them with 'edgeyolo compare'."
        )
    ok = latest_per_candidate(records)
    errors = [r for r in records if r.get("status") != "ok"]
    settings = next((r.get("settings") or {} for r in ok), {})
    if fps is not None:
        budget, source = 1000.0 / fps, "fps"
    elif budget_ms is not None:
        budget, source = float(budget_ms), "budget_ms"
    else:
        budget = settings.get("latency_budget_ms")
        source = "profile" if budget is not None else None
    drop_limit = max_map_drop if max_map_drop is not None else settings.get("max_map_drop")
    drop_limit = DEFAULT_MAX_MAP_DROP if drop_limit is None else float(drop_limit)
    sel = Selection(metric=metric, budget_ms=budget, max_map_drop=drop_limit, errors=errors, min_map=min_map,
                    fps=fps, budget_source=source)  # fmt: skip
    sel.device = next(iter(devices_of(records)), None)
    if not ok:
        sel.reason = "No successful benchmark records to choose from" + (
            f" ({len(errors)} error record{'s' if len(errors) != 1 else ''})." if errors else "."
        )
        return sel

    for rec in ok:
        c, acc = rec["candidate"], rec.get("accuracy") or {}
        sel.candidates.append(Candidate(
            name=candidate_name(rec), model=c["model"], imgsz=int(c["imgsz"]), format=c["format"],
            precision=c["precision"], latency_ms=float(rec["latency_ms"]["end_to_end"][metric]),
            map50_95=acc.get("map50_95"), map50=acc.get("map50"), size_bytes=int(c.get("size_bytes", 0)),
            artifact=c["artifact"], runtime=c.get("runtime") or "",
        ))  # fmt: skip

    for cand in sel.candidates:
        if cand.precision == "fp32" or cand.map50_95 is None:
            continue
        twins = [t for t in sel.candidates if t.precision == "fp32" and t.model == cand.model
                 and t.imgsz == cand.imgsz and t.map50_95 is not None]  # fmt: skip
        twins.sort(key=lambda t: t.format != cand.format)  # same format first
        if twins:
            cand.map_drop = round(twins[0].map50_95 - cand.map50_95, 5)
            cand.twin = twins[0].artifact
        else:
            cand.note = "no FP32 twin measured; mAP drop unknown"

    scored = [c for c in sel.candidates if c.map50_95 is not None]
    for c, flag in zip(scored, pareto_front([(c.latency_ms, c.map50_95) for c in scored])):
        c.on_front = flag
    for c in sel.candidates:
        c.within_budget = budget is None or c.latency_ms <= budget
        drop_ok = c.map_drop is None or c.map_drop <= drop_limit
        map_ok = min_map is None or (c.map50_95 is not None and c.map50_95 >= min_map)
        c.eligible = c.within_budget and c.map50_95 is not None and drop_ok and map_ok
        if c.map50_95 is None:
            c.note = "no accuracy measured (benchmark with --data)"
        else:
            c.misses = _shortfall(c, sel)[1]
            # the notes say why an in-budget candidate is still not eligible (the misses say all of it)
            c.note = "; ".join(
                [n for n in [c.note, *(m for m in c.misses if "over the budget" not in m)] if n]
            )

    sel.fastest = min(sel.candidates, key=lambda c: (c.latency_ms, c.size_bytes))
    eligible = [c for c in sel.candidates if c.eligible]
    reqs = _requirements(sel)
    if eligible:
        top = max(c.map50_95 for c in eligible)
        tied = [c for c in eligible if c.map50_95 >= top - MAP_TIE]
        best = min(tied, key=lambda c: (c.latency_ms, c.size_bytes))
        sel.selected = best
        n = len(eligible)
        if sel.budget_ms is not None:
            scope = f"within {reqs}"
        else:
            scope = f"with {reqs} and no latency budget" if reqs else "with no latency budget"
        sel.reason = (
            f"{best.name} has the highest mAP50-95 ({best.map50_95:.3f}) of the {n} candidate{'s' if n > 1 else ''}"
            f" {scope} ({best.latency_ms:.1f} ms end to end"
            + (f", {0.0 - best.map_drop:+.3f} mAP50-95 vs its FP32 twin" if best.map_drop is not None else "")
            + ")"
            + (
                "; no FP32 twin was measured, so its mAP drop vs FP32 is unchecked"
                if best.precision != "fp32" and best.map_drop is None
                else ""
            )
            + "."
        )
    elif not scored:
        sel.reason = "No candidate has an accuracy measurement; benchmark with --data to select by mAP."
    else:
        sel.closest = min(scored, key=lambda c: (_shortfall(c, sel)[0], c.latency_ms, -c.map50_95))
        f, cl = sel.fastest, sel.closest
        head = f"No candidate meets {reqs} within the allowed mAP drop" if reqs else (
            "No candidate is within the allowed mAP drop")  # fmt: skip
        fast = f"{f.name} at {f.latency_ms:.1f} ms" + (
            f" (mAP50-95 {f.map50_95:.3f})" if f.map50_95 is not None else "")  # fmt: skip
        if cl is f:
            tail = f"the fastest, and the closest to fitting, is {fast}"
        else:
            tail = f"the fastest is {fast} and the closest to fitting is {cl.name} at {cl.latency_ms:.1f} ms " \
                   f"(mAP50-95 {cl.map50_95:.3f})"  # fmt: skip
        misses = " and ".join(cl.misses)
        sel.reason = f"{head}; {tail}" + (f", {misses}" if misses else "") + "."
    return sel
