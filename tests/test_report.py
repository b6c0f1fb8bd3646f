"""report(): files consistent with the records, HTML self-contained and escaped, and checked in a real browser."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from _records import device, record, sweep, write_jsonl

from edgeyolo.cli import main
from edgeyolo.report import report, tables
from edgeyolo.report.html import esc
from edgeyolo.select import select

XSS_CLASS = "<script>alert(1)</script>"
XSS_HOST = 'edge&<>"host'
XSS_MESSAGE = "<img src=x onerror=alert(2)> failed"


def hostile_sweep() -> list[dict]:
    """A sweep whose user-supplied text tries to inject markup: class name, hostname, error message."""
    records = sweep(dev=device(hostname=XSS_HOST))
    for r in records:
        if r["status"] == "ok":
            r["accuracy"]["per_class"][XSS_CLASS] = 0.1 if r["candidate"]["precision"] == "int8" else 0.2
            r["accuracy"]["per_class"]["price $5 $x$"] = 0.3  # mathtext must not eat or choke on '$'
    records[-1]["message"] = XSS_MESSAGE
    return records


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory):
    records = hostile_sweep()
    out = tmp_path_factory.mktemp("report")
    # 31 ms: the selected candidate is an INT8 (yolo26s-480-onnx-int8), so per-class AP has an FP32 twin.
    extra = [("Diagnosis <b>", '<p id="diag-hook">diagnose output</p>')]
    return records, report(records, out, budget_ms=31, extra_sections=extra)


def test_report_writes_all_files_consistent_with_the_records(hostile_report):
    records, r = hostile_report
    assert set(r.files) == {"json", "csv", "markdown", "html"} and all(f.is_file() for f in r.files.values())
    assert r.selection.selected.name == "yolo26s-480-onnx-int8"

    payload = json.loads(r.files["json"].read_text())
    assert payload["selection"] == select(records, budget_ms=31).to_dict()
    assert payload["records"] == records
    assert [c["name"] for c in payload["front"]] == payload["selection"]["front"]
    assert "Pareto front" in payload["rule"] and payload["rule"] == payload["selection"]["rule"]

    with open(r.files["csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(records)
    assert [row["status"] for row in rows] == [rec["status"] for rec in records]
    assert [row["artifact"] for row in rows] == [rec["candidate"]["artifact"] for rec in records]
    assert [row["name"] for row in rows if row["selected"] == "True"] == ["yolo26s-480-onnx-int8"]
    by_name = {row["name"]: row for row in rows if row["status"] == "ok"}
    for rec in records[:-1]:
        row = by_name[f"{rec['candidate']['model']}-{rec['candidate']['imgsz']}-{rec['candidate']['format']}-"
                      f"{rec['candidate']['precision']}"]  # fmt: skip
        assert float(row["e2e_p90_ms"]) == rec["latency_ms"]["end_to_end"]["p90"]
        assert float(row["map50_95"]) == rec["accuracy"]["map50_95"]
    assert rows[-1]["message"] == XSS_MESSAGE and rows[-1]["e2e_p90_ms"] == ""

    md = r.files["markdown"].read_text()
    assert md.startswith("# edgeyolo report") and "**Selected:** yolo26s-480-onnx-int8" in md
    assert "## Failed candidates" in md and "(FP32 twin)" in md
    # no camera-shaped candidate: no section, an empty list, square shapes in the CSV
    assert "Camera-shaped" not in md and payload["camera_shapes"] == []
    assert (
        'id="camera-shapes"' not in r.files["html"].read_text()
        and "camera-shaped" not in r.files["html"].read_text()
    )
    assert {row["shape"] for row in rows} == {"[320, 320]", "[480, 480]", ""}  # "": the error record


def test_html_is_self_contained(hostile_report):
    _, r = hostile_report
    page = r.files["html"].read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", page, re.I)
    assert (
        "<link" not in page and "@import" not in page and not re.search(r"url\((?!#)", page)
    )  # only #clip ids
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    # scatter, latency distribution, stage breakdown, per-class AP: all inline SVG with text, not glyph paths
    assert page.count("<svg") == 4 and "<text" in page and "<?xml" not in page
    assert '<table class="sortable">' in page
    assert page.index("Devices") < page.index("<!-- extra sections -->") < page.index('id="diag-hook"')


def test_user_text_is_escaped_in_html_and_svg(hostile_report):
    _, r = hostile_report
    page = r.files["html"].read_text()
    assert XSS_CLASS not in page and "<img src=x" not in page and XSS_HOST not in page
    assert page.count("<script") == 1  # the page's own sorting script, nothing injected
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # table cell and SVG <text>
    svg_texts = re.findall(r"<text[^>]*>([^<]*)</text>", page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg_texts and "price $5 $x$" in svg_texts
    assert "edge&amp;&lt;&gt;&quot;host" in page
    assert "&lt;img src=x onerror=alert(2)&gt; failed" in page
    assert "Diagnosis &lt;b&gt;" in page  # extra section titles are escaped, bodies are trusted HTML


def test_every_page_carries_the_csp_and_fetches_nothing(hostile_report, tmp_path):
    """report, compare, a report with a diagnosis and tune.html: one page builder, one CSP, nothing external."""
    from edgeyolo.diagnose import Diagnosis, Finding, Overfitting, diagnosis_html
    from edgeyolo.report import Run, compare
    from edgeyolo.report.html import CSP_META
    from edgeyolo.tune.outputs import write_html

    records, r = hostile_report
    pi, jetson = sweep(dev=device("rpi5", "pi")), sweep(dev=device("jetson-orin-nano", "orin"), scale=0.4)
    cmp = compare([Run("pi", pi), Run("jetson", jetson)], tmp_path / "cmp")
    d = Diagnosis(run_dir="/runs/<x>", epochs=3, best_epoch=3, findings=[Finding("r", "o <b>", "c", "e", "a")],
                  metrics={"precision": 0.5, "recall": 0.5, "map50": 0.5, "map50_95": 0.3},
                  overfitting=Overfitting(detected=False, note="none"), notes=["see https://example.com"])  # fmt: skip
    diag = report(records, tmp_path / "diag", extra_sections=[("Training diagnosis", diagnosis_html(d))])
    trials = [{"trial": i, "state": "complete", "fitness": 0.1 * i, "map50_95": 0.1 * i, "params": {"lr0": 0.01 * i},
               "error": "<b>boom</b>" if i else None} for i in (1, 2)]  # fmt: skip
    space = {"lr0": {"distribution": "log-uniform", "low": 0.001, "high": 0.1}}
    tune = write_html(tmp_path, trials, {"space": space, "objective": "map"})
    pages = {
        "report": r.files["html"],
        "compare": cmp.files["html"],
        "diagnosis": diag.files["html"],
        "tune": tune,
    }
    for name, path in pages.items():
        page = path.read_text()
        assert page.startswith("<!DOCTYPE html>") and page.count(CSP_META) == 1, name
        assert page.count("Content-Security-Policy") == 1 and "default-src 'none'" in page, name
        assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", page, re.I), name
        assert "<link" not in page and "@import" not in page, name
    diag_page = diag.files["html"].read_text()
    assert "Training diagnosis" in diag_page and "o &lt;b&gt;" in diag_page and "/runs/&lt;x&gt;" in diag_page
    tune_page = tune.read_text()
    assert "&lt;b&gt;boom&lt;/b&gt;" in tune_page and "<script" not in tune_page


def test_report_without_accuracy_or_successful_records(tmp_path):
    no_acc = [record("n", 320, "onnx", "fp32", 20, None), record("n", 320, "onnx", "int8", 12, None)]
    r = report(no_acc, tmp_path / "a")
    assert r.selection.selected is None and "--data" in r.selection.reason
    page = r.files["html"].read_text()
    assert "without accuracy are not plotted" in page and page.count("<svg") == 2  # latency plots only
    only_errors = [record(status="error", message="no such runtime")]
    r = report(only_errors, tmp_path / "b")
    assert "No successful benchmark records" in r.selection.reason
    assert (
        "no such runtime" in r.files["html"].read_text()
        and "no such runtime" in r.files["markdown"].read_text()
    )
    assert len(r.files["csv"].read_text().splitlines()) == 2


def test_report_uses_raw_samples_when_the_record_has_them(tmp_path):
    recs = [record("n", 320, "onnx", "fp32", 20, 0.3)]
    recs[0]["latency_samples_ms"] = {"end_to_end": [15.0 + 0.01 * i for i in range(100)] + [90.0]}
    r = report(recs, tmp_path)
    assert len(tables.spreads(r.selection, recs)[0].samples) == 101
    page = r.files["html"].read_text()
    assert page.count("<svg") == 4 and "The selected candidate is FP32 itself." in page


def test_report_cli(runner, tmp_path):
    f = write_jsonl(tmp_path / "r.jsonl", sweep())
    r = runner.invoke(
        main, ["report", str(f), "--out", str(tmp_path / "rep"), "--fps", "40", "--min-map", "0.3"]
    )
    assert r.exit_code == 0, r.output
    assert all(
        (tmp_path / "rep" / n).is_file() for n in ("report.json", "results.csv", "report.md", "report.html")
    )
    sel = json.loads((tmp_path / "rep" / "report.json").read_text())["selection"]
    assert sel["fps"] == 40 and sel["budget_ms"] == 25 and sel["min_map"] == 0.3
    both = runner.invoke(
        main, ["report", str(f), "--out", str(tmp_path / "x"), "--fps", "4", "--budget-ms", "9"]
    )
    assert both.exit_code == 2 and "not both" in both.output
    two = write_jsonl(tmp_path / "two.jsonl", [*sweep(), *sweep(dev=device("rpi5", "pi"))])
    multi = runner.invoke(main, ["report", str(two), "--out", str(tmp_path / "m")])
    assert multi.exit_code == 1 and "2 devices" in multi.output and "edgeyolo compare" in multi.output
    pi = runner.invoke(main, ["report", str(two), "--out", str(tmp_path / "m"), "--device", "rpi5"])
    assert pi.exit_code == 0, pi.output
    assert len((tmp_path / "m" / "results.csv").read_text().splitlines()) == 1 + len(sweep())
    (tmp_path / "bad.jsonl").write_text("this is not json\n")
    bad = runner.invoke(main, ["report", str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "y")])
    assert (
        bad.exit_code == 1 and "bad.jsonl:1: not valid JSON" in bad.output and "Traceback" not in bad.output
    )


# ---------------------------------------------------------------- a real browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def run_chromium(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium with console messages on stderr (every page console line is an 'INFO:CONSOLE')."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000",
           *args, url]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


def console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not on PATH (apt install chromium; CI's .ci/run does)"
)
def test_report_in_a_headless_browser(hostile_report, tmp_path):
    _, r = hostile_report
    # The check can fail: a page with a script error is caught.
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><html><body><script>notDefined();</script></body></html>")
    assert any(
        "Uncaught ReferenceError" in e
        for e in console_errors(run_chromium(broken.as_uri(), tmp_path / "p0").stderr)
    )

    # '#sort=9-desc' makes the page's own script sort the candidates table by mAP50-95, descending.
    p = run_chromium(r.files["html"].resolve().as_uri() + "#sort=9-desc", tmp_path / "p1", "--dump-dom")
    assert p.returncode == 0, p.stderr[-2000:]
    assert console_errors(p.stderr) == [], console_errors(p.stderr)
    dom = p.stdout
    assert dom.count("<svg") == 4 and '<table class="sortable">' in dom
    assert "alert(1)" in dom and "<script>alert(1)" not in dom  # still text after parsing
    body = dom[dom.index("<tbody>") : dom.index("</tbody>")]
    maps = [float(m) for m in re.findall(r'<td class="num" data-sort="([0-9.]+)">[0-9.]+</td><td class="num" '
                                         r'data-sort="[^"]*">[^<]*</td><td data-sort="\d"', body)]  # fmt: skip
    assert len(maps) == 12 and maps == sorted(maps, reverse=True), maps
    assert body.rstrip().endswith("</tr>") and "onerror=alert(2)" in body[body.rindex("<tr") :]  # blanks last
    assert 'data-dir="desc"' in dom

    shot = tmp_path / "report.png"
    s = run_chromium(r.files["html"].resolve().as_uri(), tmp_path / "p2", f"--screenshot={shot}",
                     "--window-size=1400,3000")  # fmt: skip
    assert console_errors(s.stderr) == [] and shot.stat().st_size > 50_000


def test_report_shows_intervals_ties_in_words_and_deploy_sizes(tmp_path):
    """Records with per-image data and rounds: '0.784 ± 0.021' figures, the tie said in words, and per deploy size
    which training size served it best; old records in the same report get a note."""
    from _records import detections, scene, with_per_image

    items, sizes = scene(40)

    def make(fmt, p90, train, root, **dets):
        rec = record("yolo26n", 64, fmt, "fp32", p90, 0.0, root=root)
        rec["candidate"]["train_imgsz"] = train
        rec["latency_ci_ms"] = {
            "method": "range over rounds",
            "end_to_end": {
                k: [round(rec["latency_ms"]["end_to_end"][k] * f, 4) for f in (0.97, 1.03)]
                for k in ("p50", "p90", "p99")
            },
        }
        rec["rounds"] = [
            {"round": 1, "pass": "a", "position": 1, "of": 2, "started": "x", "end_to_end": {"p90": p90}}
        ]
        dets = detections(items, sizes, **{"jitter": 2.0, **dets})
        return with_per_image(rec, tmp_path, items, sizes, dets)

    own = make("onnx", 20.0, 64, "/art")  # trained at 64
    tied = make(
        "openvino", 15.0, 64, "/art", seed=5
    )  # as good, with other noise: 0 strictly inside the interval
    bigger = make("onnx", 21.0, 96, "/art/trained96", seed=6)  # trained at 96
    r = report([own, tied, bigger], tmp_path / "rep")
    md = r.files["markdown"].read_text()
    assert re.search(r"\| yolo26n-64-onnx-fp32 \| 0\.\d{3} ± 0\.0\d\d \|", md), md
    assert re.search(r"\| \d+\.\d\d ± 0\.\d\d \|", md)  # p90 with its round-to-round half-width
    assert "**Selected:** yolo26n-64-openvino-fp32" in md
    assert "is tied on accuracy" in md and "contains 0" in md
    assert "## Deploy sizes: which training size serves each best" in md
    assert "At 64 px, the model trained at 64 serves best (yolo26n-64-onnx-fp32" in md
    assert "trained at 96 (0." in md and "cannot be separated from it on these val images" in md
    page = r.files["html"].read_text()
    assert "Deploy sizes" in page and "±" in page and "yolo26n-96to64-onnx-fp32" in page
    with open(r.files["csv"], newline="") as f:
        rows = {row["name"]: row for row in csv.DictReader(f)}
    assert rows["yolo26n-96to64-onnx-fp32"]["train_imgsz"] == "96"
    assert rows["yolo26n-64-onnx-fp32"]["map50_95_lo"]
    # an old record (no intervals, no rounds) next to them is reported with a note, never dropped
    old = record("yolo26n", 64, "onnx", "int8", 10.0, 0.2)
    r = report([own, tied, bigger, old], tmp_path / "rep2")
    md = r.files["markdown"].read_text()
    assert "without paired intervals (no per-image data: yolo26n-64-onnx-int8)" in md


# ---------------------------------------------------------------- camera-shaped inputs
CAM = (192, 320)  # 320x192 (WxH)
NOTE = ("profile camera 16:9 but the val images are 4:3: this input's accuracy is measured on images that are not "
        "what the camera sends; add val images from that camera")  # fmt: skip


def test_report_compares_camera_shapes_with_their_square_twins(tmp_path):
    """A 320x192 INT8 at 0.53x the p90 of its square twin, tied on accuracy: the section says so in report.md,
    report.html and report.json with the ratio and the paired interval; the shape note shows wherever the
    candidate does; the cross-size table groups by the deploy shape."""
    from _records import detections, scene, with_per_image

    from edgeyolo.select import paired_interval

    items, sizes = scene(40)

    def make(prec, p90, shape=None, note=None, train=None, root="/art", **dets):
        rec = record(
            "yolo26n", 320, "onnx", prec, p90, 0.0, shape=shape, shape_note=note, train=train, root=root
        )
        return with_per_image(
            rec, tmp_path, items, sizes, detections(items, sizes, **{"jitter": 2.0, **dets})
        )

    sq32, sq8 = make("fp32", 30.0), make("int8", 15.9)
    cam32 = make("fp32", 16.5, CAM, NOTE, seed=5)  # as good, with other noise: 0 strictly inside the interval
    cam8 = make("int8", 8.4, CAM, NOTE, seed=5)
    from480 = make("fp32", 17.0, CAM, NOTE, train=480, root="/t480", miss_images=3, miss_share=0.5)
    r = report([sq32, sq8, cam32, cam8, from480], tmp_path / "rep")
    sel = r.selection
    assert sel.selected.name == "yolo26n-320x192-onnx-int8"
    lo, hi = paired_interval(sel.selected, sel.by_artifact(sq8["candidate"]["artifact"]))
    diff = cam8["accuracy"]["map50_95"] - sq8["accuracy"]["map50_95"]
    sentence = (f"yolo26n-320x192-onnx-int8 vs yolo26n-320-onnx-int8: 0.53x the latency, mAP difference {diff:+.3f} "
                f"[{lo:+.3f}, {hi:+.3f}]: no accuracy lost.")  # fmt: skip

    payload = json.loads(r.files["json"].read_text())
    cams = {c["camera"]: c for c in payload["camera_shapes"]}
    assert set(cams) == {
        "yolo26n-320x192-onnx-fp32",
        "yolo26n-320x192-onnx-int8",
        "yolo26n-480to320x192-onnx-fp32",
    }
    c8 = cams["yolo26n-320x192-onnx-int8"]
    assert (
        c8["square"] == "yolo26n-320-onnx-int8"
        and c8["shape"] == [192, 320]
        and c8["shape_label"] == "320x192"
    )
    assert c8["latency_ratio"] == round(8.4 / 15.9, 4) and c8["map_diff_ci"] == [lo, hi] and c8["paired"]
    assert c8["verdict"] == "no accuracy lost" and c8["shape_note"] == NOTE
    # no square model trained at 480 was measured
    assert cams["yolo26n-480to320x192-onnx-fp32"]["square"] is None
    assert cams["yolo26n-480to320x192-onnx-fp32"]["verdict"] == "no square twin measured"
    by = {c["name"]: c for c in payload["selection"]["candidates"]}
    assert by["yolo26n-320x192-onnx-int8"]["shape"] == [192, 320]
    assert by["yolo26n-320-onnx-int8"]["shape"] == [320, 320]
    assert by["yolo26n-320x192-onnx-int8"]["shape_note"] == NOTE

    md = r.files["markdown"].read_text()
    section = md[md.index("## Camera-shaped inputs") :]
    assert f"- {sentence}" in section and "The camera shape won: 320x192 runs at 0.53x the p90" in md
    assert (f"| yolo26n-320x192-onnx-int8 | yolo26n-320-onnx-int8 | 8.40 vs 15.90 | 0.53x | {diff:+.3f} [{lo:+.3f}, "
            f"{hi:+.3f}] | no accuracy lost | {NOTE} |") in section  # fmt: skip
    row = next(
        line for line in md.splitlines() if line.startswith("| yolo26n-320x192-onnx-int8 **(selected)**")
    )
    assert NOTE in row  # the candidate table's notes
    assert (
        f"yolo26n-320x192-onnx-fp32, yolo26n-320x192-onnx-int8, yolo26n-480to320x192-onnx-fp32: {NOTE}" in md
    )
    assert (
        "At 320x192 px, the model trained at " in md
        and "| 320x192 | 480 | yolo26n-480to320x192-onnx-fp32 |" in md
    )

    page = r.files["html"].read_text()
    html_section = page[page.index('<section id="camera-shapes">') :]
    assert html_section.index(esc(sentence)) < html_section.index("</section>")
    # the imgsz column: the label, sorted by pixels
    assert '<td class="num" data-sort="61440">320x192</td>' in page
    assert '<td class="num" data-sort="102400">320</td>' in page
    # the scatter's legend and caption
    assert "camera-shaped input (hollow)" in page and "hollow: camera-shaped input" in page
    with open(r.files["csv"], newline="") as f:
        rows = {row["name"]: row for row in csv.DictReader(f)}
    assert rows["yolo26n-320x192-onnx-int8"]["shape"] == "[192, 320]"
    assert (
        rows["yolo26n-320x192-onnx-int8"]["shape_note"] == NOTE
        and rows["yolo26n-320-onnx-int8"]["shape_note"] == ""
    )


def test_records_without_a_shape_report_as_before(tmp_path):
    """Records from before shapes and the same records with an explicit square shape: the same report."""
    old = sweep()
    new = json.loads(json.dumps(old))
    for r in new:
        if r["status"] == "ok":
            r["candidate"]["shape"] = [r["candidate"]["imgsz"]] * 2
    a, b = report(old, tmp_path / "a", budget_ms=31), report(new, tmp_path / "b", budget_ms=31)
    stamp = re.compile(r"on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
    assert stamp.sub("", a.files["markdown"].read_text()) == stamp.sub("", b.files["markdown"].read_text())
    assert a.files["csv"].read_text() == b.files["csv"].read_text()
    ja, jb = (json.loads(x.files["json"].read_text()) for x in (a, b))
    assert ja["selection"] == jb["selection"] and ja["camera_shapes"] == jb["camera_shapes"] == []


# ------------------------------------------------------------------------------ the intervals on the scatter
BAR = re.compile(r'<g id="(map|latency)-ci-(\d+)">\s*<path d="M ([\d.]+) ([\d.]+)\s*L ([\d.]+) ([\d.]+)')


def _interval_points():
    from edgeyolo.report.plots import Point

    # Two candidates 0.005 apart whose ±0.05 intervals overlap, and one measured without intervals.
    return [
        Point("a", 10.0, 0.265, "onnx/fp32", 320, map_ci=(0.215, 0.315), latency_ci=(9.0, 11.5)),
        Point(
            "b", 12.0, 0.270, "onnx/int8", 320, camera=True, map_ci=(0.220, 0.320), latency_ci=(11.0, 13.0)
        ),
        Point("c", 14.0, 0.255, "ncnn/fp32", 320),
    ]


def _bars(svg: str) -> dict[tuple[str, int], tuple[float, float, float, float]]:
    """The error bars in a scatter's SVG: (map|latency, point index) -> the segment's x1, y1, x2, y2 (pixels)."""
    return {(m[0], int(m[1])): tuple(float(v) for v in m[2:]) for m in BAR.findall(svg)}


def _without_ci(p):
    """The point without its intervals."""
    from dataclasses import replace

    return replace(p, map_ci=None, latency_ci=None)


def test_scatter_draws_each_interval_as_an_error_bar():
    from edgeyolo.report.plots import scatter_svg

    pts = _interval_points()
    svg = scatter_svg(pts, metric="p90")
    bars = _bars(svg)
    # One vertical bar (mAP) and one horizontal bar (latency) per point that has intervals; none for "c".
    assert set(bars) == {("map", 0), ("map", 1), ("latency", 0), ("latency", 1)}
    for i in (0, 1):
        x1, y1, x2, y2 = bars["map", i]
        assert x1 == x2 and abs(y1 - y2) > 50  # vertical, and long: ±0.05 on a plot of ~0.1 mAP
        x1, y1, x2, y2 = bars["latency", i]
        assert y1 == y2 and x1 != x2
    # Equal mAP intervals (0.1 wide) are equally long; the latency bars are as long as their intervals.
    map_len = [abs(bars["map", i][1] - bars["map", i][3]) for i in (0, 1)]
    assert map_len[0] == pytest.approx(map_len[1], rel=1e-6)
    lat_len = [abs(bars["latency", i][0] - bars["latency", i][2]) for i in (0, 1)]
    assert lat_len[0] / lat_len[1] == pytest.approx(2.5 / 2.0, rel=1e-6)
    assert "bars: mAP 95% CI, latency range" in svg  # the legend says what they are
    assert "fill: #ffffff" in svg  # the camera-shaped point is still hollow
    plain = [_without_ci(p) for p in pts]
    without = scatter_svg(plain, metric="p90")
    assert _bars(without) == {} and "-ci-" not in without and "bars: mAP" not in without


def test_scatter_axes_include_the_intervals():
    """The axes span every interval's ends (not only the points, which would make 0.005 look decisive)."""
    import matplotlib

    from edgeyolo.report.plots import RC, scatter_figure

    pts = _interval_points()
    with matplotlib.rc_context(RC):
        ax = scatter_figure(pts, metric="p90").axes[0]
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        assert y0 <= 0.215 and y1 >= 0.320 and x0 <= 9.0 and x1 >= 13.0
        p0, p1 = scatter_figure([_without_ci(p) for p in pts], metric="p90").axes[0].get_ylim()
        assert p0 > 0.215 and p1 < 0.320  # points alone: a narrower axis, which the intervals widen


def test_scatter_svg_is_reproducible():
    from edgeyolo.report.plots import scatter_svg

    pts = _interval_points()
    assert scatter_svg(pts, metric="p90") == scatter_svg(pts, metric="p90")


def test_report_scatter_shows_each_records_intervals(tmp_path):
    """From the records to the page: each candidate's bootstrap interval and latency range are drawn."""
    records = sweep()
    ok = [r for r in records if r["status"] == "ok"]
    for r in ok:
        m, p90 = r["accuracy"]["map50_95"], r["latency_ms"]["end_to_end"]["p90"]
        r["accuracy"]["ci"] = {"map50_95": [round(m - 0.05, 5), round(m + 0.05, 5)],
                               "map50": [0.0, 1.0], "resamples": 1000, "seed": 0, "confidence": 0.95}  # fmt: skip
        r["latency_ci_ms"] = {"method": "range over rounds", "end_to_end": {"p90": [p90 * 0.95, p90 * 1.1]}}
    from edgeyolo.bench.store import schema_errors

    assert all(schema_errors(r) == [] for r in ok)
    page = report(records, tmp_path / "report", budget_ms=31).files["html"].read_text()
    bars = _bars(page)
    assert {k for k, _ in bars} == {"map", "latency"}
    assert sum(k == "map" for k, _ in bars) == sum(k == "latency" for k, _ in bars) == len(ok)
    assert "-ci-" not in report(sweep(), tmp_path / "plain", budget_ms=31).files["html"].read_text()
