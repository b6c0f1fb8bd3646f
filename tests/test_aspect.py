"""The val images' camera aspect: val_aspect (image headers), and data check's report of it (JSON, text, CLI)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from edgeyolo.cli import main
from edgeyolo.data import val_aspect
from edgeyolo.data.aspect import aspect_of, image_size, named
from edgeyolo.data.check import check_dataset
from edgeyolo.data.synth import SynthConfig, synthesize
from edgeyolo.errors import DatasetError
from edgeyolo.shapes import Aspect, Shape


def _dataset(
    root: Path, val_sizes: list[tuple[int, int]], train_sizes: list[tuple[int, int]] = ((96, 96),)
) -> Path:
    """A labelled YOLO dataset whose images have the given (w, h) sizes; returns its data.yaml."""
    rng = np.random.default_rng(0)
    for split, sizes in (("train", train_sizes), ("val", val_sizes)):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i, (w, h) in enumerate(sizes):
            cv2.imwrite(
                str(root / "images" / split / f"{i:03d}.png"), rng.integers(0, 255, (h, w, 3), np.uint8)
            )
            (root / "labels" / split / f"{i:03d}.txt").write_text("0 0.5 0.5 0.4 0.4\n")
    f = root / "data.yaml"
    f.write_text("train: images/train\nval: images/val\nnames: [thing]\n")
    return f


WIDE = [(160, 90)] * 6 + [(128, 72)] * 3 + [(150, 84)]  # 150x84 is 25:14, within 1% of 16:9
SQUARE = [(96, 96)] * 4 + [(64, 64)] * 2
MIXED = [(160, 90)] * 5 + [(120, 90)] * 4 + [(64, 64)]  # 50% 16:9, 40% 4:3, 10% square


@pytest.mark.parametrize(
    ("sizes", "label", "share"),
    [
        (WIDE, "16:9", 1.0),
        (SQUARE, "1:1", 1.0),
        (MIXED, None, 0.5),
        ([(120, 90)] * 19 + [(64, 64)], "4:3", 0.95),
    ],
)
def test_val_aspect(tmp_path, sizes, label, share):
    aspect, got_share, n = val_aspect(_dataset(tmp_path, sizes))
    assert (aspect.label if aspect else None) == label
    assert got_share == pytest.approx(share) and n == len(sizes)
    if aspect is not None:
        assert f"{aspect.label})" in aspect.source and "val images" in aspect.source


def test_val_aspect_of_synthetic_sets(tmp_path):
    for spec, label in (
        ("16:9", "16:9"),
        ("4:3", "4:3"),
        ("1280x720", "16:9"),
        ("1:1", "1:1"),
        ("9:16", "9:16"),
    ):
        r = synthesize(
            SynthConfig(out=tmp_path / spec.replace(":", "-"), train=1, val=3, imgsz=96, aspect=spec)
        )
        aspect, share, n = val_aspect(r.data_yaml)
        assert (aspect.label, share, n) == (label, 1.0, 3), spec


def test_unreadable_images_are_not_measured(tmp_path):
    data = _dataset(tmp_path, [(160, 90)] * 3)
    (tmp_path / "images" / "val" / "broken.jpg").write_bytes(b"not an image")
    (tmp_path / "images" / "val" / "empty.png").write_bytes(b"")
    aspect, share, n = val_aspect(data)
    assert (aspect.label, share, n) == ("16:9", 1.0, 3)


def test_no_val_images_and_missing_split(tmp_path):
    data = _dataset(tmp_path, [])
    assert val_aspect(data) == (None, 0.0, 0)
    (tmp_path / "images" / "val").rmdir()
    with pytest.raises(DatasetError, match="does not exist"):
        val_aspect(data)
    with pytest.raises(DatasetError, match="not found"):
        val_aspect(tmp_path / "nope.yaml")


def test_exif_rotation_is_applied_like_the_decoder(tmp_path):
    """A phone photo stored 160x90 with 'rotate 90' in its EXIF is a 90x160 (portrait) image to OpenCV and to
    training, so it must be one to val_aspect too."""
    f = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (160, 90), (120, 30, 200)).save(f, exif=exif)
    decoded = cv2.imdecode(np.fromfile(str(f), np.uint8), cv2.IMREAD_COLOR).shape[:2]
    assert image_size(f) == (decoded[1], decoded[0]) == (90, 160)


def test_common_names():
    assert named(Aspect(640, 427)).label == "3:2"
    assert named(Aspect(683, 384)).label == "16:9"  # 1366x768
    assert named(Aspect(3, 4)).label == "3:4"
    assert named(Aspect(7, 5)).label == "7:5"  # no common aspect within 2%: kept
    s = aspect_of([(640, 427)] * 3 + [(100, 100)])
    assert s.aspect is None and s.largest.label == "3:2" and s.share == 0.75 and s.images == 4


def test_check_json_and_text_wide(tmp_path, runner):
    data = _dataset(tmp_path, WIDE)
    r = check_dataset(data, imgsz=320)
    assert (r.aspect, r.aspect_share, r.aspect_images, r.camera_shape) == ("16:9", 1.0, 10, Shape(192, 320))
    assert r.to_dict()["aspect"] == {
        "camera": "16:9",
        "share": 1.0,
        "images": 10,
        "shape": [192, 320],
        "largest": "16:9",
    }
    line = next(ln for ln in r.summary_lines() if ln.startswith("Aspect:"))
    assert line == "Aspect: 16:9 in 100% of 10 val images -> camera-shaped input 320x192 (vs 320 square)"
    out = runner.invoke(main, ["data", "check", str(data), "--imgsz", "480", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["aspect"]["shape"] == [288, 480]
    text = runner.invoke(main, ["data", "check", str(data), "--imgsz", "480"])
    assert "camera-shaped input 480x288 (vs 480 square)" in text.output


def test_check_json_and_text_square(tmp_path):
    r = check_dataset(_dataset(tmp_path, SQUARE), imgsz=320)
    assert r.to_dict()["aspect"] == {
        "camera": "1:1",
        "share": 1.0,
        "images": 6,
        "shape": None,
        "largest": "1:1",
    }
    assert "Aspect: 1:1 in 100% of 6 val images -> square input 320" in r.summary_lines()


def test_check_json_and_text_mixed(tmp_path):
    r = check_dataset(_dataset(tmp_path, MIXED, train_sizes=[(160, 90)] * 3), imgsz=320)
    assert r.to_dict()["aspect"] == {
        "camera": None,
        "share": 0.5,
        "images": 10,
        "shape": None,
        "largest": "16:9",
    }
    assert (
        "Aspect: mixed (largest share 16:9 in 50% of 10 val images) -> square input 320" in r.summary_lines()
    )
    json.dumps(r.to_dict(), allow_nan=False)


def test_check_counts_only_readable_val_images(tmp_path):
    data = _dataset(tmp_path, [(160, 90)] * 2)
    (tmp_path / "images" / "val" / "broken.jpg").write_bytes(b"not an image")
    r = check_dataset(data, imgsz=320)
    assert r.fatal and (r.aspect, r.aspect_images) == ("16:9", 2)
    (tmp_path / "data.yaml").write_text("nothing useful\n")
    bad = check_dataset(data)
    assert bad.to_dict()["aspect"] == {
        "camera": None,
        "share": 0.0,
        "images": 0,
        "shape": None,
        "largest": None,
    }
    assert not any(ln.startswith("Aspect:") for ln in bad.summary_lines())


def test_camera_shape_that_rounds_to_square(tmp_path):
    r = check_dataset(
        _dataset(tmp_path, [(96, 90)] * 3), imgsz=64
    )  # 16:15 at 64 px: the short side is 64 too
    assert r.aspect == "16:15" and r.camera_shape is None
    assert "-> square input 64 (its camera shape rounds to square at 64 px)" in r.aspect_line()


def test_val_aspect_is_torch_free(tmp_path):
    data = _dataset(tmp_path, WIDE)
    code = (
        "import sys; from edgeyolo.data import val_aspect; a, s, n = val_aspect(sys.argv[1]); "
        "assert (a.label, n) == ('16:9', 10), (a, n); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'ultralytics')]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    subprocess.run([sys.executable, "-c", code, str(data)], check=True)
