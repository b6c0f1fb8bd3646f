"""``edgeyolo predict`` on live sources, against real streams served on 127.0.0.1 by the test itself.

An HTTP MJPEG stream and an MPEG-TS stream over TCP carry known frames; the detections made on them are compared
with those on the same frames decoded here. A server that dies and comes back, one that never answers, Ctrl-C in
the middle, and a source faster than the model (newest frame wins against --no-drop) are each checked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from _emulated import memorized_model
from _streams import HlsServer, MjpegServer, SilentServer, TsServer, UdpSender

from edgeyolo.errors import DatasetError, SourceError
from edgeyolo.live import Stream, StreamConfig, parse_source
from edgeyolo.predict import PredictConfig, predict
from edgeyolo.runtime import load_runtime

CONF = 0.25
FPS = 20.0


@pytest.fixture(scope="module")
def memorized(tmp_path_factory) -> tuple[Path, Path]:
    """(ONNX artifact, data.yaml) of a model with confident detections on its val images (see memorized_model;
    the session's 2-epoch model scores every box 0.0025, so matching its detections would prove nothing)."""
    from edgeyolo.export import ExportConfig, export
    from edgeyolo.profiles import TargetSpec, load_profile

    work = tmp_path_factory.mktemp("live")
    weights, data = memorized_model(work)
    r = export(ExportConfig(profile=load_profile("x86-cpu"), weights=weights, out=work / "artifacts", imgsz=(128,),
                            targets=(TargetSpec("onnx", "fp32", "onnxruntime"),)))  # fmt: skip
    assert [i.status for i in r.items] == ["ok"], [i.reason for i in r.items]
    return r.artifacts[0], data


@pytest.fixture(scope="module")
def onnx_artifact(memorized) -> Path:
    return memorized[0]


@pytest.fixture(scope="module")
def frames(memorized) -> list[np.ndarray]:
    """The val images, one size (a stream has one): 8 distinct frames."""
    files = sorted((memorized[1].parent / "images" / "val").glob("*.jpg"))
    first = cv2.imread(str(files[0]))
    return [cv2.resize(cv2.imread(str(f)), (first.shape[1], first.shape[0])) for f in files]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _covered(ref: list[dict], got: list[dict], min_score: float) -> list[dict]:
    """The detections of ``ref`` scoring at least ``min_score`` that no same-class box of ``got`` matches (IoU 0.7)."""
    return [d for d in ref if d["score"] >= min_score
            and not any(g["class_id"] == d["class_id"] and _iou(g["box"], d["box"]) >= 0.7 for g in got)]  # fmt: skip


def _cli(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "edgeyolo", "predict", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, **kw)  # fmt: skip


def test_sources_are_classified_and_bad_ones_named(tmp_path):
    assert parse_source("0").kind == "camera" and parse_source("/dev/video2").name == "camera2"
    url = parse_source("rtsp://admin:secret@10.0.0.5:554/stream1?tcp")
    assert (
        url.kind == "url"
        and url.live
        and "secret" not in url.name
        and url.name == "rtsp_10_0_0_5_554_stream1"
    )
    assert parse_source(tmp_path).kind == "folder" and not parse_source(tmp_path).live
    with pytest.raises(SourceError, match="unknown scheme 'ftp://'"):
        parse_source("ftp://host/clip.ts")
    with pytest.raises(DatasetError, match="nope.mp4.*camera.*URL"):
        parse_source(tmp_path / "nope.mp4")


def test_mjpeg_stream_detections_equal_those_of_the_served_jpegs(tmp_path, onnx_artifact, frames):
    """Every frame of an HTTP MJPEG stream is processed (--no-drop) and its detections equal those of the same JPEG
    decoded here: edgeyolo reads an MJPEG stream's JPEG packets and decodes them with OpenCV's JPEG reader."""
    rt = load_runtime(onnx_artifact)
    with MjpegServer(frames, fps=FPS) as server:
        r = predict(PredictConfig(artifact=onnx_artifact, source=server.url, out=tmp_path / "o", conf=CONF,
                                  jsonl=tmp_path / "d.jsonl", drop=False, frames=len(frames)))  # fmt: skip
    lines = _lines(tmp_path / "d.jsonl")
    assert r.live and r.stopped == "frames" and r.frames == len(lines) == len(frames) and r.dropped == 0
    assert [x["frame"] for x in lines] == list(range(len(frames)))
    assert all(x["latency_ms"] > 0 and x["source"].startswith("http_127_0_0_1") for x in lines)
    ref = [rt.predict(cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR), conf=CONF).to_records(rt.artifact.names)
           for j in server.jpegs]  # fmt: skip
    assert sum(map(len, ref)) > 0, "the model found nothing: the comparison would be empty"
    assert [x["detections"] for x in lines] == ref
    # FFmpeg's own JPEG decoder (a reader that decodes the stream itself) differs by a few grey levels: the boxes
    # still match, same class and IoU >= 0.7.
    cap = cv2.VideoCapture(server.start().url, cv2.CAP_FFMPEG)
    try:
        for k, line in enumerate(lines):
            ok, img = cap.read()
            assert ok
            theirs = rt.predict(img, conf=CONF).to_records()
            assert not _covered(theirs, line["detections"], CONF + 0.05), k
            assert not _covered(line["detections"], theirs, CONF + 0.05), k
    finally:
        cap.release()
        server.stop()
    assert r.files["video"].is_file() and json.loads(r.files["json"].read_text())["processed"] == len(frames)


def test_mpegts_stream_over_tcp_equals_the_same_frames_decoded_from_the_file(tmp_path, onnx_artifact, frames):
    """An MPEG-TS stream over TCP: the detections equal, bit for bit, those of the same stream's bytes decoded
    from a file by the same decoder."""
    rt = load_runtime(onnx_artifact)
    with TsServer(frames * 2, fps=FPS) as server:
        r = predict(PredictConfig(artifact=onnx_artifact, source=server.url, out=tmp_path / "o", conf=CONF,
                                  jsonl=tmp_path / "d.jsonl", drop=False, frames=len(frames) * 2, save_images=False))  # fmt: skip
    (tmp_path / "clip.ts").write_bytes(server.ts)
    cap = cv2.VideoCapture(str(tmp_path / "clip.ts"))
    ref = []
    while (got := cap.read())[0]:
        ref.append(rt.predict(got[1], conf=CONF).to_records(rt.artifact.names))
    lines = _lines(tmp_path / "d.jsonl")
    assert r.frames == len(lines) == len(ref) == len(frames) * 2
    assert [x["detections"] for x in lines] == ref
    assert [x["ts"] for x in lines] == pytest.approx([k / FPS for k in range(len(lines))], abs=0.002)


def test_a_server_that_dies_and_comes_back_is_reconnected(tmp_path, onnx_artifact, frames):
    """The stream drops mid-run and the server returns a second later: the CLI reconnects, counts it, and every
    processed frame is in the JSONL; exit 0."""
    server = MjpegServer(frames, fps=FPS, loop=True).start()
    try:
        proc = _cli(str(onnx_artifact), server.url, "--out", str(tmp_path / "o"), "--jsonl", str(tmp_path / "d.jsonl"),
                    "--duration", "6", "--reconnect", "5", "--timeout", "3", "--conf", str(CONF))  # fmt: skip
        deadline = time.time() + 60
        while not (tmp_path / "d.jsonl").is_file() or len(_lines(tmp_path / "d.jsonl")) < 10:
            assert time.time() < deadline and proc.poll() is None, (
                proc.stdout.read() if proc.poll() is not None else ""
            )
            time.sleep(0.05)
        server.stop()
        before = len(_lines(tmp_path / "d.jsonl"))
        time.sleep(1.0)
        server.start()
        out, _ = proc.communicate(timeout=60)
    finally:
        server.stop()
    assert proc.returncode == 0, out
    lines = _lines(tmp_path / "d.jsonl")
    summary = json.loads((tmp_path / "o" / "detections.json").read_text())
    assert summary["reconnects"] >= 1 and "reconnect" in out
    assert len(lines) == summary["processed"] == len(summary["frames"]) > before
    indices = [x["frame"] for x in lines]
    assert indices == sorted(set(indices))


@pytest.mark.parametrize("kind", ["silent", "refused"])
def test_a_source_that_never_answers_is_a_one_line_error(tmp_path, onnx_artifact, kind):
    with SilentServer() as silent:
        url = silent.url if kind == "silent" else "tcp://127.0.0.1:9"
        t = time.perf_counter()
        proc = _cli(str(onnx_artifact), url, "--timeout", "1", "--out", str(tmp_path / "o"))
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert out.strip().splitlines() == [
        f"Error: Cannot open stream '{url}' (no video within 1 s); check that it is reachable and sending video, "
        f"or raise --timeout."
    ]
    assert time.perf_counter() - t < 30 and not (tmp_path / "o").exists()


def test_ctrl_c_mid_stream_leaves_complete_outputs(tmp_path, onnx_artifact, frames):
    with MjpegServer(frames, fps=FPS, loop=True) as server:
        proc = _cli(
            str(onnx_artifact), server.url, "--out", str(tmp_path / "o"), "--jsonl", str(tmp_path / "d.jsonl")
        )
        deadline = time.time() + 60
        while not (tmp_path / "d.jsonl").is_file() or len(_lines(tmp_path / "d.jsonl")) < 5:
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "stopped by Ctrl-C" in out, out
    lines = _lines(tmp_path / "d.jsonl")  # every line whole
    summary = json.loads((tmp_path / "o" / "detections.json").read_text())
    assert summary["stopped"] == "interrupted" and summary["processed"] == len(lines) >= 5
    rows = (tmp_path / "o" / "detections.csv").read_text().splitlines()
    assert len(rows) == 1 + sum(len(x["detections"]) for x in lines)
    cap = cv2.VideoCapture(str(next((tmp_path / "o").glob("*.mp4"))))
    decoded = 0
    while cap.read()[0]:
        decoded += 1
    assert decoded == len(lines)


class _Slow:
    """A real runtime that takes ``ms`` longer per frame: a model slower than the source."""

    def __init__(self, artifact: Path, ms: float):
        self.rt, self.s = load_runtime(artifact), ms / 1000
        self.artifact = self.rt.artifact

    def predict(self, img, conf=0.25, classes=None):
        time.sleep(self.s)
        return self.rt.predict(img, conf=conf, classes=classes)


def test_newest_frame_wins_against_no_drop_on_a_source_faster_than_the_model(onnx_artifact, frames):
    """100 FPS in, ~25 FPS of model: by default the newest frame wins (frames skipped, counted, the latency stays one
    inference); --no-drop processes every frame in order and the queue makes it later."""
    runs = {}
    with MjpegServer(frames, fps=100, loop=True) as server:
        for drop in (None, False):
            cfg = StreamConfig(
                artifact=onnx_artifact, source=server.url, drop=drop, duration_s=2.0, conf=CONF
            )
            with Stream(cfg, runtime=_Slow(onnx_artifact, 40)) as stream:
                indices = [r.index for r in stream]
            runs[drop] = (indices, stream.stats)
    (dropping, s1), (keeping, s2) = runs[None], runs[False]
    assert s1.dropped > 0 and s1.read == len(dropping) + s1.dropped and s1.processed == len(dropping)
    assert max(np.diff(dropping)) > 1 and len(dropping) <= 2.0 / 0.04 + 2
    assert s2.dropped == 0 and keeping == list(range(len(keeping)))
    assert np.median(s1.latencies) < 40 * 2 < np.median(s2.latencies)


def test_jsonl_to_stdout_keeps_stdout_clean_and_files_keep_every_frame(tmp_path, onnx_artifact, frames):
    """``--jsonl -`` on a video file: stdout is only JSON lines, one per frame in order; the summary goes to stderr."""
    h, w = frames[0].shape[:2]
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (w, h))
    for f in frames * 3:
        writer.write(f)
    writer.release()
    r = subprocess.run([sys.executable, "-m", "edgeyolo", "predict", str(onnx_artifact), str(video), "--jsonl", "-",
                        "--no-save", "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["frame"] for x in lines] == list(range(len(frames) * 3))
    assert [x["ts"] for x in lines] == pytest.approx([k / FPS for k in range(len(lines))], abs=0.002)
    assert f"{len(lines)} frame(s)" in r.stderr and "dropped" not in r.stderr
    assert sum(len(x["detections"]) for x in lines) > 0


def test_bad_live_options_are_one_line_errors(tmp_path, onnx_artifact, runner):
    from edgeyolo.cli import main

    for args, needle in ((["--frames", "0"], "--frames"), (["--duration", "0"], "--duration"),
                         (["--reconnect", "-1"], "--reconnect"), (["--timeout", "0"], "--timeout")):  # fmt: skip
        r = runner.invoke(main, ["predict", str(onnx_artifact), "tcp://127.0.0.1:9", *args])
        assert r.exit_code == 2 and needle in r.output, r.output
    with pytest.raises(SourceError, match="unknown scheme"):
        predict(PredictConfig(artifact=onnx_artifact, source="gopher://x", out=tmp_path / "o"))
    assert not (tmp_path / "o").exists()


def test_hls_and_udp_mpegts_sources(tmp_path, onnx_artifact, frames):
    """An HLS playlist over HTTP (every frame of the recording, in order) and MPEG-TS datagrams on a UDP port."""
    (tmp_path / "hls").mkdir()
    with HlsServer(frames * 2, fps=FPS, segment_frames=5, root=tmp_path / "hls") as hls:
        r = predict(PredictConfig(artifact=onnx_artifact, source=hls.url, out=tmp_path / "h", conf=CONF,
                                  jsonl=tmp_path / "h.jsonl", drop=False, reconnect=0, save_images=False))  # fmt: skip
    assert r.live and r.frames == len(frames) * 2 and r.stopped == "lost"
    assert [x["frame"] for x in _lines(tmp_path / "h.jsonl")] == list(range(len(frames) * 2))
    with UdpSender(frames, fps=FPS) as udp:
        r = predict(PredictConfig(artifact=onnx_artifact, source=udp.url, out=tmp_path / "u", conf=CONF, frames=10,
                                  timeout_s=5, save_images=False))  # fmt: skip
    assert r.frames == 10 and r.stopped == "frames" and r.detections > 0


def test_detections_json_stops_growing_past_its_cap_and_the_csv_keeps_every_frame(tmp_path, onnx_artifact, memorized,
                                                                                   monkeypatch):  # fmt: skip
    import edgeyolo.predict as predict_module

    monkeypatch.setattr(predict_module, "JSON_MAX_FRAMES", 3)
    val = memorized[1].parent / "images" / "val"
    r = predict(PredictConfig(artifact=onnx_artifact, source=val, out=tmp_path / "o", conf=CONF, save_images=False,
                              jsonl=tmp_path / "d.jsonl"))  # fmt: skip
    summary = json.loads(r.files["json"].read_text())
    assert r.frames == 8 and len(summary["frames"]) == 3 and summary["frames_truncated"] is True
    lines = _lines(tmp_path / "d.jsonl")
    rows = r.files["csv"].read_text().splitlines()
    assert len(lines) == 8 and len(rows) == 1 + sum(len(x["detections"]) for x in lines) > 1
