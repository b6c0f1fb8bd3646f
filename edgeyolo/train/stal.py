"""STAL: small-target augmentation, decayed over training.

The seed document's STAL, which Ultralytics does not have (its ``utils/tal.py`` "STAL" is a label
assignment rule, and its ``CopyPaste`` needs polygon labels):

- Detection: targets whose longer side is below ``size`` pixels at the training resolution.
- Augmentation: their pixel patches (with a small context margin) are upsampled, copied and pasted at
  free positions of the same image, and, through a per-process bank of recent patches, of other images.
- Decay: the probability of pasting falls over training (:func:`stal_intensity`) so the model ends on
  the original distribution.

:class:`SmallTargetAugment` is an Ultralytics-style transform (``labels -> labels``) meant to sit just
before ``Format`` in ``YOLODataset.build_transforms``: ``transforms.insert(-1, stal)``. At that point
``labels["instances"]`` holds boxes as ``xywh`` in pixels (``RandomFlip`` leaves them so); the transform
converts them to ``xyxy`` pixels itself and leaves them in that form, which ``Format`` converts again.

This module does not import ultralytics: it only calls methods of the ``Instances`` object it is given.
"""

from __future__ import annotations

import math
import multiprocessing
import multiprocessing.context
import os
import random
import sys
from collections import deque
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Literal, NamedTuple

import cv2
import numpy as np

from edgeyolo.errors import ConfigError

Schedule = Literal["linear", "cosine", "step", "none"]
SCHEDULES: tuple[str, ...] = ("linear", "cosine", "step", "none")

_MIN_SIDE = 2.0  # boxes thinner than this (clipping slivers) are not copied
_TRIES = 20  # random positions tried for each pasted copy (the first alone, the others at once)


@dataclass(frozen=True)
class StalConfig:
    """How STAL picks, scales and pastes small targets, and how its intensity decays.

    A copy is scaled by a factor drawn from ``scale``; when that would make the copy's longer side reach
    ``size``, the copy is pasted at its original size instead, so pasted objects are always small targets.
    """

    p: float = 0.5  # probability that an image gets pastes, at full intensity
    size: int = 32  # a target is small when max(w, h) < size pixels at the training resolution
    copies: int = 3  # at most this many copies pasted into one image (1..copies, uniformly)
    scale: tuple[float, float] = (1.0, 1.5)  # (min, max) upsampling factor of a copy
    bank: int = (
        256  # patches of recent images per process (once full, refreshed by pasting images); 0: own only
    )
    overlap: float = 0.05  # max share of any labelled box a pasted patch may cover (0: never touch one)
    margin: int = 1  # context pixels copied around a target's box
    schedule: Schedule = "linear"  # how intensity falls from 1 to `end` after `decay_start`
    end: float = 0.0  # intensity at the last epoch
    decay_start: float = 0.0  # fraction of training (0..1) after which the decay begins

    def __post_init__(self) -> None:
        def fail(name: str, value: Any, want: str) -> None:
            raise ConfigError(f"stal.{name}={value!r} is invalid: {want}.")

        def real(v: Any) -> bool:
            return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)

        def integer(v: Any) -> bool:
            return isinstance(v, Integral) and not isinstance(v, bool)

        for name in ("p", "overlap", "end", "decay_start"):
            v = getattr(self, name)
            if not (real(v) and 0.0 <= v <= 1.0):
                fail(name, v, "use a number from 0 to 1")
        if not (integer(self.size) and self.size >= 2):
            fail("size", self.size, "use a whole number of pixels >= 2, e.g. 32")
        if not (integer(self.copies) and self.copies >= 1):
            fail("copies", self.copies, "use a whole number >= 1 (set p=0 to turn STAL off)")
        if not (integer(self.bank) and self.bank >= 0):
            fail("bank", self.bank, "use a whole number >= 0 (0 pastes only an image's own targets)")
        if not (integer(self.margin) and 0 <= self.margin <= 8):
            fail("margin", self.margin, "use a whole number of pixels from 0 to 8")
        if self.schedule not in SCHEDULES:
            fail("schedule", self.schedule, f"use one of {', '.join(SCHEDULES)}")
        scale = self.scale
        if isinstance(scale, Real) and not isinstance(scale, bool):
            scale = (scale, scale)
        if not (
            isinstance(scale, (tuple, list))
            and len(scale) == 2
            and all(real(v) for v in scale)
            and 0.0 < scale[0] <= scale[1] <= 8.0
        ):
            fail("scale", self.scale, "use (min, max) with 0 < min <= max <= 8, e.g. (1.0, 1.5)")
        object.__setattr__(self, "scale", (float(scale[0]), float(scale[1])))


def stal_intensity(cfg: StalConfig, epoch: int, epochs: int) -> float:
    """STAL intensity in [0, 1] at a 0-based ``epoch`` of ``epochs``.

    Training progress is ``t = epoch / (epochs - 1)`` (0 at the first epoch, 1 at the last). The
    intensity is 1 while ``t <= decay_start``; after that it falls to ``cfg.end`` at ``t = 1``:
    ``linear`` and ``cosine`` over the remaining span, ``step`` at once. ``none`` is always 1, and so is
    a run of a single epoch (or ``epochs == 0``: not set yet).
    """
    if cfg.schedule == "none" or epochs <= 1:
        return 1.0
    t = min(max(epoch / (epochs - 1), 0.0), 1.0)
    if t <= cfg.decay_start:
        return 1.0
    if cfg.schedule == "step":
        return float(cfg.end)
    u = (t - cfg.decay_start) / (1.0 - cfg.decay_start)  # decay_start < t <= 1, so decay_start < 1
    f = 1.0 - u if cfg.schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * u))
    return float(cfg.end + (1.0 - cfg.end) * f)


class _Patch(NamedTuple):
    pixels: np.ndarray  # h x w x c, a private copy
    box: tuple[float, float, float, float]  # the target's xyxy box relative to the patch's top-left corner
    cls: float


def _covers_little(rects: np.ndarray, boxes: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Per rect, whether it covers at most ``limit`` (``overlap x area``) of every box: ``[len(rects)]``."""
    r, b = rects.T[:, :, None], boxes.T[:, None, :]
    d = np.minimum(r[2:], b[2:])
    d -= np.maximum(r[:2], b[:2])
    np.maximum(d, 0.0, out=d)
    return (d[0] * d[1] <= limit).all(1)


def _free(r: tuple[float, float, float, float], boxes: list, limits: list, skip: int = -1) -> bool:
    """Whether rect ``r`` covers at most its limit (``overlap x area``) of each box (but ``boxes[skip]``).

    Plain floats: an image's few boxes cost less this way than as small numpy arrays, whose per-call
    overhead dominates at these sizes.
    """
    x1, y1, x2, y2 = r
    for j, (bx1, by1, bx2, by2) in enumerate(boxes):
        iw = (x2 if x2 < bx2 else bx2) - (x1 if x1 > bx1 else bx1)
        if iw > 0.0:
            ih = (y2 if y2 < by2 else by2) - (y1 if y1 > by1 else by1)
            if ih > 0.0 and iw * ih > limits[j] and j != skip:
                return False
    return True


def _box_polygons(boxes: np.ndarray, m: int, dtype: Any) -> np.ndarray:
    """``m`` points walking clockwise round each xyxy box from its top-left corner: [n, m, 2]."""
    x1, y1, x2, y2 = (boxes[:, i : i + 1] for i in range(4))
    bw, bh = x2 - x1, y2 - y1
    d = 2 * (bw + bh) * (np.arange(m) / max(m, 1))[None]  # distance along the perimeter
    on_top, on_right, on_bottom = d < bw, d < bw + bh, d < 2 * bw + bh
    zero = np.zeros_like(d)
    x = np.select([on_top, on_right, on_bottom], [x1 + d, x2 + zero, x2 - (d - bw - bh)], x1 + zero)
    y = np.select(
        [on_top, on_right, on_bottom], [y1 + zero, y1 + (d - bw), y2 + zero], y2 - (d - 2 * bw - bh)
    )
    return np.stack([x, y], -1).astype(dtype)


def _worker_key(owner_pid: int) -> int:
    """0 in the process that made the transform; a DataLoader worker's seed (or the pid) elsewhere."""
    if os.getpid() == owner_pid:
        return 0
    data = sys.modules.get("torch.utils.data")  # present in DataLoader workers; never imported here
    if data is not None:
        info = data.get_worker_info()
        if info is not None:
            return int(info.seed)
    return os.getpid()


class SmallTargetAugment:
    """Copy small targets (from this image and from recent ones) to free spots, with decaying intensity.

    Insert it just before ``Format`` in a training ``YOLODataset``'s transforms. With probability
    ``cfg.p * intensity`` an image receives 1 to ``cfg.copies`` copies of small targets drawn uniformly
    from its own eligible targets and the bank. A target is eligible when its box is smaller than
    ``cfg.size`` on its longer side, at least 2 px on its shorter one, does not touch the image border
    (a truncated object), and its patch covers at most ``cfg.overlap`` of any other labelled box (so no
    unlabelled neighbour travels with it). A copy is pasted at a random position fully inside the image
    where its patch covers at most ``cfg.overlap`` of any labelled or previously pasted box; when no such
    position is found in a few tries, that copy is dropped. Its new box is the source box scaled and moved
    with the patch (tight to the object, not to the margin).

    Epoch state lives in shared memory created in ``__init__``: :meth:`set_epoch` in the main process is
    seen by DataLoader workers forked from it, persistent ones included, and by workers started with
    ``spawn``/``forkserver`` (the shared array travels while a process is being spawned). Any other
    pickling or ``copy.deepcopy`` gives an independent copy that keeps the epoch of that moment; call
    ``set_epoch`` on that copy (``stal_loader.find_stal`` on its transforms) or re-create the workers from
    the original (``train_loader.reset()``).

    Workers prepare batches ahead (the library's loader keeps ``4 x workers`` batches in flight across
    epoch boundaries), so the shared epoch alone would give the first batches of an epoch the previous
    epoch's intensity, on a small dataset the whole epoch. ``stal_loader.tag_loader_epochs`` fixes that:
    each batch of indices carries the epoch it is drawn for, and the worker applies that epoch's intensity
    (:meth:`use_epoch`).

    Each process draws from its own ``random.Random`` (a scalar draw costs a twentieth of a numpy
    Generator's, and an image needs a dozen): seeded from ``seed`` and, in a DataLoader worker, the worker's
    torch seed, so workers differ and a seeded run repeats. The bank is per process, starts
    empty in every worker and is not pickled.

    Keypoints (pose) and semantic masks cannot be made up for a pasted object: such samples pass through
    unchanged. Polygon segments, present when a detection dataset's labels are polygons, get the pasted
    box's rectangle as polygon: exact for detection (``Format`` reads boxes), not a true mask.
    """

    def __init__(self, cfg: StalConfig | None = None, *, seed: int | None = None) -> None:
        self.cfg = cfg if cfg is not None else StalConfig()
        self.seed = seed
        self._shared = multiprocessing.RawArray("q", 2)  # (epoch, epochs); epochs 0: not set, full intensity
        self._bank: deque[_Patch] = deque(maxlen=self.cfg.bank)
        self._owner_pid = os.getpid()
        self._rng: random.Random | None = None
        self._rng_pid = -1
        self._batch_epoch: int | None = None  # this process's current batch's epoch (see use_epoch)

    # Epoch state shared with DataLoader workers.
    def set_epoch(self, epoch: int, epochs: int) -> None:
        """Set the 0-based epoch of ``epochs``; seen by workers forked from this process."""
        if epoch < 0 or epochs < 0:
            raise ValueError(f"set_epoch needs epoch >= 0 and epochs >= 0, got {epoch} of {epochs}")
        self._shared[0], self._shared[1] = int(epoch), int(epochs)
        self._batch_epoch = None

    def use_epoch(self, epoch: int | None) -> None:
        """Apply ``epoch``'s intensity to this process's next samples (None: the shared epoch again).

        Called in a DataLoader worker for each batch tagged by ``stal_loader.tag_loader_epochs``; it leaves
        the shared epoch, which other workers read, alone.
        """
        self._batch_epoch = None if epoch is None else int(epoch)

    @property
    def epoch(self) -> int:
        """The epoch set by :meth:`set_epoch` (shared with the workers)."""
        return int(self._shared[0])

    @property
    def epochs(self) -> int:
        return int(self._shared[1])

    @property
    def intensity(self) -> float:
        """The schedule's value at the current epoch (1.0 until :meth:`set_epoch` is called)."""
        epoch = self._batch_epoch if self._batch_epoch is not None else int(self._shared[0])
        return stal_intensity(self.cfg, epoch, int(self._shared[1]))

    @property
    def bank_size(self) -> int:
        """Patches held in this process's bank."""
        return len(self._bank)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_epoch_state"] = (int(self._shared[0]), int(self._shared[1]))
        if multiprocessing.context.get_spawning_popen() is None:
            state["_shared"] = None  # shared ctypes only travel while a process is spawned
        state["_bank"] = None
        state["_rng"] = None
        state["_batch_epoch"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        epoch, epochs = state.pop("_epoch_state")
        self.__dict__.update(state)
        if self._shared is None:  # a private copy: the original's set_epoch no longer reaches it
            self._shared = multiprocessing.RawArray("q", [epoch, epochs])
        self._bank = deque(maxlen=self.cfg.bank)
        self._rng_pid = -1

    def __repr__(self) -> str:
        c = self.cfg
        return (
            f"{type(self).__name__}(p={c.p}, size={c.size}, copies={c.copies}, scale={c.scale}, "
            f"schedule={c.schedule}, intensity={self.intensity:.3f})"
        )

    def _generator(self) -> random.Random:
        pid = os.getpid()
        if self._rng is None or self._rng_pid != pid:
            if self.seed is None:
                self._rng = random.Random()
            else:
                key = _worker_key(self._owner_pid)
                state = np.random.SeedSequence([int(self.seed) & 0xFFFFFFFF, key]).generate_state(4)
                self._rng = random.Random(int.from_bytes(state.tobytes(), "little"))
            self._rng_pid = pid
        return self._rng

    # The transform.
    def __call__(self, labels: dict[str, Any]) -> dict[str, Any]:
        """Paste copies of small targets into ``labels["img"]`` and append their boxes and classes."""
        cfg = self.cfg
        rate = cfg.p * self.intensity
        instances, img = labels.get("instances"), labels.get("img")
        if rate <= 0.0 or instances is None or img is None or img.ndim != 3:
            return labels
        if instances.keypoints is not None or labels.get("semantic_mask") is not None:
            return labels
        rng = self._generator()
        draw = rng.random() < rate
        if not draw and len(self._bank) >= cfg.bank:  # nothing to paste; the bank is full (or off)
            return (
                labels  # a full bank refreshes from pasting images: harvesting every image cost ~40% of STAL
            )
        h, w = img.shape[:2]
        instances.convert_bbox("xyxy")
        instances.denormalize(w, h)
        boxes = np.asarray(instances.bboxes)
        cls = np.asarray(labels["cls"])
        # An image has a few to a few dozen boxes: plain floats, not small numpy arrays (see _free).
        b = boxes.reshape(-1, 4).tolist()
        limits = [cfg.overlap * (x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in b]

        own = self._pick_own(img, b, limits, cls[:, 0] if cls.ndim > 1 else cls, rng)
        n_pool = len(own) + len(self._bank)
        chosen: list[_Patch] = []
        if draw and n_pool:
            k = min(1 + int(rng.random() * cfg.copies), cfg.copies)
            chosen = [own[i] if i < len(own) else self._bank[i - len(own)]
                      for i in (min(int(rng.random() * n_pool), n_pool - 1) for _ in range(k))]  # fmt: skip
        self._bank.extend(own)  # after drawing, so an image's own targets are not in its pool twice
        if not chosen:
            return labels

        out: np.ndarray | None = None
        new_boxes: list[tuple[float, float, float, float]] = []
        new_cls: list[float] = []
        lo, hi = cfg.scale
        for patch in chosen:
            pix, rel = patch.pixels, patch.box
            if pix.shape[2] != img.shape[2]:
                continue
            ph, pw = pix.shape[:2]
            s = lo + (hi - lo) * rng.random()
            nw, nh = max(1, round(pw * s)), max(1, round(ph * s))
            sx, sy = nw / pw, nh / ph
            box = (rel[0] * sx, rel[1] * sy, rel[2] * sx, rel[3] * sy)
            bw, bh = box[2] - box[0], box[3] - box[1]
            if max(bw, bh) >= cfg.size or min(bw, bh) < 1:
                nw, nh, box = pw, ph, rel  # keep the copy a small target: paste it at its own size
            if nw > w or nh > h:
                continue
            spot = self._spot(rng, nw, nh, w, h, boxes, b, limits, new_boxes)
            if spot is None:
                continue
            x, y = spot
            if out is None:
                # Pasted in place, as the library's RandomHSV just before this writes into the image: at this
                # point of a training pipeline the array belongs to this sample (mosaic, perspective and
                # letterbox all make new ones). A read-only array (a caller's) is copied first.
                out = img if img.flags.writeable else img.copy()
            if (nw, nh) != (pw, ph):
                pix = cv2.resize(pix, (nw, nh), interpolation=cv2.INTER_LINEAR).reshape(nh, nw, -1)
            out[y : y + nh, x : x + nw] = pix
            new_boxes.append((box[0] + x, box[1] + y, box[2] + x, box[3] + y))
            new_cls.append(patch.cls)
        if out is None:
            return labels

        added = np.array(new_boxes, boxes.dtype if boxes.dtype.kind == "f" else np.float32)
        segments = None
        if len(instances.segments):  # polygon labels: the pasted box's rectangle keeps counts equal
            seg = instances.segments
            segments = np.concatenate([seg, _box_polygons(added, seg.shape[1], seg.dtype)])
        instances.update(
            np.concatenate([boxes.reshape(-1, 4).astype(added.dtype, copy=False), added]), segments
        )
        cls_dtype = cls.dtype if cls.dtype.kind == "f" else np.float32
        extra = np.array(new_cls, cls_dtype).reshape((-1, *cls.shape[1:]))
        labels["cls"] = np.concatenate([cls.astype(cls_dtype, copy=False), extra])
        labels["img"] = out
        return labels

    def _spot(self, rng: random.Random, nw: int, nh: int, w: int, h: int, boxes: np.ndarray, b: list,
              limits: list, pasted: list) -> tuple[int, int] | None:  # fmt: skip
        """A random top-left corner where an ``nw x nh`` patch lies inside the image and covers at most
        ``cfg.overlap`` of every labelled box and every copy pasted before it; None after ``_TRIES`` tries.

        The first try is checked in plain floats (usually it is free); when it is not, the other tries at
        once with numpy (a crowded image can need all of them).
        """
        overlap = self.cfg.overlap
        pasted_limits = [overlap * (x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in pasted]
        x, y = math.floor(rng.random() * (w - nw + 1)), math.floor(rng.random() * (h - nh + 1))
        if _free((x, y, x + nw, y + nh), b, limits) and _free((x, y, x + nw, y + nh), pasted, pasted_limits):
            return x, y
        u = np.array([rng.random() for _ in range(2 * _TRIES - 2)]).reshape(-1, 2)
        xy = np.floor(u * (w - nw + 1, h - nh + 1))
        rects = np.concatenate([xy, xy + (nw, nh)], 1)
        ok = _covers_little(rects, boxes.reshape(-1, 4).astype(np.float64), np.asarray(limits)) if b else None
        for j in range(len(rects)) if ok is None else np.flatnonzero(ok).tolist():
            x, y = xy[j].tolist()
            if _free((x, y, x + nw, y + nh), pasted, pasted_limits):
                return int(x), int(y)
        return None

    def _pick_own(self, img: np.ndarray, b: list, limits: list, cls: np.ndarray, rng: random.Random
                  ) -> list[_Patch]:  # fmt: skip
        """Copies of up to ``cfg.copies`` eligible small targets of this image (see the class docstring).

        ``b`` is the image's xyxy boxes and ``limits`` their ``overlap x area``, as plain floats. Eligible
        targets are tried in a random order and the first ``cfg.copies`` whose patch does not cover another
        box are kept: a uniform choice among all such targets, without checking every one of them.
        """
        cfg = self.cfg
        h, w = img.shape[:2]
        size, m = cfg.size, cfg.margin
        small = []
        for i, (x1, y1, x2, y2) in enumerate(b):
            bw, bh = x2 - x1, y2 - y1
            if (bw if bw > bh else bh) < size and (bw if bw < bh else bh) >= _MIN_SIDE and \
                    x1 > 0 and y1 > 0 and x2 < w and y2 < h:  # fmt: skip
                small.append(i)
        if len(small) > cfg.copies:
            rng.shuffle(small)
        patches: list[_Patch] = []
        for i in small:
            x1, y1, x2, y2 = b[i]
            cx1, cy1 = max(math.floor(x1) - m, 0), max(math.floor(y1) - m, 0)
            cx2, cy2 = min(math.ceil(x2) + m, w), min(math.ceil(y2) + m, h)
            if not _free((cx1, cy1, cx2, cy2), b, limits, skip=i):
                continue
            pix = img[cy1:cy2, cx1:cx2].copy()  # C-contiguous, owned: the image is overwritten next
            patches.append(_Patch(pix, (x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1), float(cls[i])))
            if len(patches) == cfg.copies:
                break
        return patches
