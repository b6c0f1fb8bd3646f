from __future__ import annotations

import json
import re

import pytest
from _records import device, record, sweep, write_jsonl

from edgeyolo.bench.store import SCHEMA, read_records
from edgeyolo.cli import main
from edgeyolo.errors import ConfigError, ResultsError
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


# ---------------------------------------------------------------- budget forms, --min-map, closest, --json
# Hand-built sweeps from tests/_records.py: schema-valid records as 'edgeyolo bench' writes them.


def test_nothing_fits_names_the_fastest_and_the_closest():
    # The INT8 is fastest but loses 0.10 mAP vs FP32 (limit 0.02); the FP32 misses the 30 ms budget by 10 ms.
    records = [record("n", 320, "onnx", "int8", 10, 0.20), record("n", 320, "onnx", "fp32", 40, 0.30),
               record("s", 320, "onnx", "fp32", 80, 0.40)]  # fmt: skip
    sel = select(records, budget_ms=30)
    assert sel.selected is None
    assert sel.fastest.name == "n-320-onnx-int8" and sel.closest.name == "n-320-onnx-fp32"
    assert "No candidate meets" in sel.reason
    assert (
        "fastest is n-320-onnx-int8" in sel.reason and "closest to fitting is n-320-onnx-fp32" in sel.reason
    )
    assert "10.0 ms over the budget" in sel.reason and sel.reason.count(".") >= 1
    by = {c.name: c for c in sel.candidates}
    assert by["n-320-onnx-int8"].misses == ["loses 0.100 mAP50-95 vs FP32 (limit 0.02)"]
    assert sel.to_dict()["closest"] == "n-320-onnx-fp32"


def test_when_the_fastest_is_also_the_closest_it_is_named_once():
    sel = select([record("n", 320, "onnx", "fp32", 80, 0.3), record("n", 480, "onnx", "fp32", 120, 0.35)])
    assert sel.closest is sel.fastest
    assert "the fastest, and the closest to fitting, is n-320-onnx-fp32" in sel.reason


def test_fps_is_a_budget_of_1000_over_fps():
    records = [record("n", 320, "onnx", "fp32", 20, 0.30), record("n", 480, "onnx", "fp32", 45, 0.36)]
    sel = select(records, fps=25)  # 40 ms
    assert sel.budget_ms == pytest.approx(40.0) and sel.budget_source == "fps"
    assert sel.selected.name == "n-320-onnx-fp32" and "25 FPS" in sel.reason
    assert select(records, fps=20).selected.name == "n-480-onnx-fp32"  # 50 ms
    assert select(records).budget_source == "profile"


def test_min_map_excludes_candidates_below_it():
    records = [record("n", 320, "onnx", "fp32", 20, 0.30), record("s", 320, "onnx", "fp32", 45, 0.36)]
    assert select(records, budget_ms=50).selected.name == "s-320-onnx-fp32"
    sel = select(records, budget_ms=30, min_map=0.33)
    assert sel.selected is None and "mAP50-95 >= 0.33" in sel.reason
    by = {c.name: c for c in sel.candidates}
    assert not by["n-320-onnx-fp32"].eligible and "below the minimum" in by["n-320-onnx-fp32"].note
    # the closest: 0.03 short of 0.33 (9%) beats 15 ms over 30 (50%)
    assert sel.closest.name == "n-320-onnx-fp32"
    assert select(records, budget_ms=50, min_map=0.36).selected.name == "s-320-onnx-fp32"


def test_int8_beyond_the_drop_limit_even_when_most_accurate_in_budget():
    records = [record("s", 480, "onnx", "fp32", 90, 0.45), record("s", 480, "onnx", "int8", 40, 0.42),
               record("n", 480, "onnx", "fp32", 45, 0.36)]  # fmt: skip
    sel = select(records, budget_ms=50)
    assert sel.selected.name == "n-480-onnx-fp32"
    assert select(records, budget_ms=50, max_map_drop=0.05).selected.name == "s-480-onnx-int8"


def test_error_records_are_ignored_but_listed():
    records = sweep()
    bad = record("yolo26n", 320, "onnx", "fp16", status="error", message="TensorRT: out of memory")
    sel = select([*records, bad], budget_ms=31)
    assert all(c.artifact != bad["candidate"]["artifact"] for c in sel.candidates)
    assert [e["message"] for e in sel.to_dict()["errors"]] == [
        "calibration failed",
        "TensorRT: out of memory",
    ]
    assert sel.selected.name == select(records, budget_ms=31).selected.name
    only_errors = select([bad])
    assert only_errors.selected is None and "No successful benchmark records" in only_errors.reason


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"budget_ms": 30, "fps": 30}, "give one"),
        ({"fps": 0}, "must be > 0"),
        ({"budget_ms": -5}, "must be > 0"),
        ({"min_map": 30}, "did you mean 0.3"),
        ({"max_map_drop": -0.1}, "between 0 and 1"),
        ({"metric": "p75"}, "unknown metric"),
    ],
)
def test_bad_options_are_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        select(sweep(), **kwargs)


def test_selection_dict_has_the_rule_and_budget_form():
    d = select(sweep(), fps=40, min_map=0.2).to_dict()
    assert d["budget_ms"] == pytest.approx(25.0) and d["fps"] == 40 and d["min_map"] == 0.2
    assert "Pareto front" in d["rule"] and "25 ms (40 FPS)" in d["rule"] and "mAP50-95 >= 0.2" in d["rule"]
    json.dumps(d)  # serializable as is


def test_select_cli_json_and_text(runner, tmp_path):
    f = write_jsonl(tmp_path / "r.jsonl", sweep())
    r = runner.invoke(main, ["select", str(f), "--budget-ms", "31", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == select(read_records(f), budget_ms=31).to_dict()
    r = runner.invoke(main, ["select", str(f), "--fps", "40", "--min-map", "0.3"])
    assert r.exit_code == 0, r.output
    assert "* " in r.output and "ignored 1 error record(s)" in r.output and "calibration failed" in r.output
    none = runner.invoke(main, ["select", str(f), "--budget-ms", "1", "--json"])
    assert none.exit_code == 1 and json.loads(none.output)["closest"] == "yolo26n-320-onnx-int8"


@pytest.mark.parametrize(
    "content, args, code, match",
    [
        (None, ["--budget-ms", "30", "--fps", "30"], 2, "not both"),
        ("{not json\n", [], 1, "r.jsonl:1: not valid JSON"),
        ("errors", [], 1, "No successful benchmark records to choose from (1 error record)"),
        (None, ["--metric", "p75"], 2, "p75"),
    ],
)
def test_select_cli_errors(runner, tmp_path, content, args, code, match):
    f = tmp_path / "r.jsonl"
    if content == "errors":
        write_jsonl(f, [record(status="error")])
    elif content is None:
        write_jsonl(f, sweep())
    else:
        f.write_text(content)
    r = runner.invoke(main, ["select", str(f), *args])
    assert r.exit_code == code and match in r.output, r.output
    assert "Traceback" not in r.output


def test_records_from_several_devices_need_a_device():
    # One results file from 'bench --host pi --host orin': the same artifacts measured on two machines.
    pi, orin = sweep(dev=device("rpi5", "pi")), sweep(dev=device("jetson-orin-nano", "orin"), scale=0.4)
    with pytest.raises(ConfigError, match=r"2 devices \(rpi5 @ pi; jetson-orin-nano @ orin\).*--device"):
        select([*pi, *orin])
    assert select([*pi, *orin], device="orin", budget_ms=20).to_dict() == select(orin, budget_ms=20).to_dict()
    assert select([*pi, *orin], device="rpi5 @ pi").to_dict() == select(pi).to_dict()
    assert select([*pi, *orin], device="orin").device == "jetson-orin-nano @ orin"
    with pytest.raises(ConfigError, match="'x86' matches no device"):
        select([*pi, *orin], device="x86")
    twin = sweep(dev=device("rpi5", "pi2"))
    with pytest.raises(ConfigError, match="matches 2 devices"):
        select([*pi, *twin], device="rpi5")


def test_select_cli_device(runner, tmp_path):
    f = write_jsonl(
        tmp_path / "r.jsonl", [*sweep(dev=device("rpi5", "pi")), *sweep(dev=device("x86-cpu", "box"))]
    )
    r = runner.invoke(main, ["select", str(f)])
    assert r.exit_code == 1 and "--device" in r.output and "Traceback" not in r.output
    r = runner.invoke(main, ["select", str(f), "--device", "pi", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["selected"]


def test_hand_built_records_follow_the_record_schema():
    """The records these tests select from are shaped like the ones bench writes (record.schema.json)."""
    from edgeyolo.bench.store import schema_errors

    recs = [*sweep(), record(status="error"), record(power_w=4.2), record(dev=device("rpi5", "pi")),
            record(shape=(192, 320)), record(prec="int8", shape=(192, 320), shape_note="camera 16:9", train=480)]  # fmt: skip
    assert {i: schema_errors(r) for i, r in enumerate(recs) if schema_errors(r)} == {}


def test_results_file_cut_off_mid_append_keeps_every_whole_record(tmp_path):
    """A crash mid-append leaves a torn last line: readers skip it, the next append removes it."""
    from edgeyolo.bench.store import append_record

    f = tmp_path / "r.jsonl"
    append_record(f, record(p90=10.0))
    with open(f, "a") as fh:
        fh.write('{"schema": "edgeyolo.bench/1", "status": "ok", "cand')  # the kill came here
    assert len(read_records(f)) == 1
    append_record(f, record(p90=12.0, prec="int8"))
    got = read_records(f)
    assert [r["latency_ms"]["end_to_end"]["p90"] for r in got] == [10.0, 12.0]
    assert f.read_text().count("\n") == 2


@pytest.mark.parametrize(
    "drop, match",
    [
        (("latency_ms", "end_to_end", "p90"), "ok record without 'latency_ms.end_to_end.p90'"),
        (("candidate", "model"), "ok record without 'candidate.model'"),
        (("status",), "without a 'status' of ok or error"),
    ],
)
def test_records_missing_what_select_reads_are_refused(tmp_path, drop, match):
    rec = record()
    node = rec
    for key in drop[:-1]:
        node = node[key]
    del node[drop[-1]]
    f = tmp_path / "r.jsonl"
    write_jsonl(f, [record(p90=9.0), rec])
    with pytest.raises(ResultsError, match=rf"r.jsonl:2: .*{re.escape(match)}"):
        read_records(f)


def test_int8_without_fp32_twin_says_its_drop_is_unchecked():
    sel = select(
        [
            record(prec="int8", imgsz=320, p90=10.0, map_=0.3),
            record(prec="fp32", imgsz=480, p90=40.0, map_=0.2),
        ]
    )
    assert sel.selected.precision == "int8"
    assert "no FP32 twin was measured, so its mAP drop vs FP32 is unchecked" in sel.reason
    with_twin = select([record(prec="int8", p90=10.0, map_=0.3), record(prec="fp32", p90=20.0, map_=0.3)])
    assert "unchecked" not in with_twin.reason


# ---------------------------------------------------------------- intervals: paired bootstrap over val images
@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """Records with per-image sidecars: the same 40 val images scored for each candidate (as bench does)."""
    from _records import detections, scene, with_per_image

    folder = tmp_path_factory.mktemp("per-image")
    items, sizes = scene(40)

    def make(model, fmt, prec, p90, shape=None, shape_note=None, **dets):
        rec = record(model, 320, fmt, prec, p90, 0.0, budget=50.0, shape=shape, shape_note=shape_note)
        return with_per_image(rec, folder, items, sizes, detections(items, sizes, jitter=2.0, **dets))

    return make


def test_a_candidate_worse_on_some_images_and_better_on_none_is_not_tied(measured):
    """B misses boxes on 2 of the 40 images and matches A everywhere else: the resamples that leave both images
    out (about 13% of them) show no difference, so the paired interval of B - A ends exactly at 0. B is never
    better: not a tie, however faster it is (the old rule, 0 within the interval boundary included, tied it).
    C misses half the boxes everywhere: clearly worse. A wins, and the reason says why B is no tie."""
    from edgeyolo.select import tied

    a = measured("n", "onnx", "fp32", 30.0)
    b = measured("n", "openvino", "fp32", 20.0, miss_images=2, miss_share=0.5)
    c = measured("s", "onnx", "fp32", 10.0, miss_share=0.5)
    assert a["accuracy"]["map50_95"] - b["accuracy"]["map50_95"] > 0.005
    sel = select([a, b, c])
    by = {x.name: x for x in sel.candidates}
    assert sel.selected.name == "n-320-onnx-fp32", sel.reason
    b_lo, b_hi = by["n-320-openvino-fp32"].rival_ci  # B minus A: below 0 or at it, never above
    assert b_lo < 0 and b_hi == 0.0
    assert not tied(by["n-320-onnx-fp32"], by["n-320-openvino-fp32"])
    assert by["n-320-openvino-fp32"].rival_tied is False and by["n-320-onnx-fp32"].rival_tied is False
    assert "scores +0.0" in sel.reason and "reaches 0 only at its end: not a tie" in sel.reason
    assert "a difference the val split resolves" in sel.reason
    lo, hi = by["s-320-onnx-fp32"].rival_ci  # C minus the selected A: clearly below
    assert hi < 0
    assert sel.bootstrap == {"resamples": 1000, "seed": 0, "confidence": 0.95, "images": 40}
    assert "paired 95% bootstrap intervals over the 40 val images" in sel.rule
    assert (
        "0 lies strictly inside the interval" in sel.rule
        and "within ±0.001 mAP50-95 (map_tie_margin)" in sel.rule
    )
    assert not any("paired" in n for n in sel.notes)  # every record has its per-image data
    # a margin wider than B's whole interval makes its loss a tie: the faster B wins, and the reason says why
    wide = select([a, b, c], map_tie_margin=round(-b_lo + 0.001, 4))
    assert wide.selected.name == "n-320-openvino-fp32" and "is within the tie margin of ±0.0" in wide.reason
    assert f"within ±{round(-b_lo + 0.001, 4):g} mAP50-95 (map_tie_margin)" in wide.rule
    # without per-image data (older records) the point difference is read the same way: A wins on mAP
    old = [json.loads(json.dumps(r)) for r in (a, b, c)]
    for r in old:
        del r["accuracy"]["per_image"], r["accuracy"]["ci"]
    fallback = select(old)
    assert fallback.selected.name == "n-320-onnx-fp32" and "older edgeyolo" in " ".join(fallback.notes)
    assert f"within {0.001:g} counts as a tie" in fallback.rule


def test_identical_detections_are_tied_at_any_margin(measured):
    """Two runtimes giving the very same detections: the paired interval is exactly 0, a tie even with a margin
    of 0, and the faster one wins."""
    a = measured("n", "onnx", "fp32", 30.0)
    b = measured("n", "openvino", "fp32", 20.0)
    for margin in (None, 0.0):
        sel = select([a, b], map_tie_margin=margin)
        assert sel.selected.name == "n-320-openvino-fp32", sel.reason
        assert sel.selected.rival_ci == (0.0, 0.0)
        assert "is tied on accuracy" in sel.reason and "is within the tie margin of ±" in sel.reason


def test_noise_around_a_zero_difference_is_tied(measured):
    """B's detections are drawn like A's with other noise (another seed: a true difference of 0): better on some
    images, worse on others, 0 strictly inside the paired interval, so the faster B wins."""
    a = measured("n", "onnx", "fp32", 30.0)
    b = measured("n", "openvino", "fp32", 20.0, seed=5)
    sel = select([a, b], map_tie_margin=0.0)
    lo, hi = sel.selected.rival_ci
    assert sel.selected.name == "n-320-openvino-fp32" and lo < 0 < hi, sel.reason
    assert sel.selected.rival_tied is True
    assert b["accuracy"]["map50_95"] != a["accuracy"]["map50_95"]
    assert "is tied on accuracy" in sel.reason and "contains 0" in sel.reason


def test_the_tie_rule_reads_an_interval_one_way():
    """ordering(): 0 strictly inside or all of it within the margin is a tie; an interval that only touches 0 at
    one end orders the pair; a point difference (no per-image data) is an interval of width 0."""
    from edgeyolo.select.paired import ordering

    assert (
        ordering((-0.01, 0.02)) == 0 and ordering((0.0, 0.0), 0.0) == 0 and ordering((-0.0004, 0.0009)) == 0
    )
    assert ordering((0.0, 0.03)) == 1 and ordering((-0.03, 0.0)) == -1  # never better, worse on some: no tie
    assert ordering((0.0, 0.0009)) == 0 and ordering((0.0, 0.0009), 0.0) == 1  # within the margin, or not
    assert ordering((0.0011, 0.0011)) == 1 and ordering((-0.001, -0.001)) == 0  # point differences


def test_the_tie_margin_comes_from_the_records_or_the_caller():
    """A profile's map_tie_margin (as bench writes it into the records' settings) sets the tie; select's own
    argument overrides it; out of range is a ConfigError."""
    recs = [record(fmt="onnx", p90=20.0, map_=0.300), record(fmt="openvino", p90=10.0, map_=0.297)]
    assert select(recs).selected.format == "onnx"  # 0.003 apart: more than the default 0.001
    for r in recs:
        r["settings"]["map_tie_margin"] = 0.005
    sel = select(recs)
    assert sel.selected.format == "openvino" and sel.map_tie_margin == 0.005
    assert "within the tie margin of 0.005" in sel.reason and sel.to_dict()["map_tie_margin"] == 0.005
    assert select(recs, map_tie_margin=0.002).selected.format == "onnx"
    with pytest.raises(ConfigError, match="map_tie_margin must be between 0 and 1"):
        select(recs, map_tie_margin=-0.1)


def test_int8_passes_the_drop_limit_only_when_its_interval_does(measured):
    fp32 = measured("n", "onnx", "fp32", 30.0)
    int8 = measured("n", "onnx", "int8", 15.0, miss_images=4, miss_share=0.5)
    probe = {c.name: c for c in select([fp32, int8], max_map_drop=1.0).candidates}["n-320-onnx-int8"]
    drop, (lo, hi) = probe.map_drop, probe.drop_ci
    assert 0 < lo <= drop < hi
    limit = round((drop + hi) / 2, 4)  # the point drop is within it, the interval's upper end is not
    sel = select([fp32, int8], max_map_drop=limit)
    assert sel.selected.name == "n-320-onnx-fp32"
    note = {c.name: c for c in sel.candidates}["n-320-onnx-int8"].note
    assert "too small to tell" in note and "40 images" in note
    wide = {c.name: c for c in select([fp32, int8], max_map_drop=hi + 0.001).candidates}["n-320-onnx-int8"]
    assert wide.eligible and "too small" not in wide.note  # its interval is within a wider limit
    # (and it still loses to FP32, which scores higher by a difference the val split resolves)


def test_latency_within_the_round_noise_is_reported_as_such(measured):
    """Two accuracy-tied candidates whose per-pass p90s cross: the faster median is named, and the reason says
    the data cannot separate them."""
    a = measured("n", "onnx", "fp32", 20.0)
    b = measured("n", "openvino", "fp32", 19.5)
    for rec, p90s in ((a, (20.0, 19.0, 21.0)), (b, (19.5, 19.8, 19.2))):
        rec["rounds"] = [{"round": i + 1, "pass": f"p{i}", "position": 1, "of": 2, "started": "x",
                          "end_to_end": {"n": 100, "p90": v}} for i, v in enumerate(p90s)]  # fmt: skip
        rec["latency_ci_ms"] = {"method": "range over rounds", "end_to_end": {"p90": [min(p90s), max(p90s)]}}
    sel = select([a, b])
    assert sel.selected.name == "n-320-openvino-fp32"
    assert "within the measurement noise" in sel.reason and "cannot separate" in sel.reason
    assert {c.name: c.latency_vs_rival for c in sel.candidates} == {
        "n-320-onnx-fp32": "within noise",
        "n-320-openvino-fp32": "within noise",
    }
    # rounds that do not record their pass's order ran every pass in one order (bench before issue 23): said so
    assert any("every pass in the same order" in n for n in sel.notes)
    for rec in (a, b):
        rec["rounds"] = [dict(r, order=("forward", "reversed")[i % 2]) for i, r in enumerate(rec["rounds"])]
    assert not any("same order" in n for n in select([a, b]).notes)
    b["rounds"] = [dict(r, end_to_end={"n": 100, "p90": 15.0}) for r in b["rounds"]]  # faster in every pass
    assert {c.name: c.latency_vs_rival for c in select([a, b]).candidates}["n-320-openvino-fp32"] == "faster"


def test_cross_size_candidates_carry_both_sizes_and_twin_within_their_training():
    recs = [record("n", 320, "onnx", "fp32", 20.0, 0.30), record("n", 320, "onnx", "int8", 12.0, 0.25)]
    from_480 = [record("n", 320, "onnx", "fp32", 21.0, 0.33, root="/art/t480"),
                record("n", 320, "onnx", "int8", 12.5, 0.3295, root="/art/t480")]  # fmt: skip
    for r in from_480:
        r["candidate"]["train_imgsz"] = 480
    recs[0]["candidate"]["train_imgsz"] = recs[1]["candidate"]["train_imgsz"] = 320
    sel = select([*recs, *from_480])
    by = {c.name: c for c in sel.candidates}
    assert set(by) == {"n-320-onnx-fp32", "n-320-onnx-int8", "n-480to320-onnx-fp32", "n-480to320-onnx-int8"}
    assert by["n-480to320-onnx-int8"].twin == "/art/t480/n-320-onnx-fp32"  # its own training's FP32
    assert by["n-480to320-onnx-int8"].map_drop == pytest.approx(0.0005)
    assert sel.selected.name == "n-480to320-onnx-int8"


def test_old_records_load_and_select_as_before_with_a_note(tmp_path):
    """A results file written before rounds and intervals: it loads, selects by the old rule (fixed tie of 0.001,
    point drop) and says so."""
    f = write_jsonl(tmp_path / "old.jsonl", sweep())
    records = read_records(f)
    sel = select(records, budget_ms=31)
    assert sel.selected.name == "yolo26s-480-onnx-int8" and sel.bootstrap is None
    assert any("before interleaved rounds and intervals" in n for n in sel.notes)
    assert "within 0.001 counts as a tie" in sel.rule
    assert all(c.map50_95_ci is None and c.latency_ci is None for c in sel.candidates)


# ---------------------------------------------------------------- camera-shaped inputs
CAM = (192, 320)  # 320x192 (WxH): a 16:9 camera at 320
NOTE = ("profile camera 16:9 but the val images are 4:3: this input's accuracy is measured on images that are not "
        "what the camera sends; add val images from that camera")  # fmt: skip


def test_candidate_names_carry_the_input_shape():
    from edgeyolo.select import candidate_name, record_shape
    from edgeyolo.shapes import Shape

    assert candidate_name(record(shape=CAM)) == "yolo26n-320x192-onnx-fp32"
    assert candidate_name(record(shape=CAM, train=480)) == "yolo26n-480to320x192-onnx-fp32"
    # trained at its long side: no "320to"
    assert candidate_name(record(shape=CAM, train=320)) == "yolo26n-320x192-onnx-fp32"
    assert candidate_name(record(shape=(320, 192), prec="int8")) == "yolo26n-192x320-onnx-int8"  # portrait
    assert candidate_name(record(shape=(480, 480), train=640)) == "yolo26n-640to480-onnx-fp32"
    # square records keep their names, with or without a stored shape
    assert (
        candidate_name(record(imgsz=320))
        == candidate_name(record(shape=(320, 320)))
        == "yolo26n-320-onnx-fp32"
    )
    assert candidate_name(record(imgsz=320, train=480)) == "yolo26n-480to320-onnx-fp32"
    assert record_shape(record(imgsz=480)) == Shape(480, 480) and record_shape(record(shape=CAM)) == Shape(
        *CAM
    )
    c = {x.name: x for x in select([record(shape=CAM), record()]).candidates}
    cam, sq = c["yolo26n-320x192-onnx-fp32"], c["yolo26n-320-onnx-fp32"]
    assert (cam.hw, cam.shape_label, cam.is_square, cam.imgsz) == ((192, 320), "320x192", False, 320)
    assert (sq.shape, sq.hw, sq.shape_label, sq.is_square) == (None, (320, 320), "320", True)
    assert cam.to_dict()["shape"] == [192, 320] and sq.to_dict()["shape"] == [320, 320]


def test_fp32_twin_has_the_same_shape_never_the_square_one():
    square_fp32 = record(p90=30.0, map_=0.30)
    cam_int8 = record(prec="int8", shape=CAM, p90=9.0, map_=0.25)
    sq_int8 = record(prec="int8", p90=15.0, map_=0.29)
    by = {c.name: c for c in select([square_fp32, cam_int8, sq_int8]).candidates}
    # only a square FP32 was measured: the camera-shaped INT8 has no twin (not the square 320, same imgsz)
    assert by["yolo26n-320x192-onnx-int8"].twin is None and by["yolo26n-320x192-onnx-int8"].map_drop is None
    assert "no FP32 twin measured" in by["yolo26n-320x192-onnx-int8"].note
    assert by["yolo26n-320-onnx-int8"].twin == square_fp32["candidate"]["artifact"]
    cam_fp32 = record(shape=CAM, p90=17.0, map_=0.26)
    by = {c.name: c for c in select([square_fp32, cam_int8, sq_int8, cam_fp32]).candidates}
    assert (
        by["yolo26n-320x192-onnx-int8"].twin
        == cam_fp32["candidate"]["artifact"]
        == "/art/yolo26n-320x192-onnx-fp32"
    )
    assert by["yolo26n-320x192-onnx-int8"].map_drop == pytest.approx(0.01)
    # the square INT8's twin is the square FP32
    assert by["yolo26n-320-onnx-int8"].twin == square_fp32["candidate"]["artifact"]


def test_square_twins_pair_each_camera_shape_with_its_own_square():
    from edgeyolo.select import square_twins

    recs = [record(p90=16.0), record(shape=CAM, p90=8.0), record(prec="int8", shape=CAM, p90=5.0),
            record(fmt="openvino", p90=14.0), record(shape=CAM, train=480, p90=8.5, root="/t480"),
            record(imgsz=480, p90=30.0), record(shape=(288, 480), p90=18.0)]  # fmt: skip
    pairs = [(a.name, b.name) for a, b in square_twins(select(recs))]
    # the INT8 and the one trained at 480 have no square twin; the openvino square is not the onnx one's twin
    assert pairs == [("yolo26n-320x192-onnx-fp32", "yolo26n-320-onnx-fp32"),
                     ("yolo26n-480x288-onnx-fp32", "yolo26n-480-onnx-fp32")]  # fmt: skip


def test_reason_says_the_camera_shape_won_and_by_how_much(measured):
    """A 16:9 input (320x192) of the same INT8 model: 0.53x the p90 of its square twin, its detections as good
    with other noise (better on some images, worse on others): the paired interval has 0 strictly inside, so it is
    tied with the square and, faster, selected."""
    sq32 = measured("yolo26n", "onnx", "fp32", 30.0)
    sq8 = measured("yolo26n", "onnx", "int8", 15.9)
    cam32 = measured("yolo26n", "onnx", "fp32", 16.5, shape=CAM, seed=5)
    cam8 = measured("yolo26n", "onnx", "int8", 8.4, shape=CAM, seed=5)
    sel = select([sq32, sq8, cam32, cam8])
    assert sel.selected.name == "yolo26n-320x192-onnx-int8", sel.reason
    assert sel.selected.twin == cam32["candidate"]["artifact"] and sel.selected.map_drop == 0
    from edgeyolo.select import paired_interval, shape_comparisons

    lo, hi = paired_interval(sel.selected, sel.by_artifact(sq8["candidate"]["artifact"]))
    diff = cam8["accuracy"]["map50_95"] - sq8["accuracy"]["map50_95"]
    assert lo < 0 < hi and diff < 0
    sentence = (f"The camera shape won: 320x192 runs at 0.53x the p90 of its square twin yolo26n-320-onnx-int8 "
                f"(8.4 vs 15.9 ms), with a mAP50-95 difference of {diff:+.3f} (paired 95% CI {lo:+.3f} to "
                f"{hi:+.3f}): no accuracy lost.")  # fmt: skip
    assert sel.reason.endswith(sentence), sel.reason
    cmps = {c.camera.name: c for c in shape_comparisons(sel)}
    assert set(cmps) == {"yolo26n-320x192-onnx-fp32", "yolo26n-320x192-onnx-int8"}
    assert cmps["yolo26n-320x192-onnx-int8"].latency_ratio == pytest.approx(8.4 / 15.9, abs=1e-4)
    assert cmps["yolo26n-320x192-onnx-int8"].map_diff_ci == (lo, hi)
    # a camera shape that loses boxes everywhere loses accuracy: the square is selected, no camera sentence
    bad = measured("yolo26n", "onnx", "int8", 8.4, shape=CAM, miss_share=0.5)
    sel = select([sq32, sq8, cam32, bad])
    assert sel.selected.name == "yolo26n-320-onnx-int8" and "camera shape" not in sel.reason
    cmp = {c.camera.name: c for c in shape_comparisons(sel)}["yolo26n-320x192-onnx-int8"]
    assert cmp.verdict == "loses accuracy" and cmp.map_diff_ci[1] < 0
    assert cmp.text.startswith("0.53x the latency, mAP difference -0.") and cmp.text.endswith(
        ": loses accuracy"
    )


def test_camera_sentence_without_per_image_data_gives_the_point_difference():
    sel = select(
        [record(prec="int8", p90=16.0, map_=0.300), record(prec="int8", shape=CAM, p90=8.0, map_=0.2995)]
    )
    assert sel.selected.name == "yolo26n-320x192-onnx-int8"
    assert sel.reason.endswith("The camera shape won: 320x192 runs at 0.50x the p90 of its square twin "
                               "yolo26n-320-onnx-int8 (8.0 vs 16.0 ms), with a mAP50-95 difference of -0.001 (point "
                               "estimate, no per-image data): no accuracy lost."), sel.reason  # fmt: skip
    # no square twin measured: no sentence
    alone = select([record(prec="int8", shape=CAM, p90=8.0, map_=0.3)])
    assert "camera shape" not in alone.reason


def test_shape_notes_are_never_silent():
    recs = [record(p90=16.0), record(shape=CAM, p90=8.0, shape_note=NOTE),
            record(prec="int8", shape=CAM, p90=5.0, shape_note=NOTE)]  # fmt: skip
    sel = select(recs, budget_ms=50)
    assert f"yolo26n-320x192-onnx-fp32, yolo26n-320x192-onnx-int8: {NOTE}" in sel.notes
    assert {c.name: c.shape_note for c in sel.candidates}["yolo26n-320x192-onnx-int8"] == NOTE
    assert sel.to_dict()["candidates"][1]["shape_note"] == NOTE
    sq = select([record(p90=16.0), record(shape=CAM, p90=8.0, shape_note=NOTE, map_=0.31)])
    assert sq.selected.name == "yolo26n-320x192-onnx-fp32"
    assert "not what the camera sends (see the note)." in sq.reason


def test_old_records_without_a_shape_select_exactly_as_square_ones():
    """Records from before shapes (no candidate.shape) and the same records with an explicit square shape: the
    same names, the same choice, the same reason and notes."""
    old = sweep()
    new = json.loads(json.dumps(old))
    for r in new:
        if r["status"] == "ok":
            r["candidate"]["shape"] = [r["candidate"]["imgsz"]] * 2
    a, b = select(old, budget_ms=31), select(new, budget_ms=31)
    assert a.selected.name == "yolo26s-480-onnx-int8"
    assert a.to_dict() == b.to_dict()
    assert all(c["shape"] == [c["imgsz"]] * 2 and c["shape_note"] is None for c in a.to_dict()["candidates"])
    assert "camera" not in a.reason


# ---------------------------------------------------------------- one val set, standing errors
def test_a_camera_shape_worse_on_some_images_and_better_on_none_loses_accuracy(measured):
    """The camera comparison reads the tie rule too: missing boxes on 2 of 40 images, never better, is a loss."""
    from edgeyolo.select import shape_comparisons

    sq8 = measured("yolo26n", "onnx", "int8", 15.9)
    cam8 = measured("yolo26n", "onnx", "int8", 8.4, shape=CAM, miss_images=2, miss_share=0.5)
    cmp = shape_comparisons(select([sq8, cam8]))[0]
    assert cmp.map_diff_ci[0] < 0 and cmp.map_diff_ci[1] == 0.0 and cmp.verdict == "loses accuracy"


def test_accuracies_from_other_val_images_are_never_compared():
    """`bench --resume --accuracy-images 50` after a full-val bench: the new candidates' mAP comes from 50 images,
    the others' from 500. Most were measured on 500: only those are compared; the 50-image one (the best mAP,
    the fastest) is left out, flagged, and the reason, the notes and the rule say so."""
    full = [record("n", 320, "onnx", "fp32", 20.0, 0.30), record("n", 320, "onnx", "int8", 12.0, 0.295),
            record("s", 320, "onnx", "fp32", 30.0, 0.35)]  # fmt: skip
    for r in full:
        r["accuracy"]["images"] = 500
    few = record("n", 320, "openvino", "fp32", 8.0, 0.40)  # images: 50
    sel = select([*full, few])
    by = {c.name: c for c in sel.candidates}
    assert sel.selected.name == "s-320-onnx-fp32", sel.reason
    assert by["n-320-openvino-fp32"].other_val_set and not by["n-320-openvino-fp32"].eligible
    assert not by["n-320-openvino-fp32"].on_front and by["n-320-openvino-fp32"].rival is None
    assert "other val images (50 images of /data/d.yaml (val))" in by["n-320-openvino-fp32"].note
    assert sel.val_set == "500 images of /data/d.yaml (val)"
    sentence = ("1 candidate was measured on other val images than the 3 compared (500 images of /data/d.yaml (val)): "
                "n-320-openvino-fp32 on 50 images of /data/d.yaml (val).")  # fmt: skip
    assert sentence in sel.reason and sentence in " ".join(sel.notes)
    assert "Only accuracies measured on the same val images (500 images of /data/d.yaml (val))" in sel.rule
    d = sel.to_dict()
    assert (
        d["val_set"] == sel.val_set
        and {c["name"]: c["other_val_set"] for c in d["candidates"]}["n-320-openvino-fp32"]
    )
    # an FP32 twin measured on other images is no twin: the drop is unknown, not computed across val sets
    full[0]["accuracy"]["images"] = 50  # the FP32 twin of n-320-onnx-int8, now on 50 images
    int8 = select(full).by_artifact("/art/n-320-onnx-int8")
    assert int8.twin is None and int8.map_drop is None
    assert "no FP32 twin measured on the same val images (only on other ones)" in int8.note


def test_the_same_count_of_other_images_is_another_val_set():
    """Same dataset and count, another image list (the records' per-image digests differ): not compared either;
    the labels tell the two lists apart. Records that do not know their list (older) pair by count."""
    recs = [record("n", 320, "onnx", "fp32", 20.0, 0.30), record("n", 320, "openvino", "fp32", 10.0, 0.31),
            record("s", 320, "onnx", "fp32", 25.0, 0.36)]  # fmt: skip
    recs[0]["accuracy"]["per_image"] = {"image_digest": "aaaa"}
    recs[1]["accuracy"]["per_image"] = {"image_digest": "aaaa"}
    recs[2]["accuracy"]["per_image"] = {"image_digest": "bbbb"}
    sel = select(recs)
    assert sel.selected.name == "n-320-openvino-fp32"
    assert sel.by_artifact("/art/s-320-onnx-fp32").other_val_set
    assert sel.val_set == "50 images of /data/d.yaml (val), image list aaaa"
    assert "s-320-onnx-fp32 on 50 images of /data/d.yaml (val), image list bbbb" in sel.reason
    del recs[2]["accuracy"]["per_image"]  # no list known: the same 50 images of the same dataset
    sel = select(recs)
    assert sel.selected.name == "s-320-onnx-fp32" and not any(c.other_val_set for c in sel.candidates)
    assert "other val images" not in sel.reason


def test_an_error_superseded_by_a_later_ok_record_is_dropped():
    """Errors are listed only while they are the latest word on a candidate: one measured ok later (--resume)
    is gone; a later error replaces an earlier one; an error after an ok record stays (the ok one is used)."""
    a_err = record("n", 320, "onnx", "fp32", status="error", message="device gone")
    a_ok = record("n", 320, "onnx", "fp32", 20.0, 0.30)
    b_err1 = record("n", 320, "onnx", "int8", status="error", message="calibration failed")
    b_err2 = record("n", 320, "onnx", "int8", status="error", message="calibration failed again")
    c_ok = record("s", 320, "onnx", "fp32", 30.0, 0.35)
    c_err = record("s", 320, "onnx", "fp32", status="error", message="connection lost (--force)")
    sel = select([a_err, b_err1, c_ok, a_ok, b_err2, c_err])
    assert [e["message"] for e in sel.to_dict()["errors"]] == [
        "calibration failed again",
        "connection lost (--force)",
    ]
    assert sel.selected.name == "s-320-onnx-fp32"
    assert [e["message"] for e in select([a_err]).errors] == ["device gone"]
