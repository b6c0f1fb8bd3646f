"""Camera-shaped inputs: the shape rules, profile and CLI validation, the letterbox into (h, w), and ONNX, OpenVINO
and NCNN artifacts at a non-square input agreeing with PyTorch at that shape."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgeyolo.errors import ConfigError
from edgeyolo.profiles import TargetSpec, load_profile, parse_profile
from edgeyolo.shapes import Aspect, Shape, camera_shape, dominant_aspect, parse_aspect, parse_shape, shape_of

TINY = 128
WIDE = Shape(96, 128)  # the tiny 16:9 val images' camera shape at 128: 128x72 -> height rounded up to 96


@pytest.mark.parametrize(
    "aspect, size, expected",
    [("16:9", 320, (192, 320)), ("16:9", 480, (288, 480)), ("4:3", 320, (256, 320)), ("1920x1080", 640, (384, 640)),
     ("9:16", 320, (320, 192)), ("1:1", 320, (320, 320)), ("21:9", 320, (160, 320)), ("16:9", 64, (64, 64))],
)  # fmt: skip
def test_camera_shape_keeps_the_long_side_and_rounds_the_short_side_up_to_the_stride(aspect, size, expected):
    assert camera_shape(size, parse_aspect(aspect, "camera")).hw == expected


def test_shape_labels_and_stored_forms():
    assert Shape(192, 320).label == "320x192" and Shape.square(320).label == "320"
    assert parse_shape("320x192", "x") == Shape(192, 320) == shape_of([192, 320])
    assert parse_shape(320, "x") == shape_of(320) == Shape(320, 320)
    assert parse_aspect("1280x720", "c").label == "16:9" and parse_aspect("1.85:1", "c").label == "37:20"


@pytest.mark.parametrize(
    "value, needle",
    [("320x190", "multiple of 32"), ("300", "multiple of 32"), ("big", "320x192"), (0, "multiple of 32"),
     (True, "not a size"), ("320x", "320x192")],
)  # fmt: skip
def test_bad_sizes_name_the_value_and_the_rule(value, needle):
    with pytest.raises(ConfigError, match=needle) as e:
        parse_shape(value, "profile p 'imgsz'")
    assert "profile p 'imgsz'" in str(e.value) and "\n" not in str(e.value)


def test_dominant_aspect_of_wide_square_and_mixed_sets():
    wide, share = dominant_aspect([(1280, 720)] * 18 + [(1920, 1080)] + [(640, 480)])
    assert wide.label == "16:9" and share == pytest.approx(0.95)
    square, _ = dominant_aspect([(640, 640)] * 10)
    assert square.label == "1:1"
    mixed, share = dominant_aspect([(1280, 720)] * 6 + [(640, 480)] * 4)
    assert mixed is None and share == pytest.approx(0.6)
    assert dominant_aspect([]) == (None, 0.0)


_BASE = {"name": "cam", "imgsz": [320], "models": ["yolo26n"], "threads": 1, "latency_budget_ms": 50,
         "targets": [{"format": "onnx", "precision": "fp32"}]}  # fmt: skip


def test_profile_camera_and_wxh_sizes():
    p = parse_profile({**_BASE, "imgsz": [320, "480x288"], "camera": "1920x1080"})
    assert p.imgsz == (320, 480) and p.shapes == (Shape(288, 480),) and p.camera.label == "16:9"
    assert p.deploy_shapes(320, p.camera) == (Shape(320, 320), Shape(192, 320))
    assert p.deploy_shapes(480, p.camera) == (Shape(480, 480), Shape(288, 480))
    again = parse_profile(p.to_dict(), "round trip")  # `profiles show` output loads back as the same profile
    assert (again.imgsz, again.shapes, again.camera.label) == (p.imgsz, p.shapes, "16:9")
    plain = parse_profile(_BASE)
    assert plain.camera is None and plain.deploy_shapes(320, plain.camera) == (Shape(320, 320),)
    assert plain.deploy_shapes(320, Aspect(4, 3)) == (Shape(320, 320), Shape(256, 320))


@pytest.mark.parametrize(
    "change, needle",
    [({"camera": "wide"}, "'camera': camera 'wide' is not a resolution or an aspect ratio; write it like 1920x1080"),
     ({"camera": "0x1080"}, "write it like 1920x1080 or 16:9"),
     ({"imgsz": ["320x200"]}, "'imgsz': image size 320x200 is not a multiple of 32"),
     ({"imgsz": ["wide"]}, "use 320 (square) or WxH like 320x192")],
)  # fmt: skip
def test_bad_camera_or_wxh_in_a_profile_is_refused_with_the_rule(change, needle):
    with pytest.raises(ConfigError) as e:
        parse_profile({**_BASE, **change}, "my.yaml")
    assert needle in str(e.value) and "profile my.yaml" in str(e.value)


@pytest.mark.parametrize("command", ["export", "run", "train"])
def test_cli_imgsz_takes_wxh_and_refuses_bad_values(runner, command):
    from edgeyolo.cli import main

    args = {"export": ["export", "--profile", "x86-cpu", "--weights", "w.pt"],
            "run": ["run", "--profile", "x86-cpu", "--out", "o"], "train": ["train", "--profile", "x86-cpu", "--data", "d.yaml"]}[command]  # fmt: skip
    r = runner.invoke(main, [*args, "--imgsz", "320x190"])
    assert r.exit_code == 2 and "320x190" in r.output and "multiple of 32" in r.output, r.output


@pytest.mark.parametrize("frame_hw", [(72, 128), (200, 90), (100, 100), (480, 640)])
@pytest.mark.parametrize("net", [Shape(96, 128), Shape(128, 96), Shape(128, 128)])
def test_letterbox_into_h_w_equals_the_librarys(frame_hw, net):
    from ultralytics.data.augment import LetterBox

    from edgeyolo.runtime.preprocess import Preprocessor

    rng = np.random.default_rng(sum(frame_hw) + net.h)
    img = rng.integers(0, 255, (*frame_hw, 3), dtype=np.uint8)
    ref = LetterBox(new_shape=net.hw, auto=False, scale_fill=False, scaleup=True, center=True)(image=img)
    tensor, info = Preprocessor(net.h, net.w)(img)
    ours = np.rint(tensor[0].transpose(1, 2, 0)[..., ::-1] * 255).astype(np.uint8)  # RGB float -> BGR uint8
    assert ref.shape == ours.shape == (net.h, net.w, 3)
    np.testing.assert_array_equal(ours, ref)
    assert info.gain == pytest.approx(min(net.h / frame_hw[0], net.w / frame_hw[1]))


@pytest.fixture(scope="module")
def wide_export(tmp_path_factory, tiny_weights, tiny_data):
    from edgeyolo.export import ExportConfig, export

    out = tmp_path_factory.mktemp("wide")
    targets = (TargetSpec("onnx", "fp32", "onnxruntime"), TargetSpec("openvino", "fp32", "openvino"),
               TargetSpec("ncnn", "fp32", "ncnn"), TargetSpec("onnx", "int8", "onnxruntime"))  # fmt: skip
    return export(ExportConfig(profile=load_profile("x86-cpu"), weights=tiny_weights, out=out, imgsz=(WIDE,),
                               targets=targets, data=tiny_data))  # fmt: skip


def _by_format(result, precision="fp32"):
    out = {}
    for item in result.items:
        assert item.status == "ok", (item.target.key, item.reason)
        if item.target.precision == precision:
            out[item.target.format] = item.artifact
    return out


def test_artifacts_at_h_w_are_named_wxh_and_agree_with_pytorch_at_that_shape(wide_export):
    from edgeyolo.runtime import load_artifact

    arts = _by_format(wide_export)
    for fmt, art in arts.items():
        assert art.name == f"yolo26n-128x96-{fmt}-fp32"
        m = load_artifact(art).manifest
        assert m["imgsz"] == [96, 128] and m["input"]["shape"] == [1, 3, 96, 128], (fmt, m["input"])
        # rows: the anchors of a 96x128 input (12x16 + 6x8 + 3x4 = 252) are fewer than max_det
        assert m["output"]["shape"] == [1, 252, 6] and m["train_imgsz"] == TINY
        # export's parity check ran the PyTorch model at (96, 128) on the val images: the same detections
        assert m["parity"]["status"] == "ok" and m["parity"]["match_rate"] >= 0.95, (fmt, m["parity"])
        assert m["parity"]["reference"] > 0
    # INT8 is calibrated on the val images letterboxed into (96, 128), and its parity checked at that shape too
    int8 = load_artifact(_by_format(wide_export, "int8")["onnx"]).manifest
    assert int8["input"]["shape"] == [1, 3, 96, 128] and int8["calibration"]["images"] == 8
    assert int8["parity"]["status"] in ("ok", "degraded") and int8["parity"]["images"] > 0


def test_ncnn_at_h_w_equals_onnx_and_any_frame_fits(wide_export, tiny_data):
    from edgeyolo.data.yolo import load_dataset, load_split
    from edgeyolo.export.parity import compare_detections
    from edgeyolo.runtime import load_runtime

    arts = _by_format(wide_export)
    onnx_rt, ncnn_rt = load_runtime(arts["onnx"], threads=1), load_runtime(arts["ncnn"], threads=1)
    images = [cv2.imread(str(i.path)) for i in load_split(load_dataset(tiny_data), "val")]
    tensor = onnx_rt.preprocess(images[0])[0].copy()
    assert tensor.shape == (1, 3, 96, 128)
    a, b = onnx_rt.infer(tensor), ncnn_rt.infer(tensor)
    np.testing.assert_allclose(np.sort(a[0, :, 4]), np.sort(b[0, :, 4]), atol=1e-5)
    p = compare_detections([onnx_rt.predict(im, conf=0.001) for im in images],
                           [ncnn_rt.predict(im, conf=0.001) for im in images])  # fmt: skip
    assert p.reference > 0 and p.match_rate >= 0.95 and p.min_iou > 0.99, p
    # a frame of another aspect (tall, square) is letterboxed into the same input and mapped back inside it
    for frame in (np.full((200, 90, 3), 90, np.uint8), cv2.resize(images[0], (128, 128))):
        det = onnx_rt.predict(frame, conf=0.0)
        assert (
            len(det)
            and det.xyxy[:, [0, 2]].max() <= frame.shape[1]
            and det.xyxy[:, [1, 3]].max() <= frame.shape[0]
        )


def test_sweep_on_16_9_data_has_both_shapes_selects_and_reports_the_twin_comparison(
    tmp_path, tiny_weights, tiny_data
):
    """Given weights, 16:9 val images, no camera in the profile: the run finds the aspect, adds 128x96 next to
    128, benchmarks both, selects, and the report compares the camera shape with its square twin."""
    import json

    from _profiles import onnx_profile

    from edgeyolo.pipeline import PipelineConfig, run_pipeline

    logs: list[str] = []
    r = run_pipeline(PipelineConfig(profile=load_profile(onnx_profile(tmp_path)), out=tmp_path / "s", data=tiny_data,
                                    weights=(tiny_weights,), imgsz=(TINY,), bench_iterations=4, bench_warmup=1,
                                    bench_rounds=2), log=logs.append)  # fmt: skip
    assert any("val images are 16:9 (100% of 8)" in m and "camera-shaped 128x96" in m for m in logs), logs[:3]
    names = sorted(a.name for a in r.artifacts)
    assert names == ["yolo26n-128-onnx-fp32", "yolo26n-128x96-onnx-fp32"]
    report = json.loads((r.report_dir / "report.json").read_text())
    [cmp] = report["camera_shapes"]
    assert (cmp["camera"], cmp["square"]) == ("yolo26n-128x96-onnx-fp32", "yolo26n-128-onnx-fp32")
    assert (
        cmp["latency_ratio"] > 0
        and cmp["paired"]
        and cmp["map_diff_ci"][0] <= cmp["map_diff"] <= cmp["map_diff_ci"][1]
    )
    assert cmp["shape_note"] is None  # the camera shape fits the val images
    assert r.selected in names
    md = (r.report_dir / "report.md").read_text()
    assert "## Camera-shaped inputs" in md and "yolo26n-128x96-onnx-fp32 vs yolo26n-128-onnx-fp32" in md
    # the square-only sweep leaves the camera shape out
    square = run_pipeline(PipelineConfig(profile=load_profile(onnx_profile(tmp_path)), out=tmp_path / "q", data=tiny_data,
                                         weights=(tiny_weights,), imgsz=(TINY,), bench_iterations=2, bench_rounds=1,
                                         camera_shapes=False), log=logs.append)  # fmt: skip
    assert [a.name for a in square.artifacts] == ["yolo26n-128-onnx-fp32"]


def test_a_profile_camera_the_val_images_do_not_have_is_said_in_plan_record_and_report(
    tmp_path, tiny_weights, tiny_data
):
    import json

    import yaml
    from _profiles import onnx_profile

    from edgeyolo.bench import read_records
    from edgeyolo.pipeline import PipelineConfig, run_pipeline

    d = yaml.safe_load(onnx_profile(tmp_path).read_text())
    d["camera"] = "21:9"  # at 128: 128x64; the tiny val images are 16:9
    prof = tmp_path / "wide-camera.yaml"
    prof.write_text(yaml.safe_dump(d))
    logs: list[str] = []
    r = run_pipeline(PipelineConfig(profile=load_profile(prof), out=tmp_path / "s", data=tiny_data, weights=(tiny_weights,),
                                    imgsz=(TINY,), bench_iterations=2, bench_rounds=1), log=logs.append)  # fmt: skip
    assert any(
        "[plan] warning: profile tiny-cpu names a 21:9 camera but the val images are 16:9" in m for m in logs
    )
    records = {x["candidate"]["artifact"].rsplit("/", 1)[-1]: x for x in read_records(r.results)}
    assert set(records) == {"yolo26n-128-onnx-fp32", "yolo26n-128x64-onnx-fp32"}
    note = records["yolo26n-128x64-onnx-fp32"]["candidate"]["shape_note"]
    assert "21:9 camera but the val images are 16:9" in note and "add val images from that camera" in note
    assert records["yolo26n-128-onnx-fp32"]["candidate"].get("shape_note") is None
    report = json.loads((r.report_dir / "report.json").read_text())
    assert report["camera_shapes"][0]["shape_note"] == note
    assert "add val images from that camera" in (r.report_dir / "report.md").read_text()


def test_a_manifest_with_one_integer_imgsz_still_loads_as_square(tmp_path, onnx_artifact):
    import json
    import shutil

    from edgeyolo.runtime import load_artifact, load_runtime

    old = tmp_path / "old"
    shutil.copytree(onnx_artifact, old)
    m = json.loads((old / "manifest.json").read_text())
    assert m["imgsz"] == [TINY, TINY]
    m["imgsz"] = TINY  # as edgeyolo wrote it before camera-shaped inputs
    (old / "manifest.json").write_text(json.dumps(m))
    art = load_artifact(old)
    assert art.shape == (TINY, TINY) and art.imgsz == TINY
    det = load_runtime(old, threads=1).predict(np.full((72, 128, 3), 100, np.uint8), conf=0.0)
    assert det.xyxy.shape[1] == 4


def test_train_is_square_at_the_long_side_and_records_the_deploy_shapes(tmp_path, tiny_data):
    """`train --imgsz 128x96` trains square at 128; edgeyolo_train.yaml says which inputs the run is meant for:
    square, the given shape and the camera shape of the 16:9 val images (the same one here)."""
    from edgeyolo.train import TrainConfig
    from edgeyolo.train.resolve import prepare

    base = dict(
        profile=load_profile("x86-cpu"), data=tiny_data, out=tmp_path, epochs=1, batch=8, device="cpu"
    )
    settings = prepare(TrainConfig(imgsz="128x96", **base))[2]
    assert settings["imgsz"] == 128  # mosaic needs a square; validation and best.pt stay square too
    assert settings["deploy_shapes"]["shapes"] == ["128", "128x96"]
    assert settings["deploy_shapes"]["camera"] == "val images 16:9 (100% of 8)"
    wide = parse_profile({**_BASE, "imgsz": [128], "camera": "21:9"})
    settings = prepare(TrainConfig(imgsz=128, **{**base, "profile": wide}))[2]
    assert settings["deploy_shapes"] == {"shapes": ["128", "128x64"], "hw": [[128, 128], [64, 128]],
                                         "camera": "profile camera 21:9"}  # fmt: skip
    with pytest.raises(ConfigError, match="train --imgsz: image size 128x90 is not a multiple of 32"):
        prepare(TrainConfig(imgsz="128x90", **base))
