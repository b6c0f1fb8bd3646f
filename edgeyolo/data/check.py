"""Checking a YOLO dataset before training (torch-free).

Every problem is reported with its file, and its line for label problems, instead of stopping at the
first one: a dataset with a thousand bad rows should be fixable from one run. Statistics are taken at the
training image size (each image letterboxed so its long side is ``imgsz``), because whether an object is
"small" depends on the pixels the model sees, and the recommendations come from the recipe tables in
:mod:`edgeyolo.recipe`.

Problem codes (severity):

- ``data-yaml`` (error): the data.yaml is not YAML, lacks ``names``/``val``, or ``nc`` disagrees.
- ``missing-split`` (error; warning for ``test``): a split is not declared, its path does not exist, or
  it holds no images.
- ``bad-image`` (error): an image file is missing, empty, or does not decode.
- ``bad-columns``, ``non-numeric``, ``bad-class``, ``out-of-range``, ``zero-size`` (error): a label row.
- ``duplicate-labels`` (warning): the same row twice in one label file.
- ``orphan-label`` (warning): a label file with no image.
- ``many-backgrounds`` (warning): more than half of a split's images have no objects.
- ``class-imbalance``, ``missing-class`` (warning): training instances per class.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from edgeyolo.data.labels import parse_row
from edgeyolo.data.yolo import IMAGE_SUFFIXES, DatasetInfo, label_path_for, list_images, load_dataset
from edgeyolo.errors import ConfigError, DatasetError

Severity = Literal["error", "warning"]

SMALL_AREA = 32**2  # COCO size buckets, in letterboxed pixels
MEDIUM_AREA = 96**2
IMBALANCE_RATIO = 10.0  # most / least frequent training class above which imbalance is warned about
BACKGROUND_SHARE = 0.5  # share of background images in a split above which it is warned about
PROGRESS_MIN_IMAGES = 500  # show a progress bar only for datasets larger than this
_SPLITS = ("train", "val", "test")


@dataclass
class Problem:
    """One thing wrong with the dataset."""

    severity: Severity
    code: str  # stable identifier, e.g. "out-of-range"; see the module docstring
    file: str  # the file at fault (data.yaml, image, label file or split folder)
    message: str  # what is wrong and how to fix it
    line: int | None = None  # 1-based line in a label file

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file


@dataclass
class Recommendation:
    """A training setting suggested by the recipe tables for this dataset."""

    key: str  # "augmentation", "loss_preset", "stal" or "batch"
    value: Any
    reason: str


@dataclass
class CheckReport:
    """What :func:`check_dataset` found."""

    data_yaml: str
    imgsz: int  # the training image size the statistics are taken at
    problems: list[Problem] = field(default_factory=list)  # at most max_problems_per_code per code
    stats: dict = field(default_factory=dict)  # JSON-able; exact counts in stats["problem_counts"]
    recommendations: list[Recommendation] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def fatal(self) -> bool:
        """Whether training on this dataset would fail or silently drop data."""
        return bool(self.errors)

    def to_dict(self) -> dict:
        return {
            "data_yaml": self.data_yaml,
            "imgsz": self.imgsz,
            "fatal": self.fatal,
            "problems": [
                {"severity": p.severity, "code": p.code, "file": p.file, "line": p.line, "message": p.message}
                for p in self.problems
            ],
            "stats": self.stats,
            "recommendations": [
                {"key": r.key, "value": r.value, "reason": r.reason} for r in self.recommendations
            ],
        }

    def summary_lines(self, max_per_code: int = 10) -> list[str]:
        """Human-readable lines: statistics, problems (``max_per_code`` of each code), recommendations."""
        root = self.stats.get("root")
        lines = [f"Dataset {self.data_yaml} at {self.imgsz} px"]
        for split, s in self.stats.get("splits", {}).items():
            sizes = s["box_sizes"]
            n = max(1, s["instances"])
            lines.append(
                f"  {split}: {s['images']} images ({s['backgrounds']} backgrounds, {s['bad_images']} unreadable), "
                f"{s['instances']} instances, {s['objects_per_image']['mean']:.1f} per image "
                f"(max {s['objects_per_image']['max']}), small/medium/large "
                f"{sizes['small'] / n:.0%}/{sizes['medium'] / n:.0%}/{sizes['large'] / n:.0%}"
            )
        train = self.stats.get("splits", {}).get("train")
        if train:
            per_class = ", ".join(f"{k} {v}" for k, v in train["per_class"].items())
            ratio = self.stats["class_imbalance"]["ratio"]
            lines.append(f"  train classes: {per_class}")
            lines.append(f"  imbalance (most/least): {'n/a' if ratio is None else f'{ratio:.1f}x'}")
        counts: dict[str, int] = self.stats.get("problem_counts", {})
        lines.append(
            f"Problems: errors {self.stats.get('errors', 0)}, warnings {self.stats.get('warnings', 0)}"
        )
        shown: Counter[str] = Counter()
        for p in self.problems:
            shown[p.code] += 1
            if shown[p.code] <= max_per_code:
                lines.append(f"  {p.severity:7} {p.code:16} {_short(p.where, root)}: {p.message}")
        for code, n in counts.items():
            if n > min(shown[code], max_per_code):
                lines.append(f"  ... and {n - min(shown[code], max_per_code)} more {code}")
        if self.recommendations:
            lines.append("Recommendations:")
            lines += [f"  {r.key} = {r.value}: {r.reason}" for r in self.recommendations]
        return lines


def _short(path: str, root: str | None) -> str:
    """A path relative to the dataset root when it is under it."""
    if root and path.startswith(root + os.sep):
        return path[len(root) + 1 :]
    return path


class _Problems:
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


def _problem_stats(problems: _Problems) -> dict:
    return {
        "errors": problems.severities["error"],
        "warnings": problems.severities["warning"],
        "problem_counts": dict(problems.counts),
    }


@dataclass
class _ImageScan:
    """What one image and its label file hold (built in a worker thread)."""

    path: Path
    shape: tuple[int, int] | None  # (h, w); None when the image does not decode
    labeled: bool  # the label file exists and has at least one non-blank row
    boxes: np.ndarray  # [n, 5] class, xc, yc, w, h of the valid, de-duplicated rows
    problems: list[Problem]


def _decode(path: Path) -> tuple[tuple[int, int] | None, str | None]:
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


def _scan_labels(label_file: Path, nc: int) -> tuple[bool, np.ndarray, list[Problem]]:
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


def _scan_image(path: Path, nc: int) -> _ImageScan:
    shape, reason = _decode(path)
    problems = [] if reason is None else [Problem("error", "bad-image", str(path), reason)]
    labeled, boxes, label_problems = _scan_labels(label_path_for(path), nc)
    return _ImageScan(path, shape, labeled, boxes, problems + label_problems)


def _list_split(ds: DatasetInfo, split: str, problems: _Problems) -> list[Path]:
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


def _orphan_labels(ds: DatasetInfo, split: str, images: list[Path]) -> list[Path]:
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


def _split_stats(scans: list[_ImageScan], names: tuple[str, ...], imgsz: int) -> dict:
    good = [s for s in scans if s.shape is not None]
    per_class = np.zeros(len(names), np.int64)
    sizes = np.zeros(3, np.int64)  # small, medium, large
    counts = [len(s.boxes) for s in good]
    for s in good:
        if not len(s.boxes):
            continue
        h, w = s.shape
        r = imgsz / max(h, w)  # letterbox: the long side becomes imgsz
        area = (s.boxes[:, 3] * w * r) * (s.boxes[:, 4] * h * r)
        sizes += np.bincount(np.digitize(area, [SMALL_AREA, MEDIUM_AREA]), minlength=3)
        per_class += np.bincount(s.boxes[:, 0].astype(np.int64), minlength=len(names))
    instances = int(sizes.sum())
    return {
        "images": len(scans),
        "bad_images": len(scans) - len(good),
        "backgrounds": sum(not s.labeled for s in good),
        "instances": instances,
        "per_class": {name: int(n) for name, n in zip(names, per_class)},
        "objects_per_image": {
            "mean": float(np.mean(counts)) if counts else 0.0,
            "max": int(max(counts, default=0)),
        },
        "box_sizes": {"small": int(sizes[0]), "medium": int(sizes[1]), "large": int(sizes[2])},
        "small_share": float(sizes[0] / instances) if instances else None,
    }


def _recommend(
    train: dict | None,
    small_share: float | None,
    aerial: bool,
    gpu_mem_gib: float | None,
    scale: str,
    imgsz: int,
) -> list[Recommendation]:
    # Imported here, not at the top: importing edgeyolo.recipe runs edgeyolo/train/__init__.py, which
    # uses this module to check a dataset before training (a cycle at import time).
    from edgeyolo.recipe import SMALL_SHARE_FOR_STAL, aug_preset_for, batch_for, loss_preset_for

    recs: list[Recommendation] = []
    if train is not None and train["images"] - train["bad_images"] > 0:
        n_train = train["images"] - train["bad_images"]
        aug, why = aug_preset_for(n_train, train["objects_per_image"]["mean"], aerial)
        overrides = ", ".join(f"{k}={v}" for k, v in aug.overrides.items())
        recs.append(Recommendation("augmentation", aug.name, f"{why}; {aug.description} ({overrides})"))
    if small_share is not None:
        loss, why = loss_preset_for(small_share)
        recs.append(Recommendation("loss_preset", loss.name, f"{why}; box={loss.box:g}, cls={loss.cls:g}"))
        stal = small_share >= SMALL_SHARE_FOR_STAL
        relation = ">=" if stal else "<"
        recs.append(
            Recommendation(
                "stal",
                stal,
                f"small objects are {small_share:.0%} of instances ({relation} {SMALL_SHARE_FOR_STAL:.0%}); "
                + ("STAL's small-target-aware assignment helps" if stal else "STAL not needed"),
            )  # fmt: skip
        )
    n_images = train["images"] - train["bad_images"] if train is not None else None
    plan = batch_for(gpu_mem_gib, scale, imgsz, n_images or None)
    recs.append(
        Recommendation("batch", plan.batch, f"{plan.reason}; nominal batch {plan.nbs} via accumulation")
    )
    return recs


def _progress(total: int):
    """A transient rich progress bar on stderr for large datasets, else None."""
    if total <= PROGRESS_MIN_IMAGES:
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("checking {task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), transient=True,
    )  # fmt: skip


def check_dataset(
    data_yaml: str | os.PathLike,
    imgsz: int = 640,
    aerial: bool = False,
    max_problems_per_code: int = 50,
    gpu_mem_gib: float | None = None,
    scale: str = "n",
) -> CheckReport:
    """Validate a YOLO dataset and describe it at the training image size.

    Args:
        data_yaml: the dataset's ``data.yaml``.
        imgsz: training image size; box sizes are measured after letterboxing to it.
        aerial: the images are aerial/satellite views (selects the aerial augmentation preset).
        max_problems_per_code: how many problems of each code to list; ``stats["problem_counts"]``
            counts all of them.
        gpu_mem_gib: memory of the training GPU for the batch recommendation; None for CPU training.
        scale: model scale (n, s, m, l, x) for the batch recommendation.

    Returns:
        The report; ``report.fatal`` says whether any problem is an error.

    Raises:
        DatasetError: ``data_yaml`` does not exist.
        ConfigError: ``imgsz``, ``max_problems_per_code`` or ``scale`` is invalid.
    """
    if imgsz < 1:
        raise ConfigError(f"data check: imgsz must be a positive number of pixels, got {imgsz}")
    if max_problems_per_code < 0:
        raise ConfigError(f"data check: max_problems_per_code must be >= 0, got {max_problems_per_code}")
    from edgeyolo.recipe import batch_for

    batch_for(gpu_mem_gib, scale, imgsz)  # validates scale before the slow part
    path = Path(data_yaml).expanduser()
    if not path.is_file():
        load_dataset(path)  # raises the standard "not found" DatasetError
    report = CheckReport(data_yaml=str(path), imgsz=imgsz)
    problems = _Problems(max_problems_per_code)
    try:
        ds = load_dataset(path)
    except DatasetError as e:
        problems.add(Problem("error", "data-yaml", str(path), str(e)))
        report.problems, report.stats = problems.items, _problem_stats(problems)
        return report

    if "train" not in ds.splits:
        problems.add(
            Problem(
                "error", "missing-split", str(ds.yaml_path), "no 'train' split; add e.g. train: images/train"
            )
        )
    split_images = {split: _list_split(ds, split, problems) for split in _SPLITS if split in ds.splits}
    for split, images in split_images.items():
        if not images and any(src.exists() for src in ds.splits[split]):
            problems.add(
                Problem(
                    "warning" if split == "test" else "error",
                    "missing-split",
                    str(ds.splits[split][0]),
                    f"'{split}' split has no images (looked for {', '.join(IMAGE_SUFFIXES)})",
                )  # fmt: skip
            )

    total = sum(len(v) for v in split_images.values())
    progress = _progress(total)
    scans: dict[str, list[_ImageScan]] = {}
    # cv2 releases the GIL while decoding, so a few threads overlap decoding with file reads.
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
        if progress is not None:
            progress.start()
        try:
            for split, images in split_images.items():
                task = progress.add_task(split, total=len(images)) if progress is not None else None
                scans[split] = []
                for scan in pool.map(lambda p: _scan_image(p, ds.nc), images):
                    scans[split].append(scan)
                    for p in scan.problems:
                        problems.add(p)
                    if progress is not None:
                        progress.advance(task)
        finally:
            if progress is not None:
                progress.stop()

    for split, images in split_images.items():
        for orphan in _orphan_labels(ds, split, images):
            problems.add(
                Problem(
                    "warning",
                    "orphan-label",
                    str(orphan),
                    "label file has no image; it is ignored (delete it)",
                )
            )

    splits = {split: _split_stats(s, ds.names, imgsz) for split, s in scans.items()}
    for split, s in splits.items():
        good = s["images"] - s["bad_images"]
        if good and s["backgrounds"] / good > BACKGROUND_SHARE:
            problems.add(
                Problem(
                    "warning",
                    "many-backgrounds",
                    str(ds.splits[split][0]),
                    f"{s['backgrounds']} of {good} '{split}' images ({s['backgrounds'] / good:.0%}) have no "
                    "objects; check that the label files are where YOLO expects them (images/ -> labels/)",
                )  # fmt: skip
            )

    train = splits.get("train")
    imbalance: dict[str, Any] = {"ratio": None, "most": None, "least": None}
    if train is not None and train["instances"]:
        per_class = train["per_class"]
        most, least = max(per_class, key=per_class.get), min(per_class, key=per_class.get)
        imbalance.update(most=most, least=least)
        for name, n in per_class.items():
            if n == 0:
                problems.add(
                    Problem(
                        "warning",
                        "missing-class",
                        str(ds.yaml_path),
                        f"class '{name}' has no training instances; the model cannot learn it (add labelled "
                        "images or remove it from names)",
                    )  # fmt: skip
                )
        if per_class[least]:
            ratio = per_class[most] / per_class[least]
            imbalance["ratio"] = ratio
            if ratio > IMBALANCE_RATIO:
                problems.add(
                    Problem(
                        "warning",
                        "class-imbalance",
                        str(ds.yaml_path),
                        f"'{most}' has {ratio:.1f}x the training instances of '{least}' ({per_class[most]} vs "
                        f"{per_class[least]}); add images of the rare classes",
                    )  # fmt: skip
                )

    n_small = sum(s["box_sizes"]["small"] for s in splits.values())
    n_inst = sum(s["instances"] for s in splits.values())
    small_share = n_small / n_inst if n_inst else None
    report.problems = problems.items
    report.stats = {
        "root": str(ds.root),
        "nc": ds.nc,
        "names": list(ds.names),
        "splits": splits,
        "small_share": small_share,
        "class_imbalance": imbalance,
        **_problem_stats(problems),
    }
    report.recommendations = _recommend(train, small_share, aerial, gpu_mem_gib, scale, imgsz)
    return report
