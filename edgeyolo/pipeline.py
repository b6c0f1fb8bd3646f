"""``edgeyolo run``: the full sweep, dataset -> train -> export -> bench -> select -> report, resumable.

One training per (model, image size) (or given weights), every target of the profile exported at the size each
model was trained at and at every smaller size of the sweep (a model trained at 480 and run at 320 is a real
candidate, often better than one trained at 320), each size square and camera-shaped (the profile's camera, else
the aspect nearly all val images share: 16:9 at 320 is a 320x192 input, with no letterbox padding to compute on),
every artifact benchmarked here or on devices over SSH in interleaved rounds, then select and report. Each stage leaves its
outputs under ``out/`` and a rerun continues where it stopped: the demo dataset, finished trainings
(``train/<model>-<size>/done.json``), an interrupted training (resumed from its ``last.pt``), exported
artifacts (manifest written last) and benchmarked candidates (an ok record for the same artifact checksum
in ``results.jsonl``) are never redone. With ``ray_address`` the trainings and exports are Ray tasks
(``sweep_ray.py``) writing the same run folder; bench, select and report stay where they are.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeyolo._io import write_json_atomic
from edgeyolo.errors import CheckpointError, ConfigError, EdgeYoloError, ExportError
from edgeyolo.profiles import DeviceProfile, parse_sizes_and_shapes
from edgeyolo.shapes import Aspect, Shape

Log = Callable[[str], None]
DEMO_ASPECT = "16:9"  # the demo dataset's frames: a modern camera's, so the demo shows the camera-shaped gain


@dataclass(frozen=True)
class PipelineConfig:
    profile: DeviceProfile
    out: Path
    data: Path | None = None  # None: generate the built-in demo dataset into out/data
    # Model scales or configs (yolo26n = yolo26n.yaml from scratch; a local .pt fine-tunes). None: the
    # profile's models with --data; yolo26n alone for the demo.
    models: tuple[str, ...] | None = None
    # Sizes: an int is square (trained at it), a Shape camera-shaped (trained square at its long side). None: the
    # profile's sizes with --data; its first for the demo.
    imgsz: tuple[int | Shape, ...] | None = None
    camera_shapes: bool = True  # add the camera-shaped input of every size next to the square one
    weights: tuple[Path, ...] = ()  # trained weights to reuse instead of training (exported at every size)
    epochs: int = 15
    batch: int = 8
    device: str | None = None
    synth_train: int = 128  # demo dataset size when data is None
    synth_val: int = 32
    bench_iterations: int | None = None  # default: the profile's
    bench_warmup: int | None = None
    bench_rounds: int | None = None  # interleaved rounds; default: the profile's bench.rounds
    train_overrides: dict[str, Any] = field(default_factory=dict)
    devices: tuple[Any, ...] = ()  # edgeyolo.bench.remote.Device: benchmark there instead of here
    remote: Any = None  # edgeyolo.bench.remote.RemoteOptions
    # Trainings and exports as Ray tasks (edgeyolo.sweep_ray): "auto", host:port, ray://host:10001, or "local".
    ray_address: str | None = None
    gpus_per_training: float | None = None  # None: 1 where the cluster has GPUs, else 0 (CPU training)
    cpus_per_training: float = 1.0
    num_cpus: int | None = None  # CPUs of a local Ray instance (ray_address "local"); None: every core
    shared_out: bool = False  # out is on storage every node mounts at the same path: tasks write there


@dataclass
class Training:
    model: str
    imgsz: int
    run_dir: Path | None  # None for given weights
    weights: Path | None = None
    map50_95: float | None = None
    state: str = "new"  # new | resume | done | given


@dataclass
class PipelineResult:
    data: Path
    trainings: list[Training]
    artifacts: list[Path]
    results: Path
    report_dir: Path
    selected: str | None
    reason: str
    export_summary: list[tuple[str, str, str]]  # (artifact or target, status, reason)
    reports: dict[str, Path] = field(default_factory=dict)  # device label -> report folder
    compare_dir: Path | None = None  # when several devices were measured

    @property
    def weights(self) -> Path | None:
        return self.trainings[0].weights if self.trainings else None


def sweep_sizes(cfg: PipelineConfig) -> tuple[tuple[int, ...], tuple[Shape, ...]]:
    """The sweep's ``--imgsz``: its training sizes (long sides) and its explicit camera shapes."""
    if not cfg.imgsz:
        return (), ()
    return parse_sizes_and_shapes(list(cfg.imgsz), "run --imgsz")


def deploy_sizes(t: Training, cfg: PipelineConfig) -> tuple[int, ...]:
    """The sizes a trained model is exported at: its own, then every smaller size of the profile and of the sweep
    (largest first). Given weights are exported at the sweep's sizes, one plan entry each."""
    if t.state == "given":
        return (t.imgsz,)
    smaller = {s for s in (*cfg.profile.imgsz, *sweep_sizes(cfg)[0]) if s < t.imgsz}
    return (t.imgsz, *sorted(smaller, reverse=True))


def deploy_shapes(t: Training, cfg: PipelineConfig, aspect: Aspect | None) -> tuple[Shape, ...]:
    """The inputs a trained model is exported at: at each of its deploy sizes the square input, the camera shape
    for ``aspect`` (unless ``camera_shapes`` is off) and the explicit ``WxH`` shapes of that long side."""
    camera, explicit = (aspect if cfg.camera_shapes else None), sweep_sizes(cfg)[1]
    return tuple(
        s for size in deploy_sizes(t, cfg) for s in cfg.profile.deploy_shapes(size, camera, explicit)
    )


@dataclass(frozen=True)
class CameraPlan:
    """Which aspect the camera-shaped candidates take, and what the plan says about it."""

    aspect: Aspect | None  # None: square inputs only
    text: str
    mismatch: str | None = None  # the profile's camera has an aspect the val images do not have


def camera_plan(profile: DeviceProfile, data: Path, enabled: bool = True) -> CameraPlan:
    """The camera's aspect: the profile's ``camera`` when it names one, else the aspect nearly all val images
    share; a named camera whose aspect the val images do not have is said (their accuracy is measured on frames
    that are not the camera's)."""
    from edgeyolo.data import aspect_text, val_aspect

    if not enabled:
        return CameraPlan(None, "camera-shaped inputs off (--square-only): square inputs only")
    found, share, n = val_aspect(data)
    seen = aspect_text(found, share, n)
    cam = profile.camera
    if cam is not None:
        text = f"camera {cam.label} (profile {profile.name})"
        mismatch = None
        if found is None or not cam.matches(found):
            mismatch = (f"profile {profile.name} names a {cam.label} camera but the val images are {seen}: the "
                        f"camera-shaped candidates' accuracy is measured on images that are not what the camera sends; "
                        "add val images from that camera to measure it")  # fmt: skip
        return CameraPlan(cam, text, mismatch)
    if found is None:
        return CameraPlan(
            None, f"val images have no common aspect (largest share {share:.0%} of {n}): square inputs only"
        )
    if found.w == found.h:
        return CameraPlan(None, f"val images are square ({share:.0%} of {n}): square inputs only")
    return CameraPlan(found, f"val images are {seen}: that is the camera's aspect")


def _model_spec(name: str) -> str:
    """``yolo26n`` -> ``yolo26n.yaml`` (from scratch, offline); YAML and .pt paths pass through."""
    return name if Path(name).suffix in (".yaml", ".yml", ".pt") else f"{name}.yaml"


def plan_trainings(cfg: PipelineConfig) -> list[Training]:
    """Every (model, size) to train, or every given weights file, with what is already on disk."""
    from edgeyolo.train import model_stem

    p = cfg.profile
    demo = cfg.data is None
    sizes = sweep_sizes(cfg)[0] or ((p.imgsz[0],) if demo else p.imgsz)
    if cfg.weights:
        if cfg.models:
            raise ConfigError(
                "run: pass either --weights (reuse trained models) or --models (train them), not both"
            )
        for w in cfg.weights:
            if Path(w).suffix != ".pt" or not Path(w).is_file():
                raise ConfigError(f"run --weights: '{w}' is not a .pt file on disk")
        return [Training(model=Path(w).stem, imgsz=s, run_dir=None, weights=Path(w), state="given")
                for w in cfg.weights for s in sizes]  # fmt: skip
    models = cfg.models or (("yolo26n",) if demo else p.models)
    plan = []
    for m in models:
        spec = _model_spec(m)
        for s in sizes:
            run_dir = Path(cfg.out) / "train" / f"{model_stem(spec)}-{s}"
            t = Training(model=spec, imgsz=s, run_dir=run_dir)
            done = run_dir / "done.json"
            if done.is_file():
                info = json.loads(done.read_text())
                t.weights, t.map50_95, t.state = Path(info["best"]), info.get("map50_95"), "done"
            elif (run_dir / "weights" / "last.pt").is_file():
                t.state = "resume"
            plan.append(t)
    return plan


def _train_one(t: Training, cfg: PipelineConfig, data: Path, log: Log, shapes: tuple[Shape, ...] | None = None
               ) -> None:  # fmt: skip
    from edgeyolo.train import TrainConfig, resume, train

    if t.state == "resume":
        from edgeyolo._backend.checkpoints import checkpoint_progress, recover_checkpoints
        from edgeyolo._ship import set_train_args

        last = t.run_dir / "weights" / "last.pt"
        try:
            for note in recover_checkpoints(last.parent):
                log(f"[train] {note}")
            epoch, _ = checkpoint_progress(last)
        except CheckpointError as e:  # killed while saving: nothing to continue from
            log(f"[train] {t.run_dir.name}: {e}; training it again from the start")
            last.unlink()
            t.state = "new"
            return _train_one(t, cfg, data, log, shapes)
        if epoch is None:  # every epoch ran; the process stopped before done.json was written
            best = t.run_dir / "weights" / "best.pt"
            log(f"[train] {t.run_dir.name}: all epochs had finished; using {best}")
            t.weights = best
            write_json_atomic(t.run_dir / "done.json", {"best": str(best), "map50_95": None})
            return
        tr = resume(t.run_dir, log=log)
        # the library saves a resumed run's model as its last.pt; the model it was trained from names its artifacts
        set_train_args(tr.best, model=t.model)
    else:
        tr = train(TrainConfig(profile=cfg.profile, data=data, out=t.run_dir.parent, model=t.model, epochs=cfg.epochs,
                               imgsz=t.imgsz, batch=cfg.batch, device=cfg.device, name=t.run_dir.name,
                               overrides=cfg.train_overrides, deploy_shapes=shapes), log=log)  # fmt: skip
    t.weights, t.map50_95 = tr.best, tr.map50_95
    write_json_atomic(t.run_dir / "done.json", {"best": str(tr.best), "map50_95": t.map50_95, "epochs": tr.epochs_run,
                                                "seconds": round(tr.seconds, 1), "metrics": tr.metrics})  # fmt: skip
    m = "n/a" if t.map50_95 is None else f"{t.map50_95:.4f}"
    log(f"[train] {t.run_dir.name} done in {tr.seconds:.0f} s: mAP50-95 {m}")


def _check_distinct_models(weights: Sequence[Path]) -> None:
    """Artifacts are named <model>-<size>-<format>-<precision>: two weights files of the same model would
    overwrite each other's artifacts and measurements."""
    from edgeyolo._backend.checkpoints import checkpoint_info

    seen: dict[str, Path] = {}
    for w in weights:
        model = checkpoint_info(Path(w))["model"]
        if model in seen:
            raise ConfigError(
                f"run --weights: {seen[model]} and {w} are both {model} models, so their artifacts would share "
                f"names ({model}-<size>-<format>-<precision>); sweep them into separate --out folders"
            )
        seen[model] = Path(w)


def _where(cfg: PipelineConfig) -> str:
    return ", ".join(d.name for d in cfg.devices) if cfg.devices else "this machine"


def _plan_text(plan: Sequence[Training], cfg: PipelineConfig, cam: CameraPlan) -> str:
    todo = [t for t in plan if t.state in ("new", "resume")]
    n_targets = len(cfg.profile.targets)
    n_exports = sum(len(deploy_shapes(t, cfg, cam.aspect)) for t in plan) * n_targets
    parts = [f"{len(plan)} model(s) x size(s)"]
    if not cfg.weights:
        resumed = sum(t.state == "resume" for t in plan)
        parts.append(f"{len(todo)} training(s) to run" + (f" ({resumed} resumed)" if resumed else "")
                     + f", {len(plan) - len(todo)} done")  # fmt: skip
    cross = sum(len(deploy_sizes(t, cfg)) - 1 for t in plan)
    shaped = sorted(
        {s for t in plan for s in deploy_shapes(t, cfg, cam.aspect) if not s.is_square}, reverse=True
    )
    parts.append(f"up to {n_exports} export(s) ({n_targets} targets each" + (
        f", {cross} smaller deploy size(s) of trained models" if cross else "") + (
        f", camera-shaped {', '.join(s.label for s in shaped)} next to square" if shaped else "") + ")")  # fmt: skip
    parts.append(f"up to {n_exports} benchmark(s) on {_where(cfg)}")
    lines = "[plan] " + "; ".join(parts) + f"\n[plan] inputs: {cam.text}"
    if cam.mismatch:
        lines += f"\n[plan] warning: {cam.mismatch}"
    return lines


def run_pipeline(cfg: PipelineConfig, log: Log = lambda msg: None) -> PipelineResult:
    from edgeyolo.bench import BenchConfig, benchmark, read_records
    from edgeyolo.bench.store import record_line
    from edgeyolo.data.synth import SynthConfig, synthesize
    from edgeyolo.report import compare, load_runs, report
    from edgeyolo.select import devices_of

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    p = cfg.profile
    plan = plan_trainings(cfg)

    # 1. dataset, and the camera's aspect (the profile's, or the one the val images share)
    data = cfg.data
    if data is None:
        data = out / "data" / "data.yaml"
        if data.is_file():
            log(f"[data] reusing demo dataset {data}")
        else:
            log(f"[data] generating the demo dataset ({cfg.synth_train} train / {cfg.synth_val} val images, "
                f"{DEMO_ASPECT} like a modern camera)")  # fmt: skip
            synthesize(SynthConfig(out=data.parent, train=cfg.synth_train, val=cfg.synth_val, imgsz=plan[0].imgsz,
                                   aspect=DEMO_ASPECT))  # fmt: skip
    else:
        from edgeyolo.data.yolo import load_dataset

        load_dataset(data)  # a missing or broken data.yaml is named before anything else
    cam = camera_plan(p, Path(data), cfg.camera_shapes)
    log(_plan_text(plan, cfg, cam))

    if cfg.weights:
        _check_distinct_models(cfg.weights)

    # 2-4. train, diagnose, export: here one after another, or as Ray tasks
    if cfg.ray_address:
        from edgeyolo.sweep_ray import Steps, run_on_ray

        steps = Steps(
            train=_train_one, diagnose=diagnose_training, export=export_training, shapes=deploy_shapes
        )
        artifacts, summary, sections = run_on_ray(plan, cfg, Path(data), cam, steps, log)
    else:
        artifacts, summary, sections = _train_and_export_here(plan, cfg, Path(data), cam, log)

    if not artifacts:
        raise ExportError(
            f"run: no target of profile {p.name} exported (see the [export] lines above); the trained weights are "
            f"kept under {out / 'train'}; fix the cause and rerun the same command"
        )

    # 5. benchmark (candidates already measured are not measured again)
    results = out / "results.jsonl"
    iterations = p.bench.iterations if cfg.bench_iterations is None else cfg.bench_iterations
    rounds = cfg.bench_rounds or p.bench.rounds
    log(f"[bench] {len(artifacts)} candidate(s) on {_where(cfg)}, {iterations} timed runs each in {rounds} interleaved "
        "round(s), one candidate at a time per device")  # fmt: skip
    done_count = [0]

    def on_record(r: dict) -> None:
        done_count[0] += 1
        log(f"[bench {done_count[0]}] {record_line(r)}")

    bcfg = BenchConfig(profile=p, artifacts=tuple(artifacts), out=results, data=data, iterations=cfg.bench_iterations,
                       warmup=cfg.bench_warmup, rounds=cfg.bench_rounds, resume=True)  # fmt: skip
    if cfg.devices:
        from edgeyolo.bench.remote import RemoteOptions, benchmark_remote

        bench = benchmark_remote(
            bcfg, cfg.devices, cfg.remote or RemoteOptions(), on_record=on_record, log=log
        )
    else:
        bench = benchmark(bcfg, on_record=on_record, log=lambda m: log(f"[bench] {m}"))
    if bench.skipped:
        log(f"[bench] {len(bench.skipped)} candidate(s) already benchmarked: kept their records")

    # 6. select + report: one report per device, and a comparison when there are several
    records = read_records(results)
    labels = devices_of(records)
    reports = {}
    for label in labels or [None]:
        folder = out / "report" if len(labels) <= 1 else out / "report" / _safe(label)
        reports[label] = report(
            records, folder, extra_sections=sections, device=label if len(labels) > 1 else None
        )
        sel = reports[label].selection
        log(f"[select] {label or p.name}: {sel.selected.name if sel.selected else 'none'}. {sel.reason}")
    compare_dir = None
    if len(labels) > 1:
        compare_dir = compare(load_runs([results]), out / "compare").out
        log(f"[compare] {len(labels)} devices side by side: {compare_dir / 'compare.html'}")
    first = next(iter(reports.values()))
    sel = first.selection
    return PipelineResult(
        data=data, trainings=plan, artifacts=artifacts, results=results, report_dir=first.out,
        selected=sel.selected.name if sel.selected else None, reason=sel.reason, export_summary=summary,
        reports={k or p.name: r.out for k, r in reports.items()}, compare_dir=compare_dir,
    )  # fmt: skip


def _train_and_export_here(plan: Sequence[Training], cfg: PipelineConfig, data: Path, cam: CameraPlan, log: Log
                           ) -> tuple[list[Path], list[tuple[str, str, str]], list[tuple[str, str]]]:  # fmt: skip
    """Steps 2-4 on this machine: every training, then every diagnosis, then every export."""
    for i, t in enumerate(plan, 1):  # 2. train, one (model, size) at a time
        tag = f"[train {i}/{len(plan)}]"
        if t.state in ("done", "given"):
            log(f"{tag} reusing {t.weights}" + (" (finished earlier)" if t.state == "done" else ""))
            continue
        log(
            f"{tag} {t.model} at {t.imgsz} px"
            + (" (resuming)" if t.state == "resume" else f", {cfg.epochs} epochs")
        )
        _train_one(t, cfg, data, log, deploy_shapes(t, cfg, cam.aspect))
    sections = [s for t in plan if (s := diagnose_training(t, data, log)) is not None]
    artifacts: list[Path] = []
    summary: list[tuple[str, str, str]] = []
    counts = [len(deploy_shapes(t, cfg, cam.aspect)) for t in plan]
    for n, t in enumerate(plan):
        a, s = export_training(
            t, cfg, data, cam, Path(cfg.out), log, first=sum(counts[:n]) + 1, total=sum(counts)
        )
        artifacts, summary = artifacts + a, summary + s
    return artifacts, summary, sections


def diagnose_training(t: Training, data: Path, log: Log) -> tuple[str, str] | None:
    """3. Diagnose a training (overfitting, metric rules, the F1-optimal confidence that export writes into the
    manifests, confusions): its report section, or None (given weights; a run that cannot be diagnosed is noted,
    not fatal)."""
    from edgeyolo.diagnose import diagnose, diagnosis_html

    if t.run_dir is None:
        return None
    try:
        d = diagnose(t.run_dir, data)
    except EdgeYoloError as e:
        log(f"[diagnose] {t.run_dir.name}: skipped ({e})")
        return None
    conf = "n/a" if d.threshold is None else f"{d.threshold.conf:.3f}"
    log(f"[diagnose] {t.run_dir.name}: overfitting {'yes' if d.overfitting.detected else 'no'}, "
        f"{len(d.findings)} finding(s), F1-optimal confidence {conf}")  # fmt: skip
    return f"Training diagnosis: {t.run_dir.name}", diagnosis_html(d)


def export_training(t: Training, cfg: PipelineConfig, data: Path, cam: CameraPlan, out: Path, log: Log,
                    first: int = 1, total: int | None = None) -> tuple[list[Path], list[tuple[str, str, str]]]:  # fmt: skip
    """4. Export every target of the profile at a training's size and at the smaller deploy sizes, square and
    camera-shaped, under ``out`` (failures reported, not fatal); a smaller deploy size goes under
    artifacts/trained<size>/, so a model trained at 480 and run at 320 never takes the folder of the one
    trained at 320."""
    from edgeyolo.export import ExportConfig, artifact_name, export
    from edgeyolo.train import model_stem

    artifacts, summary = [], []
    shapes = deploy_shapes(t, cfg, cam.aspect)
    total = total or len(shapes)
    for i, shape in enumerate(shapes, first):
        size = shape.long
        folder = out / "artifacts" if size == t.imgsz else out / "artifacts" / f"trained{t.imgsz}"
        ex = export(
            ExportConfig(profile=cfg.profile, weights=t.weights, out=folder, imgsz=(shape,), data=data)
        )
        for item in ex.items:
            target = folder / artifact_name(model_stem(t.model), item.imgsz, item.target)
            summary.append(
                (str(item.artifact or target), item.status, item.reason or ("reused" if item.reused else ""))
            )
            state = "reused" if item.reused else (item.reason or "exported")
            what = Path(target).name + (f" (trained at {t.imgsz})" if size != t.imgsz else "")
            log(f"[export {i}/{total}] {'✅' if item.status == 'ok' else '❌'} {what}: {state}")
            for w in item.warnings:
                log(f"[export]    warning: {w}")
        artifacts += ex.artifacts
    return artifacts, summary


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in label)
