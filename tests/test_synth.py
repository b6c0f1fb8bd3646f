from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edgeyolo.cli import main
from edgeyolo.data.synth import CLASS_NAMES, SynthConfig, synthesize
from edgeyolo.data.yolo import load_dataset, load_split
from edgeyolo.errors import ConfigError, DatasetError


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes(tmp_path):
    a = synthesize(SynthConfig(out=tmp_path / "a", train=6, val=3, imgsz=128, seed=7))
    b = synthesize(SynthConfig(out=tmp_path / "b", train=6, val=3, imgsz=128, seed=7))
    synthesize(SynthConfig(out=tmp_path / "c", train=6, val=3, imgsz=128, seed=8))
    assert a.instances == b.instances
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_val_split_does_not_depend_on_train_count(tmp_path):
    synthesize(SynthConfig(out=tmp_path / "a", train=4, val=3, imgsz=128))
    synthesize(SynthConfig(out=tmp_path / "b", train=9, val=3, imgsz=128))
    assert _digest(tmp_path / "a" / "labels" / "val") == _digest(tmp_path / "b" / "labels" / "val")


def test_dataset_content(tmp_path):
    r = synthesize(SynthConfig(out=tmp_path, train=60, val=10, imgsz=320, seed=0))
    data = yaml.safe_load(r.data_yaml.read_text())
    assert data["names"] == dict(enumerate(CLASS_NAMES))
    ds = load_dataset(r.data_yaml)
    items = load_split(ds, "train")
    assert len(items) == 60
    labels = np.concatenate([i.labels for i in items])
    # Every class, many small objects, some empty images, all boxes inside the image.
    assert set(labels[:, 0].astype(int)) == set(range(len(CLASS_NAMES)))
    assert r.small["train"] / r.instances["train"] > 0.25
    assert any(len(i.labels) == 0 for i in items)
    xyxy = np.c_[labels[:, 1:3] - labels[:, 3:5] / 2, labels[:, 1:3] + labels[:, 3:5] / 2]
    assert (xyxy >= -1e-6).all() and (xyxy <= 1 + 1e-6).all()
    # Images are 16:9 like a modern camera's frames (and letterboxing a square input is exercised).
    assert cv2.imread(str(items[0].path)).shape == (180, 320, 3)
    assert "320x180" in r.data_yaml.read_text()


@pytest.mark.parametrize(
    ("aspect", "hw"),
    [("16:9", (72, 128)), ("4:3", (96, 128)), ("1:1", (128, 128)), ("1280x720", (72, 128)), ("9:16", (228, 128)),
     (" 3 : 2 ", (85, 128))],
)  # fmt: skip
def test_aspect_sets_the_height(tmp_path, aspect, hw):
    r = synthesize(SynthConfig(out=tmp_path, train=2, val=2, imgsz=128, aspect=aspect))
    for split in ("train", "val"):
        for p in (tmp_path / "images" / split).iterdir():
            assert cv2.imread(str(p)).shape[:2] == hw, (aspect, p)
    labels = np.concatenate([i.labels for i in load_split(load_dataset(r.data_yaml), "val")])
    xyxy = np.c_[labels[:, 1:3] - labels[:, 3:5] / 2, labels[:, 1:3] + labels[:, 3:5] / 2]
    assert (xyxy >= -1e-6).all() and (xyxy <= 1 + 1e-6).all()


def test_default_aspect_is_16_9(tmp_path):
    """16:9 (a modern camera) is the default; 4:3, the old default, is still one option away."""
    assert SynthConfig(out=tmp_path).aspect == "16:9"
    a = synthesize(SynthConfig(out=tmp_path / "a", train=3, val=2, imgsz=96, seed=5))
    b = synthesize(SynthConfig(out=tmp_path / "b", train=3, val=2, imgsz=96, seed=5, aspect="16:9"))
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") and a.instances == b.instances
    r = synthesize(SynthConfig(out=tmp_path / "c", train=3, val=2, imgsz=96, seed=5, aspect="4:3"))
    assert cv2.imread(str(r.data_yaml.parent / "images" / "val" / "val_00000.jpg")).shape[:2] == (72, 96)


@pytest.mark.parametrize("aspect", ["wide", "16/9", "16:0", "0:9", "-4:3", "", "16:9:1", "1280x"])
def test_bad_aspect(tmp_path, aspect):
    with pytest.raises(ConfigError, match=r"--aspect .*16:9, 4:3, 1:1 or 1280x720") as e:
        synthesize(SynthConfig(out=tmp_path, train=1, val=1, aspect=aspect))
    assert "\n" not in str(e.value)
    assert not (tmp_path / "images").exists()  # checked before anything is written


def test_too_flat_aspect(tmp_path):
    with pytest.raises(ConfigError, match=r"--aspect 32:9 at --imgsz 64 makes images 18 px tall"):
        synthesize(SynthConfig(out=tmp_path, train=1, val=1, imgsz=64, aspect="32:9"))


def test_synth_command_aspect(runner, tmp_path):
    r = runner.invoke(
        main,
        ["data", "synth", str(tmp_path), "--train", "1", "--val", "1", "--imgsz", "96", "--aspect", "4:3"],
    )
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(tmp_path / "images" / "val" / "val_00000.jpg")).shape[:2] == (72, 96)
    assert "96x72" in (tmp_path / "data.yaml").read_text()


@pytest.mark.parametrize("aspect", ["wide", "16/9"])
def test_synth_command_bad_aspect_is_one_line(runner, tmp_path, aspect):
    r = runner.invoke(
        main, ["data", "synth", str(tmp_path), "--train", "1", "--val", "1", "--aspect", aspect]
    )
    assert r.exit_code != 0
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    lines = [ln for ln in r.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and "--aspect" in lines[0], r.output
    assert "16:9" in lines[0] and "1280x720" in lines[0] and "Traceback" not in r.output


@pytest.mark.parametrize("kwargs", [{"train": 0}, {"val": 0}, {"imgsz": 32}])
def test_bad_synth_arguments(tmp_path, kwargs):
    with pytest.raises(ConfigError):
        synthesize(SynthConfig(out=tmp_path, **kwargs))


def test_missing_data_yaml(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("train: images/train\nval: images/val\n", "names"),
        ("train: images/train\nnames: [a]\n", "val"),
        ("val: images/val\nnames: [a, b]\nnc: 3\n", "nc"),
        ("- just a list\n", "mapping"),
    ],
)
def test_malformed_data_yaml(tmp_path, content, match):
    f = tmp_path / "data.yaml"
    f.write_text(content)
    with pytest.raises(DatasetError, match=match):
        load_dataset(f)


def test_missing_split_folder(tmp_path):
    f = tmp_path / "data.yaml"
    f.write_text("val: images/val\nnames: [a]\n")
    with pytest.raises(DatasetError, match="does not exist"):
        load_split(load_dataset(f), "val")
