"""Comparing two candidates beyond a point estimate: each record's per-image bootstrap, the paired interval of
a mAP50-95 difference, the tie rule, and whether a latency difference stands out of the measurement noise.

The tie rule reads the paired 95% interval of a difference (a point difference without per-image data, an
interval of width 0): two candidates are tied when 0 lies strictly inside it (the val images cannot order
them) or the whole of it is within the tie margin (``map_tie_margin``, 0.001 by default: identical detections
give an interval of exactly 0). A candidate that is worse on some images and better on none has an interval
that ends at 0 (the resamples that leave those images out), so it is not tied unless its loss is within the
margin. The drop check against the FP32 twin reads the same interval the same way: its far end must be within
``max_map_drop``.

A latency difference stands out of the noise when the 95% t-interval of the mean per-pass paired difference
(rounds measured in the same pass, the order of the candidates reversed every other pass) excludes 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgeyolo.select.types import DEFAULT_MAP_TIE_MARGIN, Candidate

_BOOT_CACHE: dict[tuple[str, str], Any] = {}
# Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom (beyond: a normal approximation).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip


def load_bootstrap(rec: dict) -> tuple[Any, str | None]:
    """The record's per-image bootstrap, or None and why not (no per-image data, file missing or changed)."""
    per_image = (rec.get("accuracy") or {}).get("per_image")
    if not isinstance(per_image, dict) or not (per_image.get("path") or per_image.get("file")):
        return None, "no per-image data"
    path = Path(per_image.get("path") or per_image["file"])
    want = str(per_image.get("sha256"))
    if (str(path), want) in _BOOT_CACHE:
        return _BOOT_CACHE[(str(path), want)], None
    from edgeyolo._io import sha256_file
    from edgeyolo.bench import bootstrap as B

    try:
        if sha256_file(path) != want:
            return None, f"per-image file {path.name} changed since it was measured"
        boot = B.bootstrap(B.PerImage.load(path))
    except (OSError, ValueError, KeyError) as e:
        return None, f"per-image file {path.name} unreadable ({e})"
    _BOOT_CACHE[(str(path), want)] = boot
    return boot, None


def paired_interval(a: Candidate, b: Candidate) -> tuple[float, float] | None:
    """Paired interval of a's mAP50-95 minus b's, or None when they cannot be paired."""
    if a.boot is None or b.boot is None:
        return None
    from edgeyolo.bench.bootstrap import paired_difference

    return paired_difference(a.boot, b.boot)


def ordering(d: tuple[float, float], margin: float = DEFAULT_MAP_TIE_MARGIN) -> int:
    """How the interval ``d`` of a difference ``a - b`` orders a and b: 0 when it is a tie (0 strictly inside
    it, or all of it within ``margin`` of 0), 1 when a is higher, -1 when b is."""
    lo, hi = d
    if lo < 0 < hi or (-margin <= lo and hi <= margin):
        return 0
    return 1 if lo >= 0 else -1


def difference(a: Candidate, b: Candidate) -> tuple[float, float] | None:
    """What the tie rule reads for ``a - b``: the paired interval, else the point difference as an interval of
    width 0 (None when either has no mAP50-95)."""
    d = paired_interval(a, b)
    if d is not None:
        return d
    if a.map50_95 is None or b.map50_95 is None:
        return None
    p = round(a.map50_95 - b.map50_95, 5)
    return (p, p)


def tied(top: Candidate, c: Candidate, margin: float = DEFAULT_MAP_TIE_MARGIN) -> bool:
    """Whether ``c`` cannot be told apart from ``top`` on mAP50-95 (see the module's tie rule)."""
    if c is top:
        return True
    d = difference(top, c)
    return d is not None and ordering(d, margin) == 0


def t_quantile(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (>= 1)."""
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def mean_interval(values: Sequence[float]) -> tuple[float, float]:
    """95% t-interval of the mean of ``values`` (at least 2)."""
    k = len(values)
    m = sum(values) / k
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (k - 1))
    half = t_quantile(k - 1) * sd / math.sqrt(k)
    return (m - half, m + half)


def _round_stats(rec: dict) -> dict[str, dict]:
    return {r["pass"]: r.get("end_to_end") or {} for r in rec.get("rounds") or [] if r.get("pass")}


def latency_separation(a: Candidate, b: Candidate, ra: dict, rb: dict, metric: str) -> str | None:
    """'faster' / 'slower' (a vs b) when the latency difference stands out of the noise, 'within noise' when
    it does not, None when neither record has an interval.

    Rounds measured in the same pass (same moment, same machine state) are paired: with two such passes or more,
    the difference stands out when the 95% t-interval of the mean per-pass difference excludes 0. Bench
    reverses the order of the candidates every other pass, so warming within a pass adds to some differences
    and takes from others and widens that interval instead of faking a difference. Without paired passes, the
    two records' intervals are compared (apart = different)."""
    pa, pb = _round_stats(ra), _round_stats(rb)
    common = [k for k in pa if k in pb and metric in pa[k] and metric in pb[k]]
    if len(common) >= 2:
        lo, hi = mean_interval([pa[k][metric] - pb[k][metric] for k in common])
        return "faster" if hi < 0 else "slower" if lo > 0 else "within noise"
    if a.latency_ci is None or b.latency_ci is None:
        return None
    if a.latency_ci[1] < b.latency_ci[0]:
        return "faster"
    if b.latency_ci[1] < a.latency_ci[0]:
        return "slower"
    return "within noise"


def one_order(rec: dict) -> bool:
    """Whether a record's rounds ran every pass in the same order (bench before the order was reversed every
    other pass): a latency difference it shows may come from the order."""
    rounds = rec.get("rounds") or []
    return len(rounds) > 1 and not any("order" in r for r in rounds)
