"""Stream capacity: how many concurrent camera streams an artifact serves at a target frame rate.

One trial runs ``n`` streams for a fixed time, each in its own thread with its own predictor (the runtime's way of
serving several streams: :meth:`edgeyolo.runtime.base.Runtime.open_streams`). A paced stream is a camera: frame
``k`` is due at ``t0 + phase + k / fps`` (the streams' phases are spread over one frame interval, as cameras are
not synchronised); when the stream is free it takes the newest frame already due and counts the ones it skipped
as dropped, else it waits for the next one. Each frame is processed end to end (letterbox + inference + decode)
on the val images, cycled as the latency loop cycles them; its latency runs from the time it was due (captured)
to its result. Without a target frame rate the streams run unpaced (each takes its next frame as soon as it is
done): the trial gives throughput only.

A stream's FPS is the share of its due frames it processed times the target (so a stream that keeps up has
exactly the target); a trial **meets** the target when every stream reaches ``(1 - TOLERANCE)`` of it (a frame
in twenty may be skipped by timer jitter) and the p90 latency of all frames is within the latency budget.

``--streams auto`` searches the largest ``n`` that meets the target: ``n`` = 1, 2, 4, ... until a trial fails,
then bisection between the last ``n`` that met it and the first that did not (the capacity is assumed to be
monotonic: fewer streams never do worse). :func:`find_capacity` takes the trial as a function, so any runtime
(a constructed one with a known cost included) can be searched. Torch-free.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from edgeyolo.errors import ConfigError

TOLERANCE = 0.05  # a stream meets the target at >= 95% of it: one frame in twenty may be lost to timer jitter
MAX_STREAMS = 64  # the search stops here (each stream is a thread and, for ONNX Runtime, a session)
DEFAULT_DURATION_S = 3.0  # seconds per trial
WARMUP_FRAMES = (
    2  # untimed frames per stream before a trial (first inferences of a request or session are slow)
)
MIN_FRAMES_PER_STREAM = 5  # a paced trial lasts at least this many frame intervals


def parse_streams(value: object, where: str = "--streams") -> int | str | None:
    """``2``, ``'2'`` or ``'auto'`` -> 2 or ``'auto'``; None stays None.

    Raises:
        ConfigError: anything else, or fewer than 1 stream.
    """
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        n = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        n = None
    if n is None or n < 1 or n > MAX_STREAMS:
        raise ConfigError(
            f"{where} must be a number of streams from 1 to {MAX_STREAMS} or 'auto', got {value!r}"
        )
    return n


def check_request(streams: int | str | None, fps: float | None, duration_s: float | None = None) -> None:
    """A streams request that can be measured: ``auto`` needs a target frame rate, rates and durations > 0.

    Raises:
        ConfigError: one line naming the option and the fix.
    """
    parse_streams(streams)
    if fps is not None and not (isinstance(fps, (int, float)) and fps > 0):
        raise ConfigError(f"--fps (the target frames per second of each stream) must be > 0, got {fps!r}")
    if duration_s is not None and not duration_s > 0:
        raise ConfigError(f"--streams-duration must be > 0 seconds, got {duration_s!r}")
    if streams == "auto" and fps is None:
        raise ConfigError("--streams auto searches the most streams that keep a target frame rate: pass --fps F "
                          "or use a profile with 'fps:' (the target frames per second of each stream)")  # fmt: skip


def run_streams(
    predictors: Sequence,
    frames: Sequence[np.ndarray],
    fps: float | None,
    duration_s: float = DEFAULT_DURATION_S,
    warmup: int = WARMUP_FRAMES,
) -> dict:
    """One trial: ``len(predictors)`` streams, each in its own thread, for ``duration_s`` seconds.

    Args:
        predictors: one per stream, each with ``predict(img_bgr)``; they run concurrently.
        frames: the images the streams cycle through (stream ``i`` starts at image ``i``).
        fps: each stream's frame rate (paced, newest frame wins); None: unpaced, as fast as it goes.
        duration_s: how long the streams run (a paced trial lasts at least MIN_FRAMES_PER_STREAM intervals).
        warmup: untimed frames per stream first.

    Returns:
        ``{n, fps, duration_s, aggregate_fps, per_stream_fps, min_stream_fps, mean_stream_fps, frames, dropped,
        latency_ms: {p50, p90, p99, mean, max}}``; latencies run from the frame's due time (paced) or its start.
    """
    n = len(predictors)
    if n < 1 or not frames:
        raise ValueError("a trial needs at least one predictor and one frame")
    if fps is not None:
        duration_s = max(duration_s, MIN_FRAMES_PER_STREAM / fps)
    lat: list[list[float]] = [[] for _ in range(n)]
    done = [0] * n
    dropped = [0] * n
    due_count = [0] * n
    elapsed = [0.0] * n
    errors: list[BaseException] = []
    start: list[float] = []
    # Every stream warms up, then they start together: the last one to arrive sets the start time.
    ready = threading.Barrier(n, action=lambda: start.append(time.perf_counter() + 0.005))

    def stream(i: int) -> None:
        p = predictors[i]
        try:
            for w in range(warmup):
                p.predict(frames[(i + w) % len(frames)])
        except BaseException as e:  # reported after the trial; the barrier must still be passed
            errors.append(e)
        ready.wait()
        if errors:
            return
        t0 = start[0]
        end = t0 + duration_s
        phase = i / (n * fps) if fps else 0.0
        k = 0  # next frame index (frame k of stream i shows image i + k: skipped frames skip their images)
        try:
            while True:
                now = time.perf_counter()
                if fps:
                    due = t0 + phase + k / fps
                    if due >= end:
                        break
                    if now < due:
                        time.sleep(due - now)
                    else:
                        newest = int((now - t0 - phase) * fps)  # the newest frame already due
                        newest = min(newest, int(np.ceil((end - t0 - phase) * fps)) - 1)
                        if newest > k:  # skipped: counted as dropped at the end
                            k = newest
                            due = t0 + phase + k / fps
                else:
                    if now >= end:
                        break
                    due = now
                p.predict(frames[(i + k) % len(frames)])
                lat[i].append((time.perf_counter() - due) * 1e3)
                done[i] += 1
                k += 1
        except BaseException as e:
            errors.append(e)
        finally:
            elapsed[i] = time.perf_counter() - t0
            if fps:  # frames due in the window that were never processed (the last ones) are dropped too
                due_count[i] = max(0, int(np.ceil((end - t0 - phase) * fps)))
                dropped[i] = due_count[i] - done[i]

    threads = [threading.Thread(target=stream, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    if fps:
        per_stream = [fps * d / c if c else 0.0 for d, c in zip(done, due_count)]
    else:
        per_stream = [d / e if e > 0 else 0.0 for d, e in zip(done, elapsed)]
    all_lat = np.asarray([v for s in lat for v in s], dtype=np.float64)
    pct = (
        {f"p{q}": round(float(np.percentile(all_lat, q)), 3) for q in (50, 90, 99)}
        if all_lat.size
        else {"p50": None, "p90": None, "p99": None}
    )
    return {
        "n": n, "fps": fps, "duration_s": round(duration_s, 3),
        "aggregate_fps": round(sum(per_stream), 3),
        "per_stream_fps": [round(v, 3) for v in per_stream],
        "min_stream_fps": round(min(per_stream), 3), "mean_stream_fps": round(sum(per_stream) / n, 3),
        "frames": int(sum(done)), "dropped": int(sum(dropped)) if fps else 0,
        "latency_ms": {**pct, "mean": round(float(all_lat.mean()), 3) if all_lat.size else None,
                       "max": round(float(all_lat.max()), 3) if all_lat.size else None},
    }  # fmt: skip


def meets(trial: dict, fps: float | None, budget_ms: float | None) -> bool | None:
    """Whether a trial serves its streams at ``fps`` (each at least ``(1 - TOLERANCE) * fps``) with the p90
    latency within ``budget_ms`` (None: no budget); None without a target frame rate."""
    if fps is None:
        return None
    if trial["min_stream_fps"] < (1 - TOLERANCE) * fps:
        return False
    p90 = trial["latency_ms"].get("p90")
    return budget_ms is None or (p90 is not None and p90 <= budget_ms)


def find_capacity(
    trial_at: Callable[[int], dict], max_n: int = MAX_STREAMS, log: Callable[[str], None] = lambda m: None
) -> tuple[int, list[dict]]:
    """The largest ``n`` whose trial meets the target: grow 1, 2, 4, ... until one fails (or ``max_n``), then
    bisect between the last that met it and the first that did not.

    Args:
        trial_at: runs the trial of ``n`` streams; returns a dict with ``meets`` (True or False).
        max_n: the most streams tried.

    Returns:
        (capacity, trials in the order run); capacity 0 when one stream does not meet the target.
    """
    trials: list[dict] = []

    def ok(n: int) -> bool:
        t = trial_at(n)
        trials.append(t)
        log(f"{n} stream(s): {'meets' if t['meets'] else 'misses'} the target "
            f"(slowest stream {t['min_stream_fps']:.1f} FPS, p90 {t['latency_ms'].get('p90')} ms)")  # fmt: skip
        return bool(t["meets"])

    good, bad, n = 0, None, 1
    while n <= max_n:
        if not ok(n):
            bad = n
            break
        good = n
        if n == max_n:
            break
        n = min(2 * n, max_n)
    if bad is None:
        return good, trials
    while bad - good > 1:
        mid = (good + bad) // 2
        if ok(mid):
            good = mid
        else:
            bad = mid
    return good, trials


def measure_streams(
    open_streams: Callable[[int], object],
    frames: Sequence[np.ndarray],
    *,
    streams: int | str,
    fps: float | None,
    budget_ms: float | None,
    duration_s: float = DEFAULT_DURATION_S,
    max_n: int = MAX_STREAMS,
    log: Callable[[str], None] = lambda m: None,
) -> dict:
    """The record's ``streams`` object: ``n`` streams (or the capacity search with ``'auto'``) served by the
    runtime's ``open_streams(n)`` (a :class:`edgeyolo.runtime.streams.StreamSet`).

    Returns:
        ``{requested, target_fps, latency_budget_ms, tolerance, duration_s, strategy, trials: [...], capacity,
        best_aggregate_fps}``: trials sorted by ``n``; ``capacity`` the most streams that met the target (0: not
        even one; None: unknown, i.e. no target, or a fixed ``n`` that missed it); ``strategy`` how the runtime
        served the capacity (or the number asked for; the most tried when not even one met the target).
    """
    streams = parse_streams(streams)
    check_request(streams, fps, duration_s)
    strategy: dict[int, dict] = {}

    def trial_at(n: int) -> dict:
        sset = open_streams(n)
        try:
            strategy[n] = dict(getattr(sset, "settings", {}) or {})
            t = run_streams(sset.predictors, frames, fps, duration_s)
        finally:
            sset.close()
        t["meets"] = meets(t, fps, budget_ms)
        return t

    if streams == "auto":
        capacity, trials = find_capacity(trial_at, max_n, log)
    else:
        trials = [trial_at(streams)]
        capacity = streams if trials[0]["meets"] else None
    trials = sorted(trials, key=lambda t: t["n"])
    shown = (
        (capacity or trials[-1]["n"]) if streams == "auto" else streams
    )  # how it serves the streams it serves
    return {
        "requested": streams, "target_fps": fps, "latency_budget_ms": budget_ms, "tolerance": TOLERANCE,
        "duration_s": duration_s, "strategy": strategy.get(shown, {}), "trials": trials, "capacity": capacity,
        "best_aggregate_fps": max(t["aggregate_fps"] for t in trials),
    }  # fmt: skip


def streams_text(streams: dict | None) -> str:
    """The streams measurement in a few words: '3 streams at 15 FPS (agg. 47.9 FPS)'."""
    if not streams:
        return ""
    fps, cap = streams.get("target_fps"), streams.get("capacity")
    agg = streams.get("best_aggregate_fps")
    trials = streams.get("trials") or []
    if fps is None:
        n = max((t["n"] for t in trials), default=0)
        return f"{n} unpaced stream(s): {agg:.1f} FPS aggregate"
    if cap is not None:
        return f"{cap} stream(s) at {fps:g} FPS (aggregate up to {agg:.1f} FPS)"
    t = trials[0] if trials else {}
    return (f"{t.get('n', '?')} stream(s) at {fps:g} FPS: missed (slowest {t.get('min_stream_fps', 0):.1f} FPS, "
            f"p90 {t.get('latency_ms', {}).get('p90')} ms)")  # fmt: skip
