"""Export through the library with the NMS-free end-to-end head."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeyolo._backend.env import import_ultralytics
from edgeyolo.errors import ConfigError


def export_model(weights: Path, *, format: str, imgsz: int, quantize: int = 32, data: Path | None = None,
                 max_det: int = 300, device: str = "cpu", **kwargs: Any) -> Path:  # fmt: skip
    """Export with ``nms=False`` (NMS-free end-to-end head); returns the file or folder written."""
    import_ultralytics()
    from ultralytics import YOLO

    if quantize == 8 and data is None:
        raise ConfigError("INT8 export needs calibration images: pass --data D.yaml")
    yolo = YOLO(str(weights), task="detect")
    args: dict[str, Any] = dict(
        format=format, imgsz=imgsz, nms=False, max_det=max_det, batch=1, device=device
    )
    if quantize != 32:
        args["quantize"] = quantize
    if data is not None:  # without data, INT8 calibration falls back to a dataset download
        args["data"] = str(Path(data).resolve())
    args.update(kwargs)
    return Path(yolo.export(**args))
