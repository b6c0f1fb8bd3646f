"""Letterbox preprocessing and NMS-free decoding, shared by every runtime.

The letterbox matches the one the model was trained and validated with (Ultralytics ``LetterBox`` with
``auto=False``, centred, pad value 114, bilinear resize), so an artifact sees exactly the input the
PyTorch model would.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgeyolo.runtime.types import Detections


@dataclass(frozen=True)
class LetterboxInfo:
    """How an original image maps into the network input: ``net = orig * gain + pad``."""

    gain: float
    pad_x: float  # left padding in network pixels
    pad_y: float  # top padding in network pixels
    orig_h: int
    orig_w: int


class Preprocessor:
    """Letterbox into the network's ``h`` x ``w`` input and pack into a float NCHW RGB tensor, reusing its buffers.

    A frame of any aspect fits: it is scaled to fit inside (h, w) and the rest is padded, centred, as the
    library's ``LetterBox(new_shape=(h, w), auto=False)`` does.
    """

    def __init__(self, h: int, w: int | None = None, dtype: type = np.float32):
        w = h if w is None else w
        self.h, self.w = int(h), int(w)
        self._canvas = np.full((self.h, self.w, 3), 114, np.uint8)
        self._tensor = np.empty((1, 3, self.h, self.w), dtype)

    def __call__(self, img_bgr: np.ndarray) -> tuple[np.ndarray, LetterboxInfo]:
        """Return the network input (a view of an internal buffer; copy it to keep it) and the mapping."""
        if img_bgr is None or img_bgr.ndim != 3 or img_bgr.shape[2] != 3:
            raise ValueError("expected a BGR image of shape [h, w, 3]")
        H, W = self.h, self.w
        h, w = img_bgr.shape[:2]
        r = min(H / h, W / w)
        nw, nh = max(round(w * r), 1), max(round(h * r), 1)
        dw, dh = (W - nw) / 2, (H - nh) / 2
        top, left = round(dh - 0.1), round(dw - 0.1)
        canvas = self._canvas
        canvas.fill(114)
        if (nw, nh) != (w, h):
            cv2.resize(
                img_bgr,
                (nw, nh),
                dst=canvas[top : top + nh, left : left + nw],
                interpolation=cv2.INTER_LINEAR,
            )
        else:
            canvas[top : top + nh, left : left + nw] = img_bgr
        # BGR HWC uint8 -> RGB CHW float in [0, 1], written into the reused tensor.
        t = self._tensor[0]
        for c in range(3):
            np.multiply(canvas[..., 2 - c], 1.0 / 255.0, out=t[c], casting="unsafe")
        return self._tensor, LetterboxInfo(r, float(left), float(top), h, w)


def decode_end2end(
    output: np.ndarray,
    info: LetterboxInfo,
    conf: float = 0.25,
    classes: set[int] | None = None,
) -> Detections:
    """Turn an NMS-free output ``[1, max_det, 6]`` (x1, y1, x2, y2, score, class) into original pixels."""
    det = np.asarray(output, dtype=np.float32).reshape(-1, 6)
    keep = det[:, 4] >= conf
    if classes is not None:
        keep &= np.isin(det[:, 5].astype(np.int64), list(classes))
    det = det[keep]
    if not len(det):
        return Detections.empty()
    boxes = det[:, :4].copy()
    boxes[:, [0, 2]] -= info.pad_x
    boxes[:, [1, 3]] -= info.pad_y
    boxes /= info.gain
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, info.orig_w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, info.orig_h)
    order = np.argsort(-det[:, 4], kind="stable")
    return Detections(boxes[order], det[order, 4].copy(), det[order, 5].astype(np.int64))
