"""What the report shows, taken out of benchmark records: table rows, device environments, plot inputs."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from edgeyolo.report.plots import Point, Spread
from edgeyolo.select import (
    Candidate,
    Selection,
    candidate_name,
    device_label,
    latest_per_candidate,
    paired_interval,
    pm,
    record_shape,
    tied,
)
from edgeyolo.shapes import Shape

CSV_COLUMNS = (
    "status", "message", "counted", "name", "model", "imgsz", "format", "precision", "runtime", "threads",
    "profile", "hostname", "e2e_mean_ms", "e2e_p50_ms", "e2e_p90_ms", "e2e_p95_ms", "e2e_p99_ms", "e2e_max_ms",
    "preprocess_mean_ms", "inference_mean_ms", "postprocess_mean_ms", "fps", "peak_rss_mb", "power_w",
    "mj_per_image", "map50", "map50_95", "map_drop", "size_bytes", "pareto", "within_budget", "eligible",
    "selected", "note", "artifact", "created",
    "train_imgsz", "rounds", "round_spread", "e2e_p90_lo_ms", "e2e_p90_hi_ms", "map50_95_lo", "map50_95_hi",
    "map_drop_lo", "map_drop_hi", "rival", "rival_diff", "rival_diff_lo", "rival_diff_hi", "latency_vs_rival",
    "shape", "shape_note", "streams", "streams_capacity", "streams_target_fps", "streams_aggregate_fps",
)  # fmt: skip


def md_cell(s: object) -> str:
    """A user string in a Markdown table cell: pipes and line breaks would break the row."""
    return str(s).replace("|", "\\|").replace("\n", " ")


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
        shape = record_shape(rec) if c.get("model") else None
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
            "train_imgsz": c.get("train_imgsz"), "rounds": (rec.get("settings") or {}).get("rounds"),
            "round_spread": (rec.get("stability") or {}).get("round_spread"),
            **_pair("e2e_p90", "_ms", _lat_ci(rec, "p90")), **_pair("map50_95", "", (acc.get("ci") or {}).get("map50_95")),
            **_pair("map_drop", "", cand.drop_ci if cand else None),
            "rival": cand.rival if cand else None, "rival_diff": cand.rival_diff if cand else None,
            **_pair("rival_diff", "", cand.rival_ci if cand else None),
            "latency_vs_rival": cand.latency_vs_rival if cand else None,
            "shape": shape.to_json() if shape else None, "shape_note": c.get("shape_note"),
            "shape_label": shape.label if shape else None, "pixels": shape.pixels if shape else None,
            "streams": streams_cell(rec) or None, "streams_capacity": (rec.get("streams") or {}).get("capacity"),
            "streams_target_fps": (rec.get("streams") or {}).get("target_fps"),
            "streams_aggregate_fps": (rec.get("streams") or {}).get("best_aggregate_fps"),
        })  # fmt: skip
    return rows


def streams_cell(rec: dict | None) -> str:
    """A record's streams in a table cell: '3 @ 15 FPS' (the most streams served at the target), 'missed 4 @ 15
    FPS' (a number asked for that missed it), '96.2 FPS (2 unpaced)' (no target: aggregate throughput); '' when
    none were measured."""
    st = (rec or {}).get("streams")
    if not st:
        return ""
    fps, cap, trials = st.get("target_fps"), st.get("capacity"), st.get("trials") or []
    if fps is None:
        return f"{st.get('best_aggregate_fps', 0):.1f} FPS ({max(t['n'] for t in trials)} unpaced)"
    if cap is not None:
        return f"{cap} @ {fps:g} FPS"
    return f"missed {trials[0]['n']} @ {fps:g} FPS" if trials else ""


def _pair(name: str, unit: str, ci) -> dict:
    lo, hi = ci if ci else (None, None)
    return {f"{name}_lo{unit}": lo, f"{name}_hi{unit}": hi}


def _lat_ci(rec: dict, key: str) -> list | None:
    return ((rec.get("latency_ci_ms") or {}).get("end_to_end") or {}).get(key)


def latency_text(rec: dict, key: str, digits: int = 2) -> str:
    """An end-to-end latency percentile with the half-width of its interval: '12.30 ± 0.40'."""
    value = ((rec.get("latency_ms") or {}).get("end_to_end") or {}).get(key)
    return pm(value, _lat_ci(rec, key), digits)


def map_text(c: Candidate, digits: int = 3) -> str:
    """mAP50-95 with the half-width of its bootstrap interval: '0.274 ± 0.020'."""
    return pm(c.map50_95, c.map50_95_ci, digits)


def comparison(c: Candidate) -> str:
    """How a candidate compares with its rival (the selected one, or for that the runner-up), in words."""
    if c.rival is None or c.rival_diff is None:
        return ""
    if c.rival_ci is not None:
        lo, hi = c.rival_ci
        acc = (f"mAP50-95 {c.rival_diff:+.3f} vs {c.rival} (95% CI {lo:+.3f} to {hi:+.3f}"
               + ("; the val split cannot separate them)" if c.rival_tied else ")"))  # fmt: skip
    else:
        acc = f"mAP50-95 {c.rival_diff:+.3f} vs {c.rival} (no paired interval)"
    if c.latency_vs_rival == "within noise":
        acc += "; latency within the measurement noise of it"
    return acc


def notes(cand: Candidate | None, rec: dict) -> str:
    """The selection note, the budget miss, and why the latency figure may be untrustworthy."""
    parts = [cand.note] if cand and cand.note else []
    if cand and cand.shape_note:
        parts.append(cand.shape_note)
    if cand:
        parts += [m for m in cand.misses if m not in cand.note]
        if comparison(cand):
            parts.append(comparison(cand))
    parts += [f"noisy: {r}" for r in (rec.get("stability") or {}).get("reasons") or []]
    if emu := (rec.get("device") or {}).get("emulation"):
        parts.append(f"emulated ({emu.get('emulator')}): latency is not the device's")
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
                  imgsz=c.imgsz, device=device, selected=sel.selected is c, on_front=c.on_front,
                  camera=not c.is_square, map_ci=c.map50_95_ci, latency_ci=c.latency_ci)
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


def deploy_sizes(sel: Selection) -> list[dict]:
    """Per deploy shape (``320``, ``320x192``), per training size: the most accurate candidate there, and which
    training size serves the deploy shape best (its rivals tied with it when their paired mAP50-95 difference
    contains 0). Empty unless some deploy shape was served by a model trained at another size than its long
    side."""
    scored = [c for c in sel.candidates if c.map50_95 is not None and not c.other_val_set]
    if not any(c.train_imgsz and c.train_imgsz != max(c.hw) for c in scored):
        return []
    rows = []
    for hw in sorted({c.hw for c in scored}, key=lambda hw: (max(hw), hw[0] * hw[1], hw)):
        size = Shape(*hw)
        groups: dict[int | None, Candidate] = {}
        for c in scored:
            if c.hw == hw:
                g = groups.get(c.train_imgsz)
                if g is None or (c.map50_95, -c.latency_ms) > (g.map50_95, -g.latency_ms):
                    groups[c.train_imgsz] = c
        best = max(groups.values(), key=lambda c: (c.map50_95, -c.latency_ms))
        for train, c in sorted(groups.items(), key=lambda kv: -(kv[0] or 0)):
            d = paired_interval(c, best) if c is not best else None
            verdict = (
                "best" if c is best else ("tied with the best" if tied(best, c, sel.map_tie_margin) else "")
            )
            rows.append({"deploy_imgsz": size.long, "deploy_shape": size.label, "pixels": size.pixels,
                         "train_imgsz": train, "candidate": c.name, "map50_95": c.map50_95, "map_text": map_text(c),
                         "latency_ms": c.latency_ms, "verdict": verdict,
                         "diff": None if c is best else round(c.map50_95 - best.map50_95, 5), "diff_ci": d})  # fmt: skip
    return rows


def deploy_summary(rows: Sequence[dict]) -> list[str]:
    """One sentence per deploy size: which training size served it best, and whether the data can tell."""
    out = []
    for size in dict.fromkeys(r["deploy_shape"] for r in rows):
        group = [r for r in rows if r["deploy_shape"] == size]
        best = next(r for r in group if r["verdict"] == "best")
        ties = [r for r in group if r["verdict"] == "tied with the best"]
        text = (f"At {size} px, the model trained at {best['train_imgsz'] or 'an unknown size'} serves best "
                f"({best['candidate']}, mAP50-95 {best['map_text']})")  # fmt: skip
        if ties:
            tied_text = ", ".join(f"trained at {r['train_imgsz']} ({r['map_text']})" for r in ties)
            text += f"; {tied_text} cannot be separated from it on these val images"
        out.append(text + ".")
    return out
