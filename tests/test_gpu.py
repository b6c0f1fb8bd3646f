"""CUDA training through `edgeyolo train`: precision choice, no download for the AMP check, DDP.

Marked gpu: skipped with the reason on machines without a CUDA GPU (CI). The TensorRT round trip lives
in test_export.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from test_e2e import _guarded_env

pytestmark = pytest.mark.gpu


def _cuda(min_devices: int = 1):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    if torch.cuda.device_count() < min_devices:
        pytest.skip(f"needs {min_devices} CUDA GPUs, found {torch.cuda.device_count()}")
    return torch


def _train(tmp_path, tiny_data, *extra: str) -> tuple[subprocess.CompletedProcess, dict, str]:
    env, log = _guarded_env(tmp_path)
    out = tmp_path / "runs"
    args = ["train", "--profile", "x86-cpu", "--data", str(tiny_data), "--epochs", "2", "--imgsz", "128",
            "--out", str(out), "--name", "r", *extra]  # fmt: skip
    # cwd outside the checkout: the library's weights folder is <git root or cwd>/weights, and a yolo26n.pt
    # there would switch on its downloading AMP check path.
    p = subprocess.run([sys.executable, "-m", "edgeyolo", *args], capture_output=True, text=True, env=env,
                       timeout=900, cwd=tmp_path)  # fmt: skip
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    settings = yaml.safe_load((out / "r" / "edgeyolo_train.yaml").read_text())
    return p, settings, log.read_text() if log.exists() else ""


def test_cuda_training_picks_precision_and_stays_offline(tmp_path, tiny_data):
    torch = _cuda()
    p, settings, net = _train(tmp_path, tiny_data, "--device", "0")
    assert net == "", net  # the library's AMP check would have fetched yolo26n.pt
    bf16 = torch.cuda.get_device_capability(0) >= (8, 0)
    assert settings["train_args"]["amp"] == ("bf16" if bf16 else True)
    assert ("bfloat16" if bf16 else "float16") in settings["precision"] in p.stdout
    assert "GiB GPU" in settings["batch_reason"]  # batch from the GPU memory table, not the CPU default
    ckpt = torch.load(tmp_path / "runs" / "r" / "weights" / "best.pt", map_location="cpu", weights_only=False)
    assert ckpt["train_args"]["amp"] == settings["train_args"]["amp"]
    assert "mAP50-95" in p.stdout


def test_cuda_float16_amp_check_runs_without_download(tmp_path, tiny_data):
    _cuda()
    cfg = tmp_path / "fp16.yaml"
    cfg.write_text("amp: true\n")
    p, settings, net = _train(tmp_path, tiny_data, "--device", "0", "--config", str(cfg), "--batch", "16")
    assert net == "", net
    assert settings["train_args"]["amp"] is True and "given" in settings["precision"]
    assert "output check skipped" in p.stdout + p.stderr


def test_ddp_two_gpus_scales_lr_and_trains(tmp_path, tiny_data):
    _cuda(min_devices=2)
    p, settings, net = _train(tmp_path, tiny_data, "--device", "0,1", "--batch", "32", "--lr0", "0.01")
    assert net == "", net
    assert settings["train_args"]["lr0"] == pytest.approx(0.02)  # 16 per GPU x 2 GPUs: x(32 / 16)
    assert "over 2 GPUs" in settings["lr_scaling"]
    assert (tmp_path / "runs" / "r" / "weights" / "best.pt").is_file()
