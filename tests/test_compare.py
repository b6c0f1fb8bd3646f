"""compare(): two synthetic devices side by side, their selections, and the page in a real browser."""

from __future__ import annotations

import json
import re

import pytest
from _records import device, record, sweep, write_jsonl
from test_report import CHROMIUM, console_errors, run_chromium

from edgeyolo.cli import main
from edgeyolo.errors import ConfigError, ResultsError
from edgeyolo.report import Run, compare, load_runs
from edgeyolo.select import select


@pytest.fixture
def two_devices(tmp_path):
    """A Raspberry Pi sweep and a Jetson sweep 2.5x faster, 0.002 mAP lower, missing two candidates."""
    pi = sweep(dev=device("rpi5", "pi<5>&co"), root="/pi")
    jetson = [r for r in sweep(dev=device("jetson-orin-nano", "orin"), scale=0.4, map_shift=-0.002, root="/orin")
              if "yolo26s-480-onnx-int8" not in r["candidate"]["artifact"]][:-2]  # fmt: skip
    return write_jsonl(tmp_path / "pi.jsonl", pi), write_jsonl(tmp_path / "jetson.jsonl", jetson)


def test_compare_two_devices(two_devices, tmp_path):
    runs = load_runs(two_devices)
    assert [r.label for r in runs] == ["rpi5 @ pi<5>&co", "jetson-orin-nano @ orin"]
    res = compare(runs, tmp_path / "cmp", budget_ms=20)
    assert set(res.files) == {"json", "markdown", "html"} and all(f.is_file() for f in res.files.values())
    for run in runs:  # each run's selection is select() on its own records
        assert res.selections[run.label].to_dict() == select(run.records, budget_ms=20).to_dict()
    rows = {row["name"]: row for row in res.rows}
    assert len(rows) == 12  # the union of both runs' candidates
    n320 = rows["yolo26n-320-onnx-fp32"]["runs"]
    assert n320["rpi5 @ pi<5>&co"]["latency_ratio"] == 1.0
    assert n320["jetson-orin-nano @ orin"]["latency_ratio"] == pytest.approx(0.4)
    assert n320["jetson-orin-nano @ orin"]["map_delta"] == pytest.approx(-0.002)
    assert rows["yolo26s-480-onnx-int8"]["runs"]["jetson-orin-nano @ orin"] is None
    assert rows["yolo26s-480-onnx-int8"]["fastest_on"] == "rpi5 @ pi<5>&co"
    # 20 ms: the Pi fits yolo26s-320-openvino-fp32 (20.0 ms); the Jetson fits the same at 8 ms, and nothing better
    assert rows["yolo26s-320-openvino-fp32"]["selected_on"] == ["rpi5 @ pi<5>&co", "jetson-orin-nano @ orin"]
    assert res.summary == "yolo26s-320-openvino-fp32 is selected on every run."

    payload = json.loads(res.files["json"].read_text())
    assert payload["reference"] == "rpi5 @ pi<5>&co" and len(payload["runs"]) == 2
    assert payload["candidates"] == json.loads(json.dumps(res.rows))
    md = res.files["markdown"].read_text()
    assert md.startswith("# edgeyolo compare") and "0.40x" in md and "## Best candidate per run" in md
    page = res.files["html"].read_text()
    assert "pi<5>&co" not in page and "pi&lt;5&gt;&amp;co" in page and page.count("<script") == 1
    assert page.count("<svg") == 1 and page.count('<table class="sortable">') == 2


def test_each_device_gets_its_own_profile_budget(two_devices, tmp_path):
    pi, jetson = (json.loads(line) for line in (two_devices[0].read_text().splitlines()[0],
                                                 two_devices[1].read_text().splitlines()[0]))  # fmt: skip
    pi_recs = [
        record(p90=p, map_=m, imgsz=s, budget=15.0, dev=pi["device"])
        for p, m, s in ((10, 0.3, 320), (30, 0.4, 640))
    ]
    orin_recs = [
        record(p90=p, map_=m, imgsz=s, budget=50.0, dev=jetson["device"])
        for p, m, s in ((4, 0.3, 320), (12, 0.4, 640))
    ]
    res = compare([Run("pi", pi_recs), Run("orin", orin_recs)], tmp_path / "c")
    assert res.selections["pi"].selected.imgsz == 320 and res.selections["orin"].selected.imgsz == 640
    assert res.summary.startswith("Selections differ: pi: yolo26n-320-onnx-fp32; orin: yolo26n-640-onnx-fp32")
    nothing = compare([Run("pi", pi_recs), Run("orin", orin_recs)], tmp_path / "d", fps=1000)
    assert nothing.summary == "Nothing fits on any run."


def test_same_device_twice_is_labelled_by_file(tmp_path):
    a = write_jsonl(tmp_path / "v1.jsonl", sweep())
    b = write_jsonl(tmp_path / "v2.jsonl", sweep(scale=0.9))
    assert [r.label for r in load_runs([a, b])] == [
        "x86-cpu @ bench-host [v1.jsonl]",
        "x86-cpu @ bench-host [v2.jsonl]",
    ]


def test_compare_errors(tmp_path):
    ok = write_jsonl(tmp_path / "ok.jsonl", sweep())
    errors_only = write_jsonl(tmp_path / "failed.jsonl", [record(status="error")])
    with pytest.raises(ResultsError, match=r"failed.jsonl: no successful benchmark records"):
        load_runs([ok, errors_only])
    with pytest.raises(ConfigError, match="at least two runs"):
        compare(load_runs([ok]), tmp_path / "c")
    with pytest.raises(ConfigError, match="unique"):
        compare([Run("a", sweep()), Run("a", sweep())], tmp_path / "c")
    with pytest.raises(ConfigError, match="give one"):
        compare([Run("a", sweep()), Run("b", sweep())], tmp_path / "c", budget_ms=10, fps=10)


def test_compare_cli(runner, two_devices, tmp_path):
    r = runner.invoke(main, ["compare", *map(str, two_devices), "--out", str(tmp_path / "c"), "--fps", "50"])
    assert r.exit_code == 0, r.output
    assert "is selected on every run" in r.output and "wrote" in r.output
    assert (tmp_path / "c" / "compare.html").is_file()
    one = runner.invoke(main, ["compare", str(two_devices[0]), "--out", str(tmp_path / "d")])
    assert one.exit_code == 1 and "at least two runs" in one.output
    (tmp_path / "bad.jsonl").write_text("[1, 2]\n")
    bad = runner.invoke(
        main, ["compare", str(two_devices[0]), str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "e")]
    )
    assert (
        bad.exit_code == 1
        and "not an edgeyolo.bench/1 record" in bad.output
        and "Traceback" not in bad.output
    )


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not on PATH (apt install chromium; CI's .ci/run does)"
)
def test_compare_page_in_a_headless_browser(two_devices, tmp_path):
    res = compare(load_runs(two_devices), tmp_path / "cmp")
    p = run_chromium(res.files["html"].resolve().as_uri(), tmp_path / "profile", "--dump-dom")
    assert p.returncode == 0 and console_errors(p.stderr) == [], console_errors(p.stderr)
    assert p.stdout.count("<svg") == 1 and len(re.findall(r"<table class=\"sortable\">", p.stdout)) == 2
    assert "pi&lt;5&gt;&amp;co" in p.stdout


def test_one_file_from_a_multi_device_bench_is_one_run_per_device(two_devices, tmp_path):
    both = write_jsonl(
        tmp_path / "both.jsonl", [*load_runs(two_devices)[0].records, *load_runs(two_devices)[1].records]
    )
    runs = load_runs([both])
    assert [r.label for r in runs] == ["rpi5 @ pi<5>&co", "jetson-orin-nano @ orin"]
    assert [len(r.records) for r in runs] == [13, 10]  # each device keeps its own error records
    res = compare(runs, tmp_path / "c", budget_ms=20)
    assert res.summary == "yolo26s-320-openvino-fp32 is selected on every run."


def test_compare_keys_camera_shapes_by_name_and_old_records_match_new(tmp_path):
    """A run of records from before shapes and one with explicit square shapes match name for name; a
    camera-shaped candidate is its own row, with its shape."""
    pi = sweep(dev=device("rpi5", "pi"))  # no candidate.shape
    orin = json.loads(json.dumps(sweep(dev=device("jetson-orin-nano", "orin"), scale=0.4)))
    for r in orin:
        if r["status"] == "ok":
            r["candidate"]["shape"] = [r["candidate"]["imgsz"]] * 2
    pi.append(record(prec="int8", shape=(192, 320), p90=3.0, map_=0.28, dev=device("rpi5", "pi")))
    orin.append(
        record(prec="int8", shape=(192, 320), p90=1.5, map_=0.28, dev=device("jetson-orin-nano", "orin"))
    )
    res = compare([Run("pi", pi), Run("orin", orin)], tmp_path / "c")
    rows = {row["name"]: row for row in res.rows}
    assert len(rows) == 13 and all(None not in row["runs"].values() for row in rows.values())
    cam = rows["yolo26n-320x192-onnx-int8"]
    assert cam["shape"] == [192, 320] and cam["shape_label"] == "320x192" and cam["imgsz"] == 320
    assert cam["runs"]["orin"]["latency_ratio"] == pytest.approx(0.5)
    assert rows["yolo26n-320-onnx-int8"]["shape"] == [320, 320]
    assert json.loads(res.files["json"].read_text())["candidates"][0]["shape"]
    page = res.files["html"].read_text()
    assert "camera-shaped input (hollow)" in page and "hollow: camera-shaped input" in page
    assert "yolo26n-320x192-onnx-int8" in res.files["markdown"].read_text()
