from __future__ import annotations

import json

import pytest

from edgeyolo.bench.store import SCHEMA, read_records
from edgeyolo.errors import ResultsError
from edgeyolo.select import pareto_front, select


def rec(model, imgsz, fmt, prec, p90, map_, size=1000, budget=50.0, status="ok"):
    lat = {"n": 10, "mean": p90, "std": 0.1, "min": p90, "p50": p90 * 0.9, "p90": p90, "p95": p90, "p99": p90 * 1.2,
           "max": p90 * 1.3}  # fmt: skip
    return {
        "schema": SCHEMA, "status": status,
        "candidate": {"model": model, "imgsz": imgsz, "format": fmt, "precision": prec,
                      "artifact": f"/a/{model}-{imgsz}-{fmt}-{prec}", "size_bytes": size, "sha256": "x"},
        "latency_ms": {"end_to_end": lat, "inference": lat, "preprocess": lat, "postprocess": lat},
        "accuracy": None if map_ is None else {"map50_95": map_, "map50": map_ + 0.2},
        "settings": {"latency_budget_ms": budget, "max_map_drop": 0.02},
        "device": {"profile": "x86-cpu"},
    }  # fmt: skip


def test_pareto_front():
    pts = [(10, 0.3), (20, 0.4), (15, 0.25), (30, 0.4), (5, 0.1)]
    assert pareto_front(pts) == [True, True, False, False, True]


def test_highest_map_within_budget():
    records = [rec("n", 320, "onnx", "fp32", 20, 0.30), rec("n", 480, "onnx", "fp32", 45, 0.36),
               rec("s", 480, "onnx", "fp32", 90, 0.45)]  # fmt: skip
    sel = select(records)
    assert sel.selected.name == "n-480-onnx-fp32"
    assert "highest mAP50-95" in sel.reason and "50 ms" in sel.reason
    assert [c.name for c in sel.front] == ["n-320-onnx-fp32", "n-480-onnx-fp32", "s-480-onnx-fp32"]


def test_budget_override_and_metric():
    records = [rec("n", 320, "onnx", "fp32", 20, 0.30), rec("n", 480, "onnx", "fp32", 45, 0.36)]
    assert select(records, budget_ms=30).selected.name == "n-320-onnx-fp32"
    # p50 is 0.9 x p90 here: 40.5 ms fits a 41 ms budget, 45 ms p90 does not.
    assert select(records, budget_ms=41, metric="p50").selected.name == "n-480-onnx-fp32"
    assert select(records, budget_ms=41, metric="p90").selected.name == "n-320-onnx-fp32"


def test_int8_that_loses_too_much_is_not_selected():
    records = [rec("n", 320, "onnx", "fp32", 40, 0.30), rec("n", 320, "onnx", "int8", 20, 0.25),
               rec("n", 320, "openvino", "int8", 22, 0.295)]  # fmt: skip
    sel = select(records, budget_ms=30)
    by = {c.name: c for c in sel.candidates}
    assert by["n-320-onnx-int8"].map_drop == pytest.approx(0.05)
    assert not by["n-320-onnx-int8"].eligible and "loses" in by["n-320-onnx-int8"].note
    assert sel.selected.name == "n-320-openvino-int8"


def test_ties_go_to_lower_latency_then_smaller_artifact():
    records = [rec("n", 320, "onnx", "fp32", 25, 0.3, size=10), rec("n", 320, "openvino", "fp32", 20, 0.3, size=50),
               rec("m", 320, "openvino", "fp32", 20, 0.3, size=20)]  # fmt: skip
    assert select(records).selected.name == "m-320-openvino-fp32"


def test_nothing_fits_names_the_fastest():
    records = [rec("n", 320, "onnx", "fp32", 80, 0.3), rec("n", 480, "onnx", "fp32", 120, 0.35)]
    sel = select(records)
    assert sel.selected is None
    assert "No candidate meets" in sel.reason and "n-320-onnx-fp32" in sel.reason


def test_errors_and_missing_accuracy():
    records = [
        rec("n", 320, "onnx", "fp32", 20, None),
        rec("n", 480, "onnx", "fp32", 20, None, status="error"),
    ]
    records[1]["message"] = "crashed"
    sel = select(records)
    assert sel.selected is None and "--data" in sel.reason
    assert sel.errors and sel.errors[0]["message"] == "crashed"


def test_latest_record_per_artifact_counts():
    old, new = rec("n", 320, "onnx", "fp32", 20, 0.1), rec("n", 320, "onnx", "fp32", 20, 0.3)
    assert select([old, new]).selected.map50_95 == 0.3


def test_read_records_rejects_bad_lines(tmp_path):
    f = tmp_path / "r.jsonl"
    f.write_text(json.dumps(rec("n", 320, "onnx", "fp32", 20, 0.3)) + "\n{broken\n")
    with pytest.raises(ResultsError, match=r"r.jsonl:2"):
        read_records(f)
    g = tmp_path / "other.jsonl"
    g.write_text('{"hello": 1}\n')
    with pytest.raises(ResultsError, match="not an edgeyolo.bench/1 record"):
        read_records(g)
    with pytest.raises(ResultsError, match="not found"):
        read_records(tmp_path / "missing.jsonl")


def test_near_equal_map_is_a_tie_and_the_faster_wins():
    records = [rec("n", 320, "onnx", "fp32", 20, 0.26372), rec("n", 320, "onnx", "fp16", 15, 0.26371),
               rec("n", 320, "openvino", "fp32", 25, 0.2650)]  # fmt: skip
    assert select(records).selected.name == "n-320-openvino-fp32"  # 0.0013 better: not a tie
    records[2]["accuracy"]["map50_95"] = 0.2640  # within 0.001 of the best: the fastest of the three wins
    assert select(records).selected.name == "n-320-onnx-fp16"
