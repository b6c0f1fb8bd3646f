"""Network input shapes: square or camera-shaped, and the camera aspect they come from.

An artifact's input is (height, width). Square is the default; a camera-shaped input keeps the long side of a
profile size and rounds the short side up to the model's largest stride, so a 16:9 frame at 320 runs on
320x192 (WxH) instead of spending 44% of a 320x320 input on letterbox padding. Written ``WxH`` like a camera
resolution (``1920x1080``); stored and passed to the library as ``(h, w)``. Plain data, no heavy imports: the
profile loader, the runtimes on a device and the report all read it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from edgeyolo.errors import ConfigError

STRIDE = 32  # the YOLO26 detectors' largest stride: both sides of an input must be multiples of it
_WXH = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")
_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True, order=True)
class Shape:
    """A network input of ``h`` x ``w`` pixels (each a multiple of the stride)."""

    h: int
    w: int

    @classmethod
    def square(cls, size: int) -> Shape:
        return cls(int(size), int(size))

    @property
    def long(self) -> int:
        """The long side: the training size a camera-shaped input comes from."""
        return max(self.h, self.w)

    @property
    def is_square(self) -> bool:
        return self.h == self.w

    @property
    def hw(self) -> tuple[int, int]:
        return (self.h, self.w)

    @property
    def label(self) -> str:
        """``320`` for a square input, ``320x192`` (width x height, like a camera resolution) otherwise."""
        return f"{self.w}" if self.is_square else f"{self.w}x{self.h}"

    @property
    def pixels(self) -> int:
        return self.h * self.w

    def to_json(self) -> list[int]:
        """``[h, w]``: how manifests and records store it."""
        return [self.h, self.w]

    def __str__(self) -> str:
        return self.label


def parse_shape(value: Any, where: str, stride: int = STRIDE) -> Shape:
    """A size as users and files write it: ``320`` (square), ``"320x192"`` (width x height) or ``[h, w]`` (a
    manifest or record). Each side must be a positive multiple of ``stride``.

    Raises:
        ConfigError: naming ``where``, the value and the rule.
    """
    if isinstance(value, Shape):
        h, w = value.h, value.w
    elif isinstance(value, bool):
        raise ConfigError(f"{where}: image size {value!r} is not a size; use 320 (square) or 320x192 (WxH)")
    elif isinstance(value, int):
        h = w = value
    elif (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        h, w = int(value[0]), int(value[1])
    elif isinstance(value, str) and value.strip().isdigit():
        h = w = int(value)
    elif isinstance(value, str) and _WXH.match(value):
        m = _WXH.match(value)
        w, h = int(m.group(1)), int(m.group(2))
    else:
        raise ConfigError(
            f"{where}: image size {value!r} is not a size; use 320 (square) or WxH like 320x192 "
            f"(width and height multiples of {stride})"
        )
    if h <= 0 or w <= 0 or h % stride or w % stride:
        shown = f"{w}x{h}" if h != w else f"{w}"
        raise ConfigError(
            f"{where}: image size {shown} is not a multiple of {stride} (the model's largest stride): width and "
            f"height must be positive multiples of {stride}, e.g. 320 or 320x192"
        )
    return Shape(h, w)


def shape_of(value: Any) -> Shape:
    """A stored size (an int from an older manifest or record, ``[h, w]``, or a Shape) as a Shape."""
    return parse_shape(value, "image size", stride=1)


@dataclass(frozen=True)
class Aspect:
    """A camera's (or a dataset's) frame aspect, width : height, reduced."""

    w: int
    h: int
    source: str = ""  # where it came from, for messages: "profile camera 1920x1080", "val images (97%)"

    @property
    def ratio(self) -> float:
        return self.w / self.h

    @property
    def label(self) -> str:
        return f"{self.w}:{self.h}"

    def matches(self, other: Aspect, tol: float = 0.02) -> bool:
        """The same aspect within ``tol`` (relative): 1920x1080 and 1280x720 are; 16:9 and 4:3 are not."""
        return abs(math.log(self.ratio / other.ratio)) <= tol

    def __str__(self) -> str:
        return self.label


def _reduced(w: int, h: int, source: str) -> Aspect:
    g = math.gcd(w, h)
    return Aspect(w // g, h // g, source)


def parse_aspect(value: Any, where: str) -> Aspect:
    """A camera as a profile names it: a resolution ``1920x1080`` or an aspect ratio ``16:9`` / ``4:3``.

    Raises:
        ConfigError: naming ``where`` and the forms accepted.
    """
    text = str(value).strip() if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""
    m = _WXH.match(text)
    if m and int(m.group(1)) > 0 and int(m.group(2)) > 0:
        return _reduced(int(m.group(1)), int(m.group(2)), f"{where} {text}")
    m = _RATIO.match(text)
    if m and float(m.group(1)) > 0 and float(m.group(2)) > 0:
        a, b = float(m.group(1)), float(m.group(2))
        if a.is_integer() and b.is_integer():  # kept as written: 21:9 stays 21:9, not 7:3
            return Aspect(int(a), int(b), f"{where} {text}")
        scale = 1
        while (a * scale) % 1 or (b * scale) % 1:  # 1.85:1 -> 185:100
            scale *= 10
            if scale > 10**4:
                break
        return _reduced(round(a * scale), round(b * scale), f"{where} {text}")
    raise ConfigError(
        f"{where}: camera {value!r} is not a resolution or an aspect ratio; write it like 1920x1080 or 16:9"
    )


def camera_shape(long_side: int, aspect: Aspect, stride: int = STRIDE) -> Shape:
    """The camera-shaped input for a profile size: the long side kept, the short side scaled by the aspect and
    rounded up to the stride (16:9 at 320 -> 320x192, at 480 -> 480x288; 4:3 at 320 -> 320x256). A portrait
    camera gets the tall shape. Square when the aspect rounds to it."""
    short = min(
        long_side, math.ceil(long_side * min(aspect.w, aspect.h) / max(aspect.w, aspect.h) / stride) * stride
    )
    short = max(short, stride)
    return Shape(short, long_side) if aspect.w >= aspect.h else Shape(long_side, short)


def dominant_aspect(
    sizes: list[tuple[int, int]], min_share: float = 0.9, tol: float = 0.02
) -> tuple[Aspect | None, float]:
    """The aspect that nearly all images share, from their ``(w, h)`` sizes, and the share that has it.

    The most common reduced aspect is the candidate; the images within ``tol`` of it count towards its share.
    Returns ``(None, share)`` when that share is below ``min_share`` (a mixed set) or there are no images.
    """
    if not sizes:
        return None, 0.0
    counts: dict[tuple[int, int], int] = {}
    for w, h in sizes:
        if w > 0 and h > 0:
            a = _reduced(int(w), int(h), "")
            counts[(a.w, a.h)] = counts.get((a.w, a.h), 0) + 1
    if not counts:
        return None, 0.0
    (aw, ah), _ = max(counts.items(), key=lambda kv: kv[1])
    top = Aspect(aw, ah)
    share = sum(n for (w, h), n in counts.items() if top.matches(Aspect(w, h), tol)) / len(sizes)
    if share < min_share:
        return None, share
    return Aspect(aw, ah, f"val images ({share:.0%} of {len(sizes)} are {aw}:{ah})"), share
