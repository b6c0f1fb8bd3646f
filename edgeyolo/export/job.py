"""What an exporter is given: one target's settings (:class:`ExportJob`), the same for every format."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeyolo.shapes import Shape

QUANTIZE = {"fp32": 32, "fp16": 16, "int8": 8}


def library_imgsz(shape: Shape) -> int | list[int]:
    """The library's ``imgsz``: an int for a square input (as before), ``[h, w]`` otherwise."""
    return shape.h if shape.is_square else [shape.h, shape.w]


@dataclass(frozen=True)
class ExportJob:
    """One (format, precision, input shape) to export. The format's exporter (``FormatInfo.exporter``) writes
    the format's ``files`` into ``out``; anything else it makes stays in ``work`` (removed afterwards)."""

    weights: Path  # a private copy of the weights (the library writes next to them)
    work: Path  # a staging folder for intermediate files
    out: Path  # where the model files go (created by the exporter)
    imgsz: Shape
    precision: str  # fp32, fp16 or int8
    data: Path | None  # the dataset (INT8 calibration)
    max_det: int  # rows of the NMS-free output
    device: str  # the CUDA device, for formats built on a GPU
    calibration_fraction: float = 1.0  # share of the val split INT8 calibration reads
    calibration_images: tuple[Path, ...] = ()  # those val images (INT8 only)
