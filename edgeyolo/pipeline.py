"""``edgeyolo run``: dataset -> train -> export -> bench -> select -> report in one call.

Each stage leaves its outputs under ``out/`` and is skipped on a rerun when they are complete: the
demo dataset, a finished training (``train/<name>/done.json``), exported artifacts (manifest written last),
and candidates already benchmarked (an ok record for the same artifact checksum in ``results.jsonl``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeyolo._io import write_json_atomic
from edgeyolo.profiles import DeviceProfile

Log = Callable[[str], None]


@dataclass(frozen=True)
class PipelineConfig:
    profile: DeviceProfile
    out: Path
    data: Path | None = None  # None: generate the built-in demo dataset into out/data
    model: str = "yolo26n.yaml"
    epochs: int = 15
    imgsz: int | None = None  # training and export size; default: the profile's first
    batch: int = 8
    device: str | None = None
    synth_train: int = 128  # demo dataset size when data is None
    synth_val: int = 32
    bench_iterations: int | None = None  # default: the profile's
    bench_warmup: int | None = None
    train_overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineResult:
    data: Path
    weights: Path
    artifacts: list[Path]
    results: Path
    report_dir: Path
    selected: str | None
    reason: str
    export_summary: list[tuple[str, str, str]]  # (target, status, reason)
    train_map50_95: float | None


def run_pipeline(cfg: PipelineConfig, log: Log = lambda msg: None) -> PipelineResult:
    from edgeyolo.bench import BenchConfig, benchmark, read_records
    from edgeyolo.data.synth import SynthConfig, synthesize
    from edgeyolo.export import ExportConfig, export
    from edgeyolo.report import report
    from edgeyolo.train import TrainConfig, model_stem, train

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    p = cfg.profile
    imgsz = cfg.imgsz or p.imgsz[0]

    # 1. dataset
    data = cfg.data
    if data is None:
        data = out / "data" / "data.yaml"
        if data.is_file():
            log(f"[data] reusing demo dataset {data}")
        else:
            log(f"[data] generating the demo dataset ({cfg.synth_train} train / {cfg.synth_val} val images)")
            synthesize(SynthConfig(out=data.parent, train=cfg.synth_train, val=cfg.synth_val, imgsz=imgsz))

    # 2. train
    name = f"{model_stem(cfg.model)}-{imgsz}"
    done = out / "train" / name / "done.json"
    if done.is_file():
        info = json.loads(done.read_text())
        weights, train_map = Path(info["best"]), info.get("map50_95")
        log(f"[train] reusing {weights} (finished earlier)")
    else:
        log(f"[train] {cfg.model} at {imgsz} px for {cfg.epochs} epochs on {p.name}'s first image size")
        tr = train(TrainConfig(profile=p, data=data, out=out / "train", model=cfg.model, epochs=cfg.epochs,
                               imgsz=imgsz, batch=cfg.batch, device=cfg.device, name=name,
                               overrides=cfg.train_overrides), log=log)  # fmt: skip
        weights, train_map = tr.best, tr.map50_95
        write_json_atomic(done, {"best": str(tr.best), "map50_95": train_map, "epochs": tr.epochs_run,
                                 "seconds": round(tr.seconds, 1), "metrics": tr.metrics})  # fmt: skip
        log(
            f"[train] done in {tr.seconds:.0f} s: mAP50-95 {train_map if train_map is not None else 'n/a'} ({weights})"
        )

    # 3. export every target this machine can build (the others are reported with the reason)
    ex = export(ExportConfig(profile=p, weights=weights, out=out / "artifacts", imgsz=(imgsz,), data=data))
    summary = []
    for item in ex.items:
        t = f"{item.target.format}-{item.target.precision}"
        summary.append((t, item.status, item.reason or ("reused" if item.reused else "")))
        log(
            f"[export] {'✅' if item.status == 'ok' else '❌'} {t} {item.imgsz}: {item.artifact or item.reason}"
        )
        for w in item.warnings:
            log(f"[export]    warning: {w}")

    # 4. benchmark (candidates already measured are not measured again)
    results = out / "results.jsonl"
    iterations = p.bench.iterations if cfg.bench_iterations is None else cfg.bench_iterations
    log(f"[bench] {len(ex.artifacts)} candidate(s), {iterations} timed runs each, each in a fresh process")
    bench = benchmark(
        BenchConfig(profile=p, artifacts=tuple(ex.artifacts), out=results, data=data, iterations=cfg.bench_iterations,
                    warmup=cfg.bench_warmup, resume=True),
        on_record=lambda r: log(
            f"[bench] {r['candidate'].get('artifact')}: "
            + (f"p50 {r['latency_ms']['end_to_end']['p50']:.2f} ms, mAP50-95 {(r['accuracy'] or {}).get('map50_95')}"
               if r["status"] == "ok" else f"error: {r['message']}")
        ),
    )  # fmt: skip
    if bench.skipped:
        log(f"[bench] {len(bench.skipped)} candidate(s) already benchmarked: kept their records")

    # 5. select + report
    rep = report(read_records(results), out / "report")
    sel = rep.selection
    return PipelineResult(
        data=data, weights=weights, artifacts=ex.artifacts, results=results, report_dir=rep.out,
        selected=sel.selected.name if sel.selected else None, reason=sel.reason, export_summary=summary,
        train_map50_95=train_map,
    )  # fmt: skip
