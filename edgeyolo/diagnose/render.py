"""The diagnosis as plain text (terminal) and as an HTML fragment (report pages, through ``report/html.py``)."""

from __future__ import annotations

from pathlib import Path

from edgeyolo.curves import MIN_THRESHOLD_F1
from edgeyolo.diagnose.overfitting import SMOOTH_WINDOW, Overfitting
from edgeyolo.diagnose.results import DIAGNOSIS_FILE
from edgeyolo.diagnose.types import Confusion, Diagnosis

CONFUSION_LABELS = {
    "confusion": "class confusion",
    "background_fp": "background false positive",
    "missed": "missed",
}


def _pct(x: float) -> str:
    return f"{x:.0%}"


def _confusion_text(c: Confusion) -> str:
    if c.kind == "missed":
        return f"missed: {c.count} '{c.true}' not detected ({_pct(c.share)} of '{c.true}')"
    if c.kind == "background_fp":
        return f"background false positive: {c.count} '{c.predicted}' on background ({_pct(c.share)} of its detections)"
    return f"confusion: {c.count} '{c.true}' detected as '{c.predicted}' ({_pct(c.share)} of '{c.true}')"


def _verdict(o: Overfitting) -> str:
    return "yes" if o.detected else "no (a loss gap to watch)" if o.loss_gap else "no"


def format_diagnosis(d: Diagnosis) -> str:
    """The diagnosis as plain text, for the terminal."""
    m = d.metrics
    lines = [f"Run {d.run_dir}: {d.epochs} epochs; best epoch {d.best_epoch}: P {m['precision']:.3f}  "
             f"R {m['recall']:.3f}  mAP50 {m['map50']:.3f}  mAP50-95 {m['map50_95']:.3f}", ""]  # fmt: skip
    o = d.overfitting
    lines.append(f"Overfitting: {_verdict(o).upper() if o.detected else _verdict(o)}")
    lines.append(f"  {o.note}")
    if o.loss_terms:
        how = " rescaled to the base gains (ProgLoss changed them per epoch)" if o.rescaled else ""
        lines.append(f"  (sum of {' + '.join(o.loss_terms)} and the val/ twins{how}; {SMOOTH_WINDOW}-epoch centred "
                     f"mean; k = {o.k})")  # fmt: skip
    for a in o.advice:
        lines.append(f"  - {a}")
    lines += ["", f"Metric-based diagnosis: {len(d.findings)} rule(s) fired"]
    for f in d.findings:
        lines.append(f"  * {f.observation} -> {f.cause}")
        lines.append(f"      {f.evidence}")
        lines.append(f"      action: {f.action}")
    lines.append("")
    if d.threshold is not None:
        t = d.threshold
        lines.append(f"Confidence threshold (F1-optimal, all classes): {t.conf:.3f}  P {t.precision:.3f}  "
                     f"R {t.recall:.3f}  F1 {t.f1:.3f}")  # fmt: skip
        width = max([len(c.name) for c in d.class_thresholds] + [5])
        for c in d.class_thresholds:
            if c.best is None:
                lines.append(f"  {c.name:<{width}}  no threshold (F1 < {MIN_THRESHOLD_F1})  n={c.instances}")
            else:
                b = c.best
                lines.append(f"  {c.name:<{width}}  {b.conf:.3f}  P {b.precision:.3f}  R {b.recall:.3f}  "
                             f"F1 {b.f1:.3f}  n={c.instances}")  # fmt: skip
        lines.append(f"  (saved in {Path(d.run_dir) / DIAGNOSIS_FILE})")
    else:
        lines.append("Confidence threshold: none (see notes)")
    if d.confusion_conf is not None:
        lines += ["", f"Top confusions (at confidence {d.confusion_conf:.3f}):"]
        if not d.confusions:
            lines.append("  none")
        for c in d.confusions:
            lines.append(f"  {_confusion_text(c)}")
            lines.append(f"      action: {c.action}")
    if d.notes:
        lines += ["", "Notes:"] + [f"  - {n}" for n in d.notes]
    return "\n".join(lines)


def diagnosis_html(d: Diagnosis) -> str:
    """The diagnosis as an HTML fragment (no scripts, every piece of run/user text escaped) for a report.

    The fragment goes into a report page (``extra_sections``), so it is built from the report's page pieces.
    """
    from edgeyolo.report.html import esc as e
    from edgeyolo.report.html import num, table

    m = d.metrics
    out = ['<div class="edgeyolo-diagnosis">',
           f"<p>Run <code>{e(d.run_dir)}</code>: {d.epochs} epochs; best epoch {d.best_epoch}: P {m['precision']:.3f}, "
           f"R {m['recall']:.3f}, mAP50 {m['map50']:.3f}, mAP50-95 {m['map50_95']:.3f}.</p>"]  # fmt: skip
    o = d.overfitting
    out.append(f"<h3>Overfitting: {e(_verdict(o))}</h3><p>{e(o.note)}</p>")
    if o.advice:
        out.append("<ul>" + "".join(f"<li>{e(a)}</li>" for a in o.advice) + "</ul>")
    out.append(f"<h3>Metric-based diagnosis ({len(d.findings)} rule(s) fired)</h3>")
    if d.findings:
        out.append(table(["Observation", "Evidence", "Possible cause", "Action"],
                         [[f.observation, f.evidence, f.cause, f.action] for f in d.findings], sortable=False))  # fmt: skip
    out.append("<h3>Confidence threshold (F1-optimal)</h3>")
    if d.threshold is not None:
        t = d.threshold
        out.append(
            f"<p>All classes: <b>{t.conf:.3f}</b> (P {t.precision:.3f}, R {t.recall:.3f}, F1 {t.f1:.3f}).</p>"
        )
        rows = [[c.name, *([num(c.best.conf, 3), num(c.best.precision, 3), num(c.best.recall, 3), num(c.best.f1, 3)]
                           if c.best is not None else ["-"] * 4), num(c.instances)] for c in d.class_thresholds]  # fmt: skip
        out.append(table(["Class", "Threshold", "P", "R", "F1", "Objects"], rows, sortable=False))
    else:
        out.append("<p>None (see the notes).</p>")
    if d.confusion_conf is not None:
        out.append(f"<h3>Top confusions (at confidence {d.confusion_conf:.3f})</h3>")
        if d.confusions:
            rows = [[CONFUSION_LABELS[c.kind], c.true or "background", c.predicted or "background", num(c.count),
                     _pct(c.share), c.action] for c in d.confusions]  # fmt: skip
            out.append(table(["Kind", "True", "Predicted", "Count", "Share", "Action"], rows, sortable=False))
        else:
            out.append("<p>None.</p>")
    if d.notes:
        out.append("<h3>Notes</h3><ul>" + "".join(f"<li>{e(n)}</li>" for n in d.notes) + "</ul>")
    out.append("</div>")
    return "\n".join(out)
