"""The formats the library exports itself (ONNX, OpenVINO, TensorRT), NMS-free; ONNX INT8 is quantized by
edgeyolo (:mod:`edgeyolo.export.onnx_int8`) from the library's FP32 graph."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from edgeyolo.export.job import QUANTIZE, ExportJob, library_imgsz


def _library_export(job: ExportJob, fmt: str, *, quantize: int | None = None, device: str = "cpu",
                    **kwargs: Any) -> Path:  # fmt: skip
    """The library's export of ``job`` to its format ``fmt``: the file or folder it wrote."""
    from edgeyolo._backend.export import export_model

    bits = QUANTIZE[job.precision] if quantize is None else quantize
    if bits == 8 and job.calibration_fraction < 1.0:
        kwargs["fraction"] = job.calibration_fraction
    return export_model(job.weights, format=fmt, imgsz=library_imgsz(job.imgsz), quantize=bits, data=job.data,
                        max_det=job.max_det, device=device, **kwargs)  # fmt: skip


def export_onnx(job: ExportJob) -> None:
    """``model.onnx``, simplified; INT8 quantized by edgeyolo from the FP32 graph (the library's own ONNX INT8
    is slower than FP32 on a CPU: :mod:`edgeyolo.export.onnx_int8`)."""
    int8 = job.precision == "int8"
    produced = _library_export(job, "onnx", quantize=32 if int8 else None, simplify=True)
    job.out.mkdir(parents=True, exist_ok=True)
    if int8:
        from edgeyolo.export.onnx_int8 import quantize_onnx

        produced = quantize_onnx(
            produced, job.work / "model_int8.onnx", list(job.calibration_images), job.imgsz.hw
        )
    shutil.move(str(produced), job.out / "model.onnx")


def export_openvino(job: ExportJob) -> None:
    """``model.xml`` + ``model.bin`` (INT8 through NNCF, in the library)."""
    xml = next(_library_export(job, "openvino").glob("*.xml"))
    job.out.mkdir(parents=True, exist_ok=True)
    shutil.move(str(xml), job.out / "model.xml")
    shutil.move(str(xml.with_suffix(".bin")), job.out / "model.bin")


def export_tensorrt(job: ExportJob) -> None:
    """``model.engine``, built on ``job.device``."""
    produced = _library_export(job, "engine", device=job.device)
    job.out.mkdir(parents=True, exist_ok=True)
    shutil.move(str(produced), job.out / "model.engine")


def cuda_missing(fmt: str) -> str | None:
    """TensorRT engines are built on the GPU they run on."""
    import torch

    if not torch.cuda.is_available():
        return "TensorRT engines are built on an NVIDIA GPU; no CUDA device here (build on the Jetson or a GPU host)"
    return None
