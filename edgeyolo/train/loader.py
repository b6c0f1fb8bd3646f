"""Data loader settings chosen from the machine: workers, RAM cache, pinned memory, persistent workers.

The library's defaults leave a GPU waiting on small models: ``workers=8`` whatever the machine (8 of 16
cores on a one-GPU box), every image decoded from disk again each epoch, and on CPU no worker at all.
:func:`plan_loader` chooses from a :class:`Machine` description and the dataset's size, and says why:

- ``workers`` (per training process): on a GPU, every core of that process's share (``cores // gpus``)
  but one, which the training process itself needs; at most :data:`MAX_WORKERS`, and fewer when the
  batches they keep in flight (``PREFETCH`` per worker) would take more than :data:`INFLIGHT_RAM_SHARE`
  of the available memory. On CPU, :data:`CPU_WORKERS`: the model's compute already takes every core.
  The library caps what it starts at ``os.cpu_count() // visible GPUs`` and at the batches per epoch;
  the cap is applied here too so the recorded number is the one that runs.
- ``cache``: ``ram`` when the decoded, resized train and val images of every training process fit in
  :data:`CACHE_RAM_SHARE` of the available memory (the library's own check wants twice the size free),
  else off. Cached, an image is decoded once per run instead of once per epoch, and mosaic draws its
  partners from the whole dataset instead of the recently loaded ones (so a cached run differs from an
  uncached one; two seeded cached runs repeat each other, checked on CPU, whatever the library's warning).
- ``pin_memory`` and ``persistent_workers`` are what the library does and are recorded, not chosen: it
  pins batches whenever it trains on CUDA, and its ``InfiniteDataLoader`` keeps its workers across epochs.

A given ``workers`` or ``cache`` (``--workers``, ``--cache``, or the key in ``--config``) wins and is
recorded as given. Everything here is plain arithmetic on the description (no torch), so a test can fake
the machine.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgeyolo.errors import ConfigError

MAX_WORKERS = 32  # per training process: each worker is a forked copy of the training process
CPU_WORKERS = 0  # CPU training: the library's choice, kept (train_throughput.py --loader: no gain on 2 cores)
PREFETCH = 4  # batches each training worker keeps in flight (the library's prefetch_factor)
INFLIGHT_RAM_SHARE = 0.25  # of available memory, for batches in flight in every worker
CACHE_RAM_SHARE = 0.25  # of available memory, for the decoded image cache of every training process
CACHE_VALUES = ("ram", "disk", "off")
_SAMPLED_IMAGES = 32  # image headers read to estimate the cache size


@dataclass(frozen=True)
class Machine:
    """What the loader choice depends on; :func:`describe_machine` reads it from this machine."""

    cores: int  # CPU cores this process may use (affinity, cgroup quota)
    gpus: int  # CUDA devices the training uses (0: CPU training); one training process each
    ram_available_gib: float  # memory available to new allocations
    visible_gpus: int | None = (
        None  # CUDA devices the library sees (its worker cap divides by it); None: gpus
    )
    cpu_count: int | None = None  # os.cpu_count(), what the library divides; None: cores


@dataclass(frozen=True)
class LoaderPlan:
    workers: int  # per training process
    cache: str | bool  # the library's `cache` argument: "ram", "disk" or False
    pin_memory: bool
    persistent_workers: bool
    reasons: dict[str, str]  # setting -> why

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def train_args(self) -> dict[str, Any]:
        """The library's train arguments this plan sets."""
        return {"workers": self.workers, "cache": self.cache}


def _size(b: float) -> str:
    return f"{b / 2**30:.2f} GiB" if b >= 2**30 else f"{b / 2**20:.1f} MiB"


def _cgroup_cpus() -> float | None:
    """CPUs allowed by a cgroup v2 quota (containers), or None when unlimited or unknown."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return int(quota) / int(period)


def _available_ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30


def describe_machine(gpus: int, visible_gpus: int | None = None) -> Machine:
    """This machine: cores from the affinity mask (and a cgroup quota), available memory, GPUs given."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = _cgroup_cpus()
    if quota is not None:
        cores = max(1, min(cores, math.ceil(quota)))
    return Machine(cores=cores, gpus=gpus, ram_available_gib=round(_available_ram_gib(), 2),
                   visible_gpus=visible_gpus, cpu_count=os.cpu_count())  # fmt: skip


def cache_bytes(images: list[Path], imgsz: int) -> int:
    """Bytes the library's RAM cache takes for ``images`` at ``imgsz``: each image decoded, its long side
    resized to ``imgsz``, 3 bytes a pixel. Estimated from the headers of a sample of the images."""
    if not images:
        return 0
    from PIL import Image

    step = max(1, len(images) // _SAMPLED_IMAGES)
    sample = images[::step][:_SAMPLED_IMAGES]
    total = 0.0
    for p in sample:
        try:
            with Image.open(p) as im:
                w, h = im.size
        except OSError:
            w = h = imgsz  # unreadable: the dataset check reports it; count it as a square
        r = imgsz / max(w, h)
        total += min(math.ceil(w * r), imgsz) * min(math.ceil(h * r), imgsz) * 3
    return int(total / len(sample) * len(images))


def check_workers(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"train: --workers must be a whole number >= 0, got {value!r}")


def parse_cache(value: Any, where: str = "--cache") -> str | bool:
    """'ram', 'disk', 'off' (or the library's True/False) -> the library's ``cache`` value."""
    if value is True or value == "ram":
        return "ram"
    if value is False or value is None or value == "off":
        return False
    if value == "disk":
        return "disk"
    raise ConfigError(f"train: {where} '{value}' is not valid; use one of {', '.join(CACHE_VALUES)}")


def plan_loader(machine: Machine, *, batch: int, imgsz: int, train_images: int, cache_size: int,
                workers: int | None = None, cache: Any = None) -> LoaderPlan:  # fmt: skip
    """The loader settings for a training run and the reason for each.

    Args:
        machine: the machine the training runs on.
        batch: total batch over all GPUs.
        imgsz: training image size.
        train_images: images in the train split (the library starts no more workers than batches per epoch).
        cache_size: bytes of the RAM cache for train and val images (:func:`cache_bytes`), per process.
        workers: given workers per training process (wins); None: chosen.
        cache: given cache setting (wins): "ram", "disk", "off" or a bool; None: chosen.
    """
    if workers is not None:
        check_workers(workers)
    ranks = max(machine.gpus, 1)
    free = max(machine.ram_available_gib, 0.0) * 2**30
    reasons: dict[str, str] = {}

    # cache first: the memory it takes is not there for batches in flight
    if cache is not None:
        cache_value = parse_cache(cache)
        reasons["cache"] = "given"
    else:
        need = cache_size * ranks
        fits = need <= CACHE_RAM_SHARE * free
        cache_value = "ram" if fits else False
        who = f" x {ranks} training processes" if ranks > 1 else ""
        reasons["cache"] = (
            f"train+val images at {imgsz} px take {_size(need)} in RAM{who}, "
            f"{'within' if fits else 'more than'} {CACHE_RAM_SHARE:.0%} of the {free / 2**30:.1f} GiB available"
            + (": decoded once, not every epoch" if fits else ": read from disk every epoch")
        )
    if cache_value == "ram":
        free = max(free - cache_size * ranks, 0.0)

    if workers is not None:
        n, reasons["workers"] = workers, "given"
    elif machine.gpus == 0:
        n = CPU_WORKERS
        reasons["workers"] = (
            f"CPU training on {machine.cores} cores: the model's compute takes every core, so batches are "
            f"loaded {'in the training process' if n == 0 else f'by {n} worker(s)'}"
        )
    else:
        share = machine.cores // machine.gpus
        n = min(max(share - 1, 0), MAX_WORKERS)
        reasons["workers"] = (
            f"{machine.cores} cores / {machine.gpus} GPU(s) = {share} per training process, one kept for the "
            f"process itself" + (f", at most {MAX_WORKERS}" if share - 1 > MAX_WORKERS else "")
        )
        per_batch = (batch // ranks) * imgsz * imgsz * 3
        fit = int(INFLIGHT_RAM_SHARE * free // max(PREFETCH * per_batch * ranks, 1))
        if fit < n:
            n = fit
            reasons["workers"] += (
                f"; {n} keep their {PREFETCH} batches of {batch // ranks} in flight within "
                f"{INFLIGHT_RAM_SHARE:.0%} of the memory left"
            )
    # What the library starts (build_dataloader): no more than os.cpu_count() // visible GPUs, nor batches.
    cap_cores = (machine.cpu_count or machine.cores) // max(machine.visible_gpus or machine.gpus, 1)
    batches = math.ceil(train_images / max(batch // ranks, 1)) if train_images else 0
    lib_cap = min(cap_cores, 0 if batches <= 1 else batches)
    if n > lib_cap:
        reasons["workers"] += (
            f"; the library starts {lib_cap} (os.cpu_count() {machine.cpu_count or machine.cores} // "
            f"{max(machine.visible_gpus or machine.gpus, 1)} visible GPU(s), {batches} batches per epoch)"
        )
        n = lib_cap
    pin = machine.gpus > 0
    reasons["pin_memory"] = (
        "the library pins batches when training on CUDA"
        if pin
        else "CPU training: nothing to copy to a device"
    )
    persistent = n > 0
    reasons["persistent_workers"] = (
        "the library's InfiniteDataLoader keeps its workers across epochs"
        if persistent
        else "no workers: batches are loaded in the training process"
    )
    return LoaderPlan(workers=n, cache=cache_value, pin_memory=pin, persistent_workers=persistent,
                      reasons=reasons)  # fmt: skip
