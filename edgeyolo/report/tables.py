"""What the report shows, taken out of benchmark records: table rows, device environments, plot inputs."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from edgeyolo.report.plots import Point, Spread
from edgeyolo.select import Candidate, Selection, candidate_name, device_label, latest_per_candidate

CSV_COLUMNS = (
    "status", "message", "counted", "name", "model", "imgsz", "format", "precision", "runtime", "threads",
    "profile", "hostname", "e2e_mean_ms", "e2e_p50_ms", "e2e_p90_ms", "e2e_p95_ms", "e2e_p99_ms", "e2e_max_ms",
    "preprocess_mean_ms", "inference_mean_ms", "postprocess_mean_ms", "fps", "peak_rss_mb", "power_w",
    "mj_per_image", "map50", "map50_95", "map_drop", "size_bytes", "pareto", "within_budget", "eligible",
    "selected", "note", "artifact", "created",
)  # fmt: skip


def status_text(rec: dict, counted: bool) -> str:
    if rec.get("status") != "ok":
        return f"{rec.get('status', 'error')}: {rec.get('message') or 'no message'}"
    return "ok" if counted else "ok (superseded by a later record of the same artifact)"


def _stage(rec: dict, stage: str, key: str) -> float | None:
    return ((rec.get("latency_ms") or {}).get(stage) or {}).get(key)


def record_rows(records: Sequence[dict], sel: Selection) -> list[dict]:
    """One flat row per record (errors and superseded measurements included), in the records' order."""
    counted = {id(r) for r in latest_per_candidate(records)}
    rows = []
    for rec in records:
        c = rec.get("candidate") or {}
        ok = rec.get("status") == "ok"
        cand = sel.by_artifact(c.get("artifact")) if ok and id(rec) in counted else None
        acc, power, dev = rec.get("accuracy") or {}, rec.get("power") or {}, rec.get("device") or {}
        rows.append({
            "status": rec.get("status", "error"), "message": rec.get("message") or "", "counted": id(rec) in counted,
            "name": candidate_name(rec) if c.get("model") else "", "model": c.get("model"), "imgsz": c.get("imgsz"),
            "format": c.get("format"), "precision": c.get("precision"), "runtime": c.get("runtime"),
            "threads": c.get("threads"), "profile": dev.get("profile"), "hostname": dev.get("hostname"),
            **{f"e2e_{k}_ms": _stage(rec, "end_to_end", k) for k in ("mean", "p50", "p90", "p95", "p99", "max")},
            **{f"{s}_mean_ms": _stage(rec, s, "mean") for s in ("preprocess", "inference", "postprocess")},
            "fps": rec.get("throughput_fps"), "peak_rss_mb": (rec.get("memory_mb") or {}).get("peak_rss"),
            "power_w": power.get("mean_w"), "mj_per_image": power.get("mj_per_image"),
            "map50": acc.get("map50"), "map50_95": acc.get("map50_95"),
            "map_drop": cand.map_drop if cand else None, "size_bytes": c.get("size_bytes"),
            "pareto": bool(cand and cand.on_front), "within_budget": bool(cand and cand.within_budget),
            "eligible": bool(cand and cand.eligible), "selected": bool(cand and sel.selected is cand),
            "note": notes(cand, rec) if cand else "", "artifact": c.get("artifact"), "created": rec.get("created"),
        })  # fmt: skip
    return rows


def notes(cand: Candidate | None, rec: dict) -> str:
    """The selection note, the budget miss, and why the latency figure may be untrustworthy."""
    parts = [cand.note] if cand and cand.note else []
    if cand:
        parts += [m for m in cand.misses if m not in cand.note]
    parts += [f"noisy: {r}" for r in (rec.get("stability") or {}).get("reasons") or []]
    return "; ".join(parts)


def to_csv(rows: Sequence[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: "" if row.get(k) is None else row.get(k) for k in CSV_COLUMNS})
    return buf.getvalue()


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def devices(records: Sequence[dict]) -> list[tuple[str, dict]]:
    """Each device's environment (flattened ``device`` dicts of its records; differing values joined)."""
    found: dict[str, dict[str, list]] = {}
    for rec in [
        r for r in records if r.get("status") == "ok"
    ] or records:  # error records carry only the profile
        dev = rec.get("device") or {}
        merged = found.setdefault(device_label(dev), {})
        for k, v in _flatten(dev).items():
            vals = merged.setdefault(k, [])
            if v is not None and v not in vals:
                vals.append(v)
    return [
        (label, {k: ", ".join(map(str, v)) if v else "n/a" for k, v in env.items()})
        for label, env in found.items()
    ]


def record_of(records: Sequence[dict], artifact: str | None) -> dict | None:
    """The record selection counted for an artifact (the latest ok one)."""
    return next((r for r in reversed(records) if r.get("status") == "ok"
                 and (r.get("candidate") or {}).get("artifact") == artifact), None)  # fmt: skip


def points(sel: Selection, device: str = "") -> list[Point]:
    return [Point(label=c.name, latency_ms=c.latency_ms, map50_95=c.map50_95, group=f"{c.format}/{c.precision}",
                  imgsz=c.imgsz, device=device, selected=sel.selected is c, on_front=c.on_front)
            for c in sel.candidates if c.map50_95 is not None]  # fmt: skip


def spreads(sel: Selection, records: Sequence[dict]) -> list[Spread]:
    """Latency distributions of the counted candidates, fastest first.

    Raw samples are used when a record carries them as ``latency_samples_ms.end_to_end``.
    """
    out = []
    for c in sorted(sel.candidates, key=lambda c: c.latency_ms):
        rec = record_of(records, c.artifact) or {}
        lat = rec.get("latency_ms") or {}
        samples = ((rec.get("latency_samples_ms") or {}).get("end_to_end")) or None
        stages = {s: (lat.get(s) or {}).get("mean") for s in ("preprocess", "inference", "postprocess")}
        out.append(Spread(label=c.name, stats=lat.get("end_to_end") or {}, samples=samples,
                          stages=stages if any(v is not None for v in stages.values()) else None))  # fmt: skip
    return out


def per_class(sel: Selection, records: Sequence[dict]) -> tuple[list[str], list[tuple[str, list]], str]:
    """Classes, (label, AP50-95 per class) for the selected candidate and its FP32 twin, and a note."""
    if sel.selected is None:
        return [], [], "No candidate was selected."
    rec = record_of(records, sel.selected.artifact) or {}
    pcs = (rec.get("accuracy") or {}).get("per_class") or {}
    if not pcs:
        return [], [], f"{sel.selected.name} has no per-class AP (benchmark with --data)."
    classes = list(pcs)
    series = [(f"{sel.selected.name} (selected)", [pcs[k] for k in classes])]
    if sel.selected.precision == "fp32":
        note = "The selected candidate is FP32 itself."
    elif sel.selected.twin is None:
        note = "No FP32 twin of the selected candidate was measured."
    else:
        twin = record_of(records, sel.selected.twin) or {}
        tpc = (twin.get("accuracy") or {}).get("per_class") or {}
        twin_name = candidate_name(twin) if twin else "FP32 twin"
        classes += [k for k in tpc if k not in pcs]
        series = [(series[0][0], [pcs.get(k) for k in classes]),
                  (f"{twin_name} (FP32 twin)", [tpc.get(k) for k in classes])]  # fmt: skip
        note = f"Compared with its FP32 twin {twin_name}."
    return classes, series, note
