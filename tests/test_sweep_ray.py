"""`edgeyolo run --ray-address`: trainings and exports as Ray tasks on a local Ray (2 CPUs) started by the test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from _profiles import onnx_profile

from edgeyolo.pipeline import PipelineConfig, run_pipeline
from edgeyolo.profiles import load_profile

TINY = {"epochs": 1, "batch": 8, "bench_iterations": 2, "bench_warmup": 0, "bench_rounds": 1,
        "train_overrides": {"nbs": 8, "warmup_epochs": 0, "plots": False}}  # fmt: skip


@pytest.fixture
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    yield ray
    ray.shutdown()


def _sweep(tmp_path: Path, out: Path, data: Path, log: list[str], **kw):
    cfg = {**TINY, "models": ("yolo26n",), "imgsz": (64, 96), "camera_shapes": False, **kw}
    return run_pipeline(PipelineConfig(profile=load_profile(onnx_profile(tmp_path)), out=out, data=data, **cfg),
                        log=log.append)  # fmt: skip


def _layout(out: Path) -> tuple[set[str], dict[str, list[str]]]:
    """The run folder's files (per-image sidecars by count: their names hold checksums) and manifests' keys."""
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    sidecars = {f for f in files if f.startswith("results.per-image/")}
    files = (files - sidecars - {f for f in files if f.endswith("val_curves.npz")}) | {
        f"sidecars:{len(sidecars)}"
    }
    manifests = {f: sorted(json.loads((out / f).read_text())) for f in files if f.endswith("manifest.json")}
    return files, manifests


def test_ray_sweep_matches_a_sequential_one_shipped_and_shared(tmp_path, tiny_data, local_ray):
    """The same 2-training sweep here, on Ray with the outputs shipped back, and on Ray writing to a shared out:
    the same files and manifests, no scratch path left in them, and report/diagnose read the run folder."""
    seq, shipped, shared = tmp_path / "seq", tmp_path / "shipped", tmp_path / "shared"
    logs: dict[str, list[str]] = {"seq": [], "shipped": [], "shared": []}
    _sweep(tmp_path, seq, tiny_data, logs["seq"])
    r = _sweep(tmp_path, shipped, tiny_data, logs["shipped"], ray_address="local")
    _sweep(tmp_path, shared, tiny_data, logs["shared"], ray_address="local", shared_out=True)
    assert _layout(shipped) == _layout(seq) == _layout(shared)
    text = "\n".join(logs["shipped"])
    assert "outputs shipped back to this machine" in text and "[ray] yolo26n-96: training running on" in text
    assert "[ray] yolo26n-64: epoch 1/1" in text and "[ray] yolo26n-96: done, 2 artifact(s)" in text
    assert "written by the tasks into the shared" in "\n".join(logs["shared"])
    from edgeyolo._ship import scratch_dir

    scratch = str(scratch_dir(shipped))
    for f in shipped.rglob("*"):
        if f.is_file() and f.suffix in (".yaml", ".json", ".jsonl", ".csv", ".html", ".md"):
            assert scratch not in f.read_text(errors="replace"), f
    done = json.loads((shipped / "train" / "yolo26n-96" / "done.json").read_text())
    assert Path(done["best"]) == shipped / "train" / "yolo26n-96" / "weights" / "best.pt"
    assert r.selected and not list(shared.glob(".edgeyolo-shared-*"))
    from edgeyolo.diagnose import diagnose

    assert diagnose(shipped / "train" / "yolo26n-64", tiny_data).run_dir


def test_a_failing_training_leaves_the_others_artifacts_and_report(tmp_path, tiny_data, local_ray):
    logs: list[str] = []
    r = _sweep(tmp_path, tmp_path / "o", tiny_data, logs, models=("yolo26n", "yolo26q"), imgsz=(64,),
               ray_address="local")  # fmt: skip
    text = "\n".join(logs)
    assert "[ray] yolo26q-64: training failed: " in text, text[-3000:]
    assert [line for line in logs if "training failed" in line][0].count("\n") == 0
    assert (tmp_path / "o" / "artifacts" / "yolo26n-64-onnx-fp32" / "manifest.json").is_file()
    assert (r.report_dir / "report.json").is_file() and r.selected == "yolo26n-64-onnx-fp32"
    assert ("yolo26q-64", "failed", "its Ray task failed (see the [ray] lines above)") in r.export_summary


def test_a_killed_sweep_resumes_its_training_from_last_pt(tmp_path, tiny_data, local_ray):
    """The driver is killed mid-training (its task dies with it): the last.pt shipped after an epoch is in out,
    and a rerun resumes from it on the cluster, then trains nothing again."""
    out = tmp_path / "sweep"
    address = local_ray.get_runtime_context().gcs_address
    args = [sys.executable, "-m", "edgeyolo", "run", "--profile", str(onnx_profile(tmp_path)), "--data", str(tiny_data),
            "--out", str(out), "--models", "yolo26n", "--imgsz", "64", "--epochs", "8", "--batch", "8",
            "--bench-iterations", "2", "--square-only", "--ray-address", address]  # fmt: skip
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    seen = []
    for line in proc.stdout:  # until the driver has written a shipped last.pt into out
        seen.append(line)
        if "last.pt shipped to" in line:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    first = "".join(seen) + proc.communicate()[0]
    assert "last.pt shipped to" in first, first[-3000:]
    assert not (out / "train" / "yolo26n-64" / "done.json").exists(), "killed too late to test resuming"
    cfg = PipelineConfig(profile=load_profile(onnx_profile(tmp_path)), out=out, data=tiny_data, models=("yolo26n",),
                         imgsz=(64,), epochs=8, batch=8, bench_iterations=2, camera_shapes=False, ray_address=address)  # fmt: skip
    logs: list[str] = []
    r = run_pipeline(cfg, log=logs.append)
    text = "\n".join(logs)
    assert "(1 resumed)" in text and "resume from last.pt on a Ray node" in text, text[-3000:]
    assert "[train] resuming" in text, text[-3000:]
    rows = (out / "train" / "yolo26n-64" / "results.csv").read_text().splitlines()[1:]
    assert [int(float(x.split(",")[0])) for x in rows] == list(range(1, 9))
    assert r.selected == "yolo26n-64-onnx-fp32"  # named after its model, not the last.pt it resumed from
    again: list[str] = []
    run_pipeline(cfg, log=again.append)
    text = "\n".join(again)
    assert "0 training(s) to run, 1 done" in text and "reused" in text and "training running" not in text, (
        text
    )


def test_ray_address_to_nowhere_is_one_line(tmp_path, runner):
    pytest.importorskip("ray")
    from edgeyolo.cli import main

    res = runner.invoke(main, ["run", "--profile", "x86-cpu", "--out", str(tmp_path / "o"), "--synth-train", "4",
                               "--synth-val", "2", "--ray-address", "ray://127.0.0.1:1"])  # fmt: skip
    assert res.exit_code == 1, res.output
    err = [line for line in res.output.splitlines() if line.startswith("Error")]
    assert len(err) == 1 and "no Ray cluster answers at 127.0.0.1:1" in err[0], res.output
    assert "Traceback" not in res.output
