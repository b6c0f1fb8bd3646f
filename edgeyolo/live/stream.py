"""Detections as an iterator: capture, inference and the consumer run concurrently.

A capture thread decodes frames into a mailbox; an inference thread runs the artifact on the frame it takes out;
the caller's loop (``for result in stream``) writes or draws while the next frame is being inferred. On a live
source the mailbox holds one frame and the newest wins (older ones are counted as dropped), so a result is never
older than one inference; on files, or with ``drop=False``, it is a short FIFO and every frame is processed in
order. A live source that stops sending is reopened with a doubling back-off.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeyolo.errors import ConfigError
from edgeyolo.live.sources import Capture, Frame, Source, image_files, parse_source, read_images
from edgeyolo.runtime import Runtime, load_runtime
from edgeyolo.runtime.types import Detections

DEFAULT_CONF = 0.25
FIFO_FRAMES = 4  # frames decoded ahead of inference when none may be dropped
MAX_BACKOFF_S = 8.0
STATS_WINDOW_S = 2.0  # input and processed FPS are rates over this last stretch


@dataclass(frozen=True)
class StreamConfig:
    artifact: Path
    source: str | Path  # an image, a folder, a video file, a camera (0, /dev/video0) or a URL
    conf: float | None = None  # None: the artifact's diagnosed F1-optimal threshold, else DEFAULT_CONF
    classes: tuple[int, ...] | None = None  # keep only these class ids
    threads: int | None = None
    drop: bool | None = None  # newest frame wins; None: on live sources only
    frames: int | None = None  # stop after this many processed frames
    duration_s: float | None = None  # stop reading after this many seconds
    reconnect: int = 5  # reopen tries per outage of a live source; 0: end at the first failed read
    timeout_s: float = 10.0  # a live source that sends nothing this long has failed (open or read)
    backoff_s: float = 0.5  # wait before the first reopen; doubled each try, at most MAX_BACKOFF_S


@dataclass
class FrameResult:
    index: int  # the frame's position in the source (dropped frames count)
    name: str  # the image file's name, or the source's name
    ts: float | None  # the stream's timestamp of the frame, seconds
    wall: float  # epoch seconds when the frame was decoded
    latency_ms: float  # decoded -> detections ready (queueing + preprocess + inference + postprocess)
    detections: Detections
    image: np.ndarray  # the decoded BGR frame

    def record(self, names: tuple[str, ...]) -> dict:
        """One JSON line: where the frame came from, when, how long it took, and what was found."""
        return {"source": self.name, "frame": self.index, "ts": self.ts, "time": round(self.wall, 3),
                "latency_ms": round(self.latency_ms, 2), "detections": self.detections.to_records(names)}  # fmt: skip


def confidence(given: float | None, manifest: dict) -> tuple[float, str]:
    """The threshold to use and where it came from: the flag, the diagnosed one in the manifest, or the default."""
    if given is not None:
        return given, "--conf"
    diagnosed = manifest.get("conf_threshold")
    if isinstance(diagnosed, (int, float)) and 0 < diagnosed < 1:
        return float(diagnosed), "F1-optimal threshold from edgeyolo diagnose (manifest conf_threshold)"
    return DEFAULT_CONF, "default"


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


class StreamStats:
    """Counters the threads update and a status line reads (``snapshot``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = time.perf_counter()
        self.read = self.processed = self.dropped = self.reconnects = 0
        self.latencies: list[float] = []
        self._reads: deque[float] = deque()
        self._done: deque[float] = deque()

    def on_read(self, dropped: int) -> None:
        with self.lock:
            self.read += 1
            self.dropped += dropped
            self._reads.append(time.perf_counter())

    def on_result(self, latency_ms: float) -> None:
        with self.lock:
            self.processed += 1
            self.latencies.append(latency_ms)
            self._done.append(time.perf_counter())

    def _rate(self, times: deque[float], now: float) -> float:
        while times and now - times[0] > STATS_WINDOW_S:
            times.popleft()
        span = min(STATS_WINDOW_S, now - self.started)
        return len(times) / span if span > 0 else 0.0

    def snapshot(self) -> dict:
        """Input and processed FPS over the last seconds, drops, reconnects, latency p50/p90 so far."""
        now = time.perf_counter()
        with self.lock:
            lat = list(self.latencies)
            return {"elapsed_s": round(now - self.started, 2), "read": self.read, "processed": self.processed,
                    "dropped": self.dropped, "reconnects": self.reconnects,
                    "input_fps": round(self._rate(self._reads, now), 2),
                    "processed_fps": round(self._rate(self._done, now), 2),
                    "latency_p50_ms": percentile(lat, 50), "latency_p90_ms": percentile(lat, 90)}  # fmt: skip


class _Mailbox:
    """One slot where the newest frame wins (``drop``), or a bounded FIFO that makes the reader wait."""

    def __init__(self, drop: bool, stop: threading.Event):
        self.drop, self.stop = drop, stop
        self.items: deque[Frame] = deque()
        self.closed = False
        self.cv = threading.Condition()

    def put(self, frame: Frame) -> int:
        """Deposit a frame; the number of older frames it replaced (dropped)."""
        with self.cv:
            replaced = 0
            if self.drop:
                replaced = len(self.items)
                self.items.clear()
            else:
                while len(self.items) >= FIFO_FRAMES and not self.stop.is_set():
                    self.cv.wait(0.1)
            self.items.append(frame)
            self.cv.notify_all()
            return replaced

    def get(self) -> Frame | None:
        """The next frame; None once the reader closed the box and it is empty, or on stop."""
        with self.cv:
            while not self.items and not self.closed and not self.stop.is_set():
                self.cv.wait(0.1)
            if self.stop.is_set() or not self.items:
                return None
            frame = self.items.popleft()
            self.cv.notify_all()
            return frame

    def close(self) -> None:
        with self.cv:
            self.closed = True
            self.cv.notify_all()


class _End:
    def __init__(self, error: BaseException | None = None):
        self.error = error


class Stream:
    """``for result in Stream(cfg)``: a :class:`FrameResult` per processed frame, as soon as it is ready.

    The source is opened (and a bad one reported) when the stream is created; the threads start with the
    iteration. ``stats`` is live; ``stopped`` says why the iteration ended (``end``, ``frames``, ``duration``,
    ``lost``, ``closed``). Use it as a context manager, or call ``close()``, to stop early.
    """

    def __init__(self, cfg: StreamConfig, runtime: Runtime | None = None):
        if cfg.conf is not None and not 0.0 <= cfg.conf <= 1.0:
            raise ConfigError(f"predict: --conf must be in [0, 1], got {cfg.conf}")
        for key, value, low in (("frames", cfg.frames, 1), ("reconnect", cfg.reconnect, 0)):
            if value is not None and value < low:
                raise ConfigError(f"predict: --{key} must be at least {low}, got {value}")
        for key, value in (("duration", cfg.duration_s), ("timeout", cfg.timeout_s)):
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"predict: --{key} must be a positive number of seconds, got {value}")
        self.cfg = cfg
        self.source: Source = parse_source(cfg.source)
        self.drop = self.source.live if cfg.drop is None else cfg.drop
        self.capture: Capture | None = None
        self.total = 0
        if self.source.kind in ("image", "folder"):
            self.total = len(image_files(self.source))
        self.runtime = runtime or load_runtime(cfg.artifact, threads=cfg.threads)
        self.conf, self.conf_source = confidence(cfg.conf, self.runtime.artifact.manifest)
        self.names = self.runtime.artifact.names
        self.classes = set(cfg.classes) if cfg.classes else None
        # An MJPEG packet is decoded by the capture thread when inference leaves a core free for it (in parallel
        # with inference), else by the inference thread, only for the frames it takes (no CPU spent on drops).
        threads = getattr(getattr(self.runtime, "options", None), "threads", None)
        self.decode_ahead = bool(threads) and threads < (os.cpu_count() or 1)
        if self.source.kind not in ("image", "folder"):
            self.capture = Capture(self.source, cfg.timeout_s)
            self.capture.open_or_raise()
            self.total = self.capture.total
        self.fps = self.capture.fps if self.capture else 0.0
        self.stats = StreamStats()
        self.stopped = ""
        self.message = ""  # why a live source ended, in words
        self._stop = threading.Event()
        self._box = _Mailbox(self.drop, self._stop)
        self._out: queue.Queue = queue.Queue(maxsize=FIFO_FRAMES)
        self._threads: list[threading.Thread] = []
        self._error: BaseException | None = None

    # -- threads -------------------------------------------------------------------------------------------
    def _frames(self):
        if self.capture is None:
            yield from read_images(self.source)
            return
        while not self._stop.is_set():
            frame = self.capture.read()
            if frame is None:
                if not self.source.live or not self._reopen():
                    return
                continue
            yield frame

    def _reopen(self) -> bool:
        """After a failed read of a live source: reopen with back-off; False when the tries are spent."""
        for attempt in range(self.cfg.reconnect):
            delay = min(self.cfg.backoff_s * 2**attempt, MAX_BACKOFF_S)
            if self._stop.wait(delay):
                return False
            if self.capture.open():
                with self.stats.lock:
                    self.stats.reconnects += 1
                return True
        self.stopped = "lost"
        tries = f"after {self.cfg.reconnect} reconnect tries" if self.cfg.reconnect else "(--reconnect 0)"
        self.message = f"source '{self.source.target}' stopped sending {tries}"
        return False

    def _read_loop(self) -> None:
        error = None
        try:
            for frame in self._frames():
                if (
                    self.cfg.duration_s is not None
                    and frame.captured - self.stats.started >= self.cfg.duration_s
                ):
                    self.stopped = self.stopped or "duration"
                    break
                if self._stop.is_set():
                    break
                if self.decode_ahead:
                    frame.decode()
                self.stats.on_read(self._box.put(frame))
        except Exception as e:  # handed to the consumer, raised there
            error = e
        finally:
            self._error = error
            self._box.close()

    def _infer_loop(self) -> None:
        error = None
        try:
            while (frame := self._box.get()) is not None:
                if frame.decode() is None:  # a corrupt JPEG packet: skipped like a dropped frame
                    with self.stats.lock:
                        self.stats.dropped += 1
                    continue
                det = self.runtime.predict(frame.image, conf=self.conf, classes=self.classes)
                latency = (time.perf_counter() - frame.captured) * 1e3
                self.stats.on_result(latency)
                self._put(
                    FrameResult(frame.index, frame.name, frame.ts, frame.wall, latency, det, frame.image)
                )
                if self.cfg.frames is not None and self.stats.processed >= self.cfg.frames:
                    self.stopped = self.stopped or "frames"
                    break
            error = self._error
        except Exception as e:
            error = e
        finally:
            self._put(_End(error))

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._out.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    # -- consumer ------------------------------------------------------------------------------------------
    def __iter__(self):
        if self._threads:
            raise RuntimeError("a Stream is iterated once")
        self.stats = StreamStats()
        self._threads = [threading.Thread(target=self._read_loop, name="edgeyolo-capture", daemon=True),
                         threading.Thread(target=self._infer_loop, name="edgeyolo-infer", daemon=True)]  # fmt: skip
        for t in self._threads:
            t.start()
        try:
            while True:
                try:
                    item = self._out.get(timeout=0.1)
                except queue.Empty:
                    continue
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    self.stopped = self.stopped or "end"
                    return
                yield item
        finally:
            self.close()

    def close(self) -> None:
        """Stop the threads and release the source (waits for a read in progress, at most the timeout)."""
        self.stopped = self.stopped or "closed"
        self._stop.set()
        self._box.close()
        for t in self._threads:
            t.join(timeout=self.cfg.timeout_s + 1)
        if self.capture is not None and not any(t.is_alive() for t in self._threads):
            self.capture.release()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
