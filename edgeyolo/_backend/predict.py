"""PyTorch reference detections through the library (the NMS-free head), for parity checks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgeyolo._backend.env import import_ultralytics

if TYPE_CHECKING:
    import numpy as np

    from edgeyolo.runtime.types import Detections


def predict_torch(weights: Path, images: list[np.ndarray], *, imgsz: int, conf: float, max_det: int = 300
                  ) -> list[Detections]:  # fmt: skip
    """PyTorch reference detections from the NMS-free head, in original image pixels (for parity checks)."""
    import_ultralytics()
    import numpy as np
    from ultralytics import YOLO

    from edgeyolo.runtime.types import Detections

    yolo = YOLO(str(weights), task="detect")
    out = []
    for img in images:
        r = yolo.predict(img, imgsz=imgsz, conf=conf, nms=False, max_det=max_det, device="cpu", verbose=False,
                         rect=False)[0]  # fmt: skip
        b = r.boxes
        out.append(
            Detections(
                xyxy=b.xyxy.cpu().numpy().astype(np.float32),
                scores=b.conf.cpu().numpy().astype(np.float32),
                classes=b.cls.cpu().numpy().astype(np.int64),
            )
        )
    return out
