"""The format registry (edgeyolo/formats.py): one entry is all a new format takes, and no other table of names
remains.

A throwaway format with a trivial exporter and runtime, registered here only, goes through every reader of the
registry: profile validation, export (files, manifest, refusals, missing packages), ``load_runtime``, the device
agent's package report, ``device setup``'s runtime list and wheel, and the command line's choices and help.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import types
from importlib.machinery import ModuleSpec
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgeyolo import formats
from edgeyolo.cli import main
from edgeyolo.formats import FormatInfo, Package, RuntimeInfo
from edgeyolo.runtime.base import Runtime

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "edgeyolo"
TOY = "edgeyolo_toy_format"  # the module of the throwaway format's exporter, runtime backend and runtime package
# Literal names left outside the registry in modules this change did not own, each with its line (remove the
# entry when the module asks the registry instead).
LEFTOVERS: dict[str, set[str]] = {}  # files allowed to spell a name, and which


class ToyRuntime(Runtime):
    """Answers every input with ``rows`` empty detections, ``rows`` read from the model file."""

    name = "toyrt"

    def load(self) -> None:
        self.rows = json.loads(self.artifact.model_path.read_text())["rows"]

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        return np.zeros((1, self.rows, 6), np.float32)

    def io_spec(self) -> tuple[dict, dict]:
        h, w = self.artifact.shape
        return (
            {"name": "images", "shape": [1, 3, h, w], "dtype": "float32"},
            {"name": "output0", "shape": [1, self.rows, 6], "dtype": "float32"},
        )


def export_toy(job) -> None:
    """Writes ``model.toy`` (the output rows the NMS-free graph would have) and a scratch file that must not ship."""
    from edgeyolo.export import output_rows

    job.out.mkdir(parents=True)
    (job.out / "model.toy").write_text(json.dumps({"rows": output_rows(job.imgsz, job.max_det)}))
    (job.out / "scratch.log").write_text("intermediate")


@pytest.fixture
def toy(monkeypatch):
    """The throwaway format ``toyfmt`` run by ``toyrt``, registered for one test."""
    module = types.ModuleType(TOY)
    module.__spec__ = ModuleSpec(TOY, None)  # find_spec (export's package check) needs one
    module.__version__ = "1.2.3"
    module.ToyRuntime, module.export_toy = ToyRuntime, export_toy
    monkeypatch.setitem(sys.modules, TOY, module)
    rt = RuntimeInfo("toyrt", f"{TOY}:ToyRuntime", module=TOY, package="edgeyolo-toy-runtime", extra="toy")
    fmt = FormatInfo("toyfmt", ("model.toy",), ("toyrt",), f"{TOY}:export_toy",
                     packages=(Package(TOY, "toy"), Package("edgeyolo_no_such_module", "toy-fp16", "fp16")),
                     precisions=("fp32", "fp16"), refused=(("int8", "toyfmt has no INT8"),))  # fmt: skip
    formats.register_runtime(rt)
    formats.register_format(fmt)
    yield fmt
    formats.unregister_format("toyfmt")
    formats.unregister_runtime("toyrt")


def test_a_profile_accepts_a_registered_format(toy):
    from edgeyolo.errors import ConfigError
    from edgeyolo.profiles import parse_profile

    base = dict(name="toy", imgsz=[64], models=["yolo26n"], threads=1, latency_budget_ms=10)
    p = parse_profile({**base, "targets": [{"format": "toyfmt", "precision": "fp32"}]})
    assert (p.targets[0].format, p.targets[0].runtime) == ("toyfmt", "toyrt")
    with pytest.raises(ConfigError, match="runtime 'onnxruntime' cannot run format 'toyfmt'; use toyrt"):
        parse_profile(
            {**base, "targets": [{"format": "toyfmt", "precision": "fp32", "runtime": "onnxruntime"}]}
        )
    from edgeyolo.bench.store import record_schema

    assert "toyfmt" in record_schema()["properties"]["candidate"]["properties"]["format"]["enum"]
    formats.unregister_format("toyfmt")
    assert "toyfmt" not in record_schema()["properties"]["candidate"]["properties"]["format"]["enum"]
    with pytest.raises(ConfigError, match="unknown format 'toyfmt'; known: onnx, openvino, tensorrt, ncnn$"):
        parse_profile({**base, "targets": [{"format": "toyfmt", "precision": "fp32"}]})


def test_export_writes_it_with_a_manifest_and_its_runtime_runs_it(toy, tmp_path, monkeypatch):
    """``edgeyolo export --formats toyfmt`` (the checkpoint's reading faked: no torch here) writes the registry's
    files and a manifest, and ``load_runtime`` runs the artifact; refusals and missing packages come from the
    registry too."""
    import edgeyolo._backend.checkpoints as checkpoints
    from edgeyolo.export import unavailable_reason
    from edgeyolo.profiles import TargetSpec
    from edgeyolo.runtime import load_runtime

    info = {"names": ["thing"], "end2end": True, "head": None, "imgsz": 64, "model": "toy26n"}
    monkeypatch.setattr(checkpoints, "checkpoint_info", lambda weights: dict(info))
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"not a real checkpoint")
    out = tmp_path / "artifacts"
    r = CliRunner().invoke(main, ["export", "--profile", "x86-cpu", "--weights", str(weights), "--imgsz", "64",
                                  "--formats", "toyfmt", "--precisions", "fp32,int8,fp16", "--out", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "toyfmt has no INT8" in r.output
    assert "edgeyolo_no_such_module is not installed: pip install 'edgeyolo[toy-fp16]'" in r.output
    art = out / "toy26n-64-toyfmt-fp32"
    assert sorted(p.name for p in art.iterdir()) == ["manifest.json", "model.toy"]  # not the scratch file
    manifest = json.loads((art / "manifest.json").read_text())
    assert (manifest["format"], manifest["runtime"], manifest["file"]) == ("toyfmt", "toyrt", "model.toy")
    assert manifest["output"]["shape"] == [1, 84, 6] and manifest["max_det"] == 84  # 8x8 + 4x4 + 2x2 anchors
    assert TOY in formats.recorded_packages()  # its version goes into manifests where it is installed
    rt = load_runtime(art)
    assert isinstance(rt, ToyRuntime)
    assert len(rt.predict(np.zeros((48, 64, 3), np.uint8))) == 0
    assert unavailable_reason(TargetSpec("toyfmt", "int8", "toyrt"), None) == "toyfmt has no INT8"


def test_the_agent_reports_its_package_and_device_setup_installs_it(toy):
    from edgeyolo.bench.agent import info
    from edgeyolo.bench.remote import Device, Host
    from edgeyolo.device import SetupConfig, setup_runtimes
    from edgeyolo.device.wheelhouse import runtime_requirements
    from edgeyolo.profiles import load_profile

    assert info()["runtimes"]["toyrt"] == "1.2.3"
    assert formats.runtime_of({"format": "toyfmt"}) == "toyrt"
    dev = Device(name="pi", host=Host("pi", "10.0.0.5", 22))
    assert setup_runtimes(SetupConfig(dev, runtimes=("toyrt", "ncnn")))[0] == ("toyrt", "ncnn")
    assert setup_runtimes(SetupConfig(dev, profile=load_profile("rpi5")))[0] == (
        "onnxruntime",
        "openvino",
        "ncnn",
    )
    assert runtime_requirements(["toyrt"]) == ["edgeyolo-toy-runtime"]  # no version range: not in an extra
    assert "toyrt" in formats.PIP_RUNTIMES


def test_cli_choices_and_help_come_from_the_registry(toy):
    runner = CliRunner(env={"COLUMNS": "200"})
    help_text = " ".join(runner.invoke(main, ["export", "--help"]).output.split())
    assert (
        "Comma-separated subset: onnx, openvino, tensorrt, ncnn, toyfmt; default: the profile's." in help_text
    )
    assert "Comma-separated subset: fp32, fp16, int8; default: the profile's." in help_text
    setup_help = " ".join(runner.invoke(main, ["device", "setup", "--help"]).output.split())
    # the runtimes pip installs: not tensorrt
    assert "e.g. onnxruntime,ncnn (onnxruntime, openvino, ncnn, toyrt)." in setup_help
    r = runner.invoke(main, ["export", "--profile", "x86-cpu", "--weights", "w.pt", "--formats", "bogus"])
    assert r.exit_code == 2
    said = " ".join(r.output.split())
    assert "unknown format 'bogus'; known: onnx, openvino, tensorrt, ncnn, toyfmt" in said
    formats.unregister_format("toyfmt")
    formats.unregister_runtime("toyrt")
    help_text = " ".join(runner.invoke(main, ["export", "--help"]).output.split())
    assert "Comma-separated subset: onnx, openvino, tensorrt, ncnn; default: the profile's." in help_text


def test_registry_entries_are_complete():
    """Every runtime a format names is registered; backends and exporters load, and only when asked."""
    for fmt in formats.FORMAT_TABLE.values():
        assert fmt.files and set(fmt.runtimes) <= set(formats.RUNTIMES)
        assert callable(formats.load(fmt.exporter))
    for rt in formats.RUNTIME_TABLE.values():
        assert formats.load(rt.backend).name == rt.name
    with pytest.raises(ValueError, match="already registered"):
        formats.register_format(formats.get_format("onnx"))
    with pytest.raises(ValueError, match="must be registered ones"):
        formats.register_format(FormatInfo("x", ("m",), ("nope",), "m:f"))
    code = "import sys, edgeyolo.formats; print(' '.join(sorted(m for m in sys.modules if m.startswith('edgeyolo'))))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.stdout.split() == ["edgeyolo", "edgeyolo._version", "edgeyolo.errors", "edgeyolo.formats"], (
        r.stderr
    )


def _registered_names() -> set[str]:
    names = set(formats.FORMATS) | set(formats.RUNTIMES)
    for rt in formats.RUNTIME_TABLE.values():
        names |= {rt.module, rt.package}
    for fmt in formats.FORMAT_TABLE.values():
        names |= {p.module for p in fmt.packages} | set(fmt.versions)
    return names


def _own_modules() -> set[str]:
    """The registry and each format's own modules (its exporter, backend, check and quantization settings)."""
    refs = [r.backend for r in formats.RUNTIME_TABLE.values()]
    refs += [x for f in formats.FORMAT_TABLE.values() for x in (f.exporter, f.check, f.quantization) if x]
    return {"edgeyolo/formats.py"} | {ref.partition(":")[0].replace(".", "/") + ".py" for ref in refs}


def test_no_other_table_of_format_or_runtime_names():
    """Outside the registry and the formats' own modules no string is a format, runtime or package name, and
    none (docstrings aside) lists three of them: every such list comes from the registry."""
    names, own, found = _registered_names(), _own_modules(), {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in own:
            continue
        tree = ast.parse(path.read_text(), rel)
        docstrings = {id(n.body[0].value) for n in ast.walk(tree) if isinstance(n, ast.Module | ast.ClassDef
                      | ast.FunctionDef | ast.AsyncFunctionDef) and ast.get_docstring(n, clean=False) is not None}  # fmt: skip
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in docstrings:
                continue
            listed = {w for w in re.findall(r"[\w-]+", node.value) if w in names}
            if node.value in names or len(listed) >= 3:
                found.setdefault(rel, set()).add(node.value)
    assert found == LEFTOVERS, f"name these through edgeyolo.formats instead: {found}"
