"""Report plots drawn with matplotlib straight to SVG strings (no pyplot, no GUI backend, no font files).

Text is written as SVG ``<text>`` (``svg.fonttype: none``), which matplotlib XML-escapes; labels from user
data additionally get their ``$`` escaped so a class name is never parsed as mathtext. The same inputs give the
same bytes (no date, a fixed ``svg.hashsalt`` for the ids of markers and clip paths).

The accuracy/latency scatter draws each candidate's intervals as error bars (the mAP50-95 95% bootstrap interval
over the val images; the latency interval: its range over rounds, or a sample bootstrap) and its axes include
them, so two points the table calls inseparable do not look decisively apart.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

RC = {
    "svg.fonttype": "none",  # text stays text: no embedded glyphs, no font files
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.axisbelow": True,
    "svg.hashsalt": "edgeyolo",  # ids derived from the content, not from a random salt: reproducible bytes
}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
# Fronts and budgets of several runs: dark hues that do not collide with tab10's format/precision colours.
LINES = ("#444444", "#7a3fd1", "#0e9384", "#c11574", "#8a6100", "#1d4ed8")
STAGES = (("preprocess", "#8fb8de"), ("inference", "#1f6feb"), ("postprocess", "#f0a35e"))


@dataclass(frozen=True)
class Point:
    """One candidate on the accuracy/latency plane."""

    label: str
    latency_ms: float
    map50_95: float
    group: str  # colour: format/precision
    imgsz: int  # marker size (the input's long side)
    device: str = ""  # marker shape (compare)
    selected: bool = False
    on_front: bool = False  # labelled on the plot (other points are identified by the table)
    camera: bool = False  # a camera-shaped (non-square) input: drawn hollow
    map_ci: tuple[float, float] | None = None  # 95% bootstrap interval of map50_95: a vertical error bar
    latency_ci: tuple[float, float] | None = None  # of latency_ms (range over rounds): a horizontal bar


@dataclass(frozen=True)
class Spread:
    """One candidate's end-to-end latency distribution: percentiles, or raw samples when the record has them."""

    label: str
    stats: dict  # min, p50, p90, p99, max, mean
    samples: Sequence[float] | None = None
    stages: dict | None = None  # mean ms per stage


def text(s: object) -> str:
    """A user string safe for matplotlib: no mathtext (``$``) interpretation."""
    return str(s).replace("$", r"\$")


def _horizontal() -> dict:
    """``bxp``'s horizontal switch: ``orientation`` since matplotlib 3.10 (``vert`` is deprecated there)."""
    import matplotlib

    major, minor = (int(x) for x in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def to_svg(fig) -> str:
    """The figure as an ``<svg>`` element for inlining into HTML (XML prolog and DOCTYPE stripped)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    return svg.replace("<svg ", '<svg role="img" ', 1)  # the page's CSS lets it shrink (max-width: 100%)


def _colors(groups: Sequence[str]) -> dict[str, str]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {g: cmap(i % 10) for i, g in enumerate(sorted(set(groups)))}


def _size(imgsz: int) -> float:
    return max(18.0, min(400.0, 60.0 * (imgsz / 320.0) ** 2))


def _err(center: float, ci: tuple[float, float] | None) -> list[list[float]] | None:
    """``errorbar``'s asymmetric extent of an interval around ``center`` (None: no interval)."""
    if ci is None or len(ci) != 2 or any(v is None for v in ci):
        return None
    return [[max(0.0, center - ci[0])], [max(0.0, ci[1] - center)]]


def _error_bars(ax, points: Sequence[Point], colors: dict) -> bool:
    """Each point's intervals as error bars in its colour, under the markers (the axes' data limits take them
    in); the SVG groups them as ``map-ci-<i>`` and ``latency-ci-<i>``. Whether any was drawn."""
    drawn = False
    for i, p in enumerate(points):
        for name, err in (("map", {"yerr": _err(p.map50_95, p.map_ci)}),
                          ("latency", {"xerr": _err(p.latency_ms, p.latency_ci)})):  # fmt: skip
            if next(iter(err.values())) is None:
                continue
            bars = ax.errorbar([p.latency_ms], [p.map50_95], **err, fmt="none", ecolor=colors[p.group],
                               elinewidth=1.0, capsize=2.5, alpha=0.55, zorder=2)  # fmt: skip
            bars.lines[2][0].set_gid(f"{name}-ci-{i}")
            drawn = True
    return drawn


def scatter_svg(
    points: Sequence[Point],
    *,
    metric: str,
    budgets: Sequence[tuple[str, float]] = (),
    fronts: Sequence[tuple[str, Sequence[tuple[float, float]]]] = (),
    annotate: bool = True,
) -> str | None:
    """mAP50-95 vs end-to-end latency (see :func:`scatter_figure`) as SVG; None without points."""
    if not points:
        return None
    import matplotlib

    with matplotlib.rc_context(RC):
        return to_svg(
            scatter_figure(points, metric=metric, budgets=budgets, fronts=fronts, annotate=annotate)
        )


def scatter_figure(
    points: Sequence[Point],
    *,
    metric: str,
    budgets: Sequence[tuple[str, float]] = (),
    fronts: Sequence[tuple[str, Sequence[tuple[float, float]]]] = (),
    annotate: bool = True,
):
    """mAP50-95 vs end-to-end latency: colour per format/precision, marker size per image size (long side),
    marker shape per device, camera-shaped inputs hollow (square ones filled), each point's intervals as error
    bars (mAP: 95% bootstrap interval; latency: range over rounds) inside the axes, Pareto front(s) as steps,
    budget line(s), selected candidates ringed. Call it inside ``matplotlib.rc_context(RC)``."""
    from matplotlib.lines import Line2D

    fig = _figure(11.0, 5.8)
    ax = fig.add_subplot()
    colors = _colors([p.group for p in points])
    devices = list(dict.fromkeys(p.device for p in points))
    shape = {d: MARKERS[i % len(MARKERS)] for i, d in enumerate(devices)}
    bars = _error_bars(ax, points, colors)
    for p in points:
        if p.camera:  # hollow: the ring in the format/precision colour, white inside
            ax.scatter([p.latency_ms], [p.map50_95], s=_size(p.imgsz), facecolor="white", edgecolor=colors[p.group],
                       marker=shape[p.device], linewidth=1.8, alpha=0.9, zorder=3)  # fmt: skip
        else:
            ax.scatter([p.latency_ms], [p.map50_95], s=_size(p.imgsz), color=colors[p.group],
                       marker=shape[p.device], edgecolor="white", linewidth=0.6, alpha=0.9, zorder=3)  # fmt: skip
        if p.selected:
            ax.scatter([p.latency_ms], [p.map50_95], s=_size(p.imgsz) * 2.6 + 90, facecolor="none",
                       edgecolor="black", linewidth=1.6, marker=shape[p.device], zorder=4)  # fmt: skip
            ax.annotate("selected", (p.latency_ms, p.map50_95), xytext=(-9, 7), textcoords="offset points",
                        fontsize=8.5, fontweight="bold", ha="right")  # fmt: skip
    labelled = sorted(
        (p for p in points if annotate and (p.on_front or p.selected)), key=lambda p: p.latency_ms
    )
    lo, hi = min(p.latency_ms for p in points), max(p.latency_ms for p in points)
    for i, p in enumerate(labelled):  # alternate above/below so neighbours on the front do not collide
        right = p.latency_ms > lo + 0.7 * (hi - lo)  # near the right edge: label to the left, off the legend
        ax.annotate(text(p.label), (p.latency_ms, p.map50_95), xytext=(-6 if right else 6, 6 if i % 2 == 0 else -12),
                    textcoords="offset points", fontsize=7, color="#444444", ha="right" if right else "left")  # fmt: skip
    for i, (_label, front) in enumerate(fronts):
        pts = sorted(front)
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, drawstyle="steps-post", linestyle="--", linewidth=1.2, zorder=2,
                    color=LINES[i % len(LINES)])  # fmt: skip
    for i, (_label, budget) in enumerate(budgets):
        ax.axvline(
            budget,
            color="#b42318" if len(budgets) == 1 else LINES[i % len(LINES)],
            linestyle=":",
            linewidth=1.5,
        )
    ax.set_xlabel(f"end-to-end latency {metric} (ms)")
    ax.set_ylabel("mAP50-95")
    ax.margins(x=0.12, y=0.12)

    handles = [Line2D([], [], marker="o", linestyle="", color=c, markersize=7, label=text(g))
               for g, c in colors.items()]  # fmt: skip
    for s in sorted({p.imgsz for p in points}):
        handles.append(Line2D([], [], marker="o", linestyle="", color="#9aa4b1",
                              markersize=max(3.0, _size(s) ** 0.5), label=f"imgsz {s}"))  # fmt: skip
    if any(p.camera for p in points):
        handles += [Line2D([], [], marker="o", linestyle="", color="#9aa4b1", markersize=7, label="square input"),
                    Line2D([], [], marker="o", linestyle="", markerfacecolor="white", markeredgecolor="#9aa4b1",
                           markeredgewidth=1.8, markersize=7, label="camera-shaped input (hollow)")]  # fmt: skip
    if bars:
        handles.append(Line2D([], [], color="#9aa4b1", marker="|", markersize=7, linewidth=1.0,
                              label="bars: mAP 95% CI, latency range"))  # fmt: skip
    if len(devices) > 1:
        handles += [Line2D([], [], marker=shape[d], linestyle="", color="#333333", markersize=7, label=text(d))
                    for d in devices]  # fmt: skip
    for i, (label, _) in enumerate(fronts):
        name = "Pareto front" + (f" {text(label)}" if len(fronts) > 1 else "")
        handles.append(Line2D([], [], linestyle="--", color=LINES[i % len(LINES)],
                              label=name))  # fmt: skip
    for i, (label, budget) in enumerate(budgets):
        name = f"budget {budget:.4g} ms" + (f" {text(label)}" if len(budgets) > 1 else "")
        handles.append(Line2D([], [], linestyle=":", color="#b42318" if len(budgets) == 1 else LINES[i % len(LINES)],
                              label=name))  # fmt: skip
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return fig


def latency_svg(spreads: Sequence[Spread], *, budget: float | None = None, metric: str = "p90") -> str | None:
    """End-to-end latency per candidate as horizontal boxes: p50-p90 box, whiskers min and p99, max as a dot,
    mean as a diamond (true quartiles and 1.5 IQR whiskers when the record carries raw samples)."""
    if not spreads:
        return None
    import matplotlib
    from matplotlib.cbook import boxplot_stats

    with matplotlib.rc_context(RC):
        fig = _figure(6.4, 1.2 + 0.34 * len(spreads))
        ax = fig.add_subplot()
        bxp = []
        for s in spreads:
            if s.samples:
                st = boxplot_stats(list(s.samples))[0]
            else:
                st = {"whislo": s.stats["min"], "q1": s.stats["p50"], "med": s.stats["p50"], "q3": s.stats["p90"],
                      "whishi": s.stats["p99"], "fliers": [s.stats["max"]], "mean": s.stats.get("mean")}  # fmt: skip
            st["label"] = text(s.label)
            if st.get("mean") is None:
                st.pop("mean", None)
            bxp.append(st)
        ax.bxp(bxp, **_horizontal(), showmeans=all("mean" in b for b in bxp), patch_artist=True,
               boxprops={"facecolor": "#dbe8fb", "edgecolor": "#1f6feb"},
               medianprops={"color": "#1f6feb", "linewidth": 1.8},
               meanprops={"marker": "D", "markerfacecolor": "#f0a35e", "markeredgecolor": "none", "markersize": 4},
               flierprops={"marker": "o", "markersize": 3, "markerfacecolor": "#5b6675", "markeredgecolor": "none"})  # fmt: skip
        if budget is not None:
            ax.axvline(
                budget,
                color="#b42318",
                linestyle=":",
                linewidth=1.5,
                label=f"budget {budget:.4g} ms ({metric})",
            )
            ax.legend(loc="upper right", fontsize=8, frameon=False)
        ax.invert_yaxis()
        ax.set_xlabel("end-to-end latency (ms)")
        ax.tick_params(axis="y", labelsize=8)
        return to_svg(fig)


def stages_svg(spreads: Sequence[Spread]) -> str | None:
    """Mean milliseconds per stage (preprocess, inference, postprocess) as stacked horizontal bars."""
    rows = [s for s in spreads if s.stages]
    if not rows:
        return None
    import matplotlib

    with matplotlib.rc_context(RC):
        fig = _figure(6.4, 1.2 + 0.34 * len(rows))
        ax = fig.add_subplot()
        y = list(range(len(rows)))
        left = [0.0] * len(rows)
        for stage, color in STAGES:
            vals = [float(s.stages.get(stage) or 0.0) for s in rows]
            ax.barh(y, vals, left=left, color=color, label=stage, height=0.62)
            left = [a + b for a, b in zip(left, vals)]
        ax.set_yticks(y, [text(s.label) for s in rows])
        ax.invert_yaxis()
        ax.set_xlabel("mean latency per stage (ms)")
        ax.tick_params(axis="y", labelsize=8)
        ax.legend(loc="upper right", fontsize=8, frameon=False)
        return to_svg(fig)


def per_class_svg(classes: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]]) -> str | None:
    """Grouped horizontal bars of per-class AP50-95, one series per model (selected, its FP32 twin)."""
    if not classes or not series:
        return None
    import matplotlib

    with matplotlib.rc_context(RC):
        fig = _figure(6.4, 1.1 + 0.2 * len(classes) * len(series))
        ax = fig.add_subplot()
        h = 0.8 / len(series)
        for i, (label, values) in enumerate(series):
            ys = [k + (i - (len(series) - 1) / 2) * h for k in range(len(classes))]
            ax.barh(ys, [v or 0.0 for v in values], height=h * 0.92, label=text(label),
                    color=("#1f6feb", "#9aa4b1", "#f0a35e")[i % 3])  # fmt: skip
        ax.set_yticks(range(len(classes)), [text(c) for c in classes])
        ax.invert_yaxis()
        ax.set_xlabel("AP50-95")
        ax.set_xlim(0, max(0.05, max((v or 0.0) for _, vs in series for v in vs) * 1.1))
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=8, frameon=False)
        return to_svg(fig)
