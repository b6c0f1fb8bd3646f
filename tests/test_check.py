from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from edgeyolo.data import check
from edgeyolo.data.check import CheckReport, check_dataset
from edgeyolo.data.synth import CLASS_NAMES, SynthConfig, SynthResult, synthesize
from edgeyolo.errors import ConfigError, DatasetError
from edgeyolo.recipe import batch_for

IMGSZ = 128  # the synthetic images' size, so that letterboxing keeps their small objects small


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> SynthResult:
    return synthesize(SynthConfig(out=tmp_path_factory.mktemp("clean"), train=8, val=4, imgsz=IMGSZ))


@pytest.fixture
def root(clean, tmp_path) -> Path:
    """A private copy of the clean dataset to corrupt."""
    return Path(shutil.copytree(clean.data_yaml.parent, tmp_path / "ds"))


def _labeled(root: Path, split: str = "train") -> Path:
    """The first label file of a split that has rows."""
    return next(p for p in sorted((root / "labels" / split).glob("*.txt")) if p.read_text().strip())


def _append_row(row: str) -> Callable[[Path], tuple[Path, int | None]]:
    def corrupt(root: Path) -> tuple[Path, int | None]:
        f = _labeled(root)
        lines = f.read_text().splitlines() + [row]
        f.write_text("\n".join(lines) + "\n")
        return f, len(lines)

    return corrupt


def _duplicate_row(root: Path) -> tuple[Path, int | None]:
    f = _labeled(root)
    lines = f.read_text().splitlines()
    f.write_text("\n".join([*lines, lines[0]]) + "\n")
    return f, len(lines) + 1


def _orphan(root: Path) -> tuple[Path, int | None]:
    f = root / "labels" / "train" / "ghost.txt"
    f.write_text("0 0.5 0.5 0.1 0.1\n")
    return f, None


def _image_bytes(data: bytes) -> Callable[[Path], tuple[Path, int | None]]:
    def corrupt(root: Path) -> tuple[Path, int | None]:
        f = root / "images" / "val" / "val_00001.jpg"
        f.write_bytes(data)
        return f, None

    return corrupt


def _remove_val(root: Path) -> tuple[Path, int | None]:
    shutil.rmtree(root / "images" / "val")
    return root / "images" / "val", None


def _empty_train(root: Path) -> tuple[Path, int | None]:
    for p in (root / "images" / "train").iterdir():
        p.unlink()
    return root / "images" / "train", None


def _no_train_key(root: Path) -> tuple[Path, int | None]:
    f = root / "data.yaml"
    f.write_text("val: images/val\nnames: [circle, square, triangle, star, cross]\n")
    return f, None


def _missing_test(root: Path) -> tuple[Path, int | None]:
    f = root / "data.yaml"
    f.write_text(f.read_text() + "test: images/test\n")
    return root / "images" / "test", None


@pytest.mark.parametrize(
    ("corrupt", "code", "severity"),
    [
        (_append_row("0 0.5 0.5 0.1"), "bad-columns", "error"),
        (_append_row("0 0.5 0.5 0.1 0.1 0.2"), "bad-columns", "error"),
        (_append_row("0 0.5 abc 0.1 0.1"), "non-numeric", "error"),
        (_append_row("0 0.5 nan 0.1 0.1"), "non-numeric", "error"),
        (_append_row("0 1.5 0.5 0.1 0.1"), "out-of-range", "error"),
        (_append_row("0 0.1 0.1 0.3 0.1 -0.2 0.3"), "out-of-range", "error"),
        (_append_row("0 0.5 0.5 0 0.1"), "zero-size", "error"),
        (_append_row("0 0.1 0.1 0.3 0.1 0.2 0.1"), "zero-size", "error"),
        (_append_row("5 0.5 0.5 0.1 0.1"), "bad-class", "error"),
        (_append_row("-1 0.5 0.5 0.1 0.1"), "bad-class", "error"),
        (_append_row("1.5 0.5 0.5 0.1 0.1"), "bad-class", "error"),
        (_duplicate_row, "duplicate-labels", "warning"),
        (_orphan, "orphan-label", "warning"),
        (_image_bytes(b"not an image"), "bad-image", "error"),
        (_image_bytes(b""), "bad-image", "error"),
        (_remove_val, "missing-split", "error"),
        (_empty_train, "missing-split", "error"),
        (_no_train_key, "missing-split", "error"),
        (_missing_test, "missing-split", "warning"),
    ],
)
def test_problem_codes(root, corrupt, code, severity):
    bad_file, line = corrupt(root)
    r = check_dataset(root / "data.yaml", imgsz=IMGSZ)
    found = [p for p in r.problems if p.code == code]
    assert found, r.summary_lines()
    assert any(bad_file.name in p.file and p.line == line and p.severity == severity for p in found), found
    assert r.fatal == (severity == "error")
    assert r.stats["problem_counts"][code] == len(found)
    json.dumps(r.to_dict(), allow_nan=False)


def test_clean_dataset(clean):
    r = check_dataset(clean.data_yaml, imgsz=IMGSZ)
    assert not r.fatal and r.errors == [] and r.warnings == []
    splits = r.stats["splits"]
    assert set(splits) == {"train", "val"}
    for split, s in splits.items():
        assert s["images"] == clean.images[split] and s["bad_images"] == 0
        assert s["instances"] == clean.instances[split] == sum(s["per_class"].values())
        assert list(s["per_class"]) == list(CLASS_NAMES)
        assert sum(s["box_sizes"].values()) == s["instances"]
        assert s["objects_per_image"]["max"] <= 8
    assert r.stats["small_share"] > 0.2
    recs = {rec.key: rec for rec in r.recommendations}
    assert recs["augmentation"].value == "small" and "mixup" in recs["augmentation"].reason
    assert recs["stal"].value is True
    assert recs["loss_preset"].value in ("general", "small-objects")
    assert recs["batch"].value == batch_for(None, "n", IMGSZ).batch
    assert all(rec.reason for rec in r.recommendations)
    json.dumps(r.to_dict(), allow_nan=False)
    assert any("train:" in line for line in r.summary_lines())


def test_letterbox_scale_changes_sizes(clean):
    # Upscaled to 640 px, the same boxes are five times larger on each side: no longer small.
    big = check_dataset(clean.data_yaml, imgsz=640)
    assert big.stats["small_share"] < check_dataset(clean.data_yaml, imgsz=IMGSZ).stats["small_share"]
    assert {rec.key: rec.value for rec in big.recommendations}["stal"] is False


def test_polygon_rows_are_boxes(root, clean):
    f = _labeled(root)
    f.write_text(f.read_text() + "1 0.1 0.1 0.3 0.1 0.2 0.3\n")  # a triangle: box 0.1..0.3 x 0.1..0.3
    r = check_dataset(root / "data.yaml", imgsz=IMGSZ)
    assert r.problems == []
    assert r.stats["splits"]["train"]["instances"] == clean.instances["train"] + 1


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("train: images/train\nval: images/val\n", "names"),
        ("train: images/train\nval: images/val\nnames: 3\n", "names"),
        ("train: images/train\nval: images/val\nnames: [a, b]\nnc: 5\n", "nc"),
        ("train: [images/train\n", "YAML"),
        ("train: images/train\nnames: [a]\n", "val"),
    ],
)
def test_bad_data_yaml_is_one_fatal_problem(root, content, match):
    (root / "data.yaml").write_text(content)
    r = check_dataset(root / "data.yaml")
    assert [p.code for p in r.problems] == ["data-yaml"]
    assert r.fatal and match in r.problems[0].message and "data.yaml" in r.problems[0].file
    json.dumps(r.to_dict(), allow_nan=False)


def test_missing_data_yaml_raises(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        check_dataset(tmp_path / "nope.yaml")


@pytest.mark.parametrize("kwargs", [{"imgsz": 0}, {"scale": "q"}, {"max_problems_per_code": -1}])
def test_bad_arguments(clean, kwargs):
    with pytest.raises(ConfigError):
        check_dataset(clean.data_yaml, **kwargs)


def test_backgrounds_are_counted_not_problems(root, clean):
    before = check_dataset(root / "data.yaml", imgsz=IMGSZ).stats["splits"]["train"]["backgrounds"]
    labeled = [p for p in sorted((root / "labels" / "train").glob("*.txt")) if p.read_text().strip()]
    labeled[0].write_text("\n  \n")  # blank lines only
    labeled[1].unlink()  # no label file
    r = check_dataset(root / "data.yaml", imgsz=IMGSZ)
    assert r.stats["splits"]["train"]["backgrounds"] == before + 2
    assert r.problems == []


def test_many_backgrounds_warning(root):
    for p in (root / "labels" / "val").glob("*.txt"):
        p.unlink()
    r = check_dataset(root / "data.yaml", imgsz=IMGSZ)
    assert [p.code for p in r.problems] == ["many-backgrounds"]
    assert not r.fatal and "val" in r.problems[0].file
    assert r.stats["splits"]["val"]["backgrounds"] == 4
    assert r.stats["splits"]["val"]["small_share"] is None


def _write_train_labels(root: Path, rows: list[str]) -> None:
    for p in (root / "labels" / "train").glob("*.txt"):
        p.write_text("")
    (root / "labels" / "train" / "train_00000.txt").write_text("\n".join(rows) + "\n")


def test_class_imbalance_warning(root):
    rows = [f"0 {0.05 + i * 0.02:.2f} 0.5 0.01 0.01" for i in range(44)]
    rows += [f"{c} 0.5 0.{c} 0.1 0.1" for c in range(1, 5)]
    _write_train_labels(root, rows)
    r = check_dataset(root / "data.yaml", imgsz=IMGSZ)
    assert "class-imbalance" in r.stats["problem_counts"] and not r.fatal
    assert r.stats["class_imbalance"] == {"ratio": 44.0, "most": "circle", "least": "square"}


def test_missing_class_warning(root):
    _write_train_labels(root, ["0 0.5 0.5 0.1 0.1", "1 0.2 0.2 0.1 0.1"])
    r = check_dataset(root / "data.yaml", imgsz=IMGSZ)
    missing = [p for p in r.problems if p.code == "missing-class"]
    assert sorted(p.message.split("'")[1] for p in missing) == ["cross", "star", "triangle"]
    assert r.stats["class_imbalance"]["ratio"] is None and not r.fatal
    json.dumps(r.to_dict(), allow_nan=False)


def test_problems_are_capped_but_counted(root):
    f = _labeled(root)
    f.write_text(f.read_text() + "".join(f"0 {1.1 + i / 10:.1f} 0.5 0.1 0.1\n" for i in range(7)))
    r = check_dataset(root / "data.yaml", imgsz=IMGSZ, max_problems_per_code=2)
    assert [p.code for p in r.problems] == ["out-of-range"] * 2
    assert r.stats["problem_counts"] == {"out-of-range": 7} and r.stats["errors"] == 7
    assert any("5 more out-of-range" in line for line in r.summary_lines())


def test_recommendation_options(clean):
    r = check_dataset(clean.data_yaml, imgsz=IMGSZ, aerial=True, gpu_mem_gib=24, scale="s")
    recs = {rec.key: rec for rec in r.recommendations}
    assert recs["augmentation"].value == "aerial" and "flipud" in recs["augmentation"].reason
    train_images = len(list((clean.data_yaml.parent / "images" / "train").glob("*.jpg")))
    assert (
        recs["batch"].value == batch_for(24, "s", IMGSZ, train_images).batch == 8
    )  # capped: a small dataset
    assert f"{train_images} training images" in recs["batch"].reason


def test_silent_and_progress(clean, capsys, monkeypatch):
    check_dataset(clean.data_yaml, imgsz=IMGSZ)
    assert capsys.readouterr() == ("", "")
    monkeypatch.setattr(check, "PROGRESS_MIN_IMAGES", 0)  # the bar path runs (transient, on stderr)
    assert isinstance(check_dataset(clean.data_yaml, imgsz=IMGSZ), CheckReport)
    assert capsys.readouterr().out == ""


def test_torch_free(clean):
    code = (
        "import sys; from edgeyolo.data.check import check_dataset; check_dataset(sys.argv[1], imgsz=128); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'ultralytics')]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    subprocess.run([sys.executable, "-c", code, str(clean.data_yaml)], check=True)
