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
    assert rec == res.records[0] and rec["status"] == "ok"
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
