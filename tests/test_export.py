"""The export matrix on CPU: OpenVINO and INT8 targets, parity, manifest, bundle, predict, runtime errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from dataclasses import replace

import cv2
import pytest

from edgeyolo.errors import ArtifactError, DatasetError
from edgeyolo.export import ExportConfig, check_parity, export
from edgeyolo.profiles import TargetSpec, load_profile
from edgeyolo.runtime import load_artifact, load_runtime

TINY = 128


@pytest.fixture(scope="module")
def matrix(tmp_path_factory, tiny_weights, tiny_data):
    out = tmp_path_factory.mktemp("matrix")
    targets = (TargetSpec("openvino", "fp32", "openvino"), TargetSpec("onnx", "int8", "onnxruntime"),
               TargetSpec("openvino", "int8", "openvino"), TargetSpec("tensorrt", "fp16", "tensorrt"))  # fmt: skip
    return export(ExportConfig(profile=load_profile("x86-cpu"), weights=tiny_weights, out=out, imgsz=(TINY,),
                               targets=targets, data=tiny_data, bundle=True, allow_degraded=True))  # fmt: skip


def _item(result, key):
    return next(i for i in result.items if i.target.key == key)


def test_cpu_targets_export_and_gpu_target_is_skipped_with_reason(matrix):
    for key in ("openvino-fp32", "onnx-int8", "openvino-int8"):
        item = _item(matrix, key)
        assert item.status == "ok", (key, item.reason)
    trt = _item(matrix, "tensorrt-fp16")
    assert trt.status == "skipped" and (
        "GPU" in trt.reason or "pip install 'edgeyolo[tensorrt]'" in trt.reason
    )


@pytest.mark.parametrize("key", ["openvino-fp32", "onnx-int8", "openvino-int8"])
def test_manifests_of_the_matrix(matrix, key, tiny_weights):
    from edgeyolo._io import sha256_file

    m = load_artifact(_item(matrix, key).artifact).manifest
    assert (
        m["end2end"] is True
        and m["output"]["shape"] == [1, 300, 6]
        and m["input"]["shape"] == [1, 3, TINY, TINY]
    )
    assert m["source_weights"]["sha256"] == sha256_file(tiny_weights)
    assert m["parity"]["images"] > 0 and m["parity"]["status"] in ("ok", "degraded", "failed")
    if key.endswith("int8"):
        assert m["calibration"]["images"] == 8 and m["calibration"]["split"] == "val"
        assert any("300+" in w for w in _item(matrix, key).warnings)  # too few calibration images is said
    else:
        assert m["calibration"] is None and m["parity"]["status"] == "ok"


def test_onnx_int8_quantizes_backbone_and_neck_and_keeps_the_head_float(matrix):
    import onnx

    from edgeyolo.export.onnx_int8 import SETTINGS, head_nodes

    art = load_artifact(_item(matrix, "onnx-int8").artifact)
    assert art.manifest["calibration"]["quantization"] == SETTINGS
    model = onnx.load(str(art.model_path))
    graph, head = model.graph, set(head_nodes(model))
    made_by = {out: n.op_type for n in graph.node for out in n.output}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    body = [n for n in convs if n.name not in head]
    head_convs = [n for n in convs if n.name in head]
    # Backbone and neck convolutions take quantized activations and weights (QDQ pairs around them) ...
    assert body and head_convs
    assert all(made_by.get(n.input[0]) == "DequantizeLinear" == made_by.get(n.input[1]) for n in body)
    # ... the head's keep float weights.
    assert not any(made_by.get(n.input[1]) == "DequantizeLinear" for n in head_convs)
    zero_points = {i.name: i.data_type for i in graph.initializer}
    activations = [n for n in graph.node if n.op_type == "QuantizeLinear"]
    assert activations and {zero_points[n.input[2]] for n in activations} == {onnx.TensorProto.UINT8}


def test_openvino_round_trip_matches_pytorch(matrix, tiny_weights, tiny_data):
    from edgeyolo._backend.predict import predict_torch
    from edgeyolo.data.yolo import load_dataset, load_split
    from edgeyolo.export.parity import compare_detections

    images = [cv2.imread(str(i.path)) for i in load_split(load_dataset(tiny_data), "val")]
    ref = predict_torch(tiny_weights, images, imgsz=TINY, conf=0.001)
    rt = load_runtime(_item(matrix, "openvino-fp32").artifact, threads=1)
    p = compare_detections(ref, [rt.predict(im, conf=0.001) for im in images])
    # Computed in float32 (not the bfloat16/float16 OpenVINO picks by default on some CPUs): the scores agree
    # with PyTorch's as FP32 and FP32 do.
    assert p.reference > 0 and p.match_rate >= 0.95 and p.min_iou > 0.999 and p.max_score_diff < 1e-3, p
    # Latency mode, one stream, the thread count asked for, FP32: as OpenVINO reports it after compiling.
    assert rt.settings() == {
        "device": "CPU", "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": "1",
        "INFERENCE_PRECISION_HINT": "f32"}  # fmt: skip


def test_bundle_holds_every_artifact(matrix):
    with tarfile.open(matrix.bundle) as tar:
        names = tar.getnames()
    for a in matrix.artifacts:
        assert f"{a.name}/manifest.json" in names


def test_parity_catches_a_corrupted_artifact(tmp_path, onnx_artifact, tiny_weights, tiny_data):
    import onnx
    from onnx import numpy_helper

    bad = tmp_path / "corrupt"
    shutil.copytree(onnx_artifact, bad)
    model = onnx.load(str(bad / "model.onnx"))
    biases = {n.input[2] for n in model.graph.node if n.op_type == "Conv" and len(n.input) > 2}
    for init in model.graph.initializer:
        if init.name in biases:  # shift every convolution bias: a graph that loads and runs, but is wrong
            w = numpy_helper.to_array(init)
            init.CopyFrom(numpy_helper.from_array((w + 3.0).astype(w.dtype), init.name))
    onnx.save(model, str(bad / "model.onnx"))
    cfg = ExportConfig(profile=load_profile("x86-cpu"), weights=tiny_weights, out=tmp_path, data=tiny_data)
    report = check_parity(cfg, bad, TINY)
    assert report["status"] == "failed" and "FP32" in report["reason"], report
    assert json.loads((bad / "manifest.json").read_text())["parity"]["status"] == "failed"
    good = check_parity(cfg, onnx_artifact, TINY)
    assert good["status"] == "ok" and good["match_rate"] >= 0.95


def test_manifest_from_another_version_is_refused(tmp_path, onnx_artifact):
    old = tmp_path / "old"
    shutil.copytree(onnx_artifact, old)
    m = json.loads((old / "manifest.json").read_text())
    m["schema"] = "edgeyolo.artifact/0"
    (old / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ArtifactError, match="re-export"):
        load_artifact(old)


def test_missing_runtime_package_gives_the_install_line(onnx_artifact, tmp_path):
    art = tmp_path / "ov"
    shutil.copytree(onnx_artifact, art)
    m = json.loads((art / "manifest.json").read_text())
    code = (
        "import sys; sys.modules['onnxruntime'] = None\n"
        "from edgeyolo.runtime import load_runtime\n"
        "from edgeyolo.errors import BackendUnavailableError\n"
        "try:\n    load_runtime(sys.argv[1])\nexcept BackendUnavailableError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(art)], capture_output=True, text=True, check=True
    ).stdout
    assert "pip install 'edgeyolo[onnx]'" in out and m["format"] == "onnx"


def test_predict_images_and_video(tmp_path, onnx_artifact, tiny_data):
    from edgeyolo.predict import PredictConfig, predict

    val = tiny_data.parent / "images" / "val"
    r = predict(PredictConfig(artifact=onnx_artifact, source=val, out=tmp_path / "imgs", conf=0.0))
    assert r.frames == 8 and len(list((tmp_path / "imgs").glob("*.jpg"))) == 8
    data = json.loads(r.files["json"].read_text())
    assert len(data["frames"]) == 8 and sum(len(f["detections"]) for f in data["frames"]) == r.detections
    assert r.files["csv"].read_text().startswith("source,frame,class_id,class_name,score")

    video = tmp_path / "clip.mp4"
    frames = [cv2.imread(str(p)) for p in sorted(val.glob("*.jpg"))[:5]]
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()
    seen = []
    rv = predict(PredictConfig(artifact=onnx_artifact, source=video, out=tmp_path / "vid", conf=0.0),
                 progress=lambda done, total: seen.append(done))  # fmt: skip
    assert rv.frames == 5 and seen == [1, 2, 3, 4, 5]
    cap = cv2.VideoCapture(str(rv.files["video"]))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    cap.release()


@pytest.mark.parametrize("kind", ["missing", "not-an-image", "bad-video"])
def test_predict_bad_sources(tmp_path, onnx_artifact, kind):
    from edgeyolo.predict import PredictConfig, predict

    src = tmp_path / {"missing": "nope.jpg", "not-an-image": "notes.jpg", "bad-video": "clip.mp4"}[kind]
    if kind != "missing":
        src.write_bytes(b"this is not media")
    with pytest.raises(DatasetError, match=src.name):
        predict(PredictConfig(artifact=onnx_artifact, source=src, out=tmp_path / "o"))


def test_predict_missing_artifact(tmp_path, tiny_data):
    from edgeyolo.predict import PredictConfig, predict

    with pytest.raises(ArtifactError, match="not found"):
        predict(
            PredictConfig(
                artifact=tmp_path / "none", source=tiny_data.parent / "images" / "val", out=tmp_path
            )
        )


@pytest.mark.gpu
def test_tensorrt_round_trip(tmp_path, tiny_weights, tiny_data, tensorrt):
    r = export(ExportConfig(profile=load_profile("jetson-orin-nano"), weights=tiny_weights, out=tmp_path,
                            imgsz=(TINY,), targets=(TargetSpec("tensorrt", "fp16", "tensorrt"),), data=tiny_data))  # fmt: skip
    item = r.items[0]
    assert item.status == "ok", item.reason
    m = load_artifact(item.artifact).manifest
    assert m["output"]["shape"] == [1, 300, 6] and m["parity"]["status"] in ("ok", "degraded")


def test_output_rows_small_inputs_have_fewer_anchors_than_max_det():
    from edgeyolo.export import output_rows

    assert output_rows(64, 300) == 8 * 8 + 4 * 4 + 2 * 2 == 84
    assert output_rows(128, 300) == 300 and output_rows(640, 100) == 100


def test_predict_uses_the_diagnosed_threshold(tmp_path, onnx_artifact, tiny_data):
    """No --conf: the manifest's conf_threshold (written at export from the run's diagnosis.json) applies."""
    from edgeyolo.predict import DEFAULT_CONF, PredictConfig, predict

    art = tmp_path / "art"
    shutil.copytree(onnx_artifact, art)
    manifest = json.loads((art / "manifest.json").read_text())
    manifest.pop("conf_threshold", None)  # the shared run may have been diagnosed by another test already
    (art / "manifest.json").write_text(json.dumps(manifest))
    img = next((tiny_data.parent / "images" / "val").glob("*.jpg"))
    plain = predict(PredictConfig(artifact=art, source=img, out=tmp_path / "a"))
    assert (plain.conf, plain.conf_source) == (DEFAULT_CONF, "default")
    (art / "manifest.json").write_text(json.dumps({**manifest, "conf_threshold": 0.01}))
    tuned = predict(PredictConfig(artifact=art, source=img, out=tmp_path / "b"))
    assert tuned.conf == 0.01 and "diagnose" in tuned.conf_source and tuned.detections >= plain.detections
    assert json.loads(tuned.files["json"].read_text())["conf"] == 0.01
    given = predict(PredictConfig(artifact=art, source=img, out=tmp_path / "c", conf=0.5))
    assert (given.conf, given.conf_source) == (0.5, "--conf")


def test_onnx_int8_refuses_a_graph_without_module_names():
    from onnx import TensorProto, helper

    from edgeyolo.errors import ExportError
    from edgeyolo.export.onnx_int8 import head_nodes

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "g", [x],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])  # fmt: skip
    with pytest.raises(ExportError, match="cannot locate the head"):
        head_nodes(helper.make_model(graph))


def test_onnx_int8_names_an_unreadable_calibration_image(tmp_path, tiny_weights, tiny_data):
    """The target fails with the image named; nothing half-written is left behind."""
    data = tmp_path / "data"
    shutil.copytree(tiny_data.parent, data)
    bad = sorted((data / "images" / "val").glob("*.jpg"))[0]
    bad.write_bytes(b"not a jpeg")
    r = export(ExportConfig(profile=load_profile("x86-cpu"), weights=tiny_weights, out=tmp_path / "a", imgsz=(TINY,),
                            targets=(TargetSpec("onnx", "int8", "onnxruntime"),), data=data / "data.yaml"))  # fmt: skip
    [item] = r.items
    assert item.status == "error" and "cannot read image" in item.reason and bad.name in item.reason
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.endswith("onnx-int8")]


def test_int8_with_no_calibration_image_is_refused_with_the_fix(tmp_path, tiny_weights, tiny_data):
    r = export(ExportConfig(profile=load_profile("x86-cpu"), weights=tiny_weights, out=tmp_path, imgsz=(TINY,),
                            targets=(TargetSpec("onnx", "int8", "onnxruntime"),), data=tiny_data,
                            calibration_fraction=0.01))  # fmt: skip
    [item] = r.items
    assert item.status == "error" and str(tiny_data) in item.reason and "0 images" in item.reason
    assert "raise the fraction" in item.reason


def test_onnx_int8_from_an_older_quantization_is_exported_again(tmp_path, tiny_weights, tiny_data):
    cfg = ExportConfig(profile=load_profile("x86-cpu"), weights=tiny_weights, out=tmp_path, imgsz=(TINY,),
                       targets=(TargetSpec("onnx", "int8", "onnxruntime"),), data=tiny_data, allow_degraded=True)  # fmt: skip
    first = export(cfg).items[0]
    assert first.status == "ok" and not first.reused
    assert export(cfg).items[0].reused  # same weights, same quantization: kept
    manifest = first.artifact / "manifest.json"
    m = json.loads(manifest.read_text())
    del m["calibration"]["quantization"]  # as the library's quantization wrote it
    manifest.write_text(json.dumps(m))
    again = export(cfg).items[0]
    assert again.status == "ok" and not again.reused
    assert "quantization" in json.loads(manifest.read_text())["calibration"]
    assert json.loads(manifest.read_text())["calibration"]["fraction"] == 1.0
    half = export(replace(cfg, calibration_fraction=0.5)).items[0]  # another calibration: exported again
    assert half.status == "ok" and not half.reused, half.reason
    assert {k: json.loads(manifest.read_text())["calibration"][k] for k in ("images", "fraction")} == {
        "images": 4, "fraction": 0.5}  # fmt: skip
    assert export(replace(cfg, calibration_fraction=0.5)).items[0].reused


def test_manifest_names_the_training_size(tmp_path, onnx_artifact):
    """The artifact carries its model's training image size (from the checkpoint), so a copy measured away from
    the training run still reports which size the model was trained at."""
    import json
    import shutil

    from edgeyolo.bench import training_imgsz

    assert json.loads((onnx_artifact / "manifest.json").read_text())["train_imgsz"] == TINY
    copy = tmp_path / onnx_artifact.name
    shutil.copytree(onnx_artifact, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["source_weights"]["path"] = str(tmp_path / "elsewhere" / "weights" / "best.pt")  # no run here
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert training_imgsz(copy) == TINY


# ------------------------------------------------------------------------ reuse: only what the same settings make
def _decide(art, tiny_weights, data=None, **kw):
    """The reuse decision for ``art`` against an FP32 ONNX export of the tiny weights at 128 px with ``kw``."""
    from edgeyolo._io import sha256_file
    from edgeyolo.export.reuse import decide
    from edgeyolo.shapes import Shape

    args = dict(weights_sha=sha256_file(tiny_weights), shape=Shape(TINY, TINY), rows=300, calibration=None,
                target=TargetSpec("onnx", "fp32", "onnxruntime"), data=data, parity_images=16, allow_degraded=False)  # fmt: skip
    return decide(art, **{**args, **kw})


def _edit_manifest(art, **fields):
    path = art / "manifest.json"
    m = json.loads(path.read_text())
    for k, v in fields.items():
        if v is None:
            m.pop(k, None)
        else:
            m[k] = v
    path.write_text(json.dumps(m))
    return m


@pytest.fixture
def kept(tmp_path, onnx_artifact):
    """A copy of the session's FP32 ONNX artifact (exported with the tiny data: parity on record)."""
    art = tmp_path / onnx_artifact.name
    shutil.copytree(onnx_artifact, art)
    return art


def test_reuse_same_settings_keeps_the_artifact(kept, tiny_weights, tiny_data):
    from edgeyolo.shapes import Shape

    r = _decide(kept, tiny_weights, data=tiny_data)
    assert r.keep and not r.check_parity and r.warnings == (), r
    assert _decide(kept, tiny_weights).keep  # no data now: the parity on record stays
    assert not _decide(kept, tiny_weights, weights_sha="0" * 64).keep  # other weights
    assert not _decide(kept, tiny_weights, shape=Shape(96, TINY)).keep  # another input shape
    assert not _decide(kept, tiny_weights, target=TargetSpec("onnx", "fp16", "onnxruntime")).keep
    assert not _decide(kept, tiny_weights, rows=100).keep  # another --max-det


def test_reuse_of_an_old_square_manifest(kept, tiny_weights):
    """Manifests from before camera shapes store imgsz as an int: a square input."""
    from edgeyolo.shapes import Shape

    _edit_manifest(kept, imgsz=TINY)
    assert _decide(kept, tiny_weights).keep
    assert not _decide(kept, tiny_weights, shape=Shape(96, TINY)).keep


def test_reuse_of_a_failed_parity_needs_allow_degraded(kept, tiny_weights, tiny_data):
    m = json.loads((kept / "manifest.json").read_text())
    _edit_manifest(kept, parity={**m["parity"], "status": "failed", "reason": "FP32 artifact disagrees"})
    no = _decide(kept, tiny_weights, data=tiny_data)
    assert not no.keep and "parity check failed" in no.why
    alone = _decide(kept, tiny_weights)  # without data the new export goes unchecked: said
    assert not alone.keep and any("failed its parity check" in w for w in alone.warnings)
    yes = _decide(kept, tiny_weights, data=tiny_data, allow_degraded=True)
    assert yes.keep and not yes.check_parity and any("parity failed" in w for w in yes.warnings)


def test_reuse_with_new_data_runs_the_parity_check(kept, tiny_weights, tiny_data, tmp_path):
    """An artifact exported without data (no parity), or checked on other data, is checked on the data given."""
    m = json.loads((kept / "manifest.json").read_text())
    _edit_manifest(kept, parity=None)
    r = _decide(kept, tiny_weights, data=tiny_data)
    assert r.keep and r.check_parity
    assert _decide(kept, tiny_weights).keep and not _decide(kept, tiny_weights).check_parity
    _edit_manifest(kept, parity={**m["parity"], "dataset": str(tmp_path / "other.yaml")})
    assert _decide(kept, tiny_weights, data=tiny_data).check_parity
    _edit_manifest(kept, parity=m["parity"])
    assert _decide(kept, tiny_weights, data=tiny_data, parity_images=4).check_parity  # another image count
    assert not _decide(kept, tiny_weights, data=tiny_data).check_parity


def test_reuse_of_int8_needs_the_same_calibration(kept, tiny_weights, tiny_data, tmp_path):
    from edgeyolo.export.onnx_int8 import SETTINGS
    from edgeyolo.export.reuse import calibration_block

    int8 = TargetSpec("onnx", "int8", "onnxruntime")
    want = calibration_block(tiny_data, 8, 1.0)
    _edit_manifest(kept, precision="int8", calibration={**want, "quantization": SETTINGS})
    assert _decide(kept, tiny_weights, data=tiny_data, target=int8, calibration=want).keep
    for other in (calibration_block(tiny_data, 4, 0.5), calibration_block(tmp_path / "d.yaml", 8, 1.0),
                  {**want, "fraction": 0.99}):  # fmt: skip
        r = _decide(kept, tiny_weights, data=tiny_data, target=int8, calibration=other)
        assert not r.keep and "calibration" in r.why, other
    old = {
        k: v for k, v in want.items() if k != "fraction"
    }  # a manifest from before the fraction was recorded
    _edit_manifest(kept, calibration={**old, "quantization": SETTINGS})
    assert _decide(kept, tiny_weights, data=tiny_data, target=int8, calibration=want).keep
    _edit_manifest(kept, calibration=old)  # quantized by another version's settings
    assert not _decide(kept, tiny_weights, data=tiny_data, target=int8, calibration=want).keep


def _fp32_cfg(tmp_path, tiny_weights, **kw):
    return ExportConfig(profile=load_profile("x86-cpu"), weights=tiny_weights, out=tmp_path, imgsz=(TINY,),
                        targets=(TargetSpec("onnx", "fp32", "onnxruntime"),), **kw)  # fmt: skip


def test_export_after_a_degraded_keep_exports_again_without_the_flag(
    tmp_path, tiny_weights, tiny_data, monkeypatch
):
    """A failed-parity artifact kept with --allow-degraded is reused only with --allow-degraded; without it the
    target is exported and checked again."""
    import edgeyolo.export as ex

    real, calls = ex.check_parity, []

    def failing(cfg, dest, imgsz):
        calls.append(dest)
        report = {
            **real(cfg, dest, imgsz),
            "status": "failed",
            "reason": "FP32 artifact disagrees (simulated)",
        }
        m = json.loads((dest / "manifest.json").read_text())
        (dest / "manifest.json").write_text(json.dumps({**m, "parity": report}))
        return report

    monkeypatch.setattr(ex, "check_parity", failing)
    kept = export(_fp32_cfg(tmp_path, tiny_weights, data=tiny_data, allow_degraded=True)).items[0]
    assert kept.status == "ok" and not kept.reused and len(calls) == 1
    again = export(_fp32_cfg(tmp_path, tiny_weights, data=tiny_data, allow_degraded=True)).items[0]
    assert again.status == "ok" and again.reused and len(calls) == 1
    assert any("parity failed" in w for w in again.warnings)
    monkeypatch.setattr(ex, "check_parity", real)
    fresh = export(_fp32_cfg(tmp_path, tiny_weights, data=tiny_data)).items[0]
    assert fresh.status == "ok" and not fresh.reused, fresh.reason
    assert load_artifact(fresh.artifact).manifest["parity"]["status"] == "ok"


def test_export_with_another_max_det_exports_again(tmp_path, tiny_weights):
    first = export(_fp32_cfg(tmp_path, tiny_weights)).items[0]
    assert first.status == "ok" and load_artifact(first.artifact).manifest["output"]["shape"] == [1, 300, 6]
    fewer = export(_fp32_cfg(tmp_path, tiny_weights, max_det=100)).items[0]
    assert fewer.status == "ok" and not fewer.reused
    m = load_artifact(fewer.artifact).manifest
    assert m["max_det"] == 100 and m["output"]["shape"] == [1, 100, 6]
    assert export(_fp32_cfg(tmp_path, tiny_weights, max_det=100)).items[0].reused


def test_export_with_data_checks_an_artifact_made_without(tmp_path, tiny_weights, tiny_data, monkeypatch):
    """Exported without data (no parity), then with data: the files are kept and the parity check runs, once."""
    import edgeyolo.export as ex

    real, calls = ex.check_parity, []
    monkeypatch.setattr(ex, "check_parity", lambda *a: calls.append(a) or real(*a))
    first = export(_fp32_cfg(tmp_path, tiny_weights)).items[0]
    before = load_artifact(first.artifact).manifest
    assert first.status == "ok" and "parity" not in before and calls == []
    checked = export(_fp32_cfg(tmp_path, tiny_weights, data=tiny_data)).items[0]
    assert checked.status == "ok" and checked.reused and len(calls) == 1, checked.reason
    after = load_artifact(checked.artifact).manifest
    assert after["sha256"] == before["sha256"] and after["created"] == before["created"]  # the same export
    assert after["parity"]["status"] == "ok" and after["parity"]["dataset"] == str(tiny_data.resolve())
    again = export(_fp32_cfg(tmp_path, tiny_weights, data=tiny_data)).items[0]
    assert again.reused and len(calls) == 1  # checked on this data already
    other = export(_fp32_cfg(tmp_path, tiny_weights, data=tiny_data, parity_images=4)).items[0]
    assert other.reused and len(calls) == 2 and load_artifact(other.artifact).manifest["parity"]["limit"] == 4


def test_a_resumed_trainings_checkpoint_still_names_its_model(tmp_path, tiny_weights):
    """The library records a resumed run's model as the last.pt it resumed from; edgeyolo's own record of the
    run names the model, so the artifacts are yolo26n-..., not last-..."""
    from edgeyolo._backend.checkpoints import checkpoint_info
    from edgeyolo._ship import set_train_args

    weights = tmp_path / "yolo26n-128" / "weights" / "best.pt"
    weights.parent.mkdir(parents=True)
    shutil.copy(tiny_weights, weights)
    assert set_train_args(weights, model=str(weights.parent / "last.pt"))
    assert checkpoint_info(weights)["model"] == "last"  # no record beside it: what the checkpoint says
    (weights.parent.parent / "edgeyolo_train.yaml").write_text("model: yolo26n.yaml\n")
    assert checkpoint_info(weights)["model"] == "yolo26n"
