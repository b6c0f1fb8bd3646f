"""Serving several concurrent streams (cameras) from one artifact, each runtime the way it does it best.

:meth:`Runtime.open_streams(n) <edgeyolo.runtime.base.Runtime.open_streams>` returns a :class:`StreamSet`: ``n``
predictors, one per stream thread, each with its own letterbox buffers and its own handle on the network, so they
run side by side (the runtimes release the GIL while they compute):

- ONNX Runtime: ``n`` sessions, each with its own intra-op pool of ``threads // n`` threads (at least 1). One
  session shared by the ``n`` threads was measured against it (yolo26n at 320 on 2 cores): equal with a pool of 1
  thread (119 vs 119 FPS at 2 streams), worse with the full pool (67 FPS: concurrent runs fight over one pool);
  separate sessions keep every stream's pool its own when ``threads // n`` is more than 1, at the cost of one copy
  of the weights per stream.
- OpenVINO: the model compiled once with ``PERFORMANCE_HINT: THROUGHPUT`` (the plugin picks its CPU streams for
  ``n`` requests, over all the threads) and ``n`` infer requests in flight at once, one per stream.
- NCNN: one net, loaded once, and an extractor per frame in each stream, with ``threads // n`` threads each.
- TensorRT: one engine and ``n`` execution contexts, each with its own CUDA stream and buffers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgeyolo.runtime.base import Runtime, RuntimeOptions, StageTimes, timed_predict
from edgeyolo.runtime.preprocess import Preprocessor
from edgeyolo.runtime.types import Detections


class StreamPredictor:
    """One stream's end-to-end predictor: letterbox into its own buffers, its own network handle, decode."""

    def __init__(
        self,
        runtime: Runtime,
        network: Callable[[np.ndarray], np.ndarray],
        select: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        self.preprocessor = Preprocessor(*runtime.artifact.shape, dtype=runtime.input_dtype())
        self.network = network
        self.select = select or runtime.select_end2end
        self.last_times = StageTimes()

    def predict(self, img_bgr: np.ndarray, conf: float = 0.25, classes: set[int] | None = None) -> Detections:
        det, self.last_times = timed_predict(
            self.preprocessor, self.network, self.select, img_bgr, conf, classes
        )
        return det


@dataclass
class StreamSet:
    """``n`` predictors (anything with ``predict(img_bgr) -> Detections``), one per stream thread, and how the
    runtime serves them (``settings``: the strategy in words, threads per stream, hints read back)."""

    predictors: list
    settings: dict = field(default_factory=dict)
    closer: Callable[[], None] | None = None

    def close(self) -> None:
        if self.closer is not None:
            self.closer()
        self.predictors = []

    def __enter__(self) -> StreamSet:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def total_threads(runtime: Runtime) -> int:
    """The threads a runtime was given (every core of this process when it was given none)."""
    if runtime.options.threads:
        return int(runtime.options.threads)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_stream(threads: int, n: int) -> int:
    """The threads each of ``n`` streams gets out of ``threads``: an equal share, at least 1 (more streams than
    threads oversubscribe the cores, one thread each)."""
    return max(1, int(threads) // max(1, n))


def separate_instances(runtime: Runtime, n: int, strategy: str | None = None) -> StreamSet:
    """``n`` instances of the runtime's class on its artifact, the threads split between them."""
    per = threads_per_stream(total_threads(runtime), n)
    rts = [type(runtime)(runtime.artifact, RuntimeOptions(threads=per, extra=dict(runtime.options.extra)))
           for _ in range(n)]  # fmt: skip
    return StreamSet(rts, {"strategy": strategy or f"{n} {runtime.name} instances, {per} thread(s) each",
                           "instances": n, "threads_per_stream": per})  # fmt: skip
