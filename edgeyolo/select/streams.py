"""Selecting for concurrent streams (``select --streams K``): only candidates whose record shows ``K`` streams
served at its target frame rate (``bench --streams``; see :mod:`edgeyolo.bench.streams`) are selectable; the
others say why (not measured, measured without a target, too few streams)."""

from __future__ import annotations

from collections.abc import Mapping

from edgeyolo.errors import ConfigError
from edgeyolo.select.types import Candidate, Selection


def check_streams(streams: int | None) -> None:
    if streams is not None and (isinstance(streams, bool) or not isinstance(streams, int) or streams < 1):
        raise ConfigError(
            f"select: --streams is the number of concurrent streams to serve (1 or more), got {streams!r}"
        )


def serves(streams: Mapping | None, k: int) -> bool | None:
    """Whether a record's ``streams`` shows ``k`` streams served at its target: a trial of ``k`` or more streams
    met it (fewer streams never do worse), or the capacity found is at least ``k``; False when a trial of ``k``
    or fewer missed it; None when the measurement cannot tell (no target, or only trials of fewer streams)."""
    if not streams or streams.get("target_fps") is None:
        return None
    cap = streams.get("capacity")
    if streams.get("requested") == "auto" and cap is not None:
        return cap >= k
    trials = streams.get("trials") or []
    if any(t.get("meets") and t["n"] >= k for t in trials):
        return True
    if any(t.get("meets") is False and t["n"] <= k for t in trials):
        return False
    return None


def annotate_streams(sel: Selection, by_artifact: Mapping[str, dict], k: int | None) -> None:
    """Each candidate's streams figures (capacity, target, aggregate FPS) from its record and, with ``k``,
    whether it serves ``k`` streams and why not; the selection's ``streams`` and common target frame rate."""
    sel.streams = k
    targets = set()
    for c in sel.candidates:
        st = by_artifact[c.artifact].get("streams") or None
        if st:
            c.streams_capacity = st.get("capacity")
            c.streams_target_fps = st.get("target_fps")
            c.streams_aggregate_fps = st.get("best_aggregate_fps")
            targets.add(st.get("target_fps"))
        if k is None:
            continue
        c.serves_streams = serves(st, k)
        if c.serves_streams is not True:
            c.streams_miss = _miss(st, k)
    if len(targets) == 1:
        sel.streams_fps = next(iter(targets))


def _miss(st: Mapping | None, k: int) -> str:
    if not st:
        return f"no streams measurement (measure it with 'edgeyolo bench --streams {k}' or '--streams auto')"
    fps = st.get("target_fps")
    if fps is None:
        return f"streams measured without a target FPS (throughput only); measure with --fps to tell whether it serves {k}"
    cap = st.get("capacity")
    trials = st.get("trials") or []
    if cap is not None and st.get("requested") == "auto":
        return f"serves {cap} stream(s) at {fps:g} FPS, not {k}"
    failed = [t for t in trials if t.get("meets") is False and t["n"] <= k]
    if failed:
        t = min(failed, key=lambda t: t["n"])
        return (f"misses {fps:g} FPS with {t['n']} stream(s) (slowest stream {t['min_stream_fps']:.1f} FPS, p90 "
                f"{t['latency_ms'].get('p90')} ms vs the {st.get('latency_budget_ms')} ms budget)")  # fmt: skip
    most = max((t["n"] for t in trials), default=0)
    return f"{k} streams not measured (only {most}); measure with 'edgeyolo bench --streams {k}' or '--streams auto'"


def streams_shortfall(c: Candidate, k: int | None) -> tuple[float, str | None]:
    """How far a candidate is from serving ``k`` streams (relative; 1 when unknown) and the miss in words."""
    if k is None or c.serves_streams is True:
        return 0.0, None
    served = c.streams_capacity if c.streams_capacity is not None and c.serves_streams is False else 0
    return max(0.0, (k - served) / k), c.streams_miss


def streams_requirement(sel: Selection) -> str:
    """The streams requirement in words ('' without one)."""
    if sel.streams is None:
        return ""
    fps = (
        f"{sel.streams_fps:g} FPS each"
        if sel.streams_fps is not None
        else "the target FPS its records were measured at"
    )
    return f"{sel.streams} concurrent stream(s) at {fps}"
