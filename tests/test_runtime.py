from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edgeyolo.errors import ArtifactError, UnknownNameError
from edgeyolo.runtime import Preprocessor, decode_end2end, load_artifact, load_runtime
from edgeyolo.runtime.preprocess import LetterboxInfo


@pytest.mark.parametrize("shape", [(96, 128), (128, 96), (128, 128), (300, 500), (41, 173)])
def test_letterbox_matches_ultralytics(shape):
    from edgeyolo._backend.env import import_ultralytics

    import_ultralytics()
    from ultralytics.data.augment import LetterBox

    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, size=(*shape, 3), dtype=np.uint8)
    ref = LetterBox((128, 128), auto=False, stride=32)(image=img)
    tensor, info = Preprocessor(128)(img)
    ours = np.round(tensor[0].transpose(1, 2, 0)[..., ::-1] * 255).astype(np.uint8)
    assert ours.shape == ref.shape
    assert np.array_equal(ours, ref)
    assert info.orig_h == shape[0] and info.orig_w == shape[1]


def test_decode_undoes_letterbox_and_filters():
    info = LetterboxInfo(gain=0.5, pad_x=0.0, pad_y=16.0, orig_h=192, orig_w=256)
    out = np.zeros((1, 300, 6), np.float32)
    out[0, 0] = [10, 26, 30, 46, 0.9, 2]  # -> (20, 20, 60, 60)
    out[0, 1] = [0, 0, 200, 200, 0.5, 1]  # clipped to the image
    out[0, 2] = [5, 20, 6, 21, 0.1, 0]  # below the threshold
    det = decode_end2end(out, info, conf=0.25)
    assert len(det) == 2
    np.testing.assert_allclose(det.xyxy[0], [20, 20, 60, 60])
    np.testing.assert_allclose(det.xyxy[1], [0, 0, 256, 192])
    assert det.classes.tolist() == [2, 1]
    assert len(decode_end2end(out, info, conf=0.25, classes={1})) == 1


def test_onnx_decodes_to_the_pytorch_boxes(onnx_artifact, tiny_weights, tiny_data):
    """The exported NMS-free graph + our letterbox/decode give the PyTorch model's detections."""
    from edgeyolo._backend.predict import predict_torch
    from edgeyolo.data.yolo import load_dataset, load_split
    from edgeyolo.export.parity import compare_detections

    art = load_artifact(onnx_artifact)
    assert art.manifest["output"]["shape"] == [1, 300, 6]
    images = [cv2.imread(str(i.path)) for i in load_split(load_dataset(tiny_data), "val")]
    conf = 0.001  # the tiny model's scores are low; this is also the threshold mAP is scored at
    ref = predict_torch(tiny_weights, images, imgsz=art.imgsz, conf=conf)
    rt = load_runtime(onnx_artifact, threads=1)
    ours = [rt.predict(img, conf=conf) for img in images]
    n_ref = sum(len(d) for d in ref)
    assert n_ref > 0, "the tiny model produced no detections above 0.001; parity would be vacuous"
    p = compare_detections(ref, ours, iou=0.5)
    assert p.match_rate >= 0.95, p
    assert p.min_iou > 0.98, p
    assert p.max_score_diff < 1e-3, p
    # The export's own parity check was recorded in the manifest.
    assert art.manifest["parity"]["match_rate"] >= 0.95


def test_manifest_contents(onnx_artifact, tiny_weights):
    from edgeyolo._io import sha256_file

    m = json.loads((onnx_artifact / "manifest.json").read_text())
    assert m["end2end"] is True and m["format"] == "onnx" and m["precision"] == "fp32"
    assert m["names"] == ["circle", "square", "triangle", "star", "cross"]
    assert m["source_weights"]["sha256"] == sha256_file(tiny_weights)
    assert m["imgsz"] == [128, 128] and m["input"]["shape"] == [1, 3, 128, 128]
    assert "ultralytics" in m["versions"] and "onnxruntime" in m["versions"]


def test_manifest_records_the_checksum_of_the_model_files(onnx_artifact):
    from edgeyolo.runtime.base import artifact_sha256, verify_artifact

    art = load_artifact(onnx_artifact)
    assert art.manifest["sha256"] == artifact_sha256(art) == verify_artifact(art)


@pytest.mark.parametrize("where", ["../model.onnx", "ABSOLUTE", "sub/model.onnx", "link.onnx"])
def test_manifest_file_outside_the_artifact_folder_is_refused(tmp_path, onnx_artifact, where):
    """The checksum covers the files directly in the folder: a model named anywhere else is refused, even
    when it exists (a path up, an absolute path, a subfolder, a link that leads out)."""
    import shutil

    art = tmp_path / "art"
    shutil.copytree(onnx_artifact, art)
    outside = tmp_path / "model.onnx"
    shutil.copyfile(art / "model.onnx", outside)
    (art / "sub").mkdir()
    shutil.copyfile(art / "model.onnx", art / "sub" / "model.onnx")
    (art / "link.onnx").symlink_to(outside)
    m = json.loads((art / "manifest.json").read_text())
    m["file"] = str(outside) if where == "ABSOLUTE" else where
    (art / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(
        ArtifactError, match=r"manifest.json: 'file' is .* outside the artifact folder .* checksum"
    ):
        load_artifact(art)
    m["file"] = "model.onnx"  # the same folder with its own model loads
    (art / "manifest.json").write_text(json.dumps(m))
    assert load_artifact(art).model_path == art / "model.onnx"


def test_bad_artifacts(tmp_path, onnx_artifact):
    with pytest.raises(ArtifactError, match="not found"):
        load_artifact(tmp_path / "nothing")
    with pytest.raises(ArtifactError, match="manifest.json"):
        load_artifact(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_artifact(tmp_path)
    with pytest.raises(UnknownNameError, match="Unknown runtime"):
        load_runtime(onnx_artifact, runtime="tflite")


@pytest.mark.parametrize("module", ["edgeyolo.runtime", "edgeyolo.bench", "edgeyolo.select", "edgeyolo.report",
                                    "edgeyolo.cli", "edgeyolo.bench.worker", "edgeyolo.predict", "edgeyolo.api",
                                    "edgeyolo.data.check", "edgeyolo.runtime.openvino", "edgeyolo.runtime.tensorrt",
                                    "edgeyolo.bench.remote", "edgeyolo.bench.agent", "edgeyolo.diagnose",
                                    "edgeyolo.report.compare", "edgeyolo.tune"])  # fmt: skip
def test_torch_free_modules(module):
    code = (
        f"import sys, {module}; bad = [m for m in ('torch', 'ultralytics') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"{module} imports {out.strip()}"


def test_missing_runtime_message_carries_the_image_hint(monkeypatch):
    """Without the package the message names the pip extra; inside edgeyolo's images (no pip) the image's hint
    on rebuilding with the runtime follows."""
    from edgeyolo.errors import BackendUnavailableError
    from edgeyolo.runtime import IMAGE_HINT, require

    monkeypatch.setitem(sys.modules, "ncnn", None)
    monkeypatch.delenv(IMAGE_HINT, raising=False)
    with pytest.raises(BackendUnavailableError) as plain:
        require("ncnn", "ncnn")
    assert str(plain.value) == "ncnn runtime needs: pip install 'edgeyolo[ncnn]'"
    monkeypatch.setenv(IMAGE_HINT, "rebuild the image with RUNTIMES='onnxruntime ncnn'")
    with pytest.raises(BackendUnavailableError) as image:
        require("ncnn", "ncnn")
    assert str(image.value) == (
        "ncnn runtime needs: pip install 'edgeyolo[ncnn]'; rebuild the image with RUNTIMES='onnxruntime ncnn'"
    )
