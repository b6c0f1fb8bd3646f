"""ProgLoss: progressive balancing of the box and classification loss gains over training.

The source document's ProgLoss is a curriculum: first learn *what* (classification), then *where*
(localization), so that early localization loss does not drown classification. Ultralytics has no such
schedule (its "ProgLoss" is the one-to-many -> one-to-one weight decay in ``E2ELoss``, which stays on
underneath with configurable endpoints); edgeyolo applies this one by setting ``trainer.args.box``,
``.cls`` and ``.dfl`` at the start of every epoch (the loss reads them at every step, in both branches).

Localization has two terms, and both move together. ``v8DetectionLoss`` multiplies three terms by
``hyp.box``, ``hyp.cls`` and ``hyp.dfl``; ``BboxLoss`` computes the first (CIoU) and the third. With
YOLO26's ``reg_max: 1`` the third is not a distribution loss but an L1 regression of the same predicted
left/top/right/bottom distances (normalised by the image size), on the same foreground anchors and with
the same target-score weights as the CIoU term; it carries no classification signal (with ``reg_max > 1``
it is DFL, again on those distances). So the ``dfl`` gain scales with ``box``: ``dfl = base_dfl x box /
base_box`` every epoch. That keeps the library's IoU:L1 balance (7.5 : 1.5 by default) and moves all of
localization, not five sixths of its gain; scheduling ``box`` alone would also raise the L1 term's share
of the box loss exactly when the curriculum means to hold localization back.

Modes:
- ``auto``: cls gain starts at ``cls_start`` x base and box (with dfl) at ``box_start`` x base, then moves
  to ``cls_end`` / ``box_end`` x base along a cosine over the whole run.
- ``manual``: user phases ``[{until: 0.3, box: 5.0, cls: 1.0}, {until: 1.0, box: 7.5, cls: 0.5}]``, each
  applying its gains up to that fraction of the run. The phases are absolute gains: they replace a loss
  preset's, so training refuses a preset other than ``general`` (or custom box/cls gains) with them; dfl
  follows each phase's box relative to the general preset's box (7.5).
- ``off``: the base gains (from the loss preset) for every epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from edgeyolo.errors import ConfigError

Mode = Literal["auto", "manual", "off"]
DEFAULT_DFL = 1.5  # the library's dfl gain (the L1 box term on YOLO26)


class Gains(NamedTuple):
    """The three loss gains of one epoch, as ``hyp.box``, ``hyp.cls`` and ``hyp.dfl`` of the loss."""

    box: float
    cls: float
    dfl: float


@dataclass(frozen=True)
class Phase:
    until: float  # fraction of training (0, 1] this phase lasts up to
    box: float
    cls: float


@dataclass(frozen=True)
class ProgLossConfig:
    mode: Mode = "auto"
    box_start: float = 0.5  # auto: multipliers of the base gains at the first and last epoch
    box_end: float = 1.0
    cls_start: float = 2.0
    cls_end: float = 1.0
    phases: tuple[Phase, ...] = field(default_factory=tuple)  # manual mode
    o2m_start: float = 0.8  # the library's one-to-many loss weight at the first epoch ...
    o2m_end: float = 0.1  # ... decaying linearly to this at the last (one-to-one gets 1 - o2m)

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "manual", "off"):
            raise ConfigError(f"progloss: unknown mode '{self.mode}'; use auto, manual or off")
        for name in ("box_start", "box_end", "cls_start", "cls_end"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"progloss: '{name}' must be > 0, got {getattr(self, name)}")
        for name in ("o2m_start", "o2m_end"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"progloss: '{name}' must be in [0, 1], got {getattr(self, name)}")
        if self.mode == "manual":
            if not self.phases:
                raise ConfigError(
                    "progloss manual: give phases, e.g. [{until: 0.3, box: 5, cls: 1}, {until: 1, box: 7.5, cls: 0.5}]"
                )
            last = 0.0
            for i, p in enumerate(self.phases):
                if not last < p.until <= 1.0:
                    raise ConfigError(
                        f"progloss phases[{i}]: 'until' must increase within (0, 1], got {p.until}"
                    )
                if p.box <= 0 or p.cls <= 0:
                    raise ConfigError(f"progloss phases[{i}]: 'box' and 'cls' must be > 0")
                last = p.until
            if last < 1.0:
                raise ConfigError(f"progloss phases: the last phase must reach until: 1.0, got {last}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ProgLossConfig:
        allowed = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise ConfigError(f"progloss: unknown key '{unknown[0]}'; allowed: {', '.join(sorted(allowed))}")
        d = dict(d)
        if d.get("mode") is False:  # YAML 1.1 reads a bare `off` as false
            d["mode"] = "off"
        phases = []
        for i, p in enumerate(d.pop("phases", None) or []):
            if not isinstance(p, dict) or set(p) != {"until", "box", "cls"}:
                raise ConfigError(f"progloss phases[{i}]: must be a mapping with until, box and cls")
            phases.append(Phase(float(p["until"]), float(p["box"]), float(p["cls"])))
        return cls(phases=tuple(phases), **d)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["phases"] = [dict(p.__dict__) for p in self.phases]
        return d


def gains(
    cfg: ProgLossConfig,
    epoch: int,
    epochs: int,
    base_box: float,
    base_cls: float,
    base_dfl: float = DEFAULT_DFL,
) -> Gains:
    """Box, cls and dfl gains for a 0-based ``epoch`` of ``epochs``; dfl keeps its ratio to box."""
    t = epoch / max(epochs - 1, 1)
    if cfg.mode == "off":
        box, cls = base_box, base_cls
    elif cfg.mode == "manual":
        phase = next((p for p in cfg.phases if t <= p.until + 1e-9), cfg.phases[-1])
        box, cls = phase.box, phase.cls
    else:
        w = (1 - math.cos(math.pi * t)) / 2  # 0 -> 1, flat at both ends
        box = base_box * (cfg.box_start + (cfg.box_end - cfg.box_start) * w)
        cls = base_cls * (cfg.cls_start + (cfg.cls_end - cfg.cls_start) * w)
    return Gains(round(box, 6), round(cls, 6), round(base_dfl * box / base_box, 6))


def o2m_weight(cfg: ProgLossConfig, epoch: int, epochs: int) -> float:
    """One-to-many loss weight at ``epoch``, as the library's E2ELoss.decay computes it."""
    return max(1 - epoch / max(epochs - 1, 1), 0) * (cfg.o2m_start - cfg.o2m_end) + cfg.o2m_end
