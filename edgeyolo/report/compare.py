"""``edgeyolo compare``: the same candidates across devices or versions, side by side.

Candidates match on their name: model, training size, input shape (``320``, ``320x192``), format, precision. Latency ratios and mAP deltas are relative to the
first run; each run gets its own selection (its own profile's budget unless one is given).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edgeyolo._io import write_json_atomic, write_text_atomic
from edgeyolo._version import __version__
from edgeyolo.errors import ConfigError, ResultsError
from edgeyolo.report import html as H
from edgeyolo.report import plots, tables
from edgeyolo.report.tables import md_cell as _md
from edgeyolo.select import Candidate, Metric, Selection, devices_of, records_of_device, select


@dataclass
class Run:
    """One results file (or any record set) to compare, under a label (device and/or version)."""

    label: str
    records: list[dict]
    source: str = ""


@dataclass
class CompareResult:
    out: Path
    files: dict[str, Path]
    runs: list[Run]
    selections: dict[str, Selection]  # by run label
    summary: str = ""  # which candidate each run selects, in one sentence
    rows: list[dict] = field(default_factory=list)  # one per matched candidate


def load_runs(paths: Sequence[str | os.PathLike]) -> list[Run]:
    """Read results files into labelled runs, one per (file, device): a file from a multi-device bench
    (``--host a --host b``) gives one run per device. Labels are 'profile @ hostname', made unique with the
    file name (the same device measured by two versions).

    Raises:
        ResultsError: a file is unreadable or has no successful records.
    """
    from edgeyolo.bench.store import read_records

    runs: list[Run] = []
    for path in paths:
        records = read_records(path)
        devices = devices_of(records)
        if not devices:
            raise ResultsError(
                f"{path}: no successful benchmark records ({len(records)} record(s), all errors or none); "
                "nothing to compare, leave the file out or rerun 'edgeyolo bench'."
            )
        for dev in devices:
            recs = records if len(devices) == 1 else records_of_device(records, dev)
            runs.append(Run(label=dev, records=recs, source=str(path)))
    labels = [r.label for r in runs]
    for run in runs:
        if labels.count(run.label) > 1:
            run.label = f"{run.label} [{Path(run.source).name}]"
    labels = [r.label for r in runs]
    for run in runs:
        if labels.count(run.label) > 1:
            run.label = f"{run.label.rsplit(' [', 1)[0]} [{run.source}]"
    return runs


def _key(c: Candidate) -> str:
    return c.name  # model-[<trained>to]<input>-format-precision, e.g. yolo26n-480to320x192-onnx-int8


def _rows(runs: Sequence[Run], sels: dict[str, Selection]) -> list[dict]:
    per_run = {r.label: {_key(c): c for c in sels[r.label].candidates} for r in runs}
    ref = runs[0].label
    names: list[str] = []
    for r in runs:  # the first run's order (fastest first), then what only later runs have
        names += [
            n
            for n in sorted(per_run[r.label], key=lambda n: per_run[r.label][n].latency_ms)
            if n not in names
        ]
    rows = []
    for name in names:
        base = per_run[ref].get(name)
        cells = {}
        for r in runs:
            c = per_run[r.label].get(name)
            if c is None:
                cells[r.label] = None
                continue
            cells[r.label] = {
                "latency_ms": c.latency_ms,
                "map50_95": c.map50_95,
                "latency_ratio": round(c.latency_ms / base.latency_ms, 4)
                if base and base.latency_ms
                else None,
                "map_delta": round(c.map50_95 - base.map50_95, 5)
                if base and c.map50_95 is not None and base.map50_95 is not None
                else None,
                "on_front": c.on_front,
                "within_budget": c.within_budget,
                "selected": sels[r.label].selected is c,
            }
        first = next(c for c in per_run.values() if name in c)[name]
        rows.append({
            "name": name, "model": first.model, "imgsz": first.imgsz, "shape": first.input_shape.to_json(),
            "shape_label": first.shape_label, "train_imgsz": first.train_imgsz, "format": first.format,
            "precision": first.precision, "runs": cells,
            "selected_on": [r.label for r in runs if (cells[r.label] or {}).get("selected")],
            "fastest_on": min((r.label for r in runs if cells[r.label]), key=lambda lb: cells[lb]["latency_ms"]),
        })  # fmt: skip
    return rows


def _summary(runs: Sequence[Run], sels: dict[str, Selection]) -> str:
    chosen = {r.label: (sels[r.label].selected.name if sels[r.label].selected else None) for r in runs}
    picked = set(chosen.values())
    if picked == {None}:
        return "Nothing fits on any run."
    if len(picked) == 1:
        return f"{next(iter(picked))} is selected on every run."
    return "Selections differ: " + "; ".join(f"{lb}: {c or 'nothing fits'}" for lb, c in chosen.items()) + "."


def _markdown(runs, sels, rows, metric, summary) -> str:
    lines = ["# edgeyolo compare", "", summary, "", "## Selection per run", "",
             "| run | source | selected | reason |", "|---|---|---|---|"]  # fmt: skip
    for r in runs:
        s = sels[r.label]
        lines.append(f"| {_md(r.label)} | `{_md(r.source)}` | {s.selected.name if s.selected else 'none'} | "
                     f"{_md(s.reason)} |")  # fmt: skip
    ref = runs[0].label
    lines += ["", f"## Candidates side by side ({metric} end to end; ratios and deltas vs {_md(ref)})", "",
              "| candidate | " + " | ".join(f"{_md(r.label)} ms | ratio | mAP50-95 | delta" for r in runs) + " |",
              "|---|" + "---:|---:|---:|---:|" * len(runs)]  # fmt: skip
    for row in rows:
        cells = []
        for r in runs:
            c = row["runs"][r.label]
            if c is None:
                cells += ["-"] * 4
                continue
            mark = " *" if c["selected"] else ""
            cells += [f"{c['latency_ms']:.2f}{mark}", _f(c["latency_ratio"], "x"), _f(c["map50_95"], digits=3),
                      _f(c["map_delta"], digits=3, sign=True)]  # fmt: skip
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    lines += ["", "(* selected on that run)", "", "## Best candidate per run", ""]
    for r in runs:
        s = sels[r.label]
        best_map = max(
            (c for c in s.candidates if c.map50_95 is not None), key=lambda c: c.map50_95, default=None
        )
        lines.append(f"- **{_md(r.label)}**: selected {s.selected.name if s.selected else 'none'}; fastest "
                     f"{s.fastest.name if s.fastest else 'n/a'}; most accurate {best_map.name if best_map else 'n/a'}")  # fmt: skip
    lines += ["", f"_Generated by edgeyolo {__version__} on {time.strftime('%Y-%m-%d %H:%M:%S')}._", ""]
    return "\n".join(lines)


def _f(v, suffix: str = "", digits: int = 2, sign: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{v:+.{digits}f}{suffix}" if sign else f"{v:.{digits}f}{suffix}"


def _html(runs, sels, rows, metric, summary) -> str:
    pts, fronts, budgets = [], [], []
    for r in runs:
        s = sels[r.label]
        pts += tables.points(s, device=r.label)
        fronts.append((r.label, [(c.latency_ms, c.map50_95) for c in s.front]))
        if s.budget_ms is not None:
            budgets.append((r.label, s.budget_ms))
    if len({b for _, b in budgets}) == 1:  # one shared budget: one line
        budgets = [("", budgets[0][1])]
    scatter = H.figure(
        plots.scatter_svg(pts, metric=metric, budgets=budgets, fronts=fronts, annotate=len(pts) <= 16),
        "Marker shape: run/device; colour: format/precision; size: input size"
        + ("; hollow: camera-shaped input" if any(p.camera for p in pts) else "")
        + "; dashed: each run's Pareto front; dotted: budget; ringed: each run's selection.",
    )
    ref = runs[0].label
    sel_rows = []
    for r in runs:
        s = sels[r.label]
        best_map = max(
            (c for c in s.candidates if c.map50_95 is not None), key=lambda c: c.map50_95, default=None
        )
        sel_rows.append([r.label, H.Cell(f"<code>{H.esc(r.source)}</code>", sort=r.source, safe=True),
                         s.selected.name if s.selected else "none", H.num(s.budget_ms, 1),
                         s.fastest.name if s.fastest else "n/a", best_map.name if best_map else "n/a", s.reason])  # fmt: skip
    sel_table = H.table(["run", "source", "selected", "budget ms", "fastest", "most accurate", "reason"], sel_rows,
                        numeric=[False, False, False, True, False, False, False])  # fmt: skip
    headers, numeric, groups = ["candidate"], [False], [("", 1)]
    for i, r in enumerate(runs):
        cols = [f"{metric} ms", "mAP50-95"] if i == 0 else [f"{metric} ms", "ratio", "mAP50-95", "mAP delta"]
        headers += cols
        numeric += [True] * len(cols)
        groups.append((r.label + (" (reference)" if i == 0 else ""), len(cols)))
    headers += ["selected on", "fastest on"]
    numeric += [False, False]
    groups.append(("", 2))
    body, classes = [], []
    for row in rows:
        cells = [H.Cell(f'<span class="name">{H.esc(row["name"])}</span>', sort=row["name"], safe=True)]
        for i, r in enumerate(runs):
            c = row["runs"][r.label]
            if c is None:
                cells += [H.num(None)] * (2 if i == 0 else 4)
                continue
            lat = H.Cell(f"{c['latency_ms']:.2f}" + (" &#9733;" if c["selected"] else ""), sort=c["latency_ms"],
                         num=True, safe=True)  # fmt: skip
            cells += [lat, H.num(c["map50_95"], 4)] if i == 0 else [
                lat, H.num(c["latency_ratio"], 2), H.num(c["map50_95"], 4), H.num(c["map_delta"], 4)]  # fmt: skip
        cells += [", ".join(row["selected_on"]), row["fastest_on"]]
        body.append(cells)
        classes.append("selected" if row["selected_on"] else "")
    side = H.table(headers, body, row_classes=classes, numeric=numeric, groups=groups) + (
        f'<p class="muted">Ratios and deltas are relative to {H.esc(ref)}; &#9733; marks a run\'s selection. '
        "Click a column header to sort.</p>"
    )
    envs = "".join(
        f"<h3>{H.esc(r.label)}</h3>"
        + "".join(H.kv_table(env.items()) for _, env in tables.devices(r.records))
        for r in runs
    )
    header = f'<div class="summary"><div class="choice">{H.esc(summary)}</div></div>'
    sections = [
        H.section("Accuracy vs latency, all runs", scatter, anchor="scatter"),
        H.section("Selection per run", sel_table, anchor="selections"),
        H.section("Candidates side by side", side, anchor="candidates"),
        H.section("Devices", envs, anchor="devices"),
    ]
    return H.page("edgeyolo compare", header, sections)


def compare(
    runs: Sequence[Run],
    out: str | Path,
    budget_ms: float | None = None,
    metric: Metric = "p90",
    *,
    fps: float | None = None,
    min_map: float | None = None,
) -> CompareResult:
    """Compare runs (devices or versions) and write ``compare.json``, ``compare.md`` and ``compare.html``.

    Args:
        runs: at least two labelled record sets (see :func:`load_runs`); the first is the reference.
        out: the folder to write into (created).
        budget_ms, metric, fps, min_map: as for :func:`edgeyolo.select.select`, applied to every run; without a
            budget each run uses its own profile's.

    Raises:
        ConfigError: fewer than two runs, or duplicate labels.
    """
    if len(runs) < 2:
        raise ConfigError(
            f"compare needs at least two runs (results files, or devices in one file), got {len(runs)}; "
            "pass A.jsonl B.jsonl ..."
        )
    labels = [r.label for r in runs]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"compare: run labels must be unique, got {labels}")
    sels = {
        r.label: select(r.records, budget_ms=budget_ms, metric=metric, fps=fps, min_map=min_map) for r in runs
    }
    empty = [r.label for r in runs if not sels[r.label].candidates]
    if empty:
        raise ResultsError(
            f"compare: {empty[0]} has no successful benchmark records; leave it out or rerun bench."
        )
    rows = _rows(runs, sels)
    summary = _summary(runs, sels)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "schema": "edgeyolo.compare/1",
        "edgeyolo": __version__,
        "metric": f"end_to_end {metric}",
        "reference": runs[0].label,
        "summary": summary,
        "runs": [{"label": r.label, "source": r.source, "selection": sels[r.label].to_dict()} for r in runs],
        "candidates": rows,
    }
    files = {
        "json": write_json_atomic(out / "compare.json", payload),
        "markdown": write_text_atomic(out / "compare.md", _markdown(runs, sels, rows, metric, summary)),
        "html": write_text_atomic(out / "compare.html", _html(runs, sels, rows, metric, summary)),
    }
    return CompareResult(out=out, files=files, runs=list(runs), selections=sels, summary=summary, rows=rows)
