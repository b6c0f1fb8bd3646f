"""Live sources and stream capacity, measured on this machine (issue 24).

For each artifact (default: every `make demo` artifact of the x86-cpu profile in demo/artifacts):

1. `edgeyolo bench` gives its end-to-end p50 (letterbox + inference + decode, one request at a time): the median
   of the benches run before, between and after the `--passes` predict runs of each source (this VM drifts).
2. Fast source: a local HTTP MJPEG stream (the val images bench times, from another process) served at `--fast`x the model's rate
   (1000 / p50). `edgeyolo predict` (newest frame wins, JSONL written) runs on it; its steady processed FPS
   against 1000 / p50. Goal: at least 0.95x: capture, decode and output hide behind inference.
3. Slow source: the same stream at `--slow`x the model's rate. Capture-to-result latency p50 against the bench
   p50. Goal: at most 1.5x: nothing waits in a queue.
4. `edgeyolo bench --streams auto --fps F`: the streams served at F FPS each within the profile's latency
   budget, and the aggregate FPS there against one stream.

`--in-process` times the stream against the plain `runtime.predict` loop in the same process, alternating (the
pipeline's own cost, free of the drift between a bench and a run minutes apart).

`--compare-readers` (needs PyAV importable) times OpenCV's FFmpeg reader against PyAV on an H.264 MPEG-TS stream
over TCP: seconds to the first frame and frames delivered (why edgeyolo reads with OpenCV).

    .venv/bin/python benchmarks/streams.py
    .venv/bin/python benchmarks/streams.py --artifacts demo/artifacts/yolo26n-320-onnx-fp32 --threads 2 --seconds 10
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from _machine import cpu  # noqa: E402
from _streams import MjpegServer  # noqa: E402

from edgeyolo.predict import PredictConfig, predict  # noqa: E402


def _bench(a: argparse.Namespace, arts: list[Path], out: Path, *extra: str) -> dict[str, dict]:
    cmd = [sys.executable, "-m", "edgeyolo", "bench", "--profile", a.profile, *map(str, arts), "--out", str(out),
           "--threads", str(a.threads), "--data", str(a.data), "--accuracy-images", "4", "--rounds", "1", *extra]  # fmt: skip
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    return {Path(r["candidate"]["artifact"]).name: r for r in recs if r["status"] == "ok"}


def _frames(data: Path) -> list[np.ndarray]:
    """The val images bench times latency on, at their size (the demo's: 320x180, 16:9)."""
    files = sorted((data.parent / "images" / "val").glob("*.jpg"))[:30]
    return [cv2.imread(str(f)) for f in files]


def _run(a, art: Path, fps: float, work: Path) -> dict:
    """predict on a live MJPEG stream at ``fps``: steady processed FPS (first to last processed frame) and the
    capture-to-result latency p50."""
    jsonl = work / f"{art.name}-{fps:.0f}.jsonl"
    # The camera is another device: its server runs in its own process, not in predict's.
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(fps), "--data", str(a.data)], text=True,
                              stdout=subprocess.PIPE)  # fmt: skip
    try:
        url = server.stdout.readline().strip()
        r = predict(PredictConfig(artifact=art, source=url, out=work / "out", threads=a.threads, jsonl=jsonl,
                                  duration_s=a.seconds, save_images=a.save_video))  # fmt: skip
    finally:
        server.kill()
        server.wait()
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    t = [x["time"] for x in lines]
    steady = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0
    return {"fps": steady, "read": r.read, "processed": r.frames, "dropped": r.dropped, "p50": r.latency_p50_ms,
            "p90": r.latency_p90_ms}  # fmt: skip


def _in_process(a: argparse.Namespace, art: Path, passes: int = 4) -> None:
    """The stream against the plain ``runtime.predict`` loop in the same process, timed right before and after
    each stream run: the pipeline's own cost, without a bench in another process minutes apart."""
    import time as _t

    from edgeyolo.live import Stream, StreamConfig
    from edgeyolo.runtime import load_runtime

    frames = _frames(a.data)
    rt = load_runtime(art, threads=a.threads)

    def plain(seconds: float = 3.0) -> float:
        times = []
        end = _t.perf_counter() + seconds
        while _t.perf_counter() < end:
            t = _t.perf_counter()
            rt.predict(frames[len(times) % len(frames)])
            times.append(_t.perf_counter() - t)
        return 1 / float(np.median(times[10:]))

    rate = plain()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(a.fast * rate), "--data", str(a.data)],
                              text=True, stdout=subprocess.PIPE)  # fmt: skip
    ratios = []
    try:
        url = server.stdout.readline().strip()
        for _ in range(passes):
            before = plain()
            with Stream(StreamConfig(artifact=art, source=url, duration_s=a.seconds / 2, threads=a.threads),
                        runtime=rt) as stream:  # fmt: skip
                stamps = [_t.perf_counter() for _ in stream]
            fps = (len(stamps) - 21) / (stamps[-1] - stamps[20])
            ratios.append(fps / ((before + plain()) / 2))
    finally:
        server.kill()
    print(
        f"| {art.name} | {', '.join(f'{r:.2f}' for r in ratios)} | **{np.median(ratios):.2f}x** |", flush=True
    )


def _compare_readers() -> None:
    try:
        import av
    except ImportError:
        print("--compare-readers: PyAV is not importable (pip install av); skipped")
        return
    import io
    import socket
    import threading

    w, h, n, fps = 640, 360, 150, 30
    buf = io.BytesIO()
    out = av.open(buf, "w", format="mpegts")
    s = out.add_stream("libx264", rate=fps)
    s.width, s.height, s.pix_fmt = w, h, "yuv420p"
    s.options = {"tune": "zerolatency", "preset": "veryfast", "g": "30"}
    for i in range(n):
        img = np.full((h, w, 3), 60, np.uint8)
        cv2.rectangle(img, (20 + 3 * i, 50), (120 + 3 * i, 150), (0, 200, 255), -1)
        for p in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
            out.mux(p)
    for p in s.encode():
        out.mux(p)
    out.close()
    data = buf.getvalue()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            t0, chunk = time.perf_counter(), 188 * 20
            for off in range(0, len(data), chunk):
                time.sleep(max(0.0, t0 + off / len(data) * n / fps - time.perf_counter()))
                c.sendall(data[off : off + chunk])
            c.close()

    threading.Thread(target=serve, daemon=True).start()
    url = f"tcp://127.0.0.1:{srv.getsockname()[1]}"
    t = time.perf_counter()
    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000])
    first, k = None, 0
    while cap.read()[0]:
        first = first or time.perf_counter() - t
        k += 1
    print(f"OpenCV {cv2.__version__} (FFmpeg): first frame {first:.2f} s, {k}/{n} frames")
    t = time.perf_counter()
    first, k = None, 0
    for frame in av.open(url, timeout=5).decode(video=0):
        frame.to_ndarray(format="bgr24")
        first = first or time.perf_counter() - t
        k += 1
    print(f"PyAV {av.__version__}: first frame {first:.2f} s, {k}/{n} frames")
    srv.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifacts", nargs="*", default=None, help="default: demo/artifacts/*")
    p.add_argument("--data", default="demo/data/data.yaml", help="its val images are the stream's frames")
    p.add_argument("--profile", default="x86-cpu")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seconds", type=float, default=8.0, help="each predict run")
    p.add_argument("--passes", type=int, default=2, help="predict runs per source, each between two benches")
    p.add_argument("--fast", type=float, default=1.5, help="fast source: this times the model's rate")
    p.add_argument("--slow", type=float, default=0.5, help="slow source: this times the model's rate")
    p.add_argument("--fps", type=float, default=15.0, help="per-stream target of the capacity search")
    p.add_argument("--save-video", action="store_true", help="predict also writes the annotated video")
    p.add_argument("--no-capacity", action="store_true", help="skip bench --streams auto")
    p.add_argument("--compare-readers", action="store_true")
    p.add_argument("--in-process", action="store_true",
                   help="the stream against the plain predict loop in one process (no bench), 4 passes")  # fmt: skip
    p.add_argument(
        "--serve", type=float, default=None, help=argparse.SUPPRESS
    )  # the stream, in its own process
    a = p.parse_args()
    if a.serve:
        server = MjpegServer(_frames(Path(a.data)), fps=a.serve, loop=True).start()
        print(server.url, flush=True)
        time.sleep(3600)
    if a.compare_readers:
        _compare_readers()
        return
    arts = [Path(x) for x in a.artifacts] if a.artifacts else sorted(Path("demo/artifacts").glob("yolo26n-*"))
    if not arts:
        sys.exit("no artifacts: run `make demo` first, or pass --artifacts")
    a.data = Path(a.data)
    if a.in_process:
        print(f"# stream vs plain loop in one process, threads {a.threads}, fast source {a.fast}x\n"
              "| artifact | processed FPS / plain FPS per pass | median |\n|---|---|---|")  # fmt: skip
        for art in arts:
            _in_process(a, art)
        return
    print(f"# streams, {datetime.date.today()}, {cpu()}, threads {a.threads}, the val images as an MJPEG stream over HTTP "
          f"from another process, {a.seconds:g} s per run")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("| artifact | bench e2e p50 ms (median; each bench) | fast source fps | processed fps | x of 1000/p50 | "
              "dropped | slow source fps | latency p50 ms | x of bench p50 |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|")
        for art in arts:  # bench, predict, bench, predict, bench: this VM's speed drifts by the minute
            p50s, fast_runs, slow_runs = [], [], []
            for k in range(a.passes + 1):
                rec = _bench(a, [art], work / f"{art.name}-{k}.jsonl")[art.name]
                p50s.append(rec["latency_ms"]["end_to_end"]["p50"])
                if k < a.passes:
                    fast_runs.append(_run(a, art, a.fast * 1000 / p50s[0], work))
                    slow_runs.append(_run(a, art, a.slow * 1000 / p50s[0], work))
            p50 = float(np.median(p50s))
            fps = float(np.median([f["fps"] for f in fast_runs]))
            lat = float(np.median([s["p50"] for s in slow_runs]))
            dropped = sum(f["dropped"] for f in fast_runs)
            benches = ", ".join(f"{x:.2f}" for x in p50s)
            print(f"| {art.name} | {p50:.2f} ({benches}) | {a.fast * 1000 / p50s[0]:.0f} | {fps:.1f} | "
                  f"**{fps * p50 / 1000:.2f}x** | {dropped} | {a.slow * 1000 / p50s[0]:.0f} | {lat:.2f} | "
                  f"**{lat / p50:.2f}x** |", flush=True)  # fmt: skip
        if a.no_capacity:
            return
        cap = _bench(a, arts, work / "streams.jsonl", "--streams", "auto", "--fps", str(a.fps))
        print(f"\n| artifact | streams at {a.fps:g} fps (p90 <= budget) | aggregate fps there | p90 ms there | "
              "1 stream, back to back fps | x |")  # fmt: skip
        print("|---|---|---|---|---|---|")
        for art in arts:
            rec = cap[art.name]
            st = rec.get("streams") or {}
            trials = {t["n"]: t for t in st.get("trials", [])}
            n = st.get("capacity")
            at = trials.get(n) if n else None
            one = rec["throughput_fps"]  # 1000 / mean end-to-end of the one-request latency loop
            agg = at["aggregate_fps"] if at else None
            print(f"| {art.name} | {n} | {agg if agg is None else round(agg, 1)} | "
                  f"{at['latency_ms']['p90'] if at else '-'} | {one:.1f} | {f'{agg / one:.2f}x' if agg else '-'} |")  # fmt: skip


if __name__ == "__main__":
    main()
