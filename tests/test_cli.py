from __future__ import annotations

import subprocess
import sys

import pytest

from edgeyolo.cli import main

COMMANDS = [
    [], ["profiles"], ["profiles", "list"], ["profiles", "show"], ["profiles", "validate"], ["data"],
    ["data", "synth"], ["data", "check"], ["train"], ["predict"], ["export"], ["bench"], ["select"], ["report"], ["run"],
]  # fmt: skip


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "edgeyolo")
def test_help_has_an_example(runner, cmd):
    r = runner.invoke(main, [*cmd, "--help"])
    assert r.exit_code == 0, r.output
    assert "Example" in r.output or "Quick start" in r.output


def test_version_and_help_do_not_import_torch():
    code = ("import sys\nfrom edgeyolo.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print([m for m in ('torch', 'ultralytics', 'onnxruntime') if m in sys.modules])")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "edgeyolo, version" in out and out.strip().endswith("[]")


def test_python_dash_m():
    out = subprocess.run(
        [sys.executable, "-m", "edgeyolo", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("edgeyolo, version")


def test_profiles_commands(runner, tmp_path):
    assert "rpi5" in runner.invoke(main, ["profiles", "list"]).output
    shown = runner.invoke(main, ["profiles", "show", "rpi5"])
    assert shown.exit_code == 0 and "latency_budget_ms: 100" in shown.output
    f = tmp_path / "mine.yaml"
    f.write_text(shown.output.replace("name: rpi5", "name: mine"))
    ok = runner.invoke(main, ["profiles", "validate", str(f)])
    assert ok.exit_code == 0 and "ok" in ok.output
    f.write_text(shown.output + "speed: fast\n")
    bad = runner.invoke(main, ["profiles", "validate", str(f)])
    assert bad.exit_code == 1 and "unknown key 'speed'" in bad.output


def test_data_synth_command(runner, tmp_path):
    r = runner.invoke(main, ["data", "synth", str(tmp_path), "--train", "3", "--val", "2", "--imgsz", "96"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "data.yaml").is_file() and "smaller than 32 px" in r.output


def _one_line_error(r, *needles):
    assert r.exit_code != 0
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    lines = [ln for ln in r.output.strip().splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("Error:"), r.output
    assert "Traceback" not in r.output
    for n in needles:
        assert n in r.output, r.output


def test_unknown_profile(runner, tmp_path):
    r = runner.invoke(main, ["train", "--profile", "rpi6", "--data", str(tmp_path / "d.yaml")])
    _one_line_error(r, "Unknown profile 'rpi6'", "known:")


def test_missing_data_yaml(runner, tmp_path):
    r = runner.invoke(main, ["train", "--profile", "x86-cpu", "--data", str(tmp_path / "missing.yaml")])
    _one_line_error(r, "missing.yaml", "not found")


def test_weights_not_on_disk_are_not_downloaded(runner, tiny_data):
    r = runner.invoke(
        main, ["train", "--profile", "x86-cpu", "--data", str(tiny_data), "--model", "yolo26n.pt"]
    )
    _one_line_error(r, "yolo26n.pt", "never downloads", "yolo26n.yaml")


def test_export_weights_not_found(runner, tmp_path):
    r = runner.invoke(main, ["export", "--profile", "x86-cpu", "--weights", str(tmp_path / "best.pt")])
    _one_line_error(r, "best.pt", "not found")


def test_bench_artifact_not_found(runner, tmp_path):
    r = runner.invoke(main, ["bench", "--profile", "x86-cpu", str(tmp_path / "nope")])
    _one_line_error(r, "not found")


def test_select_results_not_found(runner, tmp_path):
    _one_line_error(runner.invoke(main, ["select", str(tmp_path / "r.jsonl")]), "not found")


def test_bad_imgsz_option(runner, tmp_path):
    r = runner.invoke(main, ["export", "--profile", "x86-cpu", "--weights", "w.pt", "--imgsz", "300"])
    assert r.exit_code == 2 and "multiples of 32" in r.output


def test_bench_select_report_commands(runner, tmp_path, onnx_artifact, tiny_data):
    results = tmp_path / "results.jsonl"
    r = runner.invoke(main, ["bench", "--profile", "x86-cpu", str(onnx_artifact), "--data", str(tiny_data),
                             "--out", str(results), "--iterations", "5", "--warmup", "1", "--threads", "1"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "p90" in r.output and results.is_file()
    s = runner.invoke(main, ["select", str(results), "--budget-ms", "100000"])
    assert s.exit_code == 0 and "yolo26n-128-onnx-fp32" in s.output, s.output
    s0 = runner.invoke(main, ["select", str(results), "--budget-ms", "0.0001"])
    assert s0.exit_code == 1 and "No candidate meets" in s0.output
    rep = runner.invoke(main, ["report", str(results), "--out", str(tmp_path / "rep")])
    assert rep.exit_code == 0 and (tmp_path / "rep" / "report.md").is_file()


def test_data_check_command(runner, tiny_data, tmp_path):
    import json
    import shutil

    ok = runner.invoke(main, ["data", "check", str(tiny_data), "--imgsz", "128"])
    assert ok.exit_code == 0, ok.output
    js = runner.invoke(main, ["data", "check", str(tiny_data), "--profile", "rpi5", "--json"])
    report = json.loads(js.output)
    assert report["imgsz"] == 320 and report["fatal"] is False
    root = tmp_path / "broken"
    shutil.copytree(tiny_data.parent, root)
    bad = sorted((root / "labels" / "val").glob("*.txt"))[0]
    bad.write_text("0 0.5 0.5 1.7 0.1\n")
    r = runner.invoke(main, ["data", "check", str(root / "data.yaml")])
    assert r.exit_code == 1 and bad.name in r.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--progloss-phases", "0.3:5"], "until:box:cls"),
        (["--o2m", "high"], "start:end"),
        (["--progloss", "sometimes"], "sometimes"),
    ],
)
def test_train_bad_options(runner, tiny_data, args, needle):
    r = runner.invoke(main, ["train", "--profile", "x86-cpu", "--data", str(tiny_data), *args])
    assert r.exit_code == 2 and needle in r.output, r.output


def test_train_needs_profile_and_data(runner, tiny_data):
    r = runner.invoke(main, ["train", "--data", str(tiny_data)])
    assert r.exit_code == 2 and "--profile" in r.output


def test_resume_bad_folder(runner, tmp_path):
    r = runner.invoke(main, ["train", "--resume", str(tmp_path)])
    _one_line_error(r, "edgeyolo_train.yaml")


def test_train_config_file_unknown_key(runner, tiny_data, tmp_path):
    cfg = tmp_path / "best.yaml"
    cfg.write_text(f"profile: x86-cpu\ndata: {tiny_data}\nlabel_smoothing: 0.1\n")
    _one_line_error(runner.invoke(main, ["train", "--config", str(cfg)]), "label_smoothing")
