"""CUDA training through `edgeyolo train`: precision choice, no download for the AMP check, DDP; GPU skip reasons.

The training tests are marked gpu: skipped with the reason on machines without a CUDA GPU (CI), through the
``cuda`` / ``two_gpus`` fixtures of conftest.py. The TensorRT round trip lives in test_export.py. The last test
(not marked, it runs everywhere) checks that no gpu-marked test's skip reason reads as a missing system package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_e2e import _guarded_env

TESTS = Path(__file__).resolve().parent


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


@pytest.mark.gpu
def test_cuda_training_picks_precision_and_stays_offline(cuda, tmp_path, tiny_data):
    torch = cuda
    p, settings, net = _train(tmp_path, tiny_data, "--device", "0")
    assert net == "", net  # the library's AMP check would have fetched yolo26n.pt
    bf16 = torch.cuda.get_device_capability(0) >= (8, 0)
    assert settings["train_args"]["amp"] == ("bf16" if bf16 else True)
    assert ("bfloat16" if bf16 else "float16") in settings["precision"] in p.stdout
    assert "GiB GPU" in settings["batch_reason"]  # batch from the GPU memory table, not the CPU default
    ckpt = torch.load(tmp_path / "runs" / "r" / "weights" / "best.pt", map_location="cpu", weights_only=False)
    assert ckpt["train_args"]["amp"] == settings["train_args"]["amp"]
    assert "mAP50-95" in p.stdout


@pytest.mark.gpu
def test_cuda_float16_amp_check_runs_without_download(cuda, tmp_path, tiny_data):
    cfg = tmp_path / "fp16.yaml"
    cfg.write_text("amp: true\n")
    p, settings, net = _train(tmp_path, tiny_data, "--device", "0", "--config", str(cfg), "--batch", "16")
    assert net == "", net
    assert settings["train_args"]["amp"] is True and "given" in settings["precision"]
    assert "output check skipped" in p.stdout + p.stderr


@pytest.mark.gpu
def test_ddp_two_gpus_scales_lr_and_trains(two_gpus, tmp_path, tiny_data):
    p, settings, net = _train(tmp_path, tiny_data, "--device", "0,1", "--batch", "32", "--lr0", "0.01")
    assert net == "", net
    assert settings["train_args"]["lr0"] == pytest.approx(0.02)  # 16 per GPU x 2 GPUs: x(32 / 16)
    assert "over 2 GPUs" in settings["lr_scaling"]
    assert (tmp_path / "runs" / "r" / "weights" / "best.pt").is_file()


# ------------------------------------------------------------------ skip reasons of the gpu-marked tests
_SKIPS = {"skip": ("reason", "msg"), "importorskip": ("reason",), "skipif": ("reason",)}


def _is_gpu_mark(node: ast.AST) -> bool:
    """``pytest.mark.gpu`` (or a list/tuple holding it, as ``pytestmark`` may be)."""
    if isinstance(node, (ast.List, ast.Tuple)):
        return any(_is_gpu_mark(e) for e in node.elts)
    node = node.func if isinstance(node, ast.Call) else node
    return isinstance(node, ast.Attribute) and node.attr == "gpu" and ast.unparse(node.value).endswith("mark")


def _text(node: ast.AST | None, constants: dict[str, str]) -> str | None:
    """A reason's text: a literal, an f-string's literal parts (``{}`` for each value), or a module constant."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def gpu_skip_reasons(source: str, name: str) -> dict[str, list[str]]:
    """Per gpu-marked test of a test module's ``source``: the reasons of the skips it can take, its own and
    those of the module's functions it calls (transitively). conftest's helpers are checked by calling them."""
    tree = ast.parse(source)
    funcs = {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                 and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
                 for t in n.targets if isinstance(t, ast.Name)}  # fmt: skip
    module_gpu = any(isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark"
                                                       for t in n.targets) and _is_gpu_mark(n.value)
                     for n in tree.body)  # fmt: skip

    def reasons(fn: ast.AST, seen: set[str]) -> list[str]:
        found = []
        for node in ast.walk(fn):
            if not isinstance(node, ast.Call):
                continue
            callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if callee in _SKIPS:
                args = [k.value for k in node.keywords if k.arg in _SKIPS[callee]]
                if callee == "skip" and node.args:
                    args.append(node.args[0])
                found += [t for t in (_text(a, constants) for a in args) if t is not None]
            elif callee in funcs and callee not in seen:
                seen.add(callee)
                found += reasons(funcs[callee], seen)
        return found

    return {f"{name}::{fn.name}": reasons(fn, {fn.name}) for fn in funcs.values()
            if fn.name.startswith("test_") and (module_gpu or any(_is_gpu_mark(d) for d in fn.decorator_list))}  # fmt: skip


def test_no_gpu_skip_reason_reads_as_a_missing_system_package(monkeypatch):
    """A skip whose reason matches conftest's MISSING_SYSTEM fails the run (a CI system package is missing). A
    GPU-only skip must not: a GPU machine without TensorRT, or CI without a GPU, is a normal setup."""
    import conftest

    # conftest's helpers, each way they skip: no GPU, too few GPUs, no tensorrt package.
    torch = pytest.importorskip("torch")
    reasons = {}
    for gpus, has_trt in ((0, True), (1, False), (1, True)):
        monkeypatch.setattr(torch.cuda, "is_available", lambda gpus=gpus: gpus > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda gpus=gpus: gpus)
        monkeypatch.setitem(sys.modules, "tensorrt", sys.modules.get("tensorrt") if has_trt else None)
        for helper, call in (("cuda", conftest.require_cuda), ("two_gpus", lambda: conftest.require_cuda(2)),
                             ("tensorrt", conftest.require_tensorrt)):  # fmt: skip
            try:
                call()
            except pytest.skip.Exception as e:
                reasons[f"conftest {helper}, {gpus} GPU(s), tensorrt {has_trt}"] = str(e)
    assert conftest.NO_CUDA in reasons.values() and conftest.NO_TENSORRT in reasons.values(), reasons
    assert conftest.too_few_gpus(2, 1) in reasons.values(), reasons

    # Every gpu-marked test's own skips, read from the source.
    tests = {}
    for path in sorted(TESTS.glob("test_*.py")):
        tests.update(gpu_skip_reasons(path.read_text(), path.name))
    assert {"test_gpu.py::test_ddp_two_gpus_scales_lr_and_trains", "test_export.py::test_tensorrt_round_trip"} <= set(
        tests), sorted(tests)  # fmt: skip
    reasons.update({f"{test}, skip {i}": t for test, texts in tests.items() for i, t in enumerate(texts)})
    bad = {k: v for k, v in reasons.items() if conftest.MISSING_SYSTEM.search(v)}
    assert not bad, (f"GPU-only skips that would fail the run as a missing system package: {bad}; skip through "
                     "conftest's cuda/two_gpus/tensorrt fixtures, or word the reason as what the test needs")  # fmt: skip


def test_the_source_reader_finds_skip_reasons():
    src = (
        "import pytest\nfrom x import y\nWHY = 'sshd did not start'\npytestmark = [pytest.mark.gpu]\n"
        "def _need(n):\n    pytest.skip(f'{n} is not on PATH')\n"
        "def test_a():\n    _need(1)\n    pytest.importorskip('trt', reason='TensorRT is not installed')\n"
        "def test_b():\n    pytest.skip(WHY)\n"
    )
    assert gpu_skip_reasons(src, "m.py") == {
        "m.py::test_a": ["{} is not on PATH", "TensorRT is not installed"], "m.py::test_b": ["sshd did not start"]}  # fmt: skip
    assert gpu_skip_reasons(src.replace("pytestmark = [pytest.mark.gpu]", ""), "m.py") == {}
    marked = "import pytest\n@pytest.mark.gpu\ndef test_c():\n    pytest.skip(msg='no GPU')\ndef test_d():\n    pass\n"
    assert gpu_skip_reasons(marked, "m.py") == {"m.py::test_c": ["no GPU"]}
