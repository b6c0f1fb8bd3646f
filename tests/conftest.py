"""Shared fixtures: a tiny synthetic dataset, a tiny trained model and its ONNX artifact (built once)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

TINY = 128  # image size for everything trained in the default test run

# A test skipped because a system package is missing (the OpenSSH server, Chromium) would make a partial run
# look like a pass: the run fails instead, naming them, unless EDGEYOLO_ALLOW_MISSING=1 says it is intended.
MISSING_SYSTEM = re.compile(r"not installed|not on PATH|did not start")
_missing: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped and isinstance(report.longrepr, tuple) and MISSING_SYSTEM.search(report.longrepr[2]):
        _missing.append(f"{report.nodeid}: {report.longrepr[2]}")


def pytest_sessionfinish(session, exitstatus):
    if _missing and exitstatus == 0 and os.environ.get("EDGEYOLO_ALLOW_MISSING") != "1":
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    if _missing:
        terminalreporter.section("skipped for a missing system package", sep="!", red=True)
        for line in sorted(set(_missing)):
            terminalreporter.write_line(line)
        terminalreporter.write_line(
            "Install them (.ci/system-packages does; `make test` runs it) or set EDGEYOLO_ALLOW_MISSING=1 "
            "to accept a partial run."
        )


# GPU-only skips (tests marked gpu). A CUDA GPU and the GPU-only extras (TensorRT) are not system packages that
# .ci installs, and a GPU machine without TensorRT is a normal setup: their reasons never match MISSING_SYSTEM
# (test_gpu.py checks these and every gpu-marked test's own reasons).
NO_CUDA = "no CUDA GPU"
NO_TENSORRT = "needs the tensorrt Python package (pip install 'edgeyolo[tensorrt]')"


def too_few_gpus(need: int, found: int) -> str:
    return f"needs {need} CUDA GPUs, found {found}"


def require_cuda(min_devices: int = 1):
    """torch, or a skip when this machine has fewer than ``min_devices`` CUDA GPUs."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip(NO_CUDA)
    if torch.cuda.device_count() < min_devices:
        pytest.skip(too_few_gpus(min_devices, torch.cuda.device_count()))
    return torch


def require_tensorrt():
    """The tensorrt module, or a skip without a CUDA GPU or without the package."""
    require_cuda()
    try:
        import tensorrt
    except ImportError:
        pytest.skip(NO_TENSORRT)
    return tensorrt


@pytest.fixture
def cuda():
    """torch on a machine with a CUDA GPU; skips elsewhere."""
    return require_cuda()


@pytest.fixture
def two_gpus():
    """torch on a machine with at least two CUDA GPUs; skips elsewhere."""
    return require_cuda(2)


@pytest.fixture
def tensorrt():
    """The tensorrt module on a machine with a CUDA GPU and the package; skips elsewhere."""
    return require_tensorrt()


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory):
    """Keep edgeyolo's and ultralytics' caches inside the test session."""
    home = tmp_path_factory.mktemp("edgeyolo-home")
    os.environ["EDGEYOLO_HOME"] = str(home)
    os.environ["YOLO_CONFIG_DIR"] = str(home / "ultralytics")
    yield


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    from edgeyolo.data.synth import SynthConfig, synthesize

    root = tmp_path_factory.mktemp("data")
    return synthesize(SynthConfig(out=root, train=16, val=8, imgsz=TINY, seed=3)).data_yaml


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_data):
    """yolo26n trained from its YAML with the full recipe (check, STAL, ProgLoss) for 2 epochs at 128 px."""
    from edgeyolo.profiles import load_profile
    from edgeyolo.train import TrainConfig, train

    out = tmp_path_factory.mktemp("train")
    return train(TrainConfig(profile=load_profile("x86-cpu"), data=tiny_data, out=out, epochs=2, imgsz=TINY, batch=8,
                             device="cpu", stal=True, overrides={"nbs": 8, "warmup_epochs": 0, "plots": False}))  # fmt: skip


@pytest.fixture(scope="session")
def tiny_weights(tiny_run) -> Path:
    assert tiny_run.best.is_file()
    return tiny_run.best


@pytest.fixture(scope="session")
def onnx_artifact(tmp_path_factory, tiny_weights, tiny_data) -> Path:
    from edgeyolo.export import ExportConfig, export
    from edgeyolo.profiles import TargetSpec, load_profile

    out = tmp_path_factory.mktemp("artifacts")
    r = export(ExportConfig(profile=load_profile("x86-cpu"), weights=tiny_weights, out=out, imgsz=(TINY,),
                            targets=(TargetSpec("onnx", "fp32", "onnxruntime"),), data=tiny_data))  # fmt: skip
    assert [i.status for i in r.items] == ["ok"], [i.reason for i in r.items]
    return r.artifacts[0]
