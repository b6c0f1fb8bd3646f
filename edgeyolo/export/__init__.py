"""Export trained weights to NMS-free artifacts for a device profile's targets.

Each (format, precision, input shape) becomes one folder ``<model>-<size>-<format>-<precision>/`` (size ``320``
square, ``320x192`` width x height for a camera-shaped input) holding
the model and a ``manifest.json``, ready to copy to the device (or one archive with ``bundle``). Every
artifact is loaded back with its runtime to confirm the end-to-end output ``[1, max_det, 6]``; a format
that drops the end-to-end head is refused, never shipped with a silently different output contract.
With a dataset, each artifact is compared with the PyTorch model on val images (parity): FP32 must
agree, and an FP16/INT8 accuracy collapse fails the export unless ``allow_degraded``. A target that
fails does not stop the others. An artifact already in the output folder is kept only when the same settings
would make it (weights, input shape, ``max_det``, INT8 calibration, parity: :mod:`edgeyolo.export.reuse`);
``force`` exports it again regardless.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from edgeyolo._io import sha256_file, write_json_atomic
from edgeyolo.errors import ConfigError, EdgeYoloError, ExportError, WeightsNotFoundError
from edgeyolo.export.job import ExportJob, library_imgsz
from edgeyolo.export.manifest import package_versions, write_manifest
from edgeyolo.export.reuse import Reuse, calibration_block, decide, parity_source
from edgeyolo.formats import get_format, load, recorded_packages
from edgeyolo.profiles import DeviceProfile, TargetSpec
from edgeyolo.shapes import Shape, parse_shape, shape_of

ADVISED_CALIBRATION_IMAGES = 300
FP32_MIN_MATCH = 0.9  # FP32 artifacts must reproduce at least this share of PyTorch's detections ...
FP32_MAX_SCORE_DIFF = 0.01  # ... with scores this close (FP32 vs FP32 differ by ~1e-5) ...
FP32_MIN_MEAN_IOU = 0.99  # ... and boxes this close
COLLAPSE_RATIO = 0.2  # FP16/INT8 keeping less than this share of PyTorch's mAP50-95 is a collapse
DEGRADED_DROP = 0.05  # ... and losing more than this mAP50-95 is flagged as degraded


@dataclass(frozen=True)
class ExportConfig:
    profile: DeviceProfile
    weights: Path
    out: Path
    # Input sizes: an int is square, a Shape (h, w) camera-shaped. Default: the profile's sizes and explicit shapes.
    imgsz: tuple[int | Shape, ...] | None = None
    targets: tuple[TargetSpec, ...] | None = None  # default: the profile's targets
    data: Path | None = None  # INT8 calibration and parity images (val split)
    max_det: int = 300  # TopK baked into the NMS-free graph = output rows
    parity_images: int = 16  # val images compared against PyTorch when data is given
    calibration_fraction: float = 1.0  # share of the val split used for INT8 calibration
    allow_degraded: bool = False  # keep artifacts whose parity check failed (marked in the manifest)
    bundle: bool = False  # also pack the artifacts into one .tar.gz
    device: str = "0"  # CUDA device for TensorRT builds
    force: bool = False  # re-export even when a complete artifact exists


@dataclass
class TargetExport:
    target: TargetSpec
    imgsz: Shape
    status: str  # ok | skipped | error
    artifact: Path | None = None
    reason: str = ""
    reused: bool = False
    warnings: list[str] = field(default_factory=list)


@dataclass
class ExportResult:
    model: str
    items: list[TargetExport] = field(default_factory=list)
    bundle: Path | None = None

    @property
    def artifacts(self) -> list[Path]:
        return [i.artifact for i in self.items if i.status == "ok" and i.artifact is not None]


def output_rows(imgsz: int | Shape, max_det: int, strides: tuple[int, ...] = (8, 16, 32)) -> int:
    """Rows of the NMS-free output: the head's TopK keeps max_det of its anchors, or all when there are fewer
    (a 64 px input has 8x8 + 4x4 + 2x2 = 84 anchors)."""
    shape = shape_of(imgsz)
    return min(max_det, sum((shape.h // s) * (shape.w // s) for s in strides))


def artifact_name(model: str, imgsz: int | Shape, target: TargetSpec) -> str:
    """``yolo26n-320-onnx-fp32``; a camera-shaped input is named width x height: ``yolo26n-320x192-onnx-fp32``."""
    return f"{model}-{shape_of(imgsz).label}-{target.format}-{target.precision}"


def export_shapes(cfg: ExportConfig) -> tuple[Shape, ...]:
    """The inputs to export at: the given sizes, or the profile's square sizes and its explicit ``WxH`` shapes."""
    if cfg.imgsz:
        return tuple(dict.fromkeys(parse_shape(s, "export --imgsz") for s in cfg.imgsz))
    p = cfg.profile
    return tuple(dict.fromkeys([*(Shape.square(s) for s in p.imgsz), *p.shapes]))


def unavailable_reason(target: TargetSpec, data: Path | None) -> str | None:
    """Why this machine cannot build ``target`` (None when it can): the format's refusal of the precision, INT8
    without calibration images, a missing export package, or the format's own check."""
    fmt = get_format(target.format)
    refused = fmt.refusal(target.precision)
    if refused:
        return refused
    if target.precision == "int8" and data is None:
        return "INT8 needs calibration images: pass --data D.yaml"
    missing = [p for p in fmt.packages_for(target.precision) if find_spec(p.module) is None]
    if missing:
        return f"{missing[0].module} is not installed: pip install 'edgeyolo[{missing[0].extra}]'"
    return load(fmt.check)(fmt.name) if fmt.check else None


def _calibration_images(cfg: ExportConfig) -> list[Path]:
    """The val images INT8 calibration reads: the first ``calibration_fraction`` of the split."""
    from edgeyolo.data.yolo import list_images, load_dataset

    ds = load_dataset(cfg.data)
    images = list_images(ds.splits["val"], str(ds.yaml_path))
    return images[: int(len(images) * cfg.calibration_fraction)]


def _diagnosed_threshold(weights: Path) -> float | None:
    """The F1-optimal confidence that ``edgeyolo diagnose`` saved for the training run of these weights."""
    from edgeyolo.diagnose import load_conf_threshold

    run = weights.resolve().parent.parent  # <run>/weights/best.pt
    return load_conf_threshold(run) if weights.resolve().parent.name == "weights" else None


def _export_one(
    cfg: ExportConfig, info: dict, imgsz: Shape, target: TargetSpec, dest: Path, item: TargetExport
) -> None:
    from edgeyolo.runtime import load_runtime

    fmt = get_format(target.format)
    calibration, calibration_images = None, []
    if target.precision == "int8":
        calibration_images = _calibration_images(cfg)
        n = len(calibration_images)
        if n < 1:
            raise ConfigError(
                f"{cfg.data}: INT8 calibration would use 0 images (val split x calibration fraction "
                f"{cfg.calibration_fraction:g}); raise the fraction or add val images"
            )
        calibration = calibration_block(cfg.data, n, cfg.calibration_fraction)
        if n < ADVISED_CALIBRATION_IMAGES:
            item.warnings.append(
                f"INT8 calibration uses {n} images; {ADVISED_CALIBRATION_IMAGES}+ are advised for stable ranges"
            )
    if calibration is not None and fmt.quantization:  # quantized by edgeyolo: how, so reuse can compare
        calibration["quantization"] = load(fmt.quantization)
    with tempfile.TemporaryDirectory(dir=cfg.out, prefix=".staging-") as tmp:
        # Ultralytics writes next to the weights; a private copy keeps targets from clobbering each other.
        staged = Path(tmp) / "model.pt"
        shutil.copyfile(cfg.weights, staged)
        job = ExportJob(staged, Path(tmp), Path(tmp) / "artifact", imgsz, target.precision, cfg.data, cfg.max_det,
                        cfg.device, cfg.calibration_fraction, tuple(calibration_images))  # fmt: skip
        load(fmt.exporter)(job)
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for name in fmt.files:  # the model files only: anything else the exporter made stays in staging
            shutil.move(str(job.out / name), dest / name)

    fields = dict(
        format=target.format, precision=target.precision, runtime=target.runtime, imgsz=imgsz.to_json(),
        train_imgsz=info["imgsz"] if isinstance(info["imgsz"], int) else None, model=info["model"],
        names=info["names"], end2end=True, max_det=cfg.max_det, file=fmt.files[0],
        input_dtype="float32", source_weights={"path": str(Path(cfg.weights).resolve()), "sha256": info["sha256"]},
        calibration=calibration, conf_threshold=_diagnosed_threshold(Path(cfg.weights)),
        versions=package_versions("ultralytics", "torch", *recorded_packages()),
    )  # fmt: skip
    write_manifest(dest, **fields)
    # Load it back with its runtime: the graph must be the NMS-free one, [1, max_det, 6].
    rt = load_runtime(dest)
    inp, out = rt.io_spec()
    raw = np.asarray(rt.infer(np.zeros((1, 3, imgsz.h, imgsz.w), rt.input_dtype())))
    rows = output_rows(imgsz, cfg.max_det)
    if raw.shape != (1, rows, 6):
        shutil.rmtree(dest, ignore_errors=True)
        raise ExportError(
            f"{target.format} {target.precision} dropped the end-to-end head: output {list(raw.shape)}, expected "
            f"[1, {rows}, 6] (a library/runtime limitation for this format); refusing to ship a different output contract"
        )
    fields.update(
        input=inp, output=out, max_det=rows, input_dtype="float16" if "16" in str(inp["dtype"]) else "float32"
    )
    write_manifest(dest, **fields)


def check_parity(cfg: ExportConfig, dest: Path, imgsz: int | Shape) -> dict:
    """Artifact vs PyTorch on val images (the PyTorch model letterboxed into the same ``imgsz``): matched
    detections, IoU, score differences, and both mAPs."""
    imgsz = shape_of(imgsz)
    import json

    import cv2

    from edgeyolo._backend.predict import predict_torch
    from edgeyolo.bench.accuracy import coco_map
    from edgeyolo.data.yolo import load_dataset, load_split
    from edgeyolo.export.parity import compare_detections
    from edgeyolo.runtime import load_runtime

    dataset = load_dataset(cfg.data)
    items = load_split(dataset, "val", limit=cfg.parity_images)
    images = [cv2.imread(str(i.path)) for i in items]
    sizes = [im.shape[:2] for im in images]
    conf = 0.001  # the ranked list that mAP is scored on, not just the confident top
    reference = predict_torch(cfg.weights, images, imgsz=library_imgsz(imgsz), conf=conf, max_det=cfg.max_det)
    runtime = load_runtime(dest)
    candidate = [runtime.predict(img, conf=conf) for img in images]
    report = compare_detections(reference, candidate).to_dict()
    ref_map = coco_map(items, sizes, reference, dataset.names)["map50_95"]
    art_map = coco_map(items, sizes, candidate, dataset.names)["map50_95"]
    report.update(
        conf=conf,
        torch_map50_95=ref_map,
        artifact_map50_95=art_map,
        **parity_source(cfg.data, cfg.parity_images),
    )
    manifest = json.loads((dest / "manifest.json").read_text())
    precision = manifest["precision"]
    status, why = "ok", ""
    if precision == "fp32" and (
        report["match_rate"] < FP32_MIN_MATCH
        or (report["max_score_diff"] or 0.0) > FP32_MAX_SCORE_DIFF
        or (report["mean_iou"] if report["mean_iou"] is not None else 1.0) < FP32_MIN_MEAN_IOU
    ):
        status = "failed"
        why = (
            f"FP32 artifact disagrees with PyTorch: {report['match_rate']:.0%} of detections matched (>= "
            f"{FP32_MIN_MATCH:.0%} needed), max score difference {report['max_score_diff']}, mean IoU {report['mean_iou']}"
        )
    elif ref_map and art_map is not None and ref_map >= 0.05 and art_map < COLLAPSE_RATIO * ref_map:
        status = "failed"
        why = f"{precision} accuracy collapsed: mAP50-95 {art_map:.3f} vs PyTorch {ref_map:.3f} on {len(items)} val images"
    elif ref_map is not None and art_map is not None and ref_map - art_map > DEGRADED_DROP:
        status, why = (
            "degraded",
            f"mAP50-95 {art_map:.3f} vs PyTorch {ref_map:.3f} on {len(items)} val images",
        )
    report.update(status=status, reason=why)
    manifest["parity"] = report
    write_json_atomic(dest / "manifest.json", manifest)
    return report


def export(cfg: ExportConfig) -> ExportResult:
    """Export every requested (target, image size); failures are recorded per target."""
    if not Path(cfg.weights).is_file():
        raise WeightsNotFoundError(
            f"Weights '{cfg.weights}' not found; pass the best.pt written by 'edgeyolo train'."
        )
    if not 0 < cfg.calibration_fraction <= 1:
        raise ConfigError(f"export: calibration fraction must be in (0, 1], got {cfg.calibration_fraction}")
    if cfg.data is not None:
        from edgeyolo.data.yolo import load_dataset

        load_dataset(cfg.data)
    from edgeyolo._backend.checkpoints import checkpoint_info

    info = checkpoint_info(Path(cfg.weights))
    if not info["end2end"]:
        raise ConfigError(
            f"{cfg.weights}: found {info['head']}, so it cannot run NMS-free; edgeyolo deploys YOLO26 heads "
            "(train from yolo26n.yaml / yolo26*.pt, and export the unfused training checkpoint)"
        )
    info["sha256"] = sha256_file(cfg.weights)
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    result = ExportResult(model=info["model"])
    for imgsz in export_shapes(cfg):
        for target in cfg.targets or cfg.profile.targets:
            dest = Path(cfg.out) / artifact_name(info["model"], imgsz, target)
            item = TargetExport(target, imgsz, "ok", dest)
            result.items.append(item)
            reason = unavailable_reason(target, cfg.data)
            if reason:
                item.status, item.artifact, item.reason = "skipped", None, reason
                continue
            try:
                reuse = None if cfg.force else _reuse(cfg, info["sha256"], imgsz, target, dest)
                if reuse is not None:
                    item.warnings += reuse.warnings
                if reuse is None or not reuse.keep:
                    _export_one(cfg, info, imgsz, target, dest, item)
                if cfg.data is not None and (reuse is None or not reuse.keep or reuse.check_parity):
                    parity = check_parity(cfg, dest, imgsz)
                    if parity["status"] == "failed" and not cfg.allow_degraded:
                        shutil.rmtree(dest, ignore_errors=True)
                        raise ExportError(
                            f"parity check failed: {parity['reason']} (--allow-degraded keeps it)"
                        )
                    if parity["status"] != "ok":
                        item.warnings.append(f"parity {parity['status']}: {parity['reason']}")
                item.reused = reuse is not None and reuse.keep
            except EdgeYoloError as e:
                item.status, item.artifact, item.reason = "error", None, str(e)
            except Exception as e:  # a library failure in one target must not stop the others
                shutil.rmtree(dest, ignore_errors=True)
                msg = str(e).strip().splitlines()[-1] if str(e).strip() else ""
                item.status, item.artifact, item.reason = "error", None, f"{type(e).__name__}: {msg}"
    if cfg.bundle and result.artifacts:
        result.bundle = bundle_artifacts(
            result.artifacts, Path(cfg.out) / f"{info['model']}-artifacts.tar.gz"
        )
    return result


def bundle_artifacts(artifacts: list[Path], archive: Path) -> Path:
    """One ``.tar.gz`` holding each artifact folder (model + manifest), for copying to a device."""
    tmp = archive.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for a in artifacts:
            tar.add(a, arcname=a.name)
    tmp.replace(archive)
    return archive


def _reuse(cfg: ExportConfig, weights_sha: str, imgsz: Shape, target: TargetSpec, dest: Path) -> Reuse:
    """Whether the artifact already in ``dest`` is what ``cfg`` would make (:func:`edgeyolo.export.reuse.decide`)."""
    calibration = None
    if target.precision == "int8":
        calibration = calibration_block(cfg.data, len(_calibration_images(cfg)), cfg.calibration_fraction)
    return decide(
        dest,
        weights_sha=weights_sha,
        shape=imgsz,
        target=target,
        rows=output_rows(imgsz, cfg.max_det),
        calibration=calibration,
        data=cfg.data,
        parity_images=cfg.parity_images,
        allow_degraded=cfg.allow_degraded,
    )
