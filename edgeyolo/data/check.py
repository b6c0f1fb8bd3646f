"""Checking a YOLO dataset before training (torch-free).

Every problem is reported with its file, and its line for label problems, instead of stopping at the
first one: a dataset with a thousand bad rows should be fixable from one run. Statistics are taken at the
training image size (each image letterboxed so its long side is ``imgsz``), because whether an object is
"small" depends on the pixels the model sees, and the recommendations come from the recipe tables in
:mod:`edgeyolo.recipe`. Here: the report, the dataset-level problems and :func:`check_dataset`; the
file-by-file scan is :mod:`edgeyolo.data.scan`, the statistics :mod:`edgeyolo.data.stats`, the
recommendations :mod:`edgeyolo.data.recommend`. The report also names the val images' camera aspect
when nearly all of them share one, and the camera-shaped input it calls for (:mod:`edgeyolo.data.aspect`).

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

from edgeyolo.data.aspect import aspect_of
from edgeyolo.data.recommend import Recommendation, recommend
from edgeyolo.data.scan import ImageScan, Problem, ProblemLog, list_split, orphan_labels, scan_image
from edgeyolo.data.stats import MEDIUM_AREA, SMALL_AREA, class_imbalance, small_share, split_stats
from edgeyolo.data.yolo import IMAGE_SUFFIXES, load_dataset
from edgeyolo.errors import ConfigError, DatasetError
from edgeyolo.recipe import batch_for
from edgeyolo.shapes import Shape, camera_shape

IMBALANCE_RATIO = 10.0  # most / least frequent training class above which imbalance is warned about
BACKGROUND_SHARE = 0.5  # share of background images in a split above which it is warned about
PROGRESS_MIN_IMAGES = 500  # show a progress bar only for datasets larger than this
_SPLITS = ("train", "val", "test")

# SMALL_AREA and MEDIUM_AREA: the size buckets, also read from here by edgeyolo.diagnose
__all__ = ["MEDIUM_AREA", "SMALL_AREA", "CheckReport", "Problem", "Recommendation", "check_dataset"]


@dataclass
class CheckReport:
    """What :func:`check_dataset` found."""

    data_yaml: str
    imgsz: int  # the training image size the statistics are taken at
    problems: list[Problem] = field(default_factory=list)  # at most max_problems_per_code per code
    stats: dict = field(default_factory=dict)  # JSON-able; exact counts in stats["problem_counts"]
    recommendations: list[Recommendation] = field(default_factory=list)
    aspect: str | None = None  # the camera aspect ("16:9") >= 90% of the readable val images share, else None
    aspect_share: float = 0.0  # the share of those images with the most common aspect
    aspect_images: int = 0  # readable val images measured
    aspect_largest: str | None = None  # the most common aspect, dominant or not (None without images)
    camera_shape: Shape | None = None  # the camera-shaped input at imgsz; None: square or no camera aspect

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
            "aspect": {
                "camera": self.aspect,
                "share": round(self.aspect_share, 4),
                "images": self.aspect_images,
                "shape": None if self.camera_shape is None else self.camera_shape.to_json(),
                "largest": self.aspect_largest,
            },
            "recommendations": [
                {"key": r.key, "value": r.value, "reason": r.reason} for r in self.recommendations
            ],
        }

    def aspect_line(self) -> str:
        """The val images' aspect and the input shape it calls for, in words."""
        square = f"square input {self.imgsz}"
        if not self.aspect_images:
            return f"Aspect: no readable val images -> {square}"
        if self.aspect is None:
            return (
                f"Aspect: mixed (largest share {self.aspect_largest} in {self.aspect_share:.0%} of "
                f"{self.aspect_images} val images) -> {square}"
            )
        found = f"Aspect: {self.aspect} in {self.aspect_share:.0%} of {self.aspect_images} val images"
        if self.camera_shape is not None:
            return f"{found} -> camera-shaped input {self.camera_shape.label} (vs {self.imgsz} square)"
        if self.aspect == "1:1":
            return f"{found} -> {square}"
        return f"{found} -> {square} (its camera shape rounds to square at {self.imgsz} px)"

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
        if "splits" in self.stats:
            lines.append(self.aspect_line())
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
        The report; ``report.fatal`` says whether any problem is an error; ``report.aspect`` and
        ``report.camera_shape`` the val images' camera aspect and the input shape for it at ``imgsz``.

    Raises:
        DatasetError: ``data_yaml`` does not exist.
        ConfigError: ``imgsz``, ``max_problems_per_code`` or ``scale`` is invalid.
    """
    if imgsz < 1:
        raise ConfigError(f"data check: imgsz must be a positive number of pixels, got {imgsz}")
    if max_problems_per_code < 0:
        raise ConfigError(f"data check: max_problems_per_code must be >= 0, got {max_problems_per_code}")
    batch_for(gpu_mem_gib, scale, imgsz)  # validates scale before the slow part
    path = Path(data_yaml).expanduser()
    if not path.is_file():
        load_dataset(path)  # raises the standard "not found" DatasetError
    report = CheckReport(data_yaml=str(path), imgsz=imgsz)
    problems = ProblemLog(max_problems_per_code)
    try:
        ds = load_dataset(path)
    except DatasetError as e:
        problems.add(Problem("error", "data-yaml", str(path), str(e)))
        report.problems, report.stats = problems.items, problems.stats()
        return report

    if "train" not in ds.splits:
        problems.add(
            Problem(
                "error", "missing-split", str(ds.yaml_path), "no 'train' split; add e.g. train: images/train"
            )
        )
    split_images = {split: list_split(ds, split, problems) for split in _SPLITS if split in ds.splits}
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

    scans = _scan_splits(split_images, ds.nc, problems)
    for split, images in split_images.items():
        for orphan in orphan_labels(ds, split, images):
            problems.add(
                Problem(
                    "warning",
                    "orphan-label",
                    str(orphan),
                    "label file has no image; it is ignored (delete it)",
                )
            )

    splits = {split: split_stats(s, ds.names, imgsz) for split, s in scans.items()}
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
    imbalance = class_imbalance(train)
    if train is not None and train["instances"]:
        for name, n in train["per_class"].items():
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
    ratio, most, least = imbalance["ratio"], imbalance["most"], imbalance["least"]
    if ratio is not None and ratio > IMBALANCE_RATIO:
        per_class = train["per_class"]
        problems.add(
            Problem(
                "warning",
                "class-imbalance",
                str(ds.yaml_path),
                f"'{most}' has {ratio:.1f}x the training instances of '{least}' ({per_class[most]} vs "
                f"{per_class[least]}); add images of the rare classes",
            )  # fmt: skip
        )

    small = small_share(splits)
    _measure_aspect(report, scans.get("val", []))
    report.problems = problems.items
    report.stats = {
        "root": str(ds.root),
        "nc": ds.nc,
        "names": list(ds.names),
        "splits": splits,
        "small_share": small,
        "class_imbalance": imbalance,
        **problems.stats(),
    }
    report.recommendations = recommend(train, small, aerial, gpu_mem_gib, scale, imgsz)
    return report


def _measure_aspect(report: CheckReport, val: list[ImageScan]) -> None:
    """The val images' camera aspect, and the camera-shaped input at the report's size, into ``report``."""
    summary = aspect_of([(s.shape[1], s.shape[0]) for s in val if s.shape is not None])
    report.aspect_share, report.aspect_images = summary.share, summary.images
    report.aspect_largest = None if summary.largest is None else summary.largest.label
    if summary.aspect is not None:
        report.aspect = summary.aspect.label
        shape = camera_shape(report.imgsz, summary.aspect)
        report.camera_shape = None if shape.is_square else shape


def _scan_splits(
    split_images: dict[str, list[Path]], nc: int, problems: ProblemLog
) -> dict[str, list[ImageScan]]:
    """Every image of every split with its label file, in a few threads; their problems go to ``problems``."""
    progress = _progress(sum(len(v) for v in split_images.values()))
    scans: dict[str, list[ImageScan]] = {}
    # cv2 releases the GIL while decoding, so a few threads overlap decoding with file reads.
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
        if progress is not None:
            progress.start()
        try:
            for split, images in split_images.items():
                task = progress.add_task(split, total=len(images)) if progress is not None else None
                scans[split] = []
                for scan in pool.map(lambda p: scan_image(p, nc), images):
                    scans[split].append(scan)
                    for p in scan.problems:
                        problems.add(p)
                    if progress is not None:
                        progress.advance(task)
        finally:
            if progress is not None:
                progress.stop()
    return scans
