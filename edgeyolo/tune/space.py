"""The hyperparameter search space: parsing, validation, sampling and mapping onto a TrainConfig.

A space is a YAML mapping of hyperparameter -> distribution::

    lr0: {distribution: log-uniform, low: 1.0e-4, high: 5.0e-2}
    momentum: {distribution: uniform, low: 0.7, high: 0.98}
    close_mosaic: {distribution: int, low: 0, high: 10}
    preset: {distribution: choice, values: [general, small-objects, cls-priority, high-iou, custom]}

Keys are the library's own search space (the Ultralytics tuner's: learning rate, momentum, weight decay,
warm-up, loss gains, HSV, geometry, flips, mosaic, mixup, close_mosaic, ...) plus edgeyolo's recipe: the loss
``preset``, STAL (``stal_p``, ``stal_size``, ...), the ProgLoss schedule (``progloss``,
``progloss_box_start``, ...) and, to trade accuracy for speed under ``--objective map-latency``, ``imgsz`` and
``model``. Two keys are conditional: ``box``/``cls`` are sampled only for ``preset: custom`` (a named preset
fixes both gains), and the ProgLoss multipliers only for ``progloss: auto``.

Sampling is define-by-run on an Optuna trial (:func:`suggest`), used by both backends: locally directly,
under Ray through ``OptunaSearch``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from edgeyolo.errors import ConfigError
from edgeyolo.recipe import LOSS_PRESETS

if TYPE_CHECKING:
    from edgeyolo.train import TrainConfig

Distribution = Literal["uniform", "log-uniform", "int", "choice"]
DISTRIBUTIONS: tuple[str, ...] = ("uniform", "log-uniform", "int", "choice")
CUSTOM = "custom"  # preset value: sample box and cls instead of taking a named preset's gains
DEFAULT_SPACE = "default_space.yaml"


@dataclass(frozen=True)
class KeyInfo:
    kind: Literal["float", "int", "str"]
    bounds: tuple[float, float] | None = None  # valid values (inclusive), for numeric keys
    choices: tuple[Any, ...] | None = None  # valid values, for string keys
    target: str = "override"  # override | lr0 | gain | preset | stal | progloss | imgsz | model
    field: str | None = None  # StalConfig / ProgLossConfig field


_P = (0.0, 1.0)
_INF = math.inf
# Every key a space may name. "override" keys go to Ultralytics as training arguments.
KEYS: dict[str, KeyInfo] = {
    # the library's search space
    "lr0": KeyInfo("float", (0.0, 1.0), target="lr0"),
    "lrf": KeyInfo("float", (0.0, 1.0)),
    "momentum": KeyInfo("float", (0.0, 1.0)),
    "weight_decay": KeyInfo("float", (0.0, 0.1)),
    "warmup_epochs": KeyInfo("float", (0.0, _INF)),
    "warmup_momentum": KeyInfo("float", (0.0, 1.0)),
    "warmup_bias_lr": KeyInfo("float", (0.0, 1.0)),
    "box": KeyInfo("float", (0.0, _INF), target="gain"),
    "cls": KeyInfo("float", (0.0, _INF), target="gain"),
    "cls_pw": KeyInfo("float", (0.0, 1.0)),
    "dfl": KeyInfo("float", (0.0, _INF)),  # L1 box term on YOLO26 (reg_max=1), DFL on older heads
    "hsv_h": KeyInfo("float", _P),
    "hsv_s": KeyInfo("float", _P),
    "hsv_v": KeyInfo("float", _P),
    "degrees": KeyInfo("float", (0.0, 180.0)),
    "translate": KeyInfo("float", _P),
    "scale": KeyInfo("float", _P),
    "shear": KeyInfo("float", (0.0, 180.0)),
    "perspective": KeyInfo("float", (0.0, 0.001)),
    "flipud": KeyInfo("float", _P),
    "fliplr": KeyInfo("float", _P),
    "bgr": KeyInfo("float", _P),
    "mosaic": KeyInfo("float", _P),
    "mixup": KeyInfo("float", _P),
    "cutmix": KeyInfo("float", _P),
    "copy_paste": KeyInfo("float", _P),
    "close_mosaic": KeyInfo("int", (0, _INF)),
    # edgeyolo's recipe
    "preset": KeyInfo("str", choices=(*LOSS_PRESETS, CUSTOM), target="preset"),
    "stal_p": KeyInfo("float", _P, target="stal", field="p"),
    "stal_size": KeyInfo("int", (2, _INF), target="stal", field="size"),
    "stal_copies": KeyInfo("int", (1, _INF), target="stal", field="copies"),
    "stal_end": KeyInfo("float", _P, target="stal", field="end"),
    "stal_decay_start": KeyInfo("float", _P, target="stal", field="decay_start"),
    "stal_schedule": KeyInfo(
        "str", choices=("linear", "cosine", "step", "none"), target="stal", field="schedule"
    ),
    "progloss": KeyInfo("str", choices=("auto", "off"), target="progloss", field="mode"),
    "progloss_box_start": KeyInfo("float", (0.0, _INF), target="progloss", field="box_start"),
    "progloss_cls_start": KeyInfo("float", (0.0, _INF), target="progloss", field="cls_start"),
    "o2m_start": KeyInfo("float", _P, target="progloss", field="o2m_start"),
    "o2m_end": KeyInfo("float", _P, target="progloss", field="o2m_end"),
    "imgsz": KeyInfo("int", (32, 4096), target="imgsz"),
    "model": KeyInfo("str", target="model"),
}
_AUTO_ONLY = ("progloss_box_start", "progloss_cls_start")  # multipliers of ProgLoss' auto mode
_POSITIVE = {"box", "cls", "progloss_box_start", "progloss_cls_start"}  # > 0, not just >= 0


@dataclass(frozen=True)
class Param:
    name: str
    distribution: Distribution
    low: float | None = None
    high: float | None = None
    values: tuple[Any, ...] = ()

    @property
    def log(self) -> bool:
        return self.distribution == "log-uniform"


@dataclass(frozen=True)
class SearchSpace:
    params: dict[str, Param]
    source: str  # file it was read from

    def __contains__(self, key: str) -> bool:
        return key in self.params

    def to_dict(self) -> dict[str, dict[str, Any]]:
        out = {}
        for p in self.params.values():
            if p.distribution == "choice":
                out[p.name] = {"distribution": "choice", "values": list(p.values)}
            else:
                out[p.name] = {"distribution": p.distribution, "low": p.low, "high": p.high}
        return out


def default_space_path() -> Path:
    return Path(str(resources.files("edgeyolo.tune") / DEFAULT_SPACE))


def load_space(path: str | Path | None = None) -> SearchSpace:
    """Read and validate a space YAML (the shipped default when ``path`` is None).

    Raises:
        ConfigError: one line naming the file and the key: unknown keys, unknown distributions, missing or
            bad bounds (``low >= high``, log-uniform with ``low <= 0``, outside the key's valid values).
    """
    p = Path(path) if path is not None else default_space_path()
    if not p.is_file():
        raise ConfigError(f"Search space '{p}' not found; pass a YAML file (see 'edgeyolo tune --help').")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {getattr(e, 'problem', e)}") from None
    return parse_space(data, str(p))


def parse_space(data: Any, where: str = "<space>") -> SearchSpace:
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{where}: a search space is a mapping of hyperparameter -> {{distribution, ...}}")
    params = {}
    for key, spec in data.items():
        params[key] = _parse_param(str(key), spec, where)
    space = SearchSpace(params, where)
    preset = params.get("preset")
    for key in ("box", "cls"):
        if key in params and preset is not None and CUSTOM not in preset.values:
            raise ConfigError(
                f"{where}: '{key}' is sampled only for preset '{CUSTOM}' (a named preset fixes the gains); "
                f"add {CUSTOM} to preset's values or drop '{key}'"
            )
    mode = params.get("progloss")
    for key in _AUTO_ONLY:
        if key in params and mode is not None and "auto" not in mode.values:
            raise ConfigError(
                f"{where}: '{key}' applies to progloss 'auto' only; add auto to progloss's values"
            )
    return space


def _parse_param(key: str, spec: Any, where: str) -> Param:
    info = KEYS.get(key)
    if info is None:
        raise ConfigError(f"{where}: unknown hyperparameter '{key}'; known: {', '.join(KEYS)}")
    if not isinstance(spec, dict):
        raise ConfigError(
            f"{where}: '{key}' must be a mapping like {{distribution: uniform, low: 0, high: 1}}"
        )
    dist = spec.get("distribution")
    if dist not in DISTRIBUTIONS:
        raise ConfigError(
            f"{where}: '{key}': unknown distribution {dist!r}; use one of {', '.join(DISTRIBUTIONS)}"
        )
    if dist == "choice":
        extra = sorted(set(spec) - {"distribution", "values"})
        if extra:
            raise ConfigError(f"{where}: '{key}': unknown field '{extra[0]}' for a choice (use values)")
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: '{key}': a choice needs a non-empty list 'values'")
        if len(set(map(repr, values))) != len(values):
            raise ConfigError(f"{where}: '{key}': values repeat")
        for v in values:
            _check_value(key, info, v, where)
        return Param(key, "choice", values=tuple(values))
    extra = sorted(set(spec) - {"distribution", "low", "high"})
    if extra:
        raise ConfigError(f"{where}: '{key}': unknown field '{extra[0]}' (use low and high)")
    if info.kind == "str":
        raise ConfigError(f"{where}: '{key}' takes names: use distribution: choice with values")
    low, high = spec.get("low"), spec.get("high")
    for name, v in (("low", low), ("high", high)):
        if not _is_number(v):
            raise ConfigError(f"{where}: '{key}': '{name}' must be a number, got {v!r}")
    if dist == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise ConfigError(f"{where}: '{key}': an int range needs whole numbers, got {low}..{high}")
    if info.kind == "int" and dist == "uniform":
        dist = "int"  # an integer hyperparameter (close_mosaic, stal_size) samples whole numbers
    if not low < high:
        raise ConfigError(f"{where}: '{key}': low ({low}) must be below high ({high})")
    if dist == "log-uniform" and low <= 0:
        raise ConfigError(f"{where}: '{key}': a log-uniform range needs low > 0, got {low}")
    _check_value(key, info, low, where)
    _check_value(key, info, high, where)
    if dist == "int" or info.kind == "int":
        low, high = int(math.ceil(low)), int(math.floor(high))
    return Param(
        key, dist, float(low) if info.kind == "float" else low, float(high) if info.kind == "float" else high
    )


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_value(key: str, info: KeyInfo, v: Any, where: str) -> None:
    if info.kind == "str":
        if not isinstance(v, str):
            raise ConfigError(f"{where}: '{key}': values are names, got {v!r}")
        if info.choices is not None and v not in info.choices:
            raise ConfigError(f"{where}: '{key}': unknown value '{v}'; valid: {', '.join(info.choices)}")
        if key == "model" and not v.endswith((".yaml", ".yml", ".pt")):
            raise ConfigError(f"{where}: 'model': '{v}' must be a model YAML (yolo26n.yaml) or a local .pt")
        return
    if not _is_number(v):
        raise ConfigError(f"{where}: '{key}': {v!r} is not a number")
    if info.kind == "int" and not float(v).is_integer():
        raise ConfigError(f"{where}: '{key}': {v!r} is not a whole number")
    lo, hi = info.bounds or (-_INF, _INF)
    if not lo <= v <= hi or (key in _POSITIVE and v <= 0):
        rng = "> 0" if key in _POSITIVE else f"in [{lo:g}, {hi:g}]"
        raise ConfigError(f"{where}: '{key}': {v!r} is outside its valid values ({rng})")
    if key == "imgsz" and int(v) % 32:
        raise ConfigError(f"{where}: 'imgsz': {v!r} is not a multiple of 32 (the model's largest stride)")


def suggest(trial: Any, space: SearchSpace) -> dict[str, Any]:
    """Sample one configuration on an Optuna trial (define-by-run: conditional keys only when they apply)."""
    out: dict[str, Any] = {}

    def draw(p: Param) -> Any:
        if p.distribution == "choice":
            return trial.suggest_categorical(p.name, list(p.values))
        if p.distribution == "int":
            return trial.suggest_int(p.name, int(p.low), int(p.high))
        if KEYS[p.name].kind == "int":
            return trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
        return trial.suggest_float(p.name, p.low, p.high, log=p.log)

    for name, p in space.params.items():
        if (name in ("box", "cls") and "preset" in space) or (name in _AUTO_ONLY and "progloss" in space):
            continue  # conditional: drawn below once the value they depend on is known
        out[name] = draw(p)
    if out.get("preset") == CUSTOM:
        out.update({k: draw(space.params[k]) for k in ("box", "cls") if k in space})
    if out.get("progloss") == "auto":
        out.update({k: draw(space.params[k]) for k in _AUTO_ONLY if k in space})
    return out


def apply_params(base: TrainConfig, params: dict[str, Any]) -> TrainConfig:
    """The TrainConfig of one trial: the base configuration with the sampled hyperparameters applied.

    Everything is expressed with TrainConfig fields, so the result round-trips through a ``--config`` YAML.
    Custom box/cls gains become the run's base gains (``TrainConfig.box``/``cls``: ProgLoss auto schedules
    around them, off keeps them), recorded as loss preset ``custom``; under manual ProgLoss, whose phases are
    absolute gains, every phase is scaled by the same factors relative to the general preset.
    """
    from edgeyolo.train.progloss import Phase
    from edgeyolo.train.stal import StalConfig

    changes: dict[str, Any] = {}
    overrides = dict(base.overrides)
    stal: dict[str, Any] = {}
    progloss: dict[str, Any] = {}
    gains: dict[str, float] = {}
    for key, value in params.items():
        info = KEYS[key]
        if info.kind == "int":
            value = int(value)
        if info.target == "override":
            overrides[key] = value
        elif info.target == "lr0":
            changes["lr0"] = float(value)
        elif info.target in ("imgsz", "model"):
            changes[info.target] = value
        elif info.target == "preset":
            if value != CUSTOM:
                changes["preset"] = value
        elif info.target == "gain":
            gains[key] = float(value)
        elif info.target == "stal":
            stal[info.field] = value
        elif info.target == "progloss":
            progloss[info.field] = value
    if stal:
        changes["stal"] = True
        changes["stal_config"] = dataclasses.replace(base.stal_config or StalConfig(), **stal)
    pl = dataclasses.replace(base.progloss, **progloss) if progloss else base.progloss
    if gains or params.get("preset") == CUSTOM:
        named = LOSS_PRESETS[base.preset if base.preset in LOSS_PRESETS else "general"]
        box = gains.get("box", base.box if base.box is not None else named.box)
        cls = gains.get("cls", base.cls if base.cls is not None else named.cls)
        if pl.mode == "manual":  # absolute phase gains: scale each phase like the general preset's gains
            ref = LOSS_PRESETS["general"]
            fb, fc = box / ref.box, cls / ref.cls
            changes["preset"] = "general"
            pl = dataclasses.replace(
                pl, phases=tuple(Phase(p.until, p.box * fb, p.cls * fc) for p in pl.phases)
            )
        else:  # the trial's base gains; its edgeyolo_train.yaml records them as loss preset "custom"
            changes["box"], changes["cls"] = box, cls
    if pl is not base.progloss:
        changes["progloss"] = pl
    return dataclasses.replace(base, overrides=overrides, **changes)
