"""Device profiles: what a target device can run and what it must achieve.

A profile is data (``<name>.yaml``, name = file stem) validated once at the boundary. The built-in ones live
in the repository's top-level ``profiles/`` folder, where users find and copy them; a wheel carries them as
``edgeyolo/profiles/*.yaml`` (``setup.py`` copies them in at build time).
Unknown keys are rejected and the bad key is named, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from edgeyolo.errors import ConfigError, UnknownNameError
from edgeyolo.formats import FORMATS, PRECISIONS, RUNTIMES_FOR_FORMAT
from edgeyolo.shapes import Aspect, Shape, camera_shape, parse_aspect, parse_shape

POWER_SOURCES = ("none", "rapl", "tegrastats", "rpi-pmic")
# FORMATS, PRECISIONS and RUNTIMES_FOR_FORMAT (which runtimes execute which format) are the registry's
# live views (edgeyolo.formats): a registered format is valid in a profile at once.

Format = str  # a name in FORMATS
Precision = Literal["fp32", "fp16", "int8"]


@dataclass(frozen=True)
class TargetSpec:
    """One deployable combination on the device."""

    format: Format
    precision: Precision
    runtime: str

    @property
    def key(self) -> str:
        return f"{self.format}-{self.precision}"


@dataclass(frozen=True)
class BenchSettings:
    """How long the latency run lasts."""

    warmup: int = 10  # untimed inferences before measuring
    iterations: int = 100  # timed end-to-end inferences
    min_duration_s: float = 0.0  # keep measuring until this much time has passed as well
    # Interleaved rounds: the candidates are measured in alternation (A B C, C B A, A B C, ...: each pass reverses the last), each round in a fresh
    # process, the iterations and min_duration_s spread over them; the round-to-round spread is the noise figure.
    rounds: int = 3


@dataclass(frozen=True)
class PowerSettings:
    source: str = "none"  # where power is read on the device: none, rapl, tegrastats, rpi-pmic


@dataclass(frozen=True)
class DeviceProfile:
    """A named edge device: candidate sizes and models, runnable targets, and the latency budget."""

    name: str
    imgsz: tuple[
        int, ...
    ]  # candidate sizes (the long side; training is square at it), first = default training size
    models: tuple[str, ...]  # candidate YOLO26 scales, e.g. yolo26n
    targets: tuple[TargetSpec, ...]  # format x precision x runtime that the device can run
    threads: int | Literal["auto"]  # CPU threads for inference; "auto" = every core available
    latency_budget_ms: float  # p90 end-to-end latency budget used by select
    description: str = ""
    arch: str = "any"  # x86_64, aarch64 or any
    max_map_drop: float = 0.02  # mAP50-95 an INT8/FP16 candidate may lose vs its FP32 twin
    # select: a mAP50-95 difference whose whole paired interval lies within +-this is a tie (as is one with 0
    # strictly inside its interval); 0 ties identical detections only
    map_tie_margin: float = 0.001
    bench: BenchSettings = field(default_factory=BenchSettings)
    power: PowerSettings = field(default_factory=PowerSettings)
    source: str = ""  # where the profile was loaded from
    camera: Aspect | None = (
        None  # the camera's aspect (`camera: 1920x1080` or `16:9`); None: from the val images
    )
    shapes: tuple[
        Shape, ...
    ] = ()  # explicit non-square inputs (`imgsz: [320x192]`), each also trained square
    fps: float | None = None  # target frames per second of each camera stream (bench --streams); None: none

    def deploy_shapes(
        self, size: int, camera: Aspect | None, extra: tuple[Shape, ...] = ()
    ) -> tuple[Shape, ...]:
        """The inputs a model is deployed at for one size (the long side): square, the camera shape of ``camera``
        (the profile's own, the val images' aspect, or None for none) when it is not square, and the explicit
        ``WxH`` entries of that long side (the profile's, then ``extra``)."""
        shapes = [Shape.square(size)]
        if camera is not None:
            shapes.append(camera_shape(size, camera))
        shapes += [s for s in (*self.shapes, *extra) if s.long == size]
        return tuple(dict.fromkeys(shapes))

    def resolved_threads(self) -> int:
        """Thread count to use on this machine."""
        if self.threads == "auto":
            try:
                return len(os.sched_getaffinity(0))
            except AttributeError:  # not Linux
                return os.cpu_count() or 1
        return int(self.threads)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["imgsz"] = list(self.imgsz) + [s.label for s in self.shapes]
        d.pop("camera")
        if self.camera is not None:
            d["camera"] = self.camera.label
        d.pop("shapes")  # written into imgsz as WxH
        d["models"] = list(self.models)
        d["targets"] = [asdict(t) for t in self.targets]
        d.pop("source")
        if self.fps is None:
            d.pop("fps")
        return d


_REQUIRED = ("name", "imgsz", "models", "targets", "threads", "latency_budget_ms")
_OPTIONAL = ("description", "arch", "max_map_drop", "map_tie_margin", "bench", "power", "camera", "fps")


def _fail(where: str, msg: str) -> ConfigError:
    return ConfigError(f"{where}: {msg}")


def _check_keys(d: dict, allowed: tuple[str, ...], required: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(d) - set(allowed))
    if unknown:
        raise _fail(where, f"unknown key '{unknown[0]}'; allowed keys: {', '.join(allowed)}")
    missing = [k for k in required if k not in d]
    if missing:
        raise _fail(where, f"missing key '{missing[0]}' (required: {', '.join(required)})")


def _positive_int(value: Any, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _fail(where, f"'{key}' must be a positive integer, got {value!r}")
    return value


def _number(value: Any, key: str, where: str, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise _fail(where, f"'{key}' must be a number >= {minimum}, got {value!r}")
    return float(value)


def _parse_target(t: Any, i: int, where: str) -> TargetSpec:
    w = f"{where} targets[{i}]"
    if not isinstance(t, dict):
        raise _fail(
            w, f"must be a mapping like {{format: onnx, precision: fp32, runtime: onnxruntime}}, got {t!r}"
        )
    _check_keys(t, ("format", "precision", "runtime"), ("format", "precision"), w)
    fmt, prec = t["format"], t["precision"]
    if fmt not in FORMATS:
        raise _fail(w, f"unknown format '{fmt}'; known: {', '.join(FORMATS)}")
    if prec not in PRECISIONS:
        raise _fail(w, f"unknown precision '{prec}'; known: {', '.join(PRECISIONS)}")
    runtime = t.get("runtime", RUNTIMES_FOR_FORMAT[fmt][0])
    if runtime not in RUNTIMES_FOR_FORMAT[fmt]:
        raise _fail(w, f"runtime '{runtime}' cannot run format '{fmt}'; use {RUNTIMES_FOR_FORMAT[fmt][0]}")
    return TargetSpec(fmt, prec, runtime)


def parse_profile(data: Any, source: str = "<dict>") -> DeviceProfile:
    """Validate a profile mapping (as loaded from YAML) and return it typed."""
    where = f"profile {source}"
    if not isinstance(data, dict):
        raise _fail(where, "must be a YAML mapping of keys (name, imgsz, models, targets, ...)")
    _check_keys(data, _REQUIRED + _OPTIONAL, _REQUIRED, where)

    name = data["name"]
    if not isinstance(name, str) or not name:
        raise _fail(where, f"'name' must be a non-empty string, got {name!r}")
    imgsz = data["imgsz"]
    if isinstance(imgsz, (int, str)) and not isinstance(imgsz, bool):
        imgsz = [imgsz]
    if not isinstance(imgsz, list) or not imgsz:
        raise _fail(
            where, f"'imgsz' must be a list of sizes like [320, 480] or [320x192], got {data['imgsz']!r}"
        )
    sizes, shapes = parse_sizes_and_shapes(imgsz, f"{where} 'imgsz'")
    camera = parse_aspect(data["camera"], f"{where} 'camera'") if data.get("camera") is not None else None
    models = data["models"]
    if not isinstance(models, list) or not models or not all(isinstance(m, str) and m for m in models):
        raise _fail(where, f"'models' must be a list of model names like [yolo26n], got {models!r}")
    targets = data["targets"]
    if not isinstance(targets, list) or not targets:
        raise _fail(where, "'targets' must be a non-empty list of {format, precision, runtime}")
    parsed_targets = tuple(_parse_target(t, i, where) for i, t in enumerate(targets))
    threads = data["threads"]
    if threads != "auto":
        threads = _positive_int(threads, "threads", where)
    budget = _number(data["latency_budget_ms"], "latency_budget_ms", where, minimum=1e-9)
    max_drop = _number(data.get("max_map_drop", 0.02), "max_map_drop", where)
    tie_margin = _number(data.get("map_tie_margin", 0.001), "map_tie_margin", where)
    if tie_margin > 1:
        raise _fail(where, f"'map_tie_margin' is a mAP50-95 difference between 0 and 1, got {tie_margin:g}")

    fps = data.get("fps")
    if fps is not None and (
        isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps <= 1000
    ):
        raise _fail(where, f"'fps' (the target frames per second of each camera stream) must be a number above 0 "
                           f"and at most 1000, got {fps!r}")  # fmt: skip

    bench_d = data.get("bench") or {}
    if not isinstance(bench_d, dict):
        raise _fail(where, "'bench' must be a mapping like {warmup: 10, iterations: 100}")
    _check_keys(bench_d, ("warmup", "iterations", "min_duration_s", "rounds"), (), f"{where} bench")
    bench = BenchSettings(
        warmup=int(_number(bench_d.get("warmup", 10), "bench.warmup", where)),
        iterations=_positive_int(bench_d.get("iterations", 100), "bench.iterations", where),
        min_duration_s=_number(bench_d.get("min_duration_s", 0.0), "bench.min_duration_s", where),
        rounds=_positive_int(bench_d.get("rounds", 3), "bench.rounds", where),
    )
    power_d = data.get("power") or {}
    if not isinstance(power_d, dict):
        raise _fail(where, "'power' must be a mapping like {source: rapl}")
    _check_keys(power_d, ("source",), (), f"{where} power")
    psrc = power_d.get("source", "none")
    if psrc not in POWER_SOURCES:
        raise _fail(where, f"unknown power.source '{psrc}'; known: {', '.join(POWER_SOURCES)}")

    for key in ("description", "arch"):
        if key in data and not isinstance(data[key], str):
            raise _fail(where, f"'{key}' must be a string, got {data[key]!r}")
    return DeviceProfile(
        name=name,
        imgsz=sizes,
        models=tuple(models),
        targets=parsed_targets,
        threads=threads,
        latency_budget_ms=budget,
        description=data.get("description", ""),
        arch=data.get("arch", "any"),
        max_map_drop=max_drop,
        map_tie_margin=tie_margin,
        bench=bench,
        power=PowerSettings(psrc),
        source=source,
        camera=camera,
        shapes=shapes,
        fps=None if fps is None else float(fps),
    )


def parse_sizes_and_shapes(values: list, where: str) -> tuple[tuple[int, ...], tuple[Shape, ...]]:
    """Profile or CLI sizes: ``320`` (square) and ``320x192`` (WxH) entries -> the training sizes (long sides, in
    order, each once) and the explicit non-square inputs.

    Raises:
        ConfigError: an entry that is not a size, or whose sides are not multiples of 32.
    """
    sizes: list[int] = []
    shapes: list[Shape] = []
    for v in values:
        shape = parse_shape(v, where)
        if shape.long not in sizes:
            sizes.append(shape.long)
        if not shape.is_square and shape not in shapes:
            shapes.append(shape)
    return tuple(sizes), tuple(shapes)


def builtin_profile_dir() -> Path:
    """Where the built-in profiles are: inside the installed package (a wheel carries them there), or the
    top-level ``profiles/`` folder of a source checkout (an editable install reads them in place)."""
    here = Path(__file__).resolve().parent
    if any(here.glob("*.yaml")):
        return here
    checkout = here.parents[1] / "profiles"
    if checkout.is_dir():
        return checkout
    raise ConfigError(
        f"no built-in profiles in {here} or {checkout}; reinstall edgeyolo (pip install edgeyolo)"
    )


def builtin_profile_files() -> list[Path]:
    """The built-in profile files, sorted by name."""
    return sorted(builtin_profile_dir().glob("*.yaml"))


def builtin_profile_names() -> list[str]:
    """Names of the profiles shipped with edgeyolo."""
    return [p.stem for p in builtin_profile_files()]


def _read_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"profile {source}: not valid YAML{at}: {getattr(e, 'problem', e)}") from None


def load_profile(name_or_path: str | os.PathLike) -> DeviceProfile:
    """Load a built-in profile by name, or a profile YAML file by path."""
    text = str(name_or_path)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or os.sep in text or path.exists():
        if not path.is_file():
            raise ConfigError(
                f"Profile file '{path}' not found; pass an existing YAML file or a built-in name."
            )
        return parse_profile(_read_yaml(path.read_text(encoding="utf-8"), str(path)), str(path))
    names = builtin_profile_names()
    if text not in names:
        raise UnknownNameError(
            f"Unknown profile '{text}'; known: {', '.join(names)}. Pass a path to use your own profile."
        )
    resource = builtin_profile_dir() / f"{text}.yaml"
    profile = parse_profile(_read_yaml(resource.read_text(encoding="utf-8"), text), f"{text}")
    if profile.name != text:
        raise ConfigError(f"built-in profile {text}: 'name' is '{profile.name}', must equal the file name")
    return profile


def list_profiles() -> list[DeviceProfile]:
    """Every built-in profile, loaded and validated."""
    return [load_profile(n) for n in builtin_profile_names()]
