"""The one YOLO label-row parser, and read_labels raising on rows it cannot read."""

from __future__ import annotations

import numpy as np
import pytest

from edgeyolo.data.labels import parse_row
from edgeyolo.data.yolo import read_labels
from edgeyolo.errors import DatasetError


@pytest.mark.parametrize(
    "row, box, codes",
    [
        ("0 0.5 0.5 0.2 0.4", [0, 0.5, 0.5, 0.2, 0.4], []),
        ("1 0.1 0.2 0.5 0.2 0.3 0.6", [1, 0.3, 0.4, 0.4, 0.4], []),  # polygon -> its bounding box
        ("3 0.5 0.5 0.2 0.4", [3, 0.5, 0.5, 0.2, 0.4], ["bad-class"]),
        ("0.5 0.5 1.5 0.2 0.4", [0.5, 0.5, 1.5, 0.2, 0.4], ["bad-class", "out-of-range"]),
        ("0 0.5 0.5 0 0.4", [0, 0.5, 0.5, 0, 0.4], ["zero-size"]),
        ("0 0.5 0.5 0.1", None, ["bad-columns"]),
        ("0 0.5 0.5 0.1 0.1 0.2", None, ["bad-columns"]),
        ("0 0.5 abc 0.1 0.1", None, ["non-numeric"]),
        ("0 0.5 inf 0.1 0.1", None, ["non-numeric"]),
    ],
)
def test_parse_row(row, box, codes):
    got, problems = parse_row(row.split(), nc=2)
    assert [p.code for p in problems] == codes
    assert got is None if box is None else got == pytest.approx(box)


def test_parse_row_without_nc_skips_the_class_check():
    assert parse_row("7 0.5 0.5 0.2 0.4".split()) == ([7.0, 0.5, 0.5, 0.2, 0.4], [])


def test_read_labels(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("0 0.5 0.5 0.2 0.4\n\n1 0.1 0.2 0.5 0.2 0.3 0.6\n")
    assert read_labels(f) == pytest.approx(np.array([[0, 0.5, 0.5, 0.2, 0.4], [1, 0.3, 0.4, 0.4, 0.4]]))
    assert read_labels(tmp_path / "missing.txt").shape == (0, 5)
    f.write_text("0 0.5 0.5 0.2 0.4\n0 0.5 x 0.2 0.4\n")
    with pytest.raises(DatasetError, match=r"a\.txt:2: value 'x' is not a finite number"):
        read_labels(f)
    f.write_text("0 0.5 0.5 0.2\n")
    with pytest.raises(DatasetError, match=r"a\.txt:1: 4 values"):
        read_labels(f)
