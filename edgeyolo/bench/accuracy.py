"""mAP of an artifact's own detections, computed with faster-coco-eval (COCO protocol)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

from edgeyolo.data.yolo import LabeledImage
from edgeyolo.runtime.types import Detections


def to_coco_ground_truth(
    images: Sequence[LabeledImage], sizes: Sequence[tuple[int, int]], names: Sequence[str]
) -> dict:
    """COCO-style ground truth from YOLO labels; ``sizes`` are (height, width) of each image."""
    coco_images, annotations = [], []
    ann_id = 1
    for img_id, (item, (h, w)) in enumerate(zip(images, sizes), start=1):
        coco_images.append({"id": img_id, "file_name": item.path.name, "height": int(h), "width": int(w)})
        for cls, xc, yc, bw, bh in item.labels.tolist():
            bw_px, bh_px = bw * w, bh * h
            x1, y1 = (xc - bw / 2) * w, (yc - bh / 2) * h
            annotations.append({
                "id": ann_id, "image_id": img_id, "category_id": int(cls), "bbox": [x1, y1, bw_px, bh_px],
                "area": bw_px * bh_px, "iscrowd": 0,
            })  # fmt: skip
            ann_id += 1
    categories = [{"id": i, "name": n} for i, n in enumerate(names)]
    return {"images": coco_images, "annotations": annotations, "categories": categories}


def to_coco_detections(detections: Sequence[Detections]) -> list[dict]:
    out = []
    for img_id, det in enumerate(detections, start=1):
        for (x1, y1, x2, y2), s, c in zip(det.xyxy.tolist(), det.scores.tolist(), det.classes.tolist()):
            out.append(
                {"image_id": img_id, "category_id": int(c), "bbox": [x1, y1, x2 - x1, y2 - y1], "score": s}
            )
    return out


def coco_map(
    images: Sequence[LabeledImage],
    sizes: Sequence[tuple[int, int]],
    detections: Sequence[Detections],
    names: Sequence[str],
) -> dict:
    """mAP50-95, mAP50 and per-class AP50-95 (``None`` for classes absent from the ground truth)."""
    from faster_coco_eval import COCO, COCOeval_faster

    gt_dict = to_coco_ground_truth(images, sizes, names)
    dets = to_coco_detections(detections)
    result = {"images": len(images), "instances": len(gt_dict["annotations"]), "map50": 0.0, "map50_95": 0.0}
    if not gt_dict["annotations"]:
        result.update(map50=None, map50_95=None, per_class={n: None for n in names})
        return result
    if not dets:
        result["per_class"] = {n: 0.0 for n in names}
        return result
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_dict)
        dt = gt.loadRes(dets)
        ev = COCOeval_faster(gt, dt, iouType="bbox")
        ev.params.maxDets = [1, 10, 300]  # NMS-free heads emit up to 300 boxes per image; count them all
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    result["map50_95"] = float(max(ev.stats[0], 0.0))
    result["map50"] = float(max(ev.stats[1], 0.0))
    # COCO size buckets by box area in original-image pixels (small < 32^2 < medium < 96^2); -1 = none there.
    for key, value in zip(("map_small", "map_medium", "map_large"), ev.stats[3:6]):
        result[key] = float(value) if value >= 0 else None
    # precision: [iou thresholds, recall points, classes, area ranges, max dets]; -1 marks "no ground truth".
    precision = ev.eval["precision"]
    per_class = {}
    for k, cat_id in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        valid = p[p > -1]
        per_class[names[cat_id]] = float(valid.mean()) if valid.size else None
    result["per_class"] = per_class
    return result
