"""The camera aspect a dataset's val images share (torch-free).

Nearly all images of a dataset taken by one camera have its frame aspect; when at least 90% of the val
images share one, a camera-shaped network input (:func:`edgeyolo.shapes.camera_shape`) spends no pixels on
letterbox padding. :func:`val_aspect` measures it from the image headers alone (cheap enough for a pipeline
or a benchmark to call); ``data check`` measures it from the images it decodes anyway, with the same rule
(:func:`aspect_of`).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from edgeyolo.data.yolo import list_images, load_dataset
from edgeyolo.shapes import Aspect, dominant_aspect

MIN_SHARE = 0.9  # share of the val images that must have one aspect for it to be the camera's
# Aspects cameras and datasets name, so 640x427 reads 3:2 and 1366x768 reads 16:9 (within 2%, as Aspect.matches).
_COMMON = ((1, 1), (4, 3), (3, 2), (16, 10), (16, 9), (5, 4), (21, 9), (2, 1))
_EXIF_ORIENTATION = 0x0112
_TRANSPOSED = (5, 6, 7, 8)  # EXIF orientations that swap width and height (decoders apply them)


@dataclass(frozen=True)
class AspectSummary:
    """How a set of images' aspects spread."""

    aspect: Aspect | None  # the aspect nearly all share (>= MIN_SHARE), None for a mixed set or no images
    share: float  # the share of images with the largest aspect (0.0 without images)
    images: int  # images measured
    largest: Aspect | None  # the most common aspect, dominant or not (None without images)


def named(aspect: Aspect) -> Aspect:
    """``aspect`` as the common aspect it matches (640:427 -> 3:2, 683:384 -> 16:9), else itself."""
    for w, h in _COMMON:
        for cw, ch in ((w, h), (h, w)):  # portrait cameras too
            if (cw, ch) != (aspect.w, aspect.h) and aspect.matches(Aspect(cw, ch)):
                return Aspect(cw, ch, aspect.source)
    return aspect


def aspect_of(sizes_wh: list[tuple[int, int]], min_share: float = MIN_SHARE) -> AspectSummary:
    """The dominant aspect of images of ``(w, h)`` sizes, and the largest one when none dominates.

    Args:
        sizes_wh: each image's width and height in pixels.
        min_share: the share of images one aspect needs to be the dominant one.
    """
    aspect, share = dominant_aspect(sizes_wh, min_share)
    if aspect is not None:
        aspect = named(aspect)
        aspect = Aspect(aspect.w, aspect.h, f"val images ({share:.0%} of {len(sizes_wh)} are {aspect.label})")
        return AspectSummary(aspect, share, len(sizes_wh), aspect)
    if not sizes_wh:
        return AspectSummary(None, 0.0, 0, None)
    largest, _ = dominant_aspect(sizes_wh, 0.0)  # the most common one, whatever its share
    return AspectSummary(None, share, len(sizes_wh), None if largest is None else named(largest))


def image_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """An image's ``(w, h)`` as decoders see it (EXIF rotation applied), from its header when Pillow is
    installed (else decoded with OpenCV); None when it cannot be read."""
    try:
        from PIL import Image
    except ImportError:
        return _decoded_size(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                try:
                    turned = im.getexif().get(_EXIF_ORIENTATION) in _TRANSPOSED
                except Exception:  # a malformed EXIF block: OpenCV decodes the pixels unrotated too
                    turned = False
    except Image.DecompressionBombError:  # a huge (aerial) image: Pillow refuses even its header
        return _decoded_size(path)
    # Pillow raises SyntaxError for some truncated headers; once ultralytics is imported in the process, its
    # wrapper of Image.open tries an optional HEIF plugin on unknown files and raises ImportError without it.
    except (OSError, ValueError, SyntaxError, ImportError):
        return None
    return (h, w) if turned else (w, h)


def _decoded_size(path: str | os.PathLike) -> tuple[int, int] | None:
    from edgeyolo.data.scan import decode

    shape, _ = decode(Path(path))
    return None if shape is None else (shape[1], shape[0])


def aspect_text(aspect: Aspect | None, share: float, images: int) -> str:
    """What :func:`val_aspect` found, in words that follow "the val images are": ``16:9 (100% of 32)``, or ``of
    mixed aspects (largest share 55% of 32)``."""
    if aspect is None:
        return f"of mixed aspects (largest share {share:.0%} of {images})"
    return f"{aspect.label} ({share:.0%} of {images})"


def val_aspect(data_yaml: str | os.PathLike) -> tuple[Aspect | None, float, int]:
    """The camera aspect of a dataset: the one that at least 90% of its val images share.

    Reads only the image headers, so it is quick on large splits. Unreadable images are not measured
    (``edgeyolo data check`` reports them).

    Args:
        data_yaml: the dataset's ``data.yaml``.

    Returns:
        ``(aspect, share, images)``: the dominant aspect (None for a mixed split or one with no readable
        image), the share of the measured images that have the most common aspect, and how many were measured.

    Raises:
        DatasetError: the data.yaml is missing or malformed, or a val split path does not exist.
    """
    ds = load_dataset(data_yaml)
    images = list_images(ds.splits["val"], str(ds.yaml_path))
    sizes = [s for s in map(image_size, images) if s is not None]
    summary = aspect_of(sizes)
    return summary.aspect, summary.share, summary.images
