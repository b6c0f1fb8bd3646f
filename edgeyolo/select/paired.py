"""Comparing two candidates beyond a point estimate: each record's per-image bootstrap, the paired interval of
a mAP50-95 difference, the tie rule, and whether a latency difference stands out of the measurement noise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeyolo.select.types import MAP_TIE, Candidate

_BOOT_CACHE: dict[tuple[str, str], Any] = {}


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


def tied(top: Candidate, c: Candidate) -> bool:
    """Whether ``c`` cannot be told apart from ``top`` on mAP50-95."""
    if c is top:
        return True
    d = paired_interval(top, c)
    if d is not None:
        return d[0] <= 0 <= d[1]
    return c.map50_95 >= top.map50_95 - MAP_TIE


def _round_stats(rec: dict) -> dict[str, dict]:
    return {r["pass"]: r.get("end_to_end") or {} for r in rec.get("rounds") or [] if r.get("pass")}


def latency_separation(a: Candidate, b: Candidate, ra: dict, rb: dict, metric: str) -> str | None:
    """'faster' / 'slower' (a vs b) when the latency difference stands out of the noise, 'within noise' when
    it does not, None when neither record has an interval. Rounds measured in the same pass are paired (same
    moment, same machine state); otherwise the two intervals are compared."""
    pa, pb = _round_stats(ra), _round_stats(rb)
    common = [k for k in pa if k in pb and metric in pa[k] and metric in pb[k]]
    if len(common) >= 2:
        diffs = [pa[k][metric] - pb[k][metric] for k in common]
        if min(diffs) <= 0 <= max(diffs):
            return "within noise"
        return "faster" if max(diffs) < 0 else "slower"
    if a.latency_ci is None or b.latency_ci is None:
        return None
    if a.latency_ci[1] < b.latency_ci[0]:
        return "faster"
    if b.latency_ci[1] < a.latency_ci[0]:
        return "slower"
    return "within noise"
