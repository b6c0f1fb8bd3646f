"""The one YOLO label-row parser: ``class xc yc w h`` or a polygon ``class x1 y1 x2 y2 ...`` (torch-free).

:func:`edgeyolo.data.yolo.read_labels` raises on a row that cannot be read; ``edgeyolo data check``
(:mod:`edgeyolo.data.check`) reports every problem of every row with its file and line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

COORD_TOLERANCE = 1e-6  # normalised coordinates may exceed [0, 1] by this much (float rounding)


@dataclass(frozen=True)
class RowProblem:
    """One thing wrong with a label row; ``data check`` adds the file and line."""

    code: str  # bad-columns, non-numeric (the row cannot be read), bad-class, out-of-range, zero-size
    message: str  # what is wrong and how to fix it


def parse_row(tokens: list[str], nc: int | None = None) -> tuple[list[float] | None, list[RowProblem]]:
    """A label row as [class, xc, yc, w, h] (a polygon becomes its bounding box), and its problems.

    Args:
        tokens: the row split on whitespace (not empty).
        nc: the number of classes; None skips the class-id check.

    Returns:
        The box, None when the row cannot be read (wrong column count, a value that is not a finite
        number); and every problem found, bad class ids, coordinates outside [0, 1] and empty boxes
        included (their box is still returned).
    """
    n = len(tokens)
    if n != 5 and not (n >= 7 and n % 2 == 1):
        return None, [
            RowProblem(
                "bad-columns",
                f"{n} values; a detection row is 'class xc yc w h' (5 values), a polygon row is "
                "'class x1 y1 x2 y2 x3 y3 ...' (an odd count >= 7)",
            )
        ]
    values: list[float] = []
    for tok in tokens:
        try:
            v = float(tok)
        except ValueError:
            v = math.nan
        if not math.isfinite(v):
            return None, [
                RowProblem("non-numeric", f"value {tok!r} is not a finite number; rows hold numbers only")
            ]
        values.append(v)
    problems: list[RowProblem] = []
    cls = values[0]
    if nc is not None and (not cls.is_integer() or not 0 <= cls < nc):
        problems.append(
            RowProblem("bad-class", f"class id {tokens[0]!r} is not an integer in 0..{nc - 1} (nc={nc})")
        )
    coords = values[1:]
    bad = [t for t, v in zip(tokens[1:], coords) if not -COORD_TOLERANCE <= v <= 1 + COORD_TOLERANCE]
    if bad:
        problems.append(
            RowProblem(
                "out-of-range",
                f"coordinates {', '.join(bad)} outside [0, 1]; coordinates are normalised by image size",
            )
        )
    if n == 5:
        xc, yc, w, h = coords
    else:
        xs, ys = coords[0::2], coords[1::2]
        xc, yc, w, h = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs), max(ys) - min(ys)
    if not bad and (w <= 0 or h <= 0):
        problems.append(
            RowProblem("zero-size", f"box has zero width or height (w={w:g}, h={h:g}); delete the row")
        )
    return [cls, xc, yc, w, h], problems
