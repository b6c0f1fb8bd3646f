"""Choosing the candidate to ship: Pareto front over (p90 latency, mAP50-95) and the budget rule.

Selected: the highest-mAP candidate within the latency budget (and at or above ``min_map`` when given) whose
mAP drop vs its FP32 twin (same model, training and deploy size) is within ``max_map_drop``. The accuracy
figures are intervals where the records allow: each record's per-image evaluation (its sidecar file) is
resampled over the val images (:mod:`edgeyolo.bench.bootstrap`), the same resamples for every candidate, so
the difference between two candidates has a paired interval. A candidate whose paired difference from the
best contains 0 is tied with it, and ties go to lower latency, then smaller artifact; an FP16/INT8 candidate
passes ``max_map_drop`` only when the upper end of its paired drop interval is within it. Records without
per-image data (older ones) fall back to a fixed tie of ``MAP_TIE`` and the point drop, with a note. Latency
differences are compared with the noise of interleaved rounds (paired by pass) or the records' intervals.

When nothing fits, the selection names the fastest candidate and the one closest to fitting (smallest
relative shortfall over all the requirements). Selection is per device: records from several machines are
never pooled (``device=`` picks one; ``edgeyolo compare`` sets them side by side).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from edgeyolo.errors import ConfigError

Metric = Literal["p50", "p90", "p95", "p99"]
METRICS: tuple[str, ...] = ("p50", "p90", "p95", "p99")
# Without per-image data (records from before intervals), mAP50-95 differences below this count as a tie (then
# lower latency wins): an FP16 twin scoring 0.26371 vs FP32's 0.26372 is measurement noise. With per-image
# data the paired bootstrap interval decides instead, whatever the size of the val split.
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
    train_imgsz: int | None = None  # the size the model was trained at (imgsz is the size it runs at)
    map50_95_ci: tuple[float, float] | None = None  # 95% bootstrap interval over the val images
    map50_ci: tuple[float, float] | None = None
    latency_ci: tuple[float, float] | None = None  # of latency_ms: range over rounds, or a sample bootstrap
    drop_ci: tuple[float, float] | None = None  # paired interval of the drop vs the FP32 twin
    rival: str | None = None  # the candidate it competes with: the selected one (or, for that, the runner-up)
    rival_diff: float | None = None  # mAP50-95 of this one minus the rival's
    rival_ci: tuple[float, float] | None = None  # paired interval of that difference
    latency_vs_rival: str | None = None  # "faster", "slower" or "within noise" (None: no interval to tell)
    boot: Any = field(default=None, repr=False, compare=False)  # bootstrap.Bootstrap from the per-image data

    @property
    def deploy_imgsz(self) -> int:
        return self.imgsz

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d.pop("boot", None)
        d["misses"] = list(self.misses)
        d["paired"] = self.boot is not None
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

    @property
    def front(self) -> list[Candidate]:
        return sorted((c for c in self.candidates if c.on_front), key=lambda c: c.latency_ms)

    def by_artifact(self, artifact: str) -> Candidate | None:
        return next((c for c in self.candidates if c.artifact == artifact), None)

    @property
    def rule(self) -> str:
        """The selection rule with this selection's parameters, in one paragraph."""
        bs = self.bootstrap
        reqs = [f"end-to-end {self.metric} <= {_budget_text(self)}" if self.budget_ms is not None else None,
                f"mAP50-95 >= {self.min_map:g}" if self.min_map is not None else None,
                f"mAP50-95 drop vs its FP32 twin <= {self.max_map_drop:g}"
                + (" (for an FP16/INT8 candidate, the upper end of its paired 95% drop interval)" if bs else "")]  # fmt: skip
        if bs:
            fallback = f" (records without per-image data: a fixed tie of {MAP_TIE:g})" if any(
                c.boot is None and c.map50_95 is not None for c in self.candidates) else ""  # fmt: skip
            ties = (f"Accuracy differences are paired {bs['confidence']:.0%} bootstrap intervals over the "
                    f"{bs['images']} val images ({bs['resamples']} resamples, seed {bs['seed']}): a candidate whose "
                    f"difference from the best contains 0 is tied with it{fallback}; ties go to lower latency, then "
                    "smaller artifact, and a latency difference within the measurement noise is reported as such.")  # fmt: skip
        else:
            ties = (f"mAP50-95 within {MAP_TIE:g} counts as a tie (no per-image data for intervals), won by lower "
                    "latency, then smaller artifact.")  # fmt: skip
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


def candidate_name(rec: dict) -> str:
    """``model-imgsz-format-precision``; a model run at another size than it was trained at is
    ``model-<trained>to<deployed>-format-precision`` (e.g. yolo26n-480to320-onnx-fp32)."""
    c = rec["candidate"]
    train, size = c.get("train_imgsz"), c.get("imgsz")
    sizes = f"{train}to{size}" if train and train != size else f"{size}"
    return f"{c.get('model')}-{sizes}-{c.get('format')}-{c.get('precision')}"


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
    drop_hi = c.drop_ci[1] if c.drop_ci is not None else c.map_drop
    if drop_hi is not None and drop_hi > sel.max_map_drop:
        total += (drop_hi - sel.max_map_drop) / max(sel.max_map_drop, 0.01)
        ci = f" (95% CI {_signed_ci(c.drop_ci)})" if c.drop_ci is not None else ""
        if c.map_drop > sel.max_map_drop:
            misses.append(f"loses {c.map_drop:.3f} mAP50-95 vs FP32 (limit {sel.max_map_drop:g}){ci}")
        else:
            misses.append(f"the val split ({_images(c)}) is too small to tell whether its drop vs FP32 stays within "
                          f"{sel.max_map_drop:g}: {c.map_drop:+.3f}{ci}")  # fmt: skip
    return total, misses


def _images(c: Candidate) -> str:
    n = c.boot.images if c.boot is not None else 0
    return f"{n} images" if n else "val images"


def _signed_ci(ci: tuple[float, float] | None) -> str:
    return "n/a" if ci is None else f"{ci[0]:+.3f} to {ci[1]:+.3f}"


def pm(value: float | None, ci: Sequence[float] | None, digits: int = 3) -> str:
    """``0.274 ± 0.020``: a figure with the half-width of its interval (just the figure without one)."""
    if value is None:
        return "n/a"
    if not ci or any(v is None for v in ci):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} ± {(ci[1] - ci[0]) / 2:.{digits}f}"


_BOOT_CACHE: dict[tuple[str, str], Any] = {}


def _load_bootstrap(rec: dict) -> tuple[Any, str | None]:
    """The record's per-image bootstrap, or None and why not (no per-image data, file missing or changed)."""
    per_image = (rec.get("accuracy") or {}).get("per_image")
    if not isinstance(per_image, dict) or not (per_image.get("path") or per_image.get("file")):
        return None, "no per-image data"
    path = Path(per_image.get("path") or per_image["file"])
    want = str(per_image.get("sha256"))
    if (str(path), want) in _BOOT_CACHE:
        return _BOOT_CACHE[(str(path), want)], None
    from edgeyolo._io import sha256_file
    from edgeyolo.bench import bootstrap as B

    try:
        if sha256_file(path) != want:
            return None, f"per-image file {path.name} changed since it was measured"
        boot = B.bootstrap(B.PerImage.load(path))
    except (OSError, ValueError, KeyError) as e:
        return None, f"per-image file {path.name} unreadable ({e})"
    _BOOT_CACHE[(str(path), want)] = boot
    return boot, None


def paired_interval(a: Candidate, b: Candidate) -> tuple[float, float] | None:
    """Paired interval of a's mAP50-95 minus b's, or None when they cannot be paired."""
    if a.boot is None or b.boot is None:
        return None
    from edgeyolo.bench.bootstrap import paired_difference

    return paired_difference(a.boot, b.boot)


def tied(top: Candidate, c: Candidate) -> bool:
    """Whether ``c`` cannot be told apart from ``top`` on mAP50-95."""
    if c is top:
        return True
    d = paired_interval(top, c)
    if d is not None:
        return d[0] <= 0 <= d[1]
    return c.map50_95 >= top.map50_95 - MAP_TIE


def _round_stats(rec: dict) -> dict[str, dict]:
    return {r["pass"]: r.get("end_to_end") or {} for r in rec.get("rounds") or [] if r.get("pass")}


def latency_separation(a: Candidate, b: Candidate, ra: dict, rb: dict, metric: str) -> str | None:
    """'faster' / 'slower' (a vs b) when the latency difference stands out of the noise, 'within noise' when
    it does not, None when neither record has an interval. Rounds measured in the same pass are paired (same
    moment, same machine state); otherwise the two intervals are compared."""
    pa, pb = _round_stats(ra), _round_stats(rb)
    common = [k for k in pa if k in pb and metric in pa[k] and metric in pb[k]]
    if len(common) >= 2:
        diffs = [pa[k][metric] - pb[k][metric] for k in common]
        if min(diffs) <= 0 <= max(diffs):
            return "within noise"
        return "faster" if max(diffs) < 0 else "slower"
    if a.latency_ci is None or b.latency_ci is None:
        return None
    if a.latency_ci[1] < b.latency_ci[0]:
        return "faster"
    if b.latency_ci[1] < a.latency_ci[0]:
        return "slower"
    return "within noise"


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

    by_artifact: dict[str, dict] = {}
    no_boot: dict[str, list[str]] = {}
    for rec in ok:
        c, acc = rec["candidate"], rec.get("accuracy") or {}
        ci = acc.get("ci") or {}
        lat_ci = ((rec.get("latency_ci_ms") or {}).get("end_to_end") or {}).get(metric)
        cand = Candidate(
            name=candidate_name(rec), model=c["model"], imgsz=int(c["imgsz"]), format=c["format"],
            precision=c["precision"], latency_ms=float(rec["latency_ms"]["end_to_end"][metric]),
            map50_95=acc.get("map50_95"), map50=acc.get("map50"), size_bytes=int(c.get("size_bytes", 0)),
            artifact=c["artifact"], runtime=c.get("runtime") or "", train_imgsz=c.get("train_imgsz"),
            map50_95_ci=tuple(ci["map50_95"]) if ci.get("map50_95") else None,
            map50_ci=tuple(ci["map50"]) if ci.get("map50") else None,
            latency_ci=tuple(lat_ci) if lat_ci else None,
        )  # fmt: skip
        if cand.map50_95 is not None:
            cand.boot, why = _load_bootstrap(rec)
            if why:
                no_boot.setdefault(why, []).append(cand.name)
        sel.candidates.append(cand)
        by_artifact[cand.artifact] = rec
    boots = [c.boot for c in sel.candidates if c.boot is not None]
    if boots:
        sel.bootstrap = {"resamples": boots[0].resamples, "seed": boots[0].seed, "confidence": 0.95,
                         "images": boots[0].images}  # fmt: skip
    old = [r for r in ok if not r.get("rounds") and not (r.get("accuracy") or {}).get("ci")]
    if len(old) == len(ok):
        sel.notes.append("These records were measured before interleaved rounds and intervals (an older edgeyolo): "
                         f"selected as before, with mAP50-95 within {MAP_TIE:g} a tie and the point drop vs FP32; "
                         "measure again ('edgeyolo bench --force') for intervals.")  # fmt: skip
    else:
        for why, names in no_boot.items():
            sel.notes.append(f"{len(names)} candidate(s) without paired intervals ({why}: {', '.join(names[:3])}"
                             f"{', ...' if len(names) > 3 else ''}): their ties use a fixed {MAP_TIE:g} mAP50-95 and "
                             "their drop vs FP32 the point estimate.")  # fmt: skip
        unrounded = [c.name for c in sel.candidates if not by_artifact[c.artifact].get("rounds")]
        if unrounded:
            sel.notes.append(f"{len(unrounded)} record(s) measured without interleaved rounds ({', '.join(unrounded[:3])}"
                             f"{', ...' if len(unrounded) > 3 else ''}): their latency has no round-to-round noise figure.")  # fmt: skip

    for cand in sel.candidates:
        if cand.precision == "fp32" or cand.map50_95 is None:
            continue
        twins = [t for t in sel.candidates if t.precision == "fp32" and t.model == cand.model
                 and t.imgsz == cand.imgsz and t.train_imgsz == cand.train_imgsz and t.map50_95 is not None]  # fmt: skip
        twins.sort(key=lambda t: t.format != cand.format)  # same format first
        if twins:
            cand.map_drop = round(twins[0].map50_95 - cand.map50_95, 5)
            cand.twin = twins[0].artifact
            cand.drop_ci = paired_interval(twins[0], cand)
        else:
            cand.note = "no FP32 twin measured; mAP drop unknown"

    scored = [c for c in sel.candidates if c.map50_95 is not None]
    for c, flag in zip(scored, pareto_front([(c.latency_ms, c.map50_95) for c in scored])):
        c.on_front = flag
    for c in sel.candidates:
        c.within_budget = budget is None or c.latency_ms <= budget
        drop_hi = c.drop_ci[1] if c.drop_ci is not None else c.map_drop
        drop_ok = drop_hi is None or drop_hi <= drop_limit
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
        if budget is not None and c.latency_ci is not None and c.latency_ci[0] <= budget < c.latency_ci[1]:
            c.note = "; ".join(x for x in [c.note, f"{metric} {c.latency_ms:.1f} ms straddles the {budget:g} ms budget "
                                           f"within its noise ({c.latency_ci[0]:.1f}-{c.latency_ci[1]:.1f} ms)"] if x)  # fmt: skip

    sel.fastest = min(sel.candidates, key=lambda c: (c.latency_ms, c.size_bytes))
    eligible = [c for c in sel.candidates if c.eligible]
    reqs = _requirements(sel)
    if eligible:
        top = max(eligible, key=lambda c: (c.map50_95, -c.latency_ms))
        ties = [c for c in eligible if tied(top, c)]
        best = min(ties, key=lambda c: (c.latency_ms, c.size_bytes))
        sel.selected = best
        others = sorted((c for c in eligible if c is not best), key=lambda c: -c.map50_95)
        if len(ties) > 1:
            rival = min((c for c in ties if c is not best), key=lambda c: (c.latency_ms, c.size_bytes))
        else:
            rival = others[0] if others else None
        for c in sel.candidates:
            other = rival if c is best else best
            if other is None or c.map50_95 is None:
                continue
            c.rival, c.rival_diff = other.name, round(c.map50_95 - other.map50_95, 5)
            c.rival_ci = paired_interval(c, other)
            c.latency_vs_rival = latency_separation(c, other, by_artifact[c.artifact], by_artifact[other.artifact],
                                                    metric)  # fmt: skip
        sel.reason = _reason(sel, best, top, rival, eligible, reqs)
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
    return _flag_emulated(sel, ok)


def _flag_emulated(sel: Selection, records: Sequence[dict]) -> Selection:
    """A choice made from records measured under emulation (qemu-user) says so first: their latency is the
    emulator's, not the device's (accuracy is the artifact's own there too)."""
    emus = [(r.get("device") or {}).get("emulation") for r in records]
    found = {(e.get("emulator"), e.get("host_arch")) for e in emus if e}
    if found:
        sel.emulated = "; ".join(f"{emu} on {host or 'another CPU'}" for emu, host in sorted(found, key=str))
        sel.reason = (f"Measured under emulation ({sel.emulated}): the latencies are not the device's, so this "
                      f"choice only holds for accuracy. {sel.reason}")  # fmt: skip
    return sel


def _reason(sel: Selection, best: Candidate, top: Candidate, rival: Candidate | None,
            eligible: list[Candidate], reqs: str) -> str:  # fmt: skip
    """The choice in words: what won, what it was compared with, and whether the data can separate them."""
    n, m = len(eligible), sel.metric
    if sel.budget_ms is not None:
        scope = f"within {reqs}"
    else:
        scope = f"with {reqs} and no latency budget" if reqs else "with no latency budget"
    drop = f", {0.0 - best.map_drop:+.3f} mAP50-95 vs its FP32 twin" if best.map_drop is not None else ""
    if best.drop_ci is not None:
        drop += f" (95% CI {_signed_ci((-best.drop_ci[1], -best.drop_ci[0]))})"
    unchecked = ("; no FP32 twin was measured, so its mAP drop vs FP32 is unchecked"
                 if best.precision != "fp32" and best.map_drop is None else "")  # fmt: skip
    figure = pm(best.map50_95, best.map50_95_ci)
    if best is top and (rival is None or not tied(best, rival)):
        text = (f"{best.name} has the highest mAP50-95 ({figure}) of the {n} candidate{'s' if n > 1 else ''} {scope} "
                f"({best.latency_ms:.1f} ms end to end{drop}){unchecked}.")  # fmt: skip
        if rival is not None and best.rival_ci is not None:
            text += (f" It scores {best.rival_diff:+.3f} over the runner-up {rival.name} (paired 95% CI "
                     f"{_signed_ci(best.rival_ci)}), a difference the val split resolves.")  # fmt: skip
        return text
    other = top if best is not top else rival  # the one it is tied with
    d = paired_interval(other, best)
    how = (f"their paired difference {other.map50_95 - best.map50_95:+.3f} (95% CI {_signed_ci(d)}) contains 0"
           if d is not None else f"they are within the fixed tie of {MAP_TIE:g}")  # fmt: skip
    text = (f"{best.name} ({figure} mAP50-95, {best.latency_ms:.1f} ms {m}{drop}) is tied on accuracy with "
            f"{'the highest-scoring candidate' if other is top else 'the next candidate'} {scope}, {other.name} "
            f"({pm(other.map50_95, other.map50_95_ci)}): {how}, so the faster one is selected{unchecked}.")  # fmt: skip
    if rival is not None:
        sep = best.latency_vs_rival
        if sep == "within noise":
            text += (f" Its {m} ({best.latency_ms:.1f} ms) and that of {rival.name} ({rival.latency_ms:.1f} ms) are "
                     "within the measurement noise: the data cannot separate these two, either is a sound choice.")  # fmt: skip
        elif sep == "faster":
            text += f" It is faster than {rival.name} ({rival.latency_ms:.1f} ms) beyond the measurement noise."  # fmt: skip
    return text
