"""Small device profiles written for a test."""

from __future__ import annotations

from pathlib import Path

import yaml

from edgeyolo.profiles import load_profile


def onnx_profile(tmp_path: Path) -> Path:
    """x86-cpu with one target (ONNX FP32 on ONNX Runtime) and one thread: the cheapest sweep."""
    d = load_profile("x86-cpu").to_dict()
    d.update(
        name="tiny-cpu",
        targets=[{"format": "onnx", "precision": "fp32", "runtime": "onnxruntime"}],
        threads=1,
    )
    path = tmp_path / "tiny-cpu.yaml"
    path.write_text(yaml.safe_dump(d))
    return path
