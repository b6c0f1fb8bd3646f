from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeyolo.bench.accuracy import coco_map
from edgeyolo.bench.stats import summarize
from edgeyolo.bench.store import read_records, schema_errors
from edgeyolo.data.yolo import LabeledImage
from edgeyolo.runtime.types import Detections


def _gt():
    labels = [np.array([[0, 0.25, 0.25, 0.2, 0.2], [1, 0.7, 0.6, 0.3, 0.4]], np.float32),
              np.array([[1, 0.5, 0.5, 0.5, 0.5]], np.float32), np.zeros((0, 5), np.float32)]  # fmt: skip
    items = [LabeledImage(Path(f"{i}.jpg"), lab) for i, lab in enumerate(labels)]
    return items, [(100, 200)] * 3


def _from_labels(lab, h, w, score=0.9):
    xyxy = np.c_[(lab[:, 1] - lab[:, 3] / 2) * w, (lab[:, 2] - lab[:, 4] / 2) * h,
                 (lab[:, 1] + lab[:, 3] / 2) * w, (lab[:, 2] + lab[:, 4] / 2) * h].astype(np.float32)  # fmt: skip
    return Detections(xyxy, np.full(len(lab), score, np.float32), lab[:, 0].astype(np.int64))


def test_perfect_detections_score_one():
    items, sizes = _gt()
    dets = [_from_labels(i.labels, *s) for i, s in zip(items, sizes)]
    r = coco_map(items, sizes, dets, ["a", "b", "c"])
    assert r["map50_95"] == pytest.approx(1.0) and r["map50"] == pytest.approx(1.0)
    assert r["per_class"] == {"a": pytest.approx(1.0), "b": pytest.approx(1.0), "c": None}
    assert r["instances"] == 3


def test_shifted_and_wrong_detections_score_less():
    items, sizes = _gt()
    dets = [_from_labels(i.labels, *s) for i, s in zip(items, sizes)]
    dets[0].xyxy[0, [0, 2]] += 4  # a 40x20 box moved 4 px right: IoU 0.82, counts up to IoU 0.8
    dets[1].classes[:] = 0  # wrong class
    r = coco_map(items, sizes, dets, ["a", "b", "c"])
    assert 0 < r["map50_95"] < r["map50"] < 1.0
    assert coco_map(items, sizes, [Detections.empty()] * 3, ["a", "b", "c"])["map50_95"] == 0.0


def test_latency_summary():
    s = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s["n"] == 5 and s["min"] == 1.0 and s["max"] == 100.0 and s["p50"] == 3.0
    assert s["p50"] <= s["p90"] <= s["p95"] <= s["p99"] <= s["max"]
    with pytest.raises(ValueError):
        summarize([])


def test_benchmark_record(tmp_path, onnx_artifact, tiny_data):
    from edgeyolo.bench import BenchConfig, benchmark
    from edgeyolo.profiles import load_profile

    out = tmp_path / "r.jsonl"
    # An unknown artifact is refused before any measurement starts; a good one is measured in a worker.
    from edgeyolo.errors import ArtifactError

    with pytest.raises(ArtifactError):
        benchmark(
            BenchConfig(profile=load_profile("rpi5"), artifacts=(onnx_artifact, tmp_path / "gone"), out=out)
        )
    res = benchmark(BenchConfig(profile=load_profile("rpi5"), artifacts=(onnx_artifact,), out=out, data=tiny_data,
                                iterations=7, warmup=2, threads=1))  # fmt: skip
    rec = json.loads(out.read_text().splitlines()[-1])
    assert read_records(out)[-1] == res.records[0] and rec["status"] == "ok"  # + the sidecar's resolved path
    assert rec["schema"] == "edgeyolo.bench/1"
    assert rec["candidate"]["threads"] == 1 and rec["device"]["profile"] == "rpi5"
    runtime = rec["settings"]["runtime"]  # read back from the session, not just what was asked
    assert runtime["intra_op_num_threads"] == 1 and runtime["execution_mode"] == "ORT_SEQUENTIAL"
    assert rec["settings"]["latency_budget_ms"] == 100 and rec["latency_ms"]["end_to_end"]["n"] == 7
    assert rec["cold_start_ms"]["load"] > 0 and rec["cold_start_ms"]["first_inference"] > 0
    assert rec["device"]["runtime_versions"]["onnxruntime"]
    assert set(rec["accuracy"]["per_class"]) == {"circle", "square", "triangle", "star", "cross"}
    assert rec["power"] is None  # no sensor read here: null, never 0
    assert schema_errors(rec) == []
    # The stages split the end-to-end time: per-stage means add up to the end-to-end mean.
    lat = rec["latency_ms"]
    stages = sum(lat[s]["mean"] for s in ("preprocess", "inference", "postprocess"))
    assert stages == pytest.approx(lat["end_to_end"]["mean"], rel=0.01, abs=0.01)


def test_worker_threads_and_a_temp_folder_on_another_filesystem(
    tmp_path, onnx_artifact, tiny_data, monkeypatch
):
    """The worker's OpenMP pool is the candidate's thread count even when this process has OMP_NUM_THREADS=1
    (importing ultralytics sets it); the per-image sidecar reaches the results folder from a temp folder on
    another filesystem (a container's /tmp vs a mounted work folder), where a rename fails."""
    import tempfile

    from edgeyolo.bench import BenchConfig, benchmark
    from edgeyolo.profiles import load_profile

    other = Path("/dev/shm")
    if not other.is_dir() or other.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on a filesystem of its own")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setattr(tempfile, "tempdir", str(other))
    out = tmp_path / "r.jsonl"
    res = benchmark(BenchConfig(profile=load_profile("rpi5"), artifacts=(onnx_artifact,), out=out, data=tiny_data,
                                iterations=2, warmup=0, threads=2, rounds=1))  # fmt: skip
    (rec,) = res.records
    assert rec["status"] == "ok", rec.get("message")
    assert rec["settings"]["runtime"]["OMP_NUM_THREADS"] == "2"
    sidecar = out.parent / rec["accuracy"]["per_image"]["file"]
    assert sidecar.is_file() and not list(sidecar.parent.glob(".*.part"))


def test_crashing_candidate_becomes_an_error_record(tmp_path, onnx_artifact):
    """A model file that the runtime cannot load yields an error record; the sweep goes on."""
    import shutil

    from edgeyolo.bench import BenchConfig, benchmark
    from edgeyolo.profiles import load_profile

    broken = tmp_path / "broken"
    shutil.copytree(onnx_artifact, broken)
    (broken / "model.onnx").write_bytes(b"not an onnx graph")
    restamp(broken)  # exported that way: it passes the checksum and fails in the runtime
    out = tmp_path / "r.jsonl"
    res = benchmark(BenchConfig(profile=load_profile("x86-cpu"), artifacts=(broken, onnx_artifact), out=out,
                                iterations=3, warmup=0, threads=1))  # fmt: skip
    assert [r["status"] for r in res.records] == ["error", "ok"]
    assert "cannot load" in res.records[0]["message"]
    assert [schema_errors(r) for r in res.records] == [[], []]
    assert len(out.read_text().splitlines()) == 2


def restamp(folder: Path) -> None:
    """Record the folder's current files in its manifest, as export does (a test's deliberate change)."""
    from edgeyolo.export.manifest import write_manifest

    m = json.loads((folder / "manifest.json").read_text())
    write_manifest(folder, **{k: v for k, v in m.items() if k not in ("schema", "created")})


def test_artifact_changed_since_export_is_not_measured(tmp_path, onnx_artifact):
    """A re-copied model file (still a valid graph) or a manifest without a checksum: an error record that says
    so, never a measurement reported as the exported artifact's."""
    import shutil

    import onnx

    from edgeyolo.bench import BenchConfig, benchmark
    from edgeyolo.profiles import load_profile

    changed = tmp_path / "changed"
    shutil.copytree(onnx_artifact, changed)
    model = onnx.load(str(changed / "model.onnx"))
    model.doc_string = "re-copied from another export"
    onnx.save(model, str(changed / "model.onnx"))
    unchecked = tmp_path / "unchecked"
    shutil.copytree(onnx_artifact, unchecked)
    m = json.loads((unchecked / "manifest.json").read_text())
    del m["sha256"]
    (unchecked / "manifest.json").write_text(json.dumps(m))
    res = benchmark(BenchConfig(profile=load_profile("x86-cpu"), artifacts=(changed, unchecked, onnx_artifact),
                                out=tmp_path / "r.jsonl", iterations=2, warmup=0, threads=1))  # fmt: skip
    bad, old, good = res.records
    assert bad["status"] == "error" and "changed since export" in bad["message"]
    assert "re-export" in bad["message"]
    assert old["status"] == "error" and "no 'sha256'" in old["message"] and "re-export" in old["message"]
    assert "\n" not in bad["message"] and "Traceback" not in bad["message"]
    assert good["status"] == "ok"
    assert good["candidate"]["sha256"] == json.loads((onnx_artifact / "manifest.json").read_text())["sha256"]


def test_rerun_needs_resume_or_force(tmp_path, onnx_artifact, tiny_data):
    from edgeyolo.bench import BenchConfig, benchmark
    from edgeyolo.errors import ConfigError
    from edgeyolo.profiles import load_profile

    out = tmp_path / "r.jsonl"

    def cfg(**kw):
        return BenchConfig(profile=load_profile("x86-cpu"), artifacts=(onnx_artifact,), out=out, data=tiny_data,
                           iterations=3, warmup=0, threads=1, **kw)  # fmt: skip

    benchmark(cfg())
    with pytest.raises(ConfigError, match="--resume .* --force"):
        benchmark(cfg())
    r = benchmark(cfg(resume=True))
    assert r.records == [] and r.skipped == [onnx_artifact]
    assert len(out.read_text().splitlines()) == 1
    r = benchmark(cfg(force=True))
    assert len(r.records) == 1 and len(out.read_text().splitlines()) == 2
    # Another thread count is another measurement: not skipped.
    r = benchmark(BenchConfig(profile=load_profile("x86-cpu"), artifacts=(onnx_artifact,), out=out, data=tiny_data,
                              iterations=3, warmup=0, threads=2, resume=True))  # fmt: skip
    assert len(r.records) == 1


def test_min_duration_keeps_timing_past_the_iterations(tmp_path, onnx_artifact, runner):
    from edgeyolo.cli import main

    out = tmp_path / "r.jsonl"
    res = runner.invoke(main, ["bench", "--profile", "x86-cpu", str(onnx_artifact), "--out", str(out), "--threads", "1",
                               "--iterations", "2", "--warmup", "0", "--min-duration", "0.5"])  # fmt: skip
    assert res.exit_code == 0, res.output
    [rec] = read_records(out)
    e2e = rec["latency_ms"]["end_to_end"]
    assert rec["settings"]["min_duration_s"] == 0.5
    assert e2e["n"] > 2 and e2e["n"] * e2e["mean"] >= 0.4 * 1000  # ran ~0.5 s, not 2 iterations


def test_atomic_writes_get_the_usual_file_mode(tmp_path):
    import os

    from edgeyolo._io import write_text_atomic

    mask = os.umask(0o022)
    try:
        f = write_text_atomic(tmp_path / "a.txt", "x")
    finally:
        os.umask(mask)
    assert f.stat().st_mode & 0o777 == 0o644


def test_latency_frames_without_a_dataset_do_not_depend_on_the_model_size():
    from edgeyolo.bench.measure import _synthetic_frames

    frames = _synthetic_frames()
    assert len(frames) == 8 and frames[0].shape == (480, 640, 3)


def test_schema_catches_broken_records(onnx_artifact):
    from _records import record

    good = record()
    assert schema_errors(good) == []
    no_p90 = json.loads(json.dumps(good))
    del no_p90["latency_ms"]["end_to_end"]["p90"]
    assert schema_errors(no_p90) == ["latency_ms.end_to_end: 'p90' is a required property"]
    bad_map = json.loads(json.dumps(good))
    bad_map["accuracy"]["map50_95"] = 12.5  # a percentage where a fraction belongs
    assert any(e.startswith("accuracy") for e in schema_errors(bad_map))
    error_without_message = {k: v for k, v in record(status="error").items() if k != "message"}
    assert "(record): 'message' is a required property" in schema_errors(error_without_message)
    zero_power = json.loads(json.dumps(good))
    zero_power["power"] = 0  # absent sensors are null, never 0
    assert any(e.startswith("power") for e in schema_errors(zero_power))


# ---------------------------------------------------------------- bootstrap intervals over val images
def test_bootstrap_reproduces_the_library_and_pairs_candidates():
    """With every image once, the per-image re-accumulation is the library's mAP; identical detections differ by
    exactly 0 in every resample; a clearly worse candidate's interval excludes 0."""
    from _records import CLASSES, detections, scene

    from edgeyolo.bench.bootstrap import bootstrap, paired_difference, per_image, weighted_map

    items, sizes = scene(40)
    good = detections(items, sizes, jitter=3.0)
    worse = detections(items, sizes, jitter=3.0, miss_share=0.5)
    for dets in (good, worse):
        lib = coco_map(items, sizes, dets, CLASSES)
        m, m50 = weighted_map(per_image(items, sizes, dets, CLASSES), np.ones((1, len(items))))
        assert m[0] == pytest.approx(lib["map50_95"], abs=1e-9)
        assert m50[0] == pytest.approx(lib["map50"], abs=1e-9)
    a = bootstrap(per_image(items, sizes, good, CLASSES))
    b = bootstrap(per_image(items, sizes, good, CLASSES))
    assert paired_difference(a, b) == (0.0, 0.0)  # same images, same resamples: no difference at all
    lo, hi = paired_difference(bootstrap(per_image(items, sizes, worse, CLASSES)), a)
    assert hi < 0 and lo < hi  # the worse candidate is worse in (nearly) every resample
    other_images = bootstrap(per_image(items[:-1], sizes[:-1], good[:-1], CLASSES))
    assert paired_difference(a, other_images) is None  # different val images cannot be paired


def test_latency_intervals_from_rounds_and_from_samples():
    from edgeyolo.bench.stats import rounds_interval, samples_interval

    rounds = [summarize([10.0, 11.0, 12.0]), summarize([12.0, 13.0, 14.0]), summarize([11.0, 12.0, 13.0])]
    ci = rounds_interval(rounds)
    assert ci["method"] == "range over rounds" and ci["end_to_end"]["p50"] == [11.0, 13.0]
    one = samples_interval(np.random.default_rng(0).normal(20, 1, 300))
    lo, hi = one["end_to_end"]["p90"]
    assert lo < 20 + 1.2816 < hi and one["resamples"] == 1000


# ---------------------------------------------------------------- interleaved rounds
def _other_artifact(src: Path, dst: Path) -> Path:
    """A copy of ``src`` with another checksum (still a valid graph), exported that way."""
    import shutil

    import onnx

    shutil.copytree(src, dst)
    model = onnx.load(str(dst / "model.onnx"))
    model.doc_string = f"another candidate {dst.name}"
    onnx.save(model, str(dst / "model.onnx"))
    restamp(dst)
    return dst


def test_rounds_alternate_wait_for_the_temperature_and_pool(tmp_path, onnx_artifact, tiny_data, monkeypatch):
    """Two candidates, two rounds: A B, then B A (every other pass reverses the order), each round a fresh process;
    the second pass waits until the sensor is back near the first pass's start; one record each with its rounds,
    pooled percentiles and intervals; the per-image sidecar next to the results; the rounds file is gone once both
    are done."""
    from edgeyolo.bench import BenchConfig, benchmark, rounds
    from edgeyolo.bench import environment as env
    from edgeyolo.profiles import load_profile

    other = _other_artifact(onnx_artifact, tmp_path / "other")
    temps = iter([50.0, 50.5, 58.0, 55.0, 51.5, 51.0])  # pass 1: A, B; pass 2: wait twice, then B, A
    monkeypatch.setattr(env, "cpu_temperature_c", lambda: next(temps, 51.0))
    monkeypatch.setattr(rounds, "COOL_POLL_S", 0.01)
    out = tmp_path / "r.jsonl"
    logs: list[str] = []
    res = benchmark(BenchConfig(profile=load_profile("x86-cpu"), artifacts=(onnx_artifact, other), out=out,
                                data=tiny_data, iterations=5, warmup=1, threads=1, rounds=2), log=logs.append)  # fmt: skip
    by_name = {Path(r["candidate"]["artifact"]).name: r for r in res.records}
    a, b = by_name[onnx_artifact.name], by_name["other"]
    assert [r["status"] for r in (a, b)] == ["ok", "ok"] and read_records(out) == [
        b,
        a,
    ]  # as completed: B2 A2
    assert not (tmp_path / "r.rounds.jsonl").exists()
    for rec, pos in ((a, [1, 2]), (b, [2, 1])):
        assert [r["round"] for r in rec["rounds"]] == [1, 2]
        assert [r["position"] for r in rec["rounds"]] == pos
        assert [r["order"] for r in rec["rounds"]] == ["forward", "reversed"]
        assert rec["settings"]["rounds"] == 2 and rec["latency_ms"]["end_to_end"]["n"] == 5  # 3 + 2, pooled
        assert [r["end_to_end"]["n"] for r in rec["rounds"]] == [3, 2]
        assert rec["latency_ci_ms"]["method"] == "range over rounds"
        assert schema_errors(rec) == []
    # alternation, every other pass reversed: A1 B1, B2 A2, and each pass is shared by both candidates
    starts = sorted(
        (r["started"], rec["candidate"]["artifact"], r["round"]) for rec in (a, b) for r in rec["rounds"]
    )
    assert [(Path(x[1]).name, x[2]) for x in starts] == [(onnx_artifact.name, 1), ("other", 1),
                                                         ("other", 2), (onnx_artifact.name, 2)]  # fmt: skip
    assert a["rounds"][1]["pass"] == b["rounds"][1]["pass"] != a["rounds"][0]["pass"]
    first, second = a["rounds"]
    assert first["temperature_c"] == 50.0 and first["waited_s"] == 0.0
    assert second["temperature_c"] == 51.0 and second["waited_s"] == 0.0  # second in its pass
    assert [r["temperature_c"] for r in b["rounds"]] == [50.5, 51.5]  # read before each candidate's round
    assert b["rounds"][1]["waited_s"] >= 0.02  # first in pass 2, which waited: 58 and 55 were above 50 + 2
    assert any("cool" in m for m in logs)
    # accuracy once (first round), with its interval and the per-image sidecar next to the results file
    acc = a["accuracy"]
    lo, hi = acc["ci"]["map50_95"]
    assert lo <= acc["map50_95"] <= hi and acc["ci"]["resamples"] == 1000
    sidecar = out.parent / acc["per_image"]["file"]
    assert sidecar.parent.name == "r.per-image" and sidecar.is_file()
    assert read_records(out)[1]["accuracy"]["per_image"]["path"] == str(
        sidecar.resolve()
    )  # a, completed last


def test_rounds_continue_after_a_kill_mid_round(tmp_path, onnx_artifact):
    """Killed in the second pass (reversed: B A): the rerun keeps what was measured, finishes that pass in its
    order and measures the third forward (A B); the records carry every round in the order they ran."""
    import os
    import signal
    import subprocess
    import sys
    import time

    other = _other_artifact(onnx_artifact, tmp_path / "other")
    out = tmp_path / "r.jsonl"
    rounds_file = tmp_path / "r.rounds.jsonl"
    args = [sys.executable, "-m", "edgeyolo", "bench", "--profile", "x86-cpu", str(onnx_artifact), str(other), "--out",
            str(out), "--threads", "1", "--iterations", "3", "--warmup", "0", "--rounds", "3"]  # fmt: skip
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        if rounds_file.is_file() and rounds_file.read_text().count('"round":') >= 3:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    measured = [json.loads(x) for x in rounds_file.read_text().splitlines()]
    assert 3 <= len(measured) < 5 and not out.exists(), "killed too late to test continuing"

    again = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "continuing interleaved rounds" in again.stderr
    a, b = read_records(out)
    assert [len(r["rounds"]) for r in (a, b)] == [3, 3] and not rounds_file.exists()
    kept = [x for x in measured if x["round"] < 3]
    for rec in (a, b):
        before = [r for r in rec["rounds"] if r["pass"] in {m["pass"] for m in kept}]
        assert len(before) == sum(m["artifact"] == rec["candidate"]["artifact"] for m in kept)
    order = sorted((r["started"], Path(rec["candidate"]["artifact"]).name, r["round"]) for rec in (a, b)
                   for r in rec["rounds"])  # fmt: skip
    # every candidate's rounds ran in order, each round's pass in its order (forward, reversed, forward), the pass
    # the kill interrupted included
    names = [n for _, n, _ in order]
    assert names.count("other") == 3
    first = onnx_artifact.name
    for k, expect in ((1, [first, "other"]), (2, ["other", first]), (3, [first, "other"])):
        assert [n for _, n, r in order if r == k] == expect, order
    assert all([r["order"] for r in rec["rounds"]] == ["forward", "reversed", "forward"] for rec in (a, b))
    new_passes = [r for rec in (a, b) for r in rec["rounds"] if r["pass"] not in {m["pass"] for m in kept}]
    assert len(new_passes) == 6 - len(kept)


def test_rounds_over_ssh_alternate_and_bring_the_sidecar_back(
    tmp_path, tmp_path_factory, onnx_artifact, tiny_data
):
    """On a device over SSH: A B, B A, each round a fresh remote process; the device's temperature is read
    between rounds; the per-image evaluation is fetched next to the local results file."""
    from test_remote import start_sshd

    from edgeyolo.bench import BenchConfig
    from edgeyolo.bench.remote import benchmark_remote
    from edgeyolo.profiles import load_profile

    server = start_sshd(tmp_path_factory.mktemp("sshd-rounds"))
    other = _other_artifact(onnx_artifact, tmp_path / "other")
    out = tmp_path / "r.jsonl"
    try:
        res = benchmark_remote(BenchConfig(profile=load_profile("x86-cpu"), artifacts=(onnx_artifact, other), out=out,
                                           data=tiny_data, threads=1, warmup=0, iterations=4, rounds=2),
                               [server.device()], server.opts())  # fmt: skip
    finally:
        server.kill_sessions()
    by_name = {Path(r["candidate"]["artifact"]).name: r for r in res.records}
    a, b = by_name[onnx_artifact.name], by_name["other"]
    assert a["status"] == "ok" and b["status"] == "ok", (a.get("message"), b.get("message"))
    assert [r["position"] for r in a["rounds"]] == [1, 2] and [r["position"] for r in b["rounds"]] == [2, 1]
    assert [r["pass"] for r in a["rounds"]] == [r["pass"] for r in b["rounds"]]
    assert a["latency_ms"]["end_to_end"]["n"] == 4 and a["device"]["name"] == "dut"
    assert "temperature_c" in a["rounds"][1]  # read on the device (null where it has no sensor)
    sidecar = out.parent / a["accuracy"]["per_image"]["file"]
    assert sidecar.is_file() and sidecar.parent == tmp_path / "r.per-image"
    assert not a["accuracy"]["per_image"]["remote_file"].startswith("/")  # relative, as on the device
    assert not (tmp_path / "r.rounds.jsonl").exists() and schema_errors(a) == []
