"""Where frames come from: images, a folder, a video file, a camera or a network stream.

Video, cameras and streams are read with OpenCV's FFmpeg backend (V4L2 for cameras), the library every runtime
install already has: no second decoder to ship to a Pi. On a local H.264 MPEG-TS stream over TCP it delivered the
first frame 0.71 s after opening and every frame, where PyAV took 1.05 s and lost the last GOP at the end of the
stream (measured 2026-12-06, see ``benchmarks/streams.py``). Network reads carry a timeout, so a stalled stream
is a failed read (and a reconnect), never a hang.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgeyolo.data.yolo import IMAGE_SUFFIXES
from edgeyolo.errors import DatasetError, SourceError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".ts", ".mjpeg", ".mjpg")
URL_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "tcp", "udp", "srt")
_CAMERA = re.compile(r"^(\d+|/dev/video\d+)$")

# FFmpeg's own log lines (probing, "stream ends prematurely") would interleave with the status line; errors that
# matter reach the user as edgeyolo's one-line messages. -8 is AV_LOG_QUIET.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


@dataclass(frozen=True)
class Source:
    """A parsed SOURCE argument."""

    kind: str  # image | folder | video | camera | url
    target: str  # the path, the camera index or device, or the URL
    name: str  # a file-name-safe label: the output video's stem and the JSONL's "source" of live frames

    @property
    def live(self) -> bool:
        """Frames keep coming whether or not the model is done: the newest frame wins by default."""
        return self.kind in ("camera", "url")


@dataclass
class Frame:
    index: int  # 0-based position in the source, dropped frames included
    image: np.ndarray | None  # BGR; None until ``decode`` for a JPEG packet
    captured: float  # time.perf_counter() when the frame was read
    wall: float  # time.time() at the same moment
    ts: float | None  # the stream's own timestamp in seconds (presentation time), when it has one
    name: str  # the image's file name, or the source's name
    packet: np.ndarray | None = None  # the JPEG of an MJPEG stream, decoded only if the frame is processed

    def decode(self) -> np.ndarray | None:
        """The BGR image; None for a packet that is not a decodable JPEG."""
        if self.image is None and self.packet is not None:
            self.image = cv2.imdecode(self.packet, cv2.IMREAD_COLOR)
        return self.image


def parse_source(source: str | Path) -> Source:
    """Classify SOURCE; a path that does not exist and is no camera or URL is a one-line error."""
    text = str(source)
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in URL_SCHEMES:
        host = re.sub(r"[^A-Za-z0-9]+", "_", text.split("://", 1)[1].split("@")[-1].split("?")[0]).strip("_")
        return Source("url", text, f"{scheme}_{host}"[:80] or scheme)
    if scheme:
        raise SourceError(
            f"Source '{text}': unknown scheme '{scheme}://'; use one of {', '.join(URL_SCHEMES)}."
        )
    if _CAMERA.match(text) and not Path(text).is_file():
        index = text.removeprefix("/dev/video")
        return Source("camera", text, f"camera{index}")
    path = Path(text)
    if not path.exists():
        raise DatasetError(
            f"Source '{path}' not found; pass an image, a folder of images, a video file, a camera (0, /dev/video0) "
            f"or a stream URL (rtsp://, http://, tcp://, udp://)."
        )
    if path.is_dir():
        return Source("folder", text, path.name)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return Source("video", text, path.stem)
    return Source("image", text, path.stem)


def image_files(source: Source) -> list[Path]:
    path = Path(source.target)
    if source.kind == "image":
        return [path]
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetError(f"'{path}' has no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def read_images(source: Source) -> Iterator[Frame]:
    for i, f in enumerate(image_files(source)):
        img = cv2.imread(str(f))
        if img is None:
            raise DatasetError(
                f"Image '{f}' cannot be read; is it an image file ({', '.join(IMAGE_SUFFIXES)})?"
            )
        yield Frame(i, img, time.perf_counter(), time.time(), None, f.name)


class Capture:
    """A video file, camera or stream opened with OpenCV; ``reopen`` after a failed read."""

    def __init__(self, source: Source, timeout_s: float = 10.0):
        self.source = source
        self.timeout_ms = int(timeout_s * 1000)
        self.cap: cv2.VideoCapture | None = None
        self.index = 0  # frames read so far, over every reopening
        self.fps = 0.0
        self.total = 0  # frame count of a file; 0 when unknown (live)
        self.raw = False  # an MJPEG stream read as JPEG packets

    def open(self) -> bool:
        self.release()
        # OpenCV's warnings on a failed open would precede edgeyolo's one-line error: silent for the open only
        level = cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        try:
            if self.source.kind == "camera":
                cam = self.source.target
                cap = cv2.VideoCapture(int(cam) if cam.isdigit() else cam)
            else:
                ms = self.timeout_ms
                timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
                cap = cv2.VideoCapture(self.source.target, cv2.CAP_FFMPEG, timeouts)
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not cap.isOpened():
            cap.release()
            return False
        self.cap = cap
        # MJPEG streams: read the JPEG packets and decode only the frames that are processed. A source faster than
        # the model then costs no decoding of the frames it drops (decoded here they would take CPU from inference).
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little")
        self.raw = self.source.kind == "url" and fourcc == b"MJPG" and cap.set(cv2.CAP_PROP_FORMAT, -1)
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps <= 240 else 0.0
        self.total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if self.source.kind == "video" else 0
        return True

    def open_or_raise(self) -> None:
        if self.open():
            return
        if self.source.kind == "video":
            raise DatasetError(
                f"Video '{self.source.target}' cannot be read (unsupported codec or corrupt file)"
            )
        if self.source.kind == "camera":
            raise SourceError(
                f"Cannot open camera '{self.source.target}'; check that the device exists (ls /dev/video*) and that "
                f"no other program holds it."
            )
        raise SourceError(
            f"Cannot open stream '{self.source.target}' (no video within {self.timeout_ms / 1000:g} s); check that "
            f"it is reachable and sending video, or raise --timeout."
        )

    def read(self) -> Frame | None:
        """The next frame, or None when the source ended, stalled past the timeout or failed."""
        if self.cap is None:
            return None
        ok, img = self.cap.read()
        if not ok or img is None:
            return None
        now, wall = time.perf_counter(), time.time()
        pos = self.cap.get(cv2.CAP_PROP_POS_MSEC)
        ts = round(pos / 1000, 4) if pos > 0 or self.index == 0 else None
        if self.raw:
            frame = Frame(self.index, None, now, wall, ts, self.source.name, packet=img.reshape(-1))
        else:
            frame = Frame(self.index, img, now, wall, ts, self.source.name)
        self.index += 1
        return frame

    def release(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None
