"""`edgeyolo run` end to end at a tiny size, in a child process whose network access is watched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from edgeyolo.bench.store import schema_errors

NETGUARD = Path(__file__).parent / "netguard"


def _run(args: list[str], env: dict, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgeyolo", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)  # fmt: skip


def _guarded_env(tmp_path: Path) -> tuple[dict, Path]:
    log = tmp_path / "net.log"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(NETGUARD), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["EDGEYOLO_NET_LOG"] = str(log)
    env["EDGEYOLO_HOME"] = str(tmp_path / "home")  # a fresh cache: nothing pre-downloaded
    env.pop("YOLO_CONFIG_DIR", None)
    for var in (
        "CI",
        "TF_BUILD",
        "JENKINS_URL",
    ):  # libraries that mute telemetry on CI must be seen as users see them
        env.pop(var, None)
    return env, log


def test_network_guard_catches_outbound_connections(tmp_path):
    """The guard itself works: a non-loopback connection is recorded (so a clean log means something)."""
    env, log = _guarded_env(tmp_path)
    code = "import socket\ntry:\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\nexcept OSError:\n    pass"
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    assert "192.0.2.1" in log.read_text()


def test_run_end_to_end_offline(tmp_path):
    env, log = _guarded_env(tmp_path)
    out = tmp_path / "run"
    args = ["run", "--profile", "x86-cpu", "--out", str(out), "--imgsz", "128", "--epochs", "1",
            "--synth-train", "16", "--synth-val", "8", "--bench-iterations", "5"]  # fmt: skip
    p = _run(args, env)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "report (x86-cpu" in p.stdout and "[diagnose] yolo26n-128" in p.stdout, p.stdout[-3000:]
    assert "Training diagnosis: yolo26n-128" in (out / "report" / "report.html").read_text()

    # No connection other than loopback was attempted by any process of the pipeline.
    assert not log.exists() or log.read_text() == "", log.read_text()

    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert records and all(r["status"] == "ok" for r in records), records
    assert [schema_errors(r) for r in records] == [[] for _ in records]
    r = records[0]
    assert r["candidate"]["format"] == "onnx" and r["candidate"]["end2end"] is True
    for stage in ("preprocess", "inference", "postprocess", "end_to_end"):
        assert r["latency_ms"][stage]["n"] == 5
        assert (
            0
            < r["latency_ms"][stage]["p50"]
            <= r["latency_ms"][stage]["p90"]
            <= r["latency_ms"][stage]["p99"]
        )
    assert r["accuracy"]["images"] == 8 and 0.0 <= r["accuracy"]["map50_95"] <= 1.0
    assert r["memory_mb"]["peak_rss"] > 0

    rep = json.loads((out / "report" / "report.json").read_text())
    assert rep["selection"]["reason"]
    assert (out / "report" / "report.md").read_text().startswith("# edgeyolo report")
    assert (out / "artifacts" / "yolo26n-128-onnx-fp32" / "manifest.json").is_file()

    # A rerun reuses the dataset, the training, the artifacts and the measurements.
    p2 = _run(args, env)
    assert p2.returncode == 0, p2.stderr[-3000:]
    assert "reusing" in p2.stdout and "already benchmarked" in p2.stdout, p2.stdout[-2000:]
    assert len((out / "results.jsonl").read_text().splitlines()) == len(records)
