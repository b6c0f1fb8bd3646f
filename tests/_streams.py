"""Network video sources served on 127.0.0.1 for the live-source tests and ``benchmarks/streams.py``.

``MjpegServer``: an HTTP multipart MJPEG stream (what IP cameras and ``mjpg-streamer`` serve), one JPEG per frame
at a fixed rate. ``TsServer``: an MPEG-TS stream over TCP (MPEG-4 video written by OpenCV's FFmpeg), sent packet
by packet at the frame rate. Each connection streams the frames from the first, looping when ``loop``; ``stop``
drops every connection mid-stream (a camera that dies) and ``start`` serves again on the same port.
"""

from __future__ import annotations

import socket
import socketserver
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

TS_PACKET = 188
VIDEO_PID = 0x100  # FFmpeg's mpegts muxer puts the first stream there


def encode_ts(frames: list[np.ndarray], fps: float) -> bytes:
    """The frames as an MPEG-TS byte stream (MPEG-4 Part 2, no B-frames), written by OpenCV's FFmpeg."""
    h, w = frames[0].shape[:2]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.ts"
        writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        assert writer.isOpened(), "OpenCV's FFmpeg cannot write MPEG-TS here"
        for f in frames:
            writer.write(f)
        writer.release()
        return path.read_bytes()


def split_ts(data: bytes) -> list[bytes]:
    """The stream cut before each video PES start: chunk k carries frame k (the first one the tables too)."""
    starts = []
    for off in range(0, len(data) - TS_PACKET + 1, TS_PACKET):
        b1, b2 = data[off + 1], data[off + 2]
        if b1 & 0x40 and ((b1 & 0x1F) << 8 | b2) == VIDEO_PID:
            starts.append(off)
    starts = [0, *starts[1:], len(data)]  # the tables before the first frame go with it
    return [data[a:b] for a, b in zip(starts, starts[1:])]


class _Server:
    def __init__(self, chunks: list[bytes], fps: float, loop: bool):
        self.chunks, self.fps, self.loop = chunks, fps, loop
        self.port = 0
        self.server: socketserver.BaseServer | None = None
        self.clients: list[socket.socket] = []
        self.sent = 0  # frames sent, over every connection

    def _stream(self, write, sock: socket.socket) -> None:
        self.clients.append(sock)
        t0 = time.perf_counter()
        k = 0
        try:
            while self.loop or k < len(self.chunks):
                delay = t0 + k / self.fps - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                write(self.chunks[k % len(self.chunks)])
                self.sent += 1
                k += 1
        except OSError:  # the client left, or stop() cut it
            pass

    def start(self) -> _Server:
        self.server = self._make(("127.0.0.1", self.port))
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Drop every connection mid-stream and stop listening."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        for c in self.clients:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        self.clients.clear()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class MjpegServer(_Server):
    """``http://127.0.0.1:PORT/stream.mjpg``: multipart/x-mixed-replace JPEGs at ``fps``."""

    def __init__(self, frames: list[np.ndarray], fps: float, loop: bool = False, quality: int = 90):
        self.jpegs = [
            cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes() for f in frames
        ]
        parts = [b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(j) + j + b"\r\n"
                 for j in self.jpegs]  # fmt: skip
        super().__init__(parts, fps, loop)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def _make(self, address):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                owner._stream(self.wfile.write, self.connection)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(address, Handler)
        server.daemon_threads = True
        return server


class TsServer(_Server):
    """``tcp://127.0.0.1:PORT``: an MPEG-TS stream, each frame's packets sent at its time."""

    def __init__(self, frames: list[np.ndarray], fps: float, loop: bool = False):
        self.ts = encode_ts(frames, fps)
        chunks = split_ts(self.ts)
        assert len(chunks) == len(frames), f"{len(chunks)} PES chunks for {len(frames)} frames"
        super().__init__(chunks, fps, loop)

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _make(self, address):
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                owner._stream(self.request.sendall, self.request)

        return _TcpServer(address, Handler)


class _TcpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class SilentServer:
    """Accepts connections and never sends a byte: a camera that hangs."""

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"tcp://127.0.0.1:{self.sock.getsockname()[1]}"
        return self

    def __exit__(self, *exc):
        self.sock.close()


class HlsServer:
    """``http://127.0.0.1:PORT/live.m3u8``: the frames as an HLS playlist of MPEG-TS segments (a whole recording)."""

    def __init__(self, frames: list[np.ndarray], fps: float, segment_frames: int, root: Path):
        chunks = split_ts(encode_ts(frames, fps))
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{int(segment_frames / fps) + 1}",
                 "#EXT-X-MEDIA-SEQUENCE:0"]  # fmt: skip
        for i in range(0, len(chunks), segment_frames):
            (root / f"seg{i}.ts").write_bytes(b"".join(chunks[i : i + segment_frames]))
            lines += [f"#EXTINF:{len(chunks[i : i + segment_frames]) / fps:.3f},", f"seg{i}.ts"]
        (root / "live.m3u8").write_text("\n".join([*lines, "#EXT-X-ENDLIST", ""]))
        self.root = root

    def __enter__(self):
        import functools
        from http.server import SimpleHTTPRequestHandler

        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Quiet, directory=str(self.root))
        )
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/live.m3u8"
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class UdpSender:
    """Sends the frames as MPEG-TS datagrams (7 packets each) to ``udp://127.0.0.1:PORT`` at ``fps``, looping."""

    def __init__(self, frames: list[np.ndarray], fps: float):
        self.chunks, self.fps = split_ts(encode_ts(frames, fps)), fps
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.url = f"udp://127.0.0.1:{self.port}"
        self.stop = threading.Event()

    def _send(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t0, k = time.perf_counter(), 0
        while not self.stop.is_set():
            time.sleep(max(0.0, t0 + k / self.fps - time.perf_counter()))
            data = self.chunks[k % len(self.chunks)]
            for off in range(0, len(data), 7 * TS_PACKET):
                sock.sendto(data[off : off + 7 * TS_PACKET], ("127.0.0.1", self.port))
            k += 1
        sock.close()

    def __enter__(self):
        threading.Thread(target=self._send, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
