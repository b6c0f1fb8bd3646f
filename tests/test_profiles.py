from __future__ import annotations

import pytest
import yaml

from edgeyolo.errors import ConfigError, UnknownNameError
from edgeyolo.profiles import builtin_profile_names, load_profile, parse_profile

GOOD = {
    "name": "mine",
    "imgsz": [320],
    "models": ["yolo26n"],
    "targets": [{"format": "onnx", "precision": "fp32", "runtime": "onnxruntime"}],
    "threads": 4,
    "latency_budget_ms": 50,
}


def test_builtins_are_the_documented_set():
    assert {"x86-cpu", "rpi4", "rpi5", "jetson-orin-nano", "jetson-agx-orin"} <= set(builtin_profile_names())


@pytest.mark.parametrize("name", builtin_profile_names())
def test_every_builtin_profile_loads(name):
    p = load_profile(name)
    assert p.name == name
    assert p.targets and p.imgsz and p.latency_budget_ms > 0
    assert p.resolved_threads() >= 1
    # Round trip: what `profiles show` prints is itself a valid profile.
    assert parse_profile(yaml.safe_load(yaml.safe_dump(p.to_dict()))).to_dict() == p.to_dict()


@pytest.mark.parametrize("name", ["rpi4", "rpi5", "jetson-orin-nano"])
def test_small_devices_use_edge_sizes(name):
    assert set(load_profile(name).imgsz) <= {320, 480}


def test_profile_from_path(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text(yaml.safe_dump(GOOD))
    assert load_profile(str(f)).name == "mine"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"bogus": 1}, "bogus"),
        ({"name": None}, "'name'"),
        ({"imgsz": [300]}, "imgsz"),
        ({"imgsz": "big"}, "imgsz"),
        ({"threads": 0}, "threads"),
        ({"latency_budget_ms": -1}, "latency_budget_ms"),
        ({"targets": [{"format": "tflite", "precision": "fp32"}]}, "tflite"),
        ({"targets": [{"format": "onnx", "precision": "int4"}]}, "int4"),
        ({"targets": [{"format": "onnx", "precision": "fp32", "runtime": "openvino"}]}, "runtime"),
        ({"targets": [{"format": "onnx", "precision": "fp32", "speed": 1}]}, "speed"),
        ({"bench": {"iterations": 0}}, "bench.iterations"),
        ({"bench": {"warmups": 3}}, "warmups"),
        ({"power": {"source": "multimeter"}}, "multimeter"),
    ],
)
def test_bad_profiles_name_the_key(change, named):
    data = {**GOOD, **change}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(ConfigError, match=named):
        parse_profile(data, "mine.yaml")


@pytest.mark.parametrize("missing", ["imgsz", "targets", "latency_budget_ms"])
def test_missing_key_is_named(missing):
    data = {k: v for k, v in GOOD.items() if k != missing}
    with pytest.raises(ConfigError, match=f"missing key '{missing}'"):
        parse_profile(data)


def test_unknown_profile_lists_known_names():
    with pytest.raises(UnknownNameError, match="known: .*rpi5"):
        load_profile("rpi6")


def test_invalid_yaml_file(tmp_path):
    f = tmp_path / "broken.yaml"
    f.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_profile(f)
