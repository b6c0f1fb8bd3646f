"""Export trained weights to NMS-free artifacts for a device profile's targets.

Each (format, precision, image size) becomes one folder ``<model>-<imgsz>-<format>-<precision>/`` holding
the model and a ``manifest.json``, ready to copy to the device. A target that fails or is not supported
yet is reported with its reason and does not stop the others.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from edgeyolo._io import sha256_file
from edgeyolo.errors import ConfigError, EdgeYoloError, WeightsNotFoundError
from edgeyolo.export.manifest import package_versions, write_manifest
from edgeyolo.profiles import DeviceProfile, TargetSpec


@dataclass(frozen=True)
class ExportConfig:
    profile: DeviceProfile
    weights: Path
    out: Path
    imgsz: tuple[int, ...] | None = None  # default: the profile's sizes
    targets: tuple[TargetSpec, ...] | None = None  # default: the profile's targets
    data: Path | None = None  # calibration / parity images (val split)
    max_det: int = 300  # TopK baked into the NMS-free graph = output rows
    parity_images: int = 8  # val images compared against PyTorch when data is given
    force: bool = False  # re-export even when a complete artifact exists


@dataclass
class TargetExport:
    target: TargetSpec
    imgsz: int
    status: str  # ok | skipped | error
    artifact: Path | None = None
    reason: str = ""
    reused: bool = False


@dataclass
class ExportResult:
    model: str
    items: list[TargetExport] = field(default_factory=list)

    @property
    def artifacts(self) -> list[Path]:
        return [i.artifact for i in self.items if i.status == "ok" and i.artifact is not None]


# (format, precision) pairs edgeyolo can export today; the rest are reported as not supported yet.
SUPPORTED = {("onnx", "fp32")}


def artifact_name(model: str, imgsz: int, target: TargetSpec) -> str:
    return f"{model}-{imgsz}-{target.format}-{target.precision}"


def _onnx_io(path: Path) -> tuple[dict, dict]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph

    def describe(v):
        dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in v.type.tensor_type.shape.dim]
        return {
            "name": v.name,
            "shape": dims,
            "dtype": onnx.TensorProto.DataType.Name(v.type.tensor_type.elem_type).lower(),
        }

    return describe(graph.input[0]), describe(graph.output[0])


def _export_onnx(cfg: ExportConfig, info: dict, imgsz: int, target: TargetSpec, dest: Path) -> None:
    from edgeyolo._ultralytics import export_model

    with tempfile.TemporaryDirectory(dir=cfg.out, prefix=".staging-") as tmp:
        # Ultralytics writes next to the weights; a private copy keeps parallel sizes from clobbering.
        staged = Path(tmp) / "model.pt"
        shutil.copyfile(cfg.weights, staged)
        produced = export_model(staged, format="onnx", imgsz=imgsz, max_det=cfg.max_det, simplify=True)
        inp, out = _onnx_io(produced)
        if out["shape"] != [1, cfg.max_det, 6]:
            raise EdgeYoloError(
                f"ONNX export produced output {out['shape']}, not the NMS-free [1, {cfg.max_det}, 6]; "
                "the weights' head is not end-to-end (use YOLO26 weights)"
            )
        dest.mkdir(parents=True, exist_ok=True)
        shutil.move(str(produced), dest / "model.onnx")
    write_manifest(
        dest,
        format="onnx", precision="fp32", runtime=target.runtime, imgsz=imgsz, model=info["model"],
        names=info["names"], end2end=True, max_det=cfg.max_det, file="model.onnx",
        input=inp, output=out, input_dtype="float32",
        source_weights={"path": str(cfg.weights), "sha256": info["sha256"]},
        calibration=None, versions=package_versions("ultralytics", "torch", "onnx", "onnxruntime", "onnxslim"),
    )  # fmt: skip


def _attach_parity(cfg: ExportConfig, dest: Path, imgsz: int) -> None:
    """Compare the artifact with the PyTorch model on val images and record it in the manifest."""
    import json

    import cv2

    from edgeyolo._ultralytics import predict_torch
    from edgeyolo.data.yolo import load_dataset, load_split
    from edgeyolo.export.parity import compare_detections
    from edgeyolo.runtime import load_runtime

    items = load_split(load_dataset(cfg.data), "val", limit=cfg.parity_images)
    images = [cv2.imread(str(i.path)) for i in items]
    conf = 0.001  # the ranked list that mAP is scored on, not just the confident top
    reference = predict_torch(cfg.weights, images, imgsz=imgsz, conf=conf, max_det=cfg.max_det)
    runtime = load_runtime(dest)
    candidate = [runtime.predict(img, conf=conf) for img in images]
    report = compare_detections(reference, candidate).to_dict()
    report["conf"] = conf
    mf = dest / "manifest.json"
    manifest = json.loads(mf.read_text())
    manifest["parity"] = report
    from edgeyolo._io import write_json_atomic

    write_json_atomic(mf, manifest)


def export(cfg: ExportConfig) -> ExportResult:
    """Export every requested (target, image size); failures are recorded per target."""
    if not Path(cfg.weights).is_file():
        raise WeightsNotFoundError(
            f"Weights '{cfg.weights}' not found; pass the best.pt written by 'edgeyolo train'."
        )
    from edgeyolo._ultralytics import checkpoint_info

    info = checkpoint_info(Path(cfg.weights))
    if not info["end2end"]:
        raise ConfigError(
            f"{cfg.weights}: the model head is not end-to-end (NMS-free); edgeyolo deploys YOLO26 heads only."
        )
    info["sha256"] = sha256_file(cfg.weights)
    sizes = cfg.imgsz or cfg.profile.imgsz
    targets = cfg.targets or cfg.profile.targets
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    result = ExportResult(model=info["model"])
    for imgsz in sizes:
        for target in targets:
            dest = Path(cfg.out) / artifact_name(info["model"], imgsz, target)
            item = TargetExport(target, imgsz, "ok", dest)
            result.items.append(item)
            if (target.format, target.precision) not in SUPPORTED:
                item.status, item.artifact = "skipped", None
                item.reason = (
                    f"{target.format} {target.precision} export is not supported by this edgeyolo yet"
                )
                continue
            if not cfg.force and _is_complete(dest, info["sha256"]):
                item.reused = True
                continue
            try:
                _export_onnx(cfg, info, imgsz, target, dest)
                if cfg.data is not None:
                    _attach_parity(cfg, dest, imgsz)
            except EdgeYoloError as e:
                item.status, item.artifact, item.reason = "error", None, str(e)
            except Exception as e:  # a library failure in one target must not stop the others
                item.status, item.artifact, item.reason = "error", None, f"{type(e).__name__}: {e}"
    return result


def _is_complete(dest: Path, weights_sha: str) -> bool:
    """An artifact already exported from the same weights (its manifest is written last)."""
    from edgeyolo.errors import ArtifactError
    from edgeyolo.runtime.base import load_artifact

    try:
        art = load_artifact(dest)
    except ArtifactError:
        return False
    return art.manifest.get("source_weights", {}).get("sha256") == weights_sha
