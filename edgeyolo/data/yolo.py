"""Reading YOLO-format datasets (``data.yaml`` + images/ + labels/) without torch."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from edgeyolo.data.labels import parse_row
from edgeyolo.errors import DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class DatasetInfo:
    """A parsed ``data.yaml``."""

    yaml_path: Path  # absolute
    root: Path  # the dataset root that split paths are relative to
    names: tuple[str, ...]  # class names, index = class id
    splits: dict[str, list[Path]]  # split -> image folders or list files, as declared

    @property
    def nc(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class LabeledImage:
    path: Path
    labels: np.ndarray  # [n, 5] float32: class, x-centre, y-centre, width, height (normalised)


def _parse_names(data: dict, where: str) -> tuple[str, ...]:
    names = data.get("names")
    if isinstance(names, dict):
        try:
            keys = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            raise DatasetError(f"{where}: 'names' keys must be class ids 0..nc-1") from None
        if keys != list(range(len(keys))):
            raise DatasetError(f"{where}: 'names' ids must be 0..{len(keys) - 1} without gaps, got {keys}")
        names = [names[k] if k in names else names[str(k)] for k in keys]
    if not isinstance(names, list) or not names:
        raise DatasetError(f"{where}: missing or empty 'names'; add e.g. names: {{0: person, 1: car}}")
    if "nc" in data and data["nc"] != len(names):
        raise DatasetError(f"{where}: 'nc' is {data['nc']} but 'names' has {len(names)} entries")
    return tuple(str(n) for n in names)


def load_dataset(data_yaml: str | os.PathLike) -> DatasetInfo:
    """Parse a YOLO ``data.yaml``; split paths resolve against its ``path`` key or its folder."""
    path = Path(data_yaml).expanduser()
    if not path.is_file():
        raise DatasetError(
            f"Dataset file '{data_yaml}' not found; pass a YOLO data.yaml (make a demo one with: edgeyolo data synth DIR)."
        )
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise DatasetError(f"{where}: not valid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{where}: must be a YAML mapping with train, val and names")
    names = _parse_names(data, where)
    root = path.parent.resolve()
    if data.get("path"):
        p = Path(str(data["path"])).expanduser()
        root = p if p.is_absolute() else (path.parent / p).resolve()
    splits: dict[str, list[Path]] = {}
    for split in ("train", "val", "test"):
        value = data.get(split)
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        splits[split] = [
            (root / str(v)).resolve() if not Path(str(v)).is_absolute() else Path(str(v)) for v in items
        ]
    if "val" not in splits:
        raise DatasetError(f"{where}: missing 'val' split; add e.g. val: images/val")
    return DatasetInfo(yaml_path=path.resolve(), root=root, names=names, splits=splits)


def label_path_for(image: Path) -> Path:
    """YOLO convention: the last ``images`` folder in the path becomes ``labels``, suffix ``.txt``."""
    parts = list(image.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def list_images(sources: list[Path], where: str) -> list[Path]:
    """Images under split folders or listed in split ``.txt`` files, sorted."""
    images: list[Path] = []
    for src in sources:
        if src.is_dir():
            images += [p for p in src.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
        elif src.is_file() and src.suffix == ".txt":
            for line in src.read_text().splitlines():
                if line.strip():
                    p = Path(line.strip())
                    images.append(p if p.is_absolute() else (src.parent / p).resolve())
        else:
            raise DatasetError(f"{where}: split path '{src}' does not exist; fix the path in the data.yaml")
    return sorted(images)


def read_labels(label_file: Path) -> np.ndarray:
    """Rows of ``class xc yc w h``; a missing file is a background image (no objects).

    Polygon rows (``class x1 y1 x2 y2 ...``) become their bounding box. Malformed rows are reported by
    ``edgeyolo data check``; here a row that cannot be read (column count, a value that is not a finite
    number) raises. Both parse with :func:`edgeyolo.data.labels.parse_row`.
    """
    if not label_file.is_file():
        return np.zeros((0, 5), np.float32)
    rows = []
    for lineno, line in enumerate(label_file.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        box, problems = parse_row(parts)
        if box is None:
            raise DatasetError(f"{label_file}:{lineno}: {problems[0].message}")
        rows.append(box)
    return np.array(rows, np.float32).reshape(-1, 5)


def load_split(dataset: DatasetInfo, split: str = "val", limit: int | None = None) -> list[LabeledImage]:
    """Images of a split with their labels (the first ``limit`` in sorted order when given)."""
    if split not in dataset.splits:
        raise DatasetError(f"{dataset.yaml_path}: no '{split}' split; known: {', '.join(dataset.splits)}")
    images = list_images(dataset.splits[split], str(dataset.yaml_path))
    if not images:
        raise DatasetError(
            f"{dataset.yaml_path}: split '{split}' has no images under {dataset.splits[split][0]}"
        )
    if limit is not None:
        images = images[:limit]
    return [LabeledImage(p, read_labels(label_path_for(p))) for p in images]
