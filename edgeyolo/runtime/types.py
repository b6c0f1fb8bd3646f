"""Runtime-neutral result types."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Detections:
    """Detections of one image in original-image pixels, sorted by score (highest first)."""

    xyxy: np.ndarray  # [n, 4] float32 x1, y1, x2, y2
    scores: np.ndarray  # [n] float32
    classes: np.ndarray  # [n] int64

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def to_records(self, names: tuple[str, ...] | list[str] | None = None) -> list[dict]:
        """Plain dicts for JSON output."""
        out = []
        for box, s, c in zip(self.xyxy.tolist(), self.scores.tolist(), self.classes.tolist()):
            rec = {"box": [round(v, 2) for v in box], "score": round(s, 5), "class_id": int(c)}
            if names is not None:
                rec["class_name"] = names[c] if 0 <= c < len(names) else str(c)
            out.append(rec)
        return out
