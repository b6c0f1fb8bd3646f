"""The concurrent streams of a report (``bench --streams``): the table column, the section (Markdown and HTML) and
the plot of per-stream FPS against the number of streams, each shown only when some record measured streams."""

from __future__ import annotations

from collections.abc import Sequence

from edgeyolo.report import html as H
from edgeyolo.report.plots import LINES, RC, text, to_svg
from edgeyolo.report.tables import md_cell, record_of, streams_cell
from edgeyolo.select import Selection


def has_streams(records: Sequence[dict]) -> bool:
    return any(r.get("status") == "ok" and r.get("streams") for r in records)


def streams_rows(sel: Selection, records: Sequence[dict]) -> list[dict]:
    """One row per counted candidate with streams: name, target, capacity, and its trials by number of streams."""
    rows = []
    for c in sorted(sel.candidates, key=lambda c: c.latency_ms):
        rec = record_of(records, c.artifact) or {}
        st = rec.get("streams")
        if not st:
            continue
        rows.append({"name": c.name, "selected": sel.selected is c, "target_fps": st.get("target_fps"),
                     "capacity": st.get("capacity"), "budget_ms": st.get("latency_budget_ms"),
                     "strategy": (st.get("strategy") or {}).get("strategy"), "cell": streams_cell(rec),
                     "serves": c.serves_streams, "trials": sorted(st.get("trials") or [], key=lambda t: t["n"])})  # fmt: skip
    return rows


def _trials_text(trials: Sequence[dict]) -> str:
    return "; ".join(f"{t['n']}: {t['min_stream_fps']:.1f} min / {t['aggregate_fps']:.1f} agg. FPS, p90 "
                     f"{t['latency_ms'].get('p90')} ms{' ✓' if t.get('meets') else ' ✗' if t.get('meets') is False else ''}"
                     for t in trials)  # fmt: skip


def streams_markdown(rows: Sequence[dict]) -> list[str]:
    if not rows:
        return []
    lines = ["", "## Concurrent streams", "",
             "Each stream is a camera paced at the target FPS (the newest frame wins when a stream falls behind); a "
             "number of streams is served when every stream keeps the target (within 5%) and the p90 latency from "
             "capture to result is within the budget.", "",
             "| candidate | served | target FPS | budget ms | trials (streams: slowest stream / aggregate FPS, p90) | how |",
             "|---|---:|---:|---:|---|---|"]  # fmt: skip
    for r in rows:
        mark = " **(selected)**" if r["selected"] else ""
        lines.append(f"| {md_cell(r['name'])}{mark} | {r['cell']} | {r['target_fps'] or 'unpaced'} | "
                     f"{r['budget_ms'] or ''} | {md_cell(_trials_text(r['trials']))} | {md_cell(r['strategy'] or '')} |")  # fmt: skip
    return lines


def streams_svg(rows: Sequence[dict]) -> str | None:
    """Per-stream FPS (the slowest stream's) against the number of streams, one line per candidate: filled
    markers where the trial met the target, hollow where it missed; the target(s) as dashed lines."""
    rows = [r for r in rows if r["trials"]]
    if not rows:
        return None
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(7.2, 3.6), layout="constrained")
        ax = fig.add_subplot()
        from matplotlib import colormaps

        cmap = colormaps["tab10"]
        for i, r in enumerate(rows):
            color = cmap(i % 10)
            ns = [t["n"] for t in r["trials"]]
            per = [t["min_stream_fps"] for t in r["trials"]]
            ax.plot(ns, per, color=color, linewidth=1.4, label=text(r["name"]), gid=f"streams-{i}")
            for n, v, t in zip(ns, per, r["trials"]):
                hollow = t.get("meets") is False
                ax.plot([n], [v], marker="o", markersize=5, color=color, markerfacecolor="white" if hollow else color,
                        linestyle="")  # fmt: skip
        for j, fps in enumerate(sorted({r["target_fps"] for r in rows if r["target_fps"]})):
            ax.axhline(
                fps, color=LINES[j % len(LINES)], linestyle="--", linewidth=1.2, label=f"target {fps:g} FPS"
            )
        ax.set_xlabel("concurrent streams")
        ax.set_ylabel("FPS of the slowest stream")
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        return to_svg(fig)


def streams_html(rows: Sequence[dict]) -> str:
    if not rows:
        return ""
    figure = H.figure(streams_svg(rows), "FPS of the slowest stream against the number of streams; filled: the trial "
                      "met the target (every stream within 5% of it, p90 within the budget), hollow: it missed.")  # fmt: skip
    body = [[H.Cell(f'<span class="name">{H.esc(r["name"])}</span>'
                    + (' <span class="tag sel">selected</span>' if r["selected"] else ""), sort=r["name"], safe=True),
             H.Cell(r["cell"], sort=r["capacity"] if r["capacity"] is not None else -1, num=True),
             H.num(r["target_fps"]), H.num(r["budget_ms"]), _trials_text(r["trials"]), r["strategy"] or ""]
            for r in rows]  # fmt: skip
    return figure + H.table(["candidate", "served", "target FPS", "budget ms", "trials", "how"], body,
                            numeric=[False, True, True, True, False, False])  # fmt: skip
