"""`edgeyolo run` as a sweep: the plan, several (model, size) trainings, and continuing after a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _profiles import onnx_profile

from edgeyolo.errors import ConfigError
from edgeyolo.pipeline import PipelineConfig, plan_trainings
from edgeyolo.profiles import load_profile


def test_plan_defaults(tmp_path, tiny_data):
    p = load_profile("x86-cpu")
    demo = plan_trainings(PipelineConfig(profile=p, out=tmp_path))
    assert [(t.model, t.imgsz, t.state) for t in demo] == [("yolo26n.yaml", p.imgsz[0], "new")]
    full = plan_trainings(PipelineConfig(profile=p, out=tmp_path, data=tiny_data))
    assert [(t.model, t.imgsz) for t in full] == [(f"{m}.yaml", s) for m in p.models for s in p.imgsz]
    assert full[0].run_dir == tmp_path / "train" / f"{p.models[0]}-{p.imgsz[0]}"
    chosen = plan_trainings(
        PipelineConfig(profile=p, out=tmp_path, data=tiny_data, models=("yolo26s",), imgsz=(96,))
    )
    assert [(t.model, t.imgsz) for t in chosen] == [("yolo26s.yaml", 96)]


def test_plan_reuses_weights_and_sees_finished_and_interrupted_runs(tmp_path, tiny_data):
    p = load_profile("x86-cpu")
    w = tmp_path / "best.pt"
    w.write_bytes(b"x")
    given = plan_trainings(
        PipelineConfig(profile=p, out=tmp_path, data=tiny_data, weights=(w,), imgsz=(64, 96))
    )
    assert [(t.weights, t.imgsz, t.state) for t in given] == [(w, 64, "given"), (w, 96, "given")]
    done = tmp_path / "train" / "yolo26n-64"
    done.mkdir(parents=True)
    (done / "done.json").write_text(json.dumps({"best": str(w), "map50_95": 0.3}))
    partial = tmp_path / "train" / "yolo26n-96" / "weights"
    partial.mkdir(parents=True)
    (partial / "last.pt").write_bytes(b"x")
    plan = plan_trainings(
        PipelineConfig(profile=p, out=tmp_path, data=tiny_data, models=("yolo26n",), imgsz=(64, 96, 128))
    )
    assert [t.state for t in plan] == ["done", "resume", "new"] and plan[0].map50_95 == 0.3


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"weights": (Path("missing.pt"),)}, "not a .pt file on disk"),
        ({"weights": (Path("w.pt"),), "models": ("yolo26n",)}, "either --weights"),
    ],
)
def test_plan_rejects(tmp_path, monkeypatch, kw, match):
    (tmp_path / "w.pt").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=match):
        plan_trainings(PipelineConfig(profile=load_profile("x86-cpu"), out=tmp_path, **kw))


def _complete(path: Path) -> bool:
    """The file exists and has stopped growing (Ultralytics writes last.pt in place, not atomically)."""
    if not path.is_file():
        return False
    size = path.stat().st_size
    time.sleep(1.0)
    return size > 0 and path.stat().st_size == size


def test_truncated_checkpoint_is_trained_again(tmp_path, tiny_run, tiny_data, runner):
    """A kill while last.pt was being written leaves a truncated file: `train --resume` says so in one line,
    and the sweep trains that (model, size) again instead of stopping."""
    import shutil

    from edgeyolo.cli import main
    from edgeyolo.errors import CheckpointError
    from edgeyolo.pipeline import _train_one

    run = tmp_path / "train" / "yolo26n-64"
    shutil.copytree(tiny_run.run_dir, run)
    last = run / "weights" / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    res = runner.invoke(main, ["train", "--resume", str(run)])
    assert res.exit_code == 1 and "incomplete or damaged" in res.output and "without --resume" in res.output
    (run / "done.json").unlink(missing_ok=True)
    cfg = PipelineConfig(profile=load_profile("x86-cpu"), out=tmp_path, data=tiny_data, models=("yolo26n",),
                         imgsz=(64,), epochs=1, batch=8, train_overrides={"nbs": 8, "warmup_epochs": 0, "plots": False})  # fmt: skip
    [t] = plan_trainings(cfg)
    assert t.state == "resume"
    logs: list[str] = []
    _train_one(t, cfg, tiny_data, logs.append)
    assert any("training it again from the start" in m for m in logs), logs
    assert t.weights.is_file() and (run / "done.json").is_file()
    from edgeyolo._backend.checkpoints import checkpoint_progress

    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"\x80\x02")  # the first bytes of a pickle, then nothing
    with pytest.raises(CheckpointError, match="incomplete or damaged"):
        checkpoint_progress(broken)


def test_finished_run_with_a_cut_off_best_pt_uses_last_pt_and_says_so(tmp_path, tiny_run, tiny_data):
    """A kill while the library stripped best.pt at the very end: the sweep keeps the trained run (last.pt,
    the final epoch's weights) instead of exporting a broken file or training again."""
    import shutil

    from edgeyolo._backend.checkpoints import checkpoint_info
    from edgeyolo.pipeline import _train_one

    run = tmp_path / "train" / "yolo26n-64"
    shutil.copytree(tiny_run.run_dir, run)
    (run / "done.json").unlink(missing_ok=True)
    best = run / "weights" / "best.pt"
    best.write_bytes(best.read_bytes()[:1000])
    cfg = PipelineConfig(profile=load_profile("x86-cpu"), out=tmp_path, data=tiny_data, models=("yolo26n",),
                         imgsz=(64,), epochs=1, batch=8)  # fmt: skip
    [t] = plan_trainings(cfg)
    logs: list[str] = []
    _train_one(t, cfg, tiny_data, logs.append)
    assert any("is now a copy of last.pt, the final epoch's weights" in m for m in logs), logs
    assert any("all epochs had finished" in m for m in logs), logs
    assert checkpoint_info(t.weights)["model"]  # readable again
    assert (run / "weights" / "best.pt.damaged").is_file()


def test_sweep_continues_after_a_crash(tmp_path, tiny_data):
    """Two sizes; the run is killed during the first training and the same command finishes the sweep."""
    out = tmp_path / "sweep"
    args = [sys.executable, "-m", "edgeyolo", "run", "--profile", str(onnx_profile(tmp_path)), "--data", str(tiny_data),
            "--out", str(out), "--models", "yolo26n", "--imgsz", "64,96", "--epochs", "2", "--batch", "8",
            "--bench-iterations", "3"]  # fmt: skip
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    last = out / "train" / "yolo26n-64" / "weights" / "last.pt"
    deadline = time.time() + 300
    while not _complete(last) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    first = proc.communicate()[0]
    assert "[plan] 2 model(s) x size(s); 2 training(s) to run" in first, first[-2000:]
    assert not (out / "train" / "yolo26n-64" / "done.json").exists(), "killed too late to test resuming"

    p = subprocess.run(args, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "(1 resumed)" in p.stdout and "resuming" in p.stdout, p.stdout[-3000:]
    records = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    # trained at 64 and at 96; the one trained at 96 also runs at 64, and at 96x64 for the 16:9 demo images
    sizes = sorted((r["candidate"]["train_imgsz"], r["candidate"]["imgsz"]) for r in records)
    assert sizes == [(64, 64), (96, 64), (96, 96), (96, 96)]
    assert all(r["status"] == "ok" for r in records)
    assert (out / "report" / "report.json").is_file()

    # Once more: nothing is trained, exported or measured again.
    again = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert (
        "0 training(s) to run, 2 done" in again.stdout
        and "4 candidate(s) already benchmarked" in again.stdout
    )
    assert "reused" in again.stdout
    assert len((out / "results.jsonl").read_text().splitlines()) == 4


def test_two_weights_of_the_same_model_are_refused(tmp_path, tiny_weights, tiny_data):
    import shutil

    from edgeyolo.pipeline import run_pipeline

    other = tmp_path / "other.pt"
    shutil.copyfile(tiny_weights, other)
    with pytest.raises(ConfigError, match="both yolo26n models"):
        run_pipeline(PipelineConfig(profile=load_profile("x86-cpu"), out=tmp_path / "o", data=tiny_data,
                                    weights=(tiny_weights, other)))  # fmt: skip
    assert not (tmp_path / "o" / "artifacts").exists()  # refused before anything was exported


def test_deploy_sizes_are_the_training_size_and_every_smaller_one(tmp_path):
    from edgeyolo.pipeline import Training, deploy_sizes

    p = load_profile("x86-cpu")  # 320, 480, 640
    cfg = PipelineConfig(profile=p, out=tmp_path, imgsz=(96, 480))
    assert deploy_sizes(Training("yolo26n.yaml", 480, None), cfg) == (480, 320, 96)
    assert deploy_sizes(Training("yolo26n.yaml", 96, None), cfg) == (96,)
    assert deploy_sizes(Training("w", 480, None, state="given"), cfg) == (480,)  # one size per given entry


def test_a_model_trained_at_96_is_also_deployed_at_64(tmp_path, tiny_data):
    """Trained at 96 only; the profile also has 64: both sizes are exported, benchmarked and named with both
    sizes, and the report says which training size serves 64 px."""
    import yaml

    from edgeyolo.bench import read_records
    from edgeyolo.pipeline import run_pipeline
    from edgeyolo.select import candidate_name

    d = yaml.safe_load(onnx_profile(tmp_path).read_text())
    d["imgsz"] = [64, 96]
    prof = tmp_path / "tiny-64-96.yaml"
    prof.write_text(yaml.safe_dump(d))
    logs: list[str] = []
    r = run_pipeline(PipelineConfig(profile=load_profile(prof), out=tmp_path / "s", data=tiny_data, models=("yolo26n",),
                                    imgsz=(96,), epochs=1, batch=8, bench_iterations=2, bench_warmup=0, bench_rounds=1,
                                    train_overrides={"nbs": 8, "warmup_epochs": 0, "plots": False}), log=logs.append)  # fmt: skip
    records = read_records(r.results)
    assert sorted(candidate_name(x) for x in records) == [
        "yolo26n-96-onnx-fp32", "yolo26n-96to64-onnx-fp32", "yolo26n-96x64-onnx-fp32"  # 96x64: the 16:9 images
    ]  # fmt: skip
    assert all(x["status"] == "ok" and x["candidate"]["train_imgsz"] == 96 for x in records)
    assert (tmp_path / "s" / "artifacts" / "trained96" / "yolo26n-64-onnx-fp32" / "manifest.json").is_file()
    assert any("1 smaller deploy size(s) of trained models" in m for m in logs), logs[:3]
    md = (r.report_dir / "report.md").read_text()
    assert "At 64 px, the model trained at 96 serves best (yolo26n-96to64-onnx-fp32" in md
