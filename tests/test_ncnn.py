"""NCNN: the one-to-one graph without top-k, the numpy top-k, parity with PyTorch and ONNX, bench, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edgeyolo.export import ExportConfig, check_parity, export
from edgeyolo.export.parity import box_iou, compare_detections
from edgeyolo.profiles import TargetSpec, load_profile
from edgeyolo.runtime import load_artifact, load_runtime
from edgeyolo.runtime.preprocess import LetterboxInfo, decode_end2end

TINY = 128
ANCHORS = 16 * 16 + 8 * 8 + 4 * 4  # strides 8, 16, 32 at 128 px
NC = 5  # the demo dataset's shape classes


@pytest.fixture(scope="module")
def ncnn_export(tmp_path_factory, tiny_weights, tiny_data):
    out = tmp_path_factory.mktemp("ncnn")
    targets = tuple(TargetSpec("ncnn", p, "ncnn") for p in ("fp32", "fp16", "int8"))
    return export(ExportConfig(profile=load_profile("rpi5"), weights=tiny_weights, out=out, imgsz=(TINY,),
                               targets=targets, data=tiny_data))  # fmt: skip


@pytest.fixture(scope="module")
def val_images(tiny_data):
    from edgeyolo.data.yolo import load_dataset, load_split

    items = load_split(load_dataset(tiny_data), "val")
    return items, [cv2.imread(str(i.path)) for i in items]


def _artifact(result, precision):
    item = next(i for i in result.items if i.target.precision == precision)
    assert item.status == "ok", item.reason
    return item.artifact


def test_export_writes_the_one_to_one_graph_and_refuses_int8(ncnn_export, tiny_weights):
    from edgeyolo._io import sha256_file

    by = {i.target.precision: i for i in ncnn_export.items}
    assert by["fp32"].status == by["fp16"].status == "ok", [i.reason for i in ncnn_export.items]
    assert by["int8"].status == "skipped" and "ncnn2int8" in by["int8"].reason
    for precision in ("fp32", "fp16"):
        art = load_artifact(by[precision].artifact)
        m = art.manifest
        assert sorted(p.name for p in art.root.iterdir()) == [
            "manifest.json",
            "model.ncnn.bin",
            "model.ncnn.param",
        ]
        assert m["format"] == "ncnn" and m["runtime"] == "ncnn" and m["end2end"] is True
        # The contract is the end-to-end one; the graph itself stops before the top-k (boxes + class scores).
        assert m["output"]["shape"] == [1, 300, 6] and m["output"]["graph_shape"] == [1, 4 + NC, ANCHORS]
        assert m["input"]["shape"] == [1, 3, TINY, TINY] and m["input_dtype"] == "float32"
        assert m["source_weights"]["sha256"] == sha256_file(tiny_weights)
        assert m["versions"]["pnnx"] and m["versions"]["ncnn"]
        assert m["parity"]["status"] == "ok" and m["parity"]["match_rate"] >= 0.95, m["parity"]
    # No top-k (and no NMS) layer in the graph: the selection is edgeyolo's numpy postprocess.
    layers = {ln.split()[0] for ln in (by["fp32"].artifact / "model.ncnn.param").read_text().splitlines()[2:]}
    assert not layers & {"TopK", "ArgMax", "Gather", "NonMaxSuppression"}, layers
    size = {p: (by[p].artifact / "model.ncnn.bin").stat().st_size for p in ("fp32", "fp16")}
    assert size["fp16"] < 0.6 * size["fp32"]  # FP16 weights


def test_round_trip_matches_pytorch(ncnn_export, tiny_weights, val_images):
    from edgeyolo._backend.predict import predict_torch

    _, images = val_images
    ref = predict_torch(tiny_weights, images, imgsz=TINY, conf=0.001)
    for precision, score_tol in (("fp32", 1e-3), ("fp16", 1e-2)):
        rt = load_runtime(_artifact(ncnn_export, precision), threads=1)
        p = compare_detections(ref, [rt.predict(im, conf=0.001) for im in images])
        assert p.reference > 0 and p.match_rate >= 0.95 and p.min_iou > 0.98, (precision, p)
        assert p.max_score_diff < score_tol, (precision, p)
        fp16 = precision == "fp16"
        s = rt.settings()  # recorded in every bench record's settings.runtime
        assert s["num_threads"] == 1 and s["lightmode"] is True and s["use_vulkan_compute"] is False
        assert s["use_fp16_storage"] is s["use_fp16_arithmetic"] is fp16


def test_same_detections_as_the_onnx_artifact(ncnn_export, onnx_artifact, val_images):
    _, images = val_images
    ncnn_rt, onnx_rt = (
        load_runtime(_artifact(ncnn_export, "fp32"), threads=1),
        load_runtime(onnx_artifact, threads=1),
    )
    tensor = ncnn_rt.preprocess(images[0])[0].copy()
    a, b = ncnn_rt.infer(tensor), onnx_rt.infer(tensor)
    assert a.shape == b.shape == (1, 300, 6)
    # The same top-k scores (rows with tied scores may come in another order).
    np.testing.assert_allclose(np.sort(a[0, :, 4]), np.sort(b[0, :, 4]), atol=1e-5)
    p = compare_detections([onnx_rt.predict(im, conf=0.001) for im in images],
                           [ncnn_rt.predict(im, conf=0.001) for im in images])  # fmt: skip
    assert p.reference > 0 and p.match_rate >= 0.95 and p.min_iou > 0.99 and p.max_score_diff < 1e-4, p


def test_map_within_0_01_of_the_onnx_artifact(ncnn_export, onnx_artifact, val_images):
    from edgeyolo.bench.accuracy import coco_map

    items, images = val_images
    names = load_artifact(onnx_artifact).names
    sizes = [im.shape[:2] for im in images]
    maps = {}
    for key, art in (("ncnn", _artifact(ncnn_export, "fp32")), ("onnx", onnx_artifact)):
        rt = load_runtime(art, threads=1)
        maps[key] = coco_map(items, sizes, [rt.predict(im, conf=0.001) for im in images], names)["map50_95"]
    assert maps["onnx"] is not None and abs(maps["ncnn"] - maps["onnx"]) <= 0.01, maps


def test_numpy_topk_is_the_library_heads_postprocess(tiny_weights):
    """``topk_end2end`` on the graph's output = ``Detect.postprocess`` of the same head, row for row."""
    import torch

    from edgeyolo.export.ncnn import build_graph
    from edgeyolo.runtime.ncnn import topk_end2end

    model, _ = build_graph(tiny_weights, TINY)
    head = model.model[-1].head
    g = torch.Generator().manual_seed(0)
    boxes = torch.rand(1, ANCHORS, 4, generator=g) * TINY
    scores = torch.rand(1, ANCHORS, NC, generator=g)  # distinct values: no ties to order differently
    preds = torch.cat([boxes, scores], -1)
    for max_det in (300, ANCHORS + 50, 7):
        head.max_det = max_det
        want = head.postprocess(preds).numpy()
        got = topk_end2end(preds[0].T.numpy(), max_det)
        assert got.shape == want.shape == (1, min(max_det, ANCHORS), 6)
        np.testing.assert_array_equal(got, want)
    head.max_det = 300


def test_postprocess_never_suppresses_overlapping_boxes(ncnn_export):
    """Anchors predicting the same object all keep their rows, as the end-to-end head intends (no NMS)."""
    rt = load_runtime(_artifact(ncnn_export, "fp32"), threads=1)
    raw = np.zeros((4 + NC, ANCHORS), np.float32)
    raw[:4] = np.array([0, 0, 1, 1], np.float32)[:, None]  # every other anchor: a 1 px box, score 0
    same = [10, 280, 333]  # anchors at strides 8, 16 and 32: the very same box and class
    raw[:4, same] = np.array([[20, 20, 60, 60]], np.float32).T
    raw[4, same] = [0.9, 0.8, 0.7]
    raw[:4, 50] = [22, 21, 61, 60]  # IoU 0.9 with them, same class
    raw[4, 50] = 0.6
    raw[4 + 3, 10] = 0.5  # anchor 10 also scores class 3: one row per (anchor, class) pair
    rows = rt.select_end2end(raw)  # what predict() runs after the network
    det = decode_end2end(rows, LetterboxInfo(1.0, 0.0, 0.0, TINY, TINY), conf=0.25)
    assert det.scores.tolist() == pytest.approx([0.9, 0.8, 0.7, 0.6, 0.5])
    assert det.classes.tolist() == [0, 0, 0, 0, 3]
    assert (box_iou(det.xyxy, det.xyxy) > 0.85).all()
    # On the real graph too: all max_det rows come out, same-class boxes overlapping heavily among them.
    det = rt.predict(np.full((TINY, TINY, 3), 114, np.uint8), conf=0.0)
    iou = box_iou(det.xyxy, det.xyxy)
    same_class = det.classes[:, None] == det.classes[None, :]
    assert len(det) == 300 and (np.triu(iou * same_class, 1) > 0.7).any()


def test_parity_catches_a_corrupted_bin(tmp_path, ncnn_export, tiny_weights, tiny_data):
    bad = tmp_path / "corrupt"
    shutil.copytree(_artifact(ncnn_export, "fp32"), bad)
    data = np.fromfile(bad / "model.ncnn.bin", np.float32)
    # Scale every weight; zeros (the storage tags before FP32 weight blobs) stay, so it still loads. (The 2-epoch
    # model's output hangs on its head's biases: corrupting only the backbone's weights barely moves it.)
    data[data != 0] *= 1.5
    data.tofile(bad / "model.ncnn.bin")
    load_runtime(bad).infer(np.zeros((1, 3, TINY, TINY), np.float32))  # loads and runs: only parity can tell
    cfg = ExportConfig(profile=load_profile("rpi5"), weights=tiny_weights, out=tmp_path, data=tiny_data)
    report = check_parity(cfg, bad, TINY)
    assert report["status"] == "failed" and "FP32" in report["reason"], report
    assert json.loads((bad / "manifest.json").read_text())["parity"]["status"] == "failed"


def test_missing_packages_name_the_extra(ncnn_export):
    code = (
        "import sys; sys.modules['ncnn'] = sys.modules['pnnx'] = None\n"
        "from edgeyolo.runtime import load_runtime\n"
        "from edgeyolo.errors import BackendUnavailableError\n"
        "from edgeyolo.export import unavailable_reason\n"
        "from edgeyolo.profiles import TargetSpec\n"
        "try:\n    load_runtime(sys.argv[1])\nexcept BackendUnavailableError as e:\n    print(e)\n"
        "print(unavailable_reason(TargetSpec('ncnn', 'fp32', 'ncnn'), None))\n"
        "del sys.modules['pnnx']\n"
        "print(unavailable_reason(TargetSpec('ncnn', 'fp32', 'ncnn'), None))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(_artifact(ncnn_export, "fp32"))], capture_output=True,
                         text=True, check=True).stdout.splitlines()  # fmt: skip
    assert out[0] == "ncnn runtime needs: pip install 'edgeyolo[ncnn]'"
    assert out[1] == "pnnx is not installed: pip install 'edgeyolo[train]'"  # export needs pnnx ...
    assert (
        out[2] == "ncnn is not installed: pip install 'edgeyolo[ncnn]'"
    )  # ... and ncnn to check the artifact


def test_runtime_is_torch_free(ncnn_export):
    code = (
        "import sys, numpy as np\nfrom edgeyolo.runtime import load_runtime\n"
        "rt = load_runtime(sys.argv[1], threads=1)\nrt.predict(np.zeros((96, 128, 3), np.uint8))\n"
        "print([m for m in ('torch', 'ultralytics', 'pnnx') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code, str(_artifact(ncnn_export, "fp16"))], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert out.strip() == "[]"


def test_bench_and_select_treat_ncnn_like_any_format(tmp_path, ncnn_export, tiny_data):
    from edgeyolo.bench import BenchConfig, benchmark
    from edgeyolo.bench.store import schema_errors
    from edgeyolo.report import report
    from edgeyolo.select import select

    arts = (_artifact(ncnn_export, "fp32"), _artifact(ncnn_export, "fp16"))
    res = benchmark(BenchConfig(profile=load_profile("rpi5"), artifacts=arts, out=tmp_path / "r.jsonl",
                                data=tiny_data, iterations=5, warmup=1, threads=1))  # fmt: skip
    recs = {r["candidate"]["precision"]: r for r in res.records}
    assert [r["status"] for r in res.records] == ["ok", "ok"], [r.get("message") for r in res.records]
    for precision, rec in recs.items():
        assert schema_errors(rec) == [] and rec["candidate"]["runtime"] == "ncnn"
        runtime = rec["settings"]["runtime"]
        assert runtime["num_threads"] == 1 and runtime["use_fp16_arithmetic"] is (precision == "fp16")
        assert rec["device"]["runtime_versions"]["ncnn"] and rec["accuracy"]["map50_95"] is not None
    sel = select(res.records, budget_ms=1e6)
    fp16 = next(c for c in sel.candidates if c.precision == "fp16")
    assert fp16.twin == recs["fp32"]["candidate"]["artifact"] and fp16.map_drop is not None
    html = report(res.records, tmp_path / "report", budget_ms=1e6).files["html"].read_text()
    assert "ncnn/fp32" in html and "ncnn/fp16" in html  # a colour each in the scatter's legend
