"""Scanning a dataset file by file (torch-free): the :class:`Problem` record and its per-code capped log,
each image decoded with its label file parsed (valid unique boxes and the problems of each row), a split's
image listing and the label files that have no image. The problem codes are listed in
:mod:`edgeyolo.data.check`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from edgeyolo.data.labels import parse_row
from edgeyolo.data.yolo import DatasetInfo, label_path_for, list_images
from edgeyolo.errors import DatasetError

Severity = Literal["error", "warning"]


@dataclass
class Problem:
    """One thing wrong with the dataset."""

    severity: Severity
    code: str  # stable identifier, e.g. "out-of-range"; see edgeyolo.data.check
    file: str  # the file at fault (data.yaml, image, label file or split folder)
    message: str  # what is wrong and how to fix it
    line: int | None = None  # 1-based line in a label file

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file


class ProblemLog:
    """Collects problems, listing at most ``cap`` per code while counting all of them."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.items: list[Problem] = []
        self.counts: Counter[str] = Counter()
        self.severities: Counter[str] = Counter()

    def add(self, p: Problem) -> None:
        self.counts[p.code] += 1
        self.severities[p.severity] += 1
        if self.counts[p.code] <= self.cap:
            self.items.append(p)

    def stats(self) -> dict:
        """The counts for the report's statistics: errors, warnings and problems per code."""
        return {
            "errors": self.severities["error"],
            "warnings": self.severities["warning"],
            "problem_counts": dict(self.counts),
        }


@dataclass
class ImageScan:
    """What one image and its label file hold (built in a worker thread)."""

    path: Path
    shape: tuple[int, int] | None  # (h, w); None when the image does not decode
    labeled: bool  # the label file exists and has at least one non-blank row
    boxes: np.ndarray  # [n, 5] class, xc, yc, w, h of the valid, de-duplicated rows
    problems: list[Problem]


def decode(path: Path) -> tuple[tuple[int, int] | None, str | None]:
    """(h, w) of a decoded image, or the reason it does not decode."""
    if not path.is_file():
        return None, "image file not found; fix the split's list file or restore the image"
    # imdecode(fromfile) instead of imread: same decoder, but also reads non-ASCII paths on Windows.
    buf = np.fromfile(str(path), np.uint8)
    if buf.size == 0:
        return None, "image file is empty (0 bytes); re-export or delete it"
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error as e:
        return None, f"OpenCV cannot decode it ({e.err}); re-export it as JPEG or PNG, or delete it"
    if img is None or img.size == 0:
        return None, "OpenCV cannot decode it (corrupt or unsupported format); re-export it or delete it"
    return (int(img.shape[0]), int(img.shape[1])), None


def scan_labels(label_file: Path, nc: int) -> tuple[bool, np.ndarray, list[Problem]]:
    """Whether the file has rows, its valid unique boxes, and the problems of its rows."""
    if not label_file.is_file():
        return False, np.zeros((0, 5), np.float32), []
    file = str(label_file)
    problems: list[Problem] = []
    boxes: list[list[float]] = []
    first_seen: dict[tuple[float, ...], int] = {}
    labeled = False
    text = label_file.read_text(encoding="utf-8", errors="replace")
    for line_no, line in enumerate(text.splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        labeled = True
        box, row_problems = parse_row(tokens, nc)
        problems += [Problem("error", p.code, file, p.message, line_no) for p in row_problems]
        if box is None or row_problems:
            continue
        key = tuple(float(t) for t in tokens)
        if key in first_seen:
            problems.append(
                Problem(
                    "warning",
                    "duplicate-labels",
                    file,
                    f"same row as line {first_seen[key]}; training drops duplicates, delete it",
                    line_no,
                )  # fmt: skip
            )
            continue
        first_seen[key] = line_no
        boxes.append(box)
    return labeled, np.array(boxes, np.float32).reshape(-1, 5), problems


def scan_image(path: Path, nc: int) -> ImageScan:
    shape, reason = decode(path)
    problems = [] if reason is None else [Problem("error", "bad-image", str(path), reason)]
    labeled, boxes, label_problems = scan_labels(label_path_for(path), nc)
    return ImageScan(path, shape, labeled, boxes, problems + label_problems)


def list_split(ds: DatasetInfo, split: str, problems: ProblemLog) -> list[Path]:
    """A split's images; each missing source is a problem (the others are still scanned)."""
    severity: Severity = "warning" if split == "test" else "error"
    images: list[Path] = []
    for src in ds.splits[split]:
        try:
            images += list_images([src], str(ds.yaml_path))
        except DatasetError:
            problems.add(
                Problem(
                    severity,
                    "missing-split",
                    str(src),
                    f"'{split}' path does not exist; create it or fix '{split}:' in {ds.yaml_path.name}",
                )  # fmt: skip
            )
    return sorted(set(images))


def orphan_labels(ds: DatasetInfo, split: str, images: list[Path]) -> list[Path]:
    """Label files under a split's label folders with no image (list-file splits are not searched)."""
    expected = {label_path_for(p) for p in images}
    orphans: set[Path] = set()
    for src in ds.splits[split]:
        if not src.is_dir():
            continue
        label_dir = label_path_for(src / "_.jpg").parent
        if label_dir.is_dir():
            orphans |= {p for p in label_dir.rglob("*.txt") if p not in expected}
    return sorted(orphans)
