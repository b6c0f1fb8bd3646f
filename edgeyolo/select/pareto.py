"""The Pareto front over (latency, accuracy)."""

from __future__ import annotations

from collections.abc import Sequence


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For (latency, accuracy) points: True where no other point is at least as good on both and better on one."""
    flags = []
    for i, (lat, acc) in enumerate(points):
        dominated = any(
            (l2 <= lat and a2 >= acc) and (l2 < lat or a2 > acc)
            for j, (l2, a2) in enumerate(points)
            if j != i
        )
        flags.append(not dominated)
    return flags
