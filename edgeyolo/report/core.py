"""``edgeyolo report``: report.json, results.csv, report.md and a self-contained report.html."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeyolo._io import write_json_atomic, write_text_atomic
from edgeyolo._version import __version__
from edgeyolo.report import html as H
from edgeyolo.report import plots, tables
from edgeyolo.report.camera import camera_html, camera_markdown, camera_rows
from edgeyolo.report.streams import has_streams, streams_html, streams_markdown, streams_rows
from edgeyolo.report.tables import md_cell as _md
from edgeyolo.select import Metric, Selection, pm, records_of_device, select


@dataclass
class ReportResult:
    out: Path
    files: dict[str, Path]
    selection: Selection


def _fmt(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _markdown(records: Sequence[dict], sel: Selection) -> str:
    devs = tables.devices(records)
    streamed = has_streams(records)
    lines = ["# edgeyolo report", ""]
    for _label, env in devs:
        lines.append(f"Device profile **{env.get('profile', '?')}** on `{env.get('hostname', '?')}` "
                     f"({env.get('cpu', '?')}, {env.get('cores', '?')} cores)"
                     + (f", **emulated** by {env['emulation.emulator']} on {env.get('emulation.host_arch', '?')}: "
                        "latency is not the device's" if env.get("emulation.emulator") else "") + ".")  # fmt: skip
    lines += [
        "",
        f"**Selected:** {sel.selected.name if sel.selected else 'none'}. {sel.reason}",
        "",
        f"Latency is end to end (letterbox + inference + decode), {sel.metric} over the timed runs of all rounds; budget "
        f"{_fmt(sel.budget_ms, 1)} ms"
        + (f" ({sel.fps:g} FPS)" if sel.fps else "")
        + (f"; minimum mAP50-95 {sel.min_map:g}" if sel.min_map is not None else "")
        + ". Accuracy is the artifact's own mAP on the val split through its runtime.",
        "",
        f"Rule: {sel.rule}",
        "",
        *[f"Note: {_md(n)}" for n in sel.notes],
        *([""] if sel.notes else []),
        "Figures are shown as value ± half the width of their 95% interval (mAP: bootstrap over the val images; "
        "latency: range over the interleaved rounds, or a bootstrap of one round's samples).",
        "",
        "| candidate | mAP50-95 | mAP50 | e2e p50 ms | e2e p90 ms | e2e p99 ms | infer p50 ms | FPS | peak RSS MB "
        + ("| streams " if streamed else "")
        + "| Pareto | in budget | note |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if streamed else "") + ":-:|:-:|---|",
    ]
    for c in sorted(sel.candidates, key=lambda c: c.latency_ms):
        r = tables.record_of(records, c.artifact)
        inf = r["latency_ms"].get("inference") or {}
        mark = " **(selected)**" if sel.selected is c else ""
        lines.append(
            f"| {c.name}{mark} | {tables.map_text(c)} | {_fmt(c.map50)} | {tables.latency_text(r, 'p50')} | "
            f"{tables.latency_text(r, 'p90')} | {tables.latency_text(r, 'p99')} | {_fmt(inf.get('p50'), 2)} | "
            f"{r.get('throughput_fps') or 0:.1f} | "
            f"{(r.get('memory_mb') or {}).get('peak_rss', 'n/a')} | "
            + (f"{tables.streams_cell(r)} | " if streamed else "")
            + f"{'yes' if c.on_front else ''} | {'yes' if c.within_budget else 'no'} | {_md(tables.notes(c, r))} |"
        )
    deploy = tables.deploy_sizes(sel)
    if deploy:
        lines += ["", "## Deploy sizes: which training size serves each best", "",
                  *tables.deploy_summary(deploy), "",
                  "| deploy size | trained at | most accurate candidate | mAP50-95 | e2e ms | vs the best |",
                  "|---:|---:|---|---:|---:|---|"]  # fmt: skip
        for row in deploy:
            vs = row["verdict"] or (f"{row['diff']:+.3f}" + (f" (95% CI {row['diff_ci'][0]:+.3f} to "
                                                            f"{row['diff_ci'][1]:+.3f})" if row["diff_ci"] else ""))  # fmt: skip
            lines.append(f"| {row['deploy_shape']} | {row['train_imgsz'] or '?'} | {row['candidate']} | "
                         f"{row['map_text']} | {row['latency_ms']:.2f} | {vs} |")  # fmt: skip
    lines += camera_markdown(camera_rows(sel), sel.metric)
    lines += streams_markdown(streams_rows(sel, records))
    if sel.errors:
        lines += ["", "## Failed candidates", ""]
        lines += [
            f"- `{e.get('candidate', {}).get('artifact')}`: {_md(e.get('message'))}" for e in sel.errors
        ]
    classes, series, note = tables.per_class(sel, records)
    if classes:
        lines += ["", f"## Per-class AP50-95 of {sel.selected.name}", "", note, "",
                  "| class | " + " | ".join(_md(label) for label, _ in series) + " |",
                  "|---|" + "---:|" * len(series)]  # fmt: skip
        for i, k in enumerate(classes):
            lines.append(f"| {_md(k)} | " + " | ".join(_fmt(vals[i]) for _, vals in series) + " |")
    lines += ["", "## Devices", ""]
    for label, env in devs:
        lines += [f"### {_md(label)}", "", "| key | value |", "|---|---|"]
        lines += [f"| {_md(k)} | {_md(v)} |" for k, v in env.items()]
        lines.append("")
    lines += [f"_Generated by edgeyolo {__version__} on {time.strftime('%Y-%m-%d %H:%M:%S')}._", ""]
    return "\n".join(lines)


def summary_html(sel: Selection) -> str:
    choice = f"Selected: {H.esc(sel.selected.name)}" if sel.selected else "Nothing selected"
    return (
        f'<div class="summary{"" if sel.selected else " none"}"><div class="choice">{choice}</div>'
        f"<p>{H.esc(sel.reason)}</p>"
        + "".join(f'<p class="muted">{H.esc(n)}</p>' for n in sel.notes)
        + f"<details><summary>Selection rule</summary><p>{H.esc(sel.rule)}</p></details></div>"
    )


def candidates_table(rows: Sequence[dict], metric: str) -> str:
    streamed = any(r.get("streams") for r in rows)
    headers = ["candidate", "imgsz", "p50 ms", "p90 ms", "p99 ms", "FPS", "RSS MB", "power W", "mJ/img", "mAP50-95",
               "mAP drop", *(["streams"] if streamed else []), "Pareto", "status", "note"]  # fmt: skip
    numeric = [False] + [True] * (11 if streamed else 10) + [False] * 3
    body, classes = [], []
    for r in rows:
        tags = ('<span class="tag sel">selected</span> ' if r["selected"] else "") + (
            '<span class="tag front">front</span>' if r["pareto"] else "")  # fmt: skip
        status = tables.status_text({"status": r["status"], "message": r["message"]}, r["counted"])
        body.append([
            H.Cell(f'<span class="name">{H.esc(r["name"] or r["artifact"] or "?")}</span>', sort=r["name"] or "",
                   safe=True),
            _shape_cell(r), H.num(r["e2e_p50_ms"]), _pm_cell(r["e2e_p90_ms"], r["e2e_p90_lo_ms"], r["e2e_p90_hi_ms"], 2),
            H.num(r["e2e_p99_ms"]),
            H.num(r["fps"], 1), H.num(r["peak_rss_mb"], 1), H.num(r["power_w"], 2), H.num(r["mj_per_image"], 1),
            _pm_cell(r["map50_95"], r["map50_95_lo"], r["map50_95_hi"], 4),
            _pm_cell(r["map_drop"], r["map_drop_lo"], r["map_drop_hi"], 4),
            *([H.Cell(r["streams"] or "", sort=-1 if r["streams_capacity"] is None else r["streams_capacity"],
                      num=True)] if streamed else []),
            H.Cell(tags, sort=int(r["selected"]) * 2 + int(r["pareto"]), safe=True),
            H.Cell(status, sort=r["status"]) if r["status"] == "ok" else
            H.Cell(f'<span class="status-error">{H.esc(status)}</span>', sort=r["status"], safe=True),
            H.Cell(f'<span class="note">{H.esc(r["note"])}</span>', sort=r["note"], safe=True),
        ])  # fmt: skip
        classes.append("error" if r["status"] != "ok" else "selected" if r["selected"] else
                       "" if r["counted"] else "superseded")  # fmt: skip
    return H.table(headers, body, row_classes=classes, numeric=numeric) + (
        f'<p class="muted">Latency is end to end; the budget applies to {H.esc(metric)}. Figures with ± show half '
        "the width of their 95% interval (mAP: bootstrap over the val images; latency: range over the interleaved "
        "rounds). Click a column header to sort.</p>"
    )


def _shape_cell(r: dict) -> H.Cell:
    """The input as its label ('320', '320x192'), sorting by pixels (a 320x192 input before a square 320)."""
    if r.get("shape_label") is None:
        return H.num(r.get("imgsz"))
    return H.Cell(r["shape_label"], sort=r["pixels"], num=True)


def _pm_cell(value: float | None, lo: float | None, hi: float | None, digits: int) -> H.Cell:
    """A number with the half-width of its interval ('0.2740 ± 0.0200'), sorting by the number."""
    text = pm(value, None if lo is None or hi is None else (lo, hi), digits)
    return H.Cell(text, sort="" if value is None else value, num=True)


def deploy_html(sel: Selection) -> str:
    rows = tables.deploy_sizes(sel)
    if not rows:
        return ""
    body = [[H.Cell(r["deploy_shape"], sort=r["pixels"], num=True), H.num(r["train_imgsz"]), r["candidate"],
             H.Cell(r["map_text"], sort=r["map50_95"], num=True),
             H.num(r["latency_ms"]), r["verdict"] or (f"{r['diff']:+.3f}" + (f" (95% CI {r['diff_ci'][0]:+.3f} to "
                                                                           f"{r['diff_ci'][1]:+.3f})" if r["diff_ci"] else ""))]
            for r in rows]  # fmt: skip
    summary = "".join(f"<p>{H.esc(t)}</p>" for t in tables.deploy_summary(rows))
    return summary + H.table(["deploy size", "trained at", "most accurate candidate", "mAP50-95", "e2e ms", "vs the best"],
                             body, numeric=[True, True, False, True, True, False])  # fmt: skip


def devices_html(records: Sequence[dict]) -> str:
    return "".join(
        f"<h3>{H.esc(label)}</h3>{H.kv_table(env.items())}" for label, env in tables.devices(records)
    )


def _html(records: Sequence[dict], sel: Selection, rows: Sequence[dict], extra_sections) -> str:
    budgets = [("", sel.budget_ms)] if sel.budget_ms is not None else []
    front = [(c.latency_ms, c.map50_95) for c in sel.front]
    pts = tables.points(sel)
    unscored = len(sel.candidates) - len(pts)
    shapes = " (long side); hollow: camera-shaped input" if any(p.camera for p in pts) else ""
    caption = (f"Colour: format/precision; marker size: input size{shapes}; dashed: Pareto front; dotted: budget; "
               "ringed: selected.") + (f" {unscored} candidate(s) without accuracy are not plotted." if unscored else "")  # fmt: skip
    scatter = H.figure(
        plots.scatter_svg(pts, metric=sel.metric, budgets=budgets, fronts=[("", front)]), caption
    )
    spreads = tables.spreads(sel, records)
    deploy = deploy_html(sel)
    camera = camera_html(camera_rows(sel), sel.metric)
    streams = streams_html(streams_rows(sel, records))
    dist = H.figure(
        plots.latency_svg(spreads, budget=sel.budget_ms, metric=sel.metric),
        "Box: p50 to p90; whiskers: min and p99; dot: max; diamond: mean (true quartiles when raw samples are "
        "recorded).",
    )
    stages = H.figure(
        plots.stages_svg(spreads), "Mean milliseconds per stage; the sum is the mean end to end."
    )
    classes, series, note = tables.per_class(sel, records)
    if classes:
        pc_rows = []
        for i, k in enumerate(classes):
            vals = [values[i] for _, values in series]
            row = [k, *(H.num(v, 4) for v in vals)]
            if len(vals) == 2:  # selected minus its FP32 twin
                row.append(H.num(None if None in vals else vals[0] - vals[1], 4))
            pc_rows.append(row)
        headers = ["class", *(label for label, _ in series)] + (["delta"] if len(series) == 2 else [])
        per_class = (f"<p>{H.esc(note)}</p>" + H.figure(plots.per_class_svg(classes, series), "AP50-95 per class.")
                     + H.table(headers, pc_rows, numeric=[False] + [True] * (len(headers) - 1)))  # fmt: skip
    else:
        per_class = f'<p class="muted">{H.esc(note)}</p>'
    errors = ""
    if sel.errors:
        items = "".join(f"<li><code>{H.esc((e.get('candidate') or {}).get('artifact'))}</code>: "
                        f"{H.esc(e.get('message'))}</li>" for e in sel.errors)  # fmt: skip
        errors = H.section("Failed candidates", f"<ul>{items}</ul>", anchor="errors")
    sections = [
        H.section("Accuracy vs latency", scatter, anchor="scatter"),
        H.section(
            "Latency",
            f'<div class="grid2"><div><h3>Distribution</h3>{dist}</div>'
            f"<div><h3>Per stage</h3>{stages}</div></div>",
            anchor="latency",
        ),  # fmt: skip
        H.section("Candidates", candidates_table(rows, sel.metric), anchor="candidates"),
        H.section("Deploy sizes", deploy, anchor="deploy-sizes") if deploy else "",
        H.section("Camera-shaped inputs", camera, anchor="camera-shapes") if camera else "",
        H.section("Concurrent streams", streams, anchor="streams") if streams else "",
        H.section("Per-class AP", per_class, anchor="per-class"),
        errors,
        H.section("Devices", devices_html(records), anchor="devices"),
    ]
    return H.page("edgeyolo report", summary_html(sel), [s for s in sections if s], extra_sections)


def report(
    records: Sequence[dict],
    out: str | Path,
    budget_ms: float | None = None,
    metric: Metric = "p90",
    *,
    fps: float | None = None,
    min_map: float | None = None,
    max_map_drop: float | None = None,
    extra_sections: Sequence[tuple[str, str]] = (),
    device: str | None = None,
    streams: int | None = None,
) -> ReportResult:
    """Select and write ``report.json``, ``results.csv``, ``report.md`` and ``report.html`` into ``out``.

    Args:
        records: benchmark records, errors included (they are listed, never selected).
        out: the folder to write into (created).
        budget_ms, metric, fps, min_map, max_map_drop: as for :func:`edgeyolo.select.select`.
        extra_sections: (title, already-safe HTML) pairs appended to report.html after its own sections;
            the caller escapes any user data in them.
        device: when the records come from several devices, the one to report on (label, hostname or profile);
            :func:`edgeyolo.report.compare` puts several side by side.
        streams: select only candidates that serve this many concurrent streams (see ``select``); the streams
            column, section and plot appear whenever a record measured streams.

    Raises:
        ConfigError: a bad option, or records from several devices without ``device``.
    """
    if device is not None:
        records = records_of_device(records, device)
    sel = select(
        records,
        budget_ms=budget_ms,
        max_map_drop=max_map_drop,
        metric=metric,
        fps=fps,
        min_map=min_map,
        streams=streams,
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = tables.record_rows(records, sel)
    payload = {
        "schema": "edgeyolo.report/1",
        "edgeyolo": __version__,
        "rule": sel.rule,
        "selection": sel.to_dict(),
        "front": [c.to_dict() for c in sel.front],
        "camera_shapes": camera_rows(sel),
        "streams": streams_rows(sel, records),
        "records": list(records),
    }
    files = {
        "json": write_json_atomic(out / "report.json", payload),
        "csv": write_text_atomic(out / "results.csv", tables.to_csv(rows)),
        "markdown": write_text_atomic(out / "report.md", _markdown(records, sel)),
        "html": write_text_atomic(out / "report.html", _html(records, sel, rows, extra_sections)),
    }
    return ReportResult(out=out, files=files, selection=sel)
