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
        ({"map_tie_margin": -0.001}, "map_tie_margin"),
        ({"map_tie_margin": 2}, "map_tie_margin"),
        ({"map_tie_margin": "small"}, "map_tie_margin"),
    ],
)
def test_bad_profiles_name_the_key(change, named):
    data = {**GOOD, **change}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(ConfigError, match=named):
        parse_profile(data, "mine.yaml")


def test_the_tie_margin_is_optional_with_the_select_default():
    """map_tie_margin: a mAP50-95 difference whose whole paired interval is within it is a tie (select)."""
    from edgeyolo.select.types import DEFAULT_MAP_TIE_MARGIN

    assert parse_profile(GOOD).map_tie_margin == DEFAULT_MAP_TIE_MARGIN == 0.001
    assert parse_profile({**GOOD, "map_tie_margin": 0}).map_tie_margin == 0.0
    assert parse_profile({**GOOD, "map_tie_margin": 0.005}).to_dict()["map_tie_margin"] == 0.005


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


def test_an_installed_wheel_lists_every_builtin_profile(tmp_path):
    """The profiles live in the checkout's top-level profiles/ folder; the wheel built from it carries them, so
    an installation that has never seen the checkout lists all of them."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    shipped = sorted(p.stem for p in (root / "profiles").glob("*.yaml"))
    assert len(shipped) >= 5
    # Built from a copy of the source files (no build/ folder left from an earlier build can supply them).
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                           capture_output=True, check=True).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, files):
        if (root / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, src / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            "--wheel-dir", str(tmp_path / "dist"), str(src)], capture_output=True, text=True)  # fmt: skip
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("edgeyolo-*.whl")
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                              "--target", str(site), str(wheel)], capture_output=True, text=True)  # fmt: skip
    assert install.returncode == 0, install.stderr
    code = ("import edgeyolo.profiles as p; print(p.__file__); print(p.builtin_profile_dir()); "
            "print(' '.join(q.name for q in p.list_profiles()))")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert r.returncode == 0, r.stderr
    module, folder, names = r.stdout.splitlines()
    assert Path(module).is_relative_to(site) and Path(folder) == site / "edgeyolo" / "profiles"
    assert names.split() == shipped
