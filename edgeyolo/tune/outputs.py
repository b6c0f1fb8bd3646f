"""What a search leaves in its folder, the same for both backends.

- ``trials.jsonl``: one record per finished trial, appended as it finishes (the source of truth).
- ``trials.csv``: the same flattened (one column per hyperparameter), rewritten after each trial.
- ``best.yaml``: the best trial's training settings, for ``edgeyolo train --config best.yaml``.
- ``best.pt``: the best trial's weights (copied).
- ``tune.html``: fitness over trials and each hyperparameter against mAP50-95, inline SVG, no network.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from edgeyolo._io import append_jsonl, write_text_atomic
from edgeyolo.errors import ConfigError

TRIALS_JSONL = "trials.jsonl"
TRIALS_CSV = "trials.csv"
BEST_YAML = "best.yaml"
BEST_WEIGHTS = "best.pt"
HTML = "tune.html"
_CSV_FIELDS = ("trial", "state", "fitness", "map50_95", "map50", "precision", "recall", "latency_ms",
               "epochs_run", "seconds", "error")  # fmt: skip


def read_records(out: Path) -> list[dict[str, Any]]:
    """Records of finished trials; a torn last line (a kill mid-write) is ignored."""
    path = Path(out) / TRIALS_JSONL
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i < len(lines) - 1:
                raise ConfigError(f"{path}: line {i + 1} is not JSON; fix or remove it") from None
    return records


def add_record(out: Path, record: dict[str, Any]) -> list[dict[str, Any]]:
    """Append a trial's record, rewrite the CSV and the report; returns every record so far."""
    append_jsonl(Path(out) / TRIALS_JSONL, record)
    records = read_records(out)
    write_csv(out, records)
    return records


def write_csv(out: Path, records: list[dict[str, Any]]) -> Path:
    params = sorted({k for r in records for k in r.get("params", {})})
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([*_CSV_FIELDS, *params])
    for r in records:
        w.writerow(
            [_cell(r.get(k)) for k in _CSV_FIELDS] + [_cell(r.get("params", {}).get(p)) for p in params]
        )
    return write_text_atomic(Path(out) / TRIALS_CSV, buf.getvalue())


def _cell(v: Any) -> Any:
    return "" if v is None else v


def best_record(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Highest fitness among trials that ran all their epochs (pruned ones were judged unpromising early);
    ties go to the earlier trial."""
    done = [r for r in records if r.get("state") == "complete" and r.get("fitness") is not None]
    if not done:
        return None
    return max(done, key=lambda r: (r["fitness"], -r["trial"]))


def train_config_dict(cfg: Any) -> dict[str, Any]:
    """A TrainConfig as the keys ``edgeyolo train --config`` reads (see ``edgeyolo.train.config_from_file``)."""
    from edgeyolo.train import TrainConfig

    defaults = {
        f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING
    }
    prof = cfg.profile
    profile = str(Path(prof.source).resolve()) if prof.source and Path(prof.source).is_file() else prof.name
    d: dict[str, Any] = {"profile": profile, "data": str(Path(cfg.data).resolve()), "model": cfg.model,
                         "epochs": cfg.epochs, "imgsz": cfg.imgsz or prof.imgsz[0]}  # fmt: skip
    for name in ("batch", "device", "optimizer", "lr0", "patience", "seed", "deterministic", "preset", "box",
                 "cls", "aug", "aerial", "stal", "assign_min_px", "check"):  # fmt: skip
        v = getattr(cfg, name)
        if v != defaults.get(name):
            d[name] = v
    if cfg.stal_config is not None:
        d["stal_config"] = {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg.stal_config).items()
        }
    d["progloss"] = cfg.progloss.to_dict()
    d.update({k: v for k, v in cfg.overrides.items()})
    return _plain(d)


def _plain(v: Any) -> Any:
    """YAML-safe builtins (numpy scalars from samplers become floats/ints)."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        return v.item()
    return v


def write_best(
    out: Path, ctx: Any, record: dict[str, Any], n_trials: int, objective: str
) -> tuple[Path, Path | None]:
    """``best.yaml`` (the best trial's settings at the search's epochs) and ``best.pt`` (its weights)."""
    from edgeyolo.tune.space import apply_params

    cfg = apply_params(ctx.base, record["params"])
    settings = train_config_dict(cfg)
    header = (f"# Best of {n_trials} trials of 'edgeyolo tune' (trial {record['trial']}, objective {objective}, "
              f"fitness {record['fitness']:.4f}, mAP50-95 {record['map50_95'] or 0:.4f}).\n"
              "# Train it with: edgeyolo train --config best.yaml  (options given there win, e.g. --epochs 300)\n"
              f"# Sampled: {json.dumps(_plain(record['params']), sort_keys=True)}\n")  # fmt: skip
    yaml_path = write_text_atomic(Path(out) / BEST_YAML, header + yaml.safe_dump(settings, sort_keys=False))
    weights = None
    src = Path(record["weights"]) if record.get("weights") else None
    if src is not None and src.is_file():
        weights = Path(out) / BEST_WEIGHTS
        tmp = weights.with_suffix(".tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(weights)
    return yaml_path, weights


# ---------------------------------------------------------------- HTML report
_STATE_COLOR = {"complete": "#1f77b4", "pruned": "#999999", "failed": "#d62728"}
_GUIDE = (
    "Learning rate: a dense cluster of high-mAP trials in one lr0 band marks the range to keep; a spread "
    "without a cluster means lr0 matters less than other settings here.",
    "Augmentation vs overfitting: if higher mosaic/mixup values go with higher val mAP, augmentation is "
    "fighting overfitting and pays; if they go with lower mAP, the dataset needs its distribution kept.",
    "Weight decay: small datasets are typically more sensitive to it; optimal values often sit around "
    "0.0003-0.0007.",
    "Pruned trials (grey) stopped early because their per-epoch mAP fell below the median of earlier trials at "
    "the same epoch; their final values are not comparable with complete trials.",
)


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _plots(records: list[dict[str, Any]], space: dict[str, dict[str, Any]]) -> tuple[str, str]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    plt.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, selectable
    fig, ax = plt.subplots(figsize=(7, 3.2))
    best, xs, ys = None, [], []
    for r in records:
        if r.get("fitness") is not None:
            ax.scatter(r["trial"], r["fitness"], color=_STATE_COLOR.get(r["state"], "k"), s=24, zorder=3)
        if r.get("state") == "complete" and r.get("fitness") is not None:
            best = r["fitness"] if best is None else max(best, r["fitness"])
        if best is not None:
            xs.append(r["trial"])
            ys.append(best)
    if xs:
        ax.step(xs, ys, where="post", color="#2ca02c", label="best so far")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("trial")
    ax.set_ylabel("fitness")
    ax.set_title("Fitness over trials (blue complete, grey pruned)", fontsize=10)
    ax.grid(alpha=0.3)
    fitness_svg = _svg(fig)
    plt.close(fig)

    names = [k for k in space if any(k in r.get("params", {}) for r in records)]
    if not names:
        return fitness_svg, ""
    cols = 4
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.4 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        pts = [(r["params"][name], r["map50_95"], r["state"]) for r in records
               if name in r.get("params", {}) and r.get("map50_95") is not None]  # fmt: skip
        spec = space[name]
        if spec.get("distribution") == "choice":
            cats = [str(v) for v in spec.get("values", [])]
            x = [cats.index(str(p[0])) if str(p[0]) in cats else -1 for p in pts]
            ax.set_xticks(range(len(cats)), cats, rotation=30, fontsize=7, ha="right")
            ax.set_xlim(-0.5, len(cats) - 0.5)
        else:
            x = [float(p[0]) for p in pts]
            lo, hi = float(spec["low"]), float(spec["high"])
            if spec.get("distribution") == "log-uniform":
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap on a short log axis
                ax.set_xlim(lo / 1.15, hi * 1.15)
            else:
                pad = (hi - lo) * 0.04
                ax.set_xlim(lo - pad, hi + pad)  # the searched range, so clusters read against it
        ax.scatter(x, [p[1] for p in pts], c=[_STATE_COLOR.get(p[2], "k") for p in pts], s=16)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.supylabel("mAP50-95", fontsize=9)
    fig.tight_layout()
    scatter_svg = _svg(fig)
    plt.close(fig)
    return fitness_svg, scatter_svg


def write_html(out: Path, records: list[dict[str, Any]], settings: dict[str, Any]) -> Path:
    """``tune.html``: self-contained (inline SVG and CSS, no scripts, no network), built by the report's page."""
    from edgeyolo.report import html as H

    space = settings.get("space", {})
    fitness_svg, scatter_svg = _plots(records, space) if records else ("", "")
    best = best_record(records)
    ranked = sorted(records, key=lambda r: (r.get("fitness") is None, -(r.get("fitness") or 0), r["trial"]))
    counts = {s: sum(r.get("state") == s for r in records) for s in ("complete", "pruned", "failed")}
    e = H.esc
    rows = []
    for r in ranked:
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(r.get("params", {}).items()))
        error = f" {r['error']}" if r.get("error") else ""
        numbers = [r["trial"], *(_fmt(r.get(k)) for k in ("fitness", "map50_95", "latency_ms")),
                   r.get("epochs_run", ""), _fmt(r.get("seconds"))]  # fmt: skip
        cells = [H.Cell(v, num=True) for v in numbers]
        rows.append(
            [cells[0], r.get("state", ""), *cells[1:], H.Cell(f"<code>{e(params + error)}</code>", safe=True)]
        )
    summary = (f"{len(records)} trials ({counts['complete']} complete, {counts['pruned']} pruned, "
               f"{counts['failed']} failed); objective {e(str(settings.get('objective')))}, backend "
               f"{e(str(settings.get('backend')))}, {settings.get('epochs')} epochs per trial at "
               f"{settings.get('imgsz')} px, profile {e(str(settings.get('profile')))}.")  # fmt: skip
    best_line = (f"Best: trial {best['trial']}, fitness {_fmt(best['fitness'])}, mAP50-95 {_fmt(best['map50_95'])}"
                 f" &mdash; <code>edgeyolo train --config {BEST_YAML}</code>." if best else "No complete trial yet.")  # fmt: skip
    guide = "".join(f"<li>{e(g)}</li>" for g in _GUIDE)
    headers = ["trial", "state", "fitness", "mAP50-95", "p90 ms", "epochs", "s", "hyperparameters"]
    sections = [
        H.section("Fitness over trials", fitness_svg),
        H.section("Each hyperparameter vs mAP50-95", scatter_svg),
        H.section("Reading the scatter plots", f"<ul>{guide}</ul>"),
        H.section("Trials, best first", H.table(headers, rows, sortable=False, numeric=[True, False, *[True] * 5, False])),
    ]  # fmt: skip
    header = f'<div class="summary"><p>{summary}</p><p>{best_line}</p></div>'
    doc = H.page("edgeyolo tune: hyperparameter search", header, sections, script=False)
    return write_text_atomic(Path(out) / HTML, doc)


def short(v: Any) -> str:
    """A hyperparameter or metric value for a log line or a table cell: floats to 4 significant digits."""
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _fmt(v: Any) -> str:
    return "" if v is None else short(v)
