from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml

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
    # Images are 4:3 so that letterboxing is exercised.
    import cv2

    assert cv2.imread(str(items[0].path)).shape == (240, 320, 3)


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
