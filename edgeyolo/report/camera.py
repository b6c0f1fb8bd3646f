"""The report's "Camera-shaped inputs" section: each camera-shaped candidate against its square twin (latency
ratio, paired mAP50-95 difference, the verdict in words) and the shape notes, for report.json, report.md and
report.html. No camera-shaped candidate: no section."""

from __future__ import annotations

from edgeyolo.report import html as H
from edgeyolo.report.tables import md_cell
from edgeyolo.select import Selection, compare_shape, square_twin

INTRO = ("Each camera-shaped input against its square twin (same model, training size, format, precision, runtime "
         "and long side): the latency ratio at end-to-end {metric}, and the paired mAP50-95 difference with its 95% "
         "bootstrap interval over the val images (the point difference where the records have no per-image data).")  # fmt: skip


def camera_rows(sel: Selection) -> list[dict]:
    """One row per camera-shaped candidate (report.json's ``camera_shapes``): its comparison with its square twin,
    or, when no square twin was measured, the same keys with the twin's figures None and that said in words."""
    rows = []
    for c in sel.candidates:
        if c.is_square:
            continue
        twin = square_twin(sel, c)
        if twin is not None:
            rows.append(compare_shape(sel, c, twin).to_dict())
            continue
        rows.append({
            "camera": c.name, "square": None, "camera_artifact": c.artifact, "square_artifact": None,
            "shape": c.input_shape.to_json(), "shape_label": c.shape_label, "metric": sel.metric,
            "camera_ms": c.latency_ms, "square_ms": None, "latency_ratio": None, "camera_map50_95": c.map50_95,
            "square_map50_95": None, "map_diff": None, "map_diff_ci": None, "paired": False,
            "verdict": "no square twin measured", "text": "no square twin measured", "shape_note": c.shape_note,
        })  # fmt: skip
    return rows


def _diff(row: dict) -> str:
    if row["map_diff"] is None:
        return "n/a"
    ci = row["map_diff_ci"]
    return f"{row['map_diff']:+.3f}" + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else " (no interval)")


def _ms(row: dict) -> str:
    return f"{row['camera_ms']:.2f}" + (f" vs {row['square_ms']:.2f}" if row["square_ms"] is not None else "")


def _sentence(row: dict) -> str:
    if row["square"] is None:
        return f"{row['camera']}: no square twin measured, so the camera shape's gain is not shown."
    return f"{row['camera']} vs {row['square']}: {row['text']}."


def camera_markdown(rows: list[dict], metric: str) -> list[str]:
    """The section as Markdown lines ([] without camera-shaped candidates)."""
    if not rows:
        return []
    lines = ["", "## Camera-shaped inputs", "", INTRO.format(metric=metric), ""]
    lines += [f"- {md_cell(_sentence(r))}" for r in rows]
    lines += ["", f"| camera-shaped | square twin | {metric} ms | latency ratio | mAP50-95 difference [95% CI] | "
                  "verdict | note |", "|---|---|---:|---:|---:|---|---|"]  # fmt: skip
    for r in rows:
        ratio = "n/a" if r["latency_ratio"] is None else f"{r['latency_ratio']:.2f}x"
        lines.append(f"| {r['camera']} | {r['square'] or '-'} | {_ms(r)} | {ratio} | {_diff(r)} | {r['verdict']} | "
                     f"{md_cell(r['shape_note'] or '')} |")  # fmt: skip
    return lines


def camera_html(rows: list[dict], metric: str) -> str:
    """The section's body as HTML ('' without camera-shaped candidates)."""
    if not rows:
        return ""
    body = []
    for r in rows:
        ratio = r["latency_ratio"]
        body.append([
            H.Cell(f'<span class="name">{H.esc(r["camera"])}</span>', sort=r["camera"], safe=True),
            r["square"] or "-", H.Cell(_ms(r), sort=r["camera_ms"], num=True),
            H.Cell("n/a" if ratio is None else f"{ratio:.2f}x", sort="" if ratio is None else ratio, num=True),
            H.Cell(_diff(r), sort="" if r["map_diff"] is None else r["map_diff"], num=True), r["verdict"],
            H.Cell(f'<span class="note">{H.esc(r["shape_note"] or "")}</span>', sort=r["shape_note"] or "", safe=True),
        ])  # fmt: skip
    sentences = "".join(f"<li>{H.esc(_sentence(r))}</li>" for r in rows)
    headers = ["camera-shaped", "square twin", f"{metric} ms", "latency ratio", "mAP50-95 difference [95% CI]",
               "verdict", "note"]  # fmt: skip
    return (f"<p>{H.esc(INTRO.format(metric=metric))}</p><ul>{sentences}</ul>"
            + H.table(headers, body, numeric=[False, False, True, True, True, False, False]))  # fmt: skip
