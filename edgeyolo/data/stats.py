"""Dataset statistics at the training image size: per split, images, backgrounds, instances per class,
objects per image and COCO box-size buckets measured on the letterboxed image; the training class
imbalance and the share of small objects."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeyolo.data.scan import ImageScan

SMALL_AREA = 32**2  # COCO size buckets, in letterboxed pixels
MEDIUM_AREA = 96**2


def split_stats(scans: list[ImageScan], names: tuple[str, ...], imgsz: int) -> dict:
    """A split's statistics, from its scanned images (the unreadable ones are counted, not measured)."""
    good = [s for s in scans if s.shape is not None]
    per_class = np.zeros(len(names), np.int64)
    sizes = np.zeros(3, np.int64)  # small, medium, large
    counts = [len(s.boxes) for s in good]
    for s in good:
        if not len(s.boxes):
            continue
        h, w = s.shape
        r = imgsz / max(h, w)  # letterbox: the long side becomes imgsz
        area = (s.boxes[:, 3] * w * r) * (s.boxes[:, 4] * h * r)
        sizes += np.bincount(np.digitize(area, [SMALL_AREA, MEDIUM_AREA]), minlength=3)
        per_class += np.bincount(s.boxes[:, 0].astype(np.int64), minlength=len(names))
    instances = int(sizes.sum())
    return {
        "images": len(scans),
        "bad_images": len(scans) - len(good),
        "backgrounds": sum(not s.labeled for s in good),
        "instances": instances,
        "per_class": {name: int(n) for name, n in zip(names, per_class)},
        "objects_per_image": {
            "mean": float(np.mean(counts)) if counts else 0.0,
            "max": int(max(counts, default=0)),
        },
        "box_sizes": {"small": int(sizes[0]), "medium": int(sizes[1]), "large": int(sizes[2])},
        "small_share": float(sizes[0] / instances) if instances else None,
    }


def class_imbalance(train: dict | None) -> dict[str, Any]:
    """The most and least frequent training classes and the ratio of their instances (None when the least
    frequent has none, or there are no training instances)."""
    imbalance: dict[str, Any] = {"ratio": None, "most": None, "least": None}
    if train is not None and train["instances"]:
        per_class = train["per_class"]
        most, least = max(per_class, key=per_class.get), min(per_class, key=per_class.get)
        imbalance.update(most=most, least=least)
        if per_class[least]:
            imbalance["ratio"] = per_class[most] / per_class[least]
    return imbalance


def small_share(splits: dict[str, dict]) -> float | None:
    """The share of small objects among the instances of all splits (None without instances)."""
    n_small = sum(s["box_sizes"]["small"] for s in splits.values())
    n_inst = sum(s["instances"] for s in splits.values())
    return n_small / n_inst if n_inst else None
