"""Live sources: cameras and network streams read concurrently with inference (torch-free).

``sources`` opens what SOURCE names (files, cameras, URLs) with OpenCV's FFmpeg backend; ``stream`` pipelines
capture, inference and the consumer and yields one result per processed frame.
"""

from edgeyolo.live.sources import Source, parse_source
from edgeyolo.live.stream import FrameResult, Stream, StreamConfig, StreamStats

__all__ = ["FrameResult", "Source", "Stream", "StreamConfig", "StreamStats", "parse_source"]
