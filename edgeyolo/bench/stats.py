"""Latency statistics."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PERCENTILES = (50, 90, 95, 99)


def summarize(samples_ms: Sequence[float]) -> dict[str, float | int]:
    """n, mean, std, min, p50, p90, p95, p99, max of latency samples in milliseconds."""
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        raise ValueError("no latency samples")
    pct = np.percentile(a, PERCENTILES)
    out: dict[str, float | int] = {"n": int(a.size), "mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
                                   "min": float(a.min())}  # fmt: skip
    out.update({f"p{p}": float(v) for p, v in zip(PERCENTILES, pct)})
    out["max"] = float(a.max())
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}
