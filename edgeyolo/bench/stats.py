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


CI_KEYS = ("mean", "p50", "p90", "p95", "p99")
SAMPLE_RESAMPLES = 1000  # bootstrap resamples of the latency samples (one round only)
SAMPLE_SEED = 0


def _stat(a: np.ndarray, key: str, axis: int = -1) -> np.ndarray:
    return a.mean(axis=axis) if key == "mean" else np.percentile(a, int(key[1:]), axis=axis)


def rounds_interval(round_stats: Sequence[dict]) -> dict:
    """Latency intervals from interleaved rounds: for each statistic, the lowest and highest value of a round.
    Each round ran in its own process at another time, so this range is what re-measuring moves a figure by
    (drift, other load, warm-up), which the spread of samples within one process does not show."""
    return {
        "method": "range over rounds", "rounds": len(round_stats),
        "end_to_end": {k: [round(min(s[k] for s in round_stats), 4), round(max(s[k] for s in round_stats), 4)]
                       for k in CI_KEYS},
    }  # fmt: skip


def samples_interval(samples_ms: Sequence[float], confidence: float = 0.95) -> dict:
    """Latency intervals from one round's samples: percentile bootstrap of each statistic. It misses drift
    between processes (measure with rounds for that); ``method`` says which it is."""
    a = np.asarray(samples_ms, dtype=np.float64)
    rng = np.random.default_rng(SAMPLE_SEED)
    boot = a[rng.integers(0, a.size, size=(SAMPLE_RESAMPLES, a.size))]
    lo, hi = (1 - confidence) / 2, 1 - (1 - confidence) / 2
    out = {}
    for k in CI_KEYS:
        v = _stat(boot, k)
        out[k] = [round(float(np.quantile(v, lo)), 4), round(float(np.quantile(v, hi)), 4)]
    return {"method": "percentile bootstrap over samples", "resamples": SAMPLE_RESAMPLES, "seed": SAMPLE_SEED,
            "confidence": confidence, "end_to_end": out}  # fmt: skip
