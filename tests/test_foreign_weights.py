"""Weights trained without edgeyolo: a YOLO26 checkpoint from plain Ultralytics with its defaults.

Such a checkpoint stores ``head.end2end = False`` (the library's default ``nms=None`` path) although its head
has the one-to-one branches; edgeyolo decides from the branches, so export, bench, predict and the sweep
accept it, and its NMS-free artifact is the library's own ``nms=False`` export (ONNX), or the same one-to-one
head with the top-k outside the graph (NCNN, which the library would export as the one-to-many head).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _profiles import onnx_profile

from edgeyolo.errors import ConfigError
from edgeyolo.profiles import TargetSpec, load_profile

SIZE = 64

# Plain Ultralytics: only the training call a user would write (edgeyolo only switches the network off).
_PLAIN_TRAIN = """
import sys
from edgeyolo._backend.env import import_ultralytics
import_ultralytics()
from ultralytics import YOLO
YOLO("yolo26n.yaml").train(data=sys.argv[1], epochs=1, imgsz=int(sys.argv[3]), project=sys.argv[2], name="plain",
                           device="cpu", batch=8, workers=0)
"""


@pytest.fixture(scope="module")
def plain_weights(tmp_path_factory, tiny_data) -> Path:
    out = tmp_path_factory.mktemp("plain")
    p = subprocess.run([sys.executable, "-c", _PLAIN_TRAIN, str(tiny_data), str(out), str(SIZE)],
                       capture_output=True, text=True, timeout=600)  # fmt: skip
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    best = out / "plain" / "weights" / "best.pt"
    assert best.is_file()
    return best


def _stored_head(weights: Path):
    import torch

    ckpt = torch.load(weights, map_location="cpu", weights_only=False)
    return (ckpt.get("ema") or ckpt["model"]).model[-1]


def test_plain_ultralytics_checkpoint_runs_the_whole_pipeline(tmp_path, plain_weights, tiny_data):
    head = _stored_head(plain_weights)
    # What made edgeyolo refuse it: the stored flag says "not end-to-end", the branches are there.
    assert head.end2end is False and head.one2one_cv2 is not None and head.one2one_cv3 is not None

    # The sweep with --weights: export (with the parity check on val images), bench, select, report.
    out = tmp_path / "sweep"
    p = subprocess.run([sys.executable, "-m", "edgeyolo", "run", "--profile", str(onnx_profile(tmp_path)),
                        "--data", str(tiny_data), "--weights", str(plain_weights), "--imgsz", str(SIZE),
                        "--out", str(out), "--bench-iterations", "3", "--bench-rounds", "3"],
                       capture_output=True, text=True, timeout=600)  # fmt: skip
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    (record,) = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert record["status"] == "ok" and record["candidate"]["end2end"] is True
    assert record["settings"]["rounds"] == 3  # --bench-rounds, not the profile's
    assert record["accuracy"]["map50_95"] is not None
    (artifact,) = [d for d in (out / "artifacts").iterdir() if (d / "manifest.json").is_file()]
    manifest = json.loads((artifact / "manifest.json").read_text())
    assert manifest["end2end"] is True and manifest["parity"]["status"] != "failed", manifest.get("parity")

    # Predict with the artifact (torch-free).
    preds = tmp_path / "preds"
    p = subprocess.run([sys.executable, "-m", "edgeyolo", "predict", str(artifact),
                        str(tiny_data.parent / "images" / "val"), "--out", str(preds), "--conf", "0.0"],
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    frames = json.loads((preds / "detections.json").read_text())["frames"]
    assert len(frames) == 8 and all(f["detections"] for f in frames)

    # The same NMS-free graph as the library's own export with nms=False.
    from edgeyolo._backend.env import import_ultralytics

    import_ultralytics()
    import onnxruntime as ort
    from ultralytics import YOLO

    ref = Path(YOLO(str(plain_weights)).export(format="onnx", imgsz=SIZE, nms=False, batch=1, device="cpu"))
    x = np.random.default_rng(0).random((1, 3, SIZE, SIZE), dtype=np.float32)
    ours = ort.InferenceSession(str(artifact / manifest["file"]), providers=["CPUExecutionProvider"])
    theirs = ort.InferenceSession(str(ref), providers=["CPUExecutionProvider"])
    a = ours.run(None, {ours.get_inputs()[0].name: x})[0]
    b = theirs.run(None, {theirs.get_inputs()[0].name: x})[0]
    assert a.shape == b.shape == (1, 84, 6)  # max_det 300 > the 84 anchors of a 64 px input
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_a_head_without_the_one_to_one_branch_is_refused_naming_it(tmp_path, plain_weights):
    import torch

    from edgeyolo.export import ExportConfig, export

    ckpt = torch.load(plain_weights, map_location="cpu", weights_only=False)
    for key in ("model", "ema"):  # as a fused one-to-many model would be stored
        if ckpt.get(key) is not None:
            ckpt[key].model[-1].one2one_cv2 = ckpt[key].model[-1].one2one_cv3 = None
    o2m = tmp_path / "o2m.pt"
    torch.save(ckpt, o2m)
    with pytest.raises(ConfigError, match=r"o2m\.pt: found a Detect head without its one-to-one branch "
                                          r"\(one2one_cv2, one2one_cv3 missing\)"):  # fmt: skip
        export(ExportConfig(profile=load_profile("x86-cpu"), weights=o2m, out=tmp_path / "a", imgsz=(SIZE,)))
    assert not (tmp_path / "a").exists()


def test_ncnn_export_of_a_plain_checkpoint_keeps_the_one_to_one_contract(tmp_path, plain_weights, tiny_data):
    """NCNN FP32 of the stored-``end2end=False`` checkpoint: the one-to-one head (not the library's one-to-many
    NCNN model), ``[1, max_det, 6]`` out of the runtime, the same rows as the library's ``nms=False`` ONNX export
    of the same weights, and the same detections as the PyTorch NMS-free head on the val images."""
    import cv2

    from edgeyolo._backend.predict import predict_torch
    from edgeyolo.data.yolo import load_dataset, load_split
    from edgeyolo.export import ExportConfig, export
    from edgeyolo.export.parity import compare_detections
    from edgeyolo.runtime import load_artifact, load_runtime

    r = export(ExportConfig(profile=load_profile("rpi5"), weights=plain_weights, out=tmp_path / "a", imgsz=(SIZE,),
                            targets=(TargetSpec("ncnn", "fp32", "ncnn"),), data=tiny_data))  # fmt: skip
    (item,) = r.items
    assert item.status == "ok", item.reason
    m = load_artifact(item.artifact).manifest
    anchors = 8 * 8 + 4 * 4 + 2 * 2  # strides 8, 16, 32 at 64 px: fewer than max_det 300, so all of them
    nc = len(m["names"])
    assert m["format"] == "ncnn" and m["precision"] == "fp32" and m["end2end"] is True
    assert m["output"]["shape"] == [1, anchors, 6] and m["output"]["graph_shape"] == [1, 4 + nc, anchors]
    assert m["parity"]["status"] == "ok" and m["parity"]["match_rate"] >= 0.95, m["parity"]
    layers = {ln.split()[0] for ln in (item.artifact / "model.ncnn.param").read_text().splitlines()[2:]}
    assert not layers & {"TopK", "NonMaxSuppression"}, layers  # the top-k is edgeyolo's numpy postprocess

    from edgeyolo._backend.env import import_ultralytics

    import_ultralytics()
    import onnxruntime as ort
    from ultralytics import YOLO

    rt = load_runtime(item.artifact, threads=1)
    ref = Path(YOLO(str(plain_weights)).export(format="onnx", imgsz=SIZE, nms=False, batch=1, device="cpu"))
    theirs = ort.InferenceSession(str(ref), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, SIZE, SIZE), dtype=np.float32)
    a = np.asarray(rt.infer(x))
    b = theirs.run(None, {theirs.get_inputs()[0].name: x})[0]
    assert a.shape == b.shape == (1, anchors, 6)
    np.testing.assert_allclose(np.sort(a[0, :, 4]), np.sort(b[0, :, 4]), atol=1e-4)
    # Row for row up to the order of (nearly) tied scores: the same box (input pixels), score and class.
    same = (
        (np.abs(a[0, :, None, :4] - b[0, None, :, :4]) < 1e-2).all(-1)
        & (np.abs(a[0, :, None, 4] - b[0, None, :, 4]) < 1e-4)
        & (a[0, :, None, 5] == b[0, None, :, 5])
    )
    assert same.any(1).all() and same.any(0).all(), (a[0][~same.any(1)], b[0][~same.any(0)])

    images = [cv2.imread(str(i.path)) for i in load_split(load_dataset(tiny_data), "val")]
    reference = predict_torch(plain_weights, images, imgsz=SIZE, conf=0.001)
    p = compare_detections(reference, [rt.predict(im, conf=0.001) for im in images])
    assert p.reference > 0 and p.match_rate >= 0.95 and p.min_iou > 0.98 and p.max_score_diff < 1e-3, p
