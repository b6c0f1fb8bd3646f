"""STAL in the training DataLoader: each batch carries the epoch it is drawn for.

Workers prepare batches ahead (the library's loader keeps ``4 x workers`` batches in flight across epoch
boundaries), so the epoch shared with :class:`~edgeyolo.train.stal.SmallTargetAugment` alone would give the
first batches of an epoch the previous epoch's intensity. :func:`tag_loader_epochs` tags every batch of
indices with its epoch, and the worker applies that epoch's intensity (``use_epoch``) before loading it.
"""

from __future__ import annotations

from typing import Any

from edgeyolo.train.stal import SmallTargetAugment


def find_stal(transforms: Any) -> SmallTargetAugment | None:
    """The first :class:`SmallTargetAugment` in an Ultralytics ``Compose`` (nested ones included), or None."""
    if isinstance(transforms, SmallTargetAugment):
        return transforms
    for t in getattr(transforms, "transforms", None) or ():
        found = find_stal(t)
        if found is not None:
            return found
    return None


class EpochBatch(list):
    """A batch of dataset indices that carries the epoch it is drawn for."""

    def __init__(self, indices: Any, epoch: int) -> None:
        super().__init__(indices)
        self.epoch = epoch

    def __reduce__(self) -> tuple[Any, ...]:  # to a worker through the loader's index queue
        return EpochBatch, (list(self), self.epoch)


class EpochTaggedBatches:
    """Stands in for the library's endless batch sampler (``_RepeatSampler``): the same batches, each an
    :class:`EpochBatch`. One pass over ``sampler`` is one epoch; the first pass belongs to the epoch set on
    the transform when the loader's iterator starts (the library starts it in the first epoch, and again
    after ``train_loader.reset()``: close_mosaic, an out-of-memory retry, a resume)."""

    def __init__(self, sampler: Any, transform: SmallTargetAugment) -> None:
        self.sampler = sampler  # the library reads len(batch_sampler.sampler) as the batches per epoch
        self.transform = transform

    def __iter__(self) -> Any:
        epoch = self.transform.epoch
        while True:
            for batch in self.sampler:
                yield EpochBatch(batch, epoch)
            epoch += 1


class _EpochItems:
    """``dataset.__getitems__`` (what torch's fetcher calls with a batch of indices in a worker): set the
    batch's epoch on the dataset's STAL transform, then load the samples as ``dataset[i]`` would."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __call__(self, indices: Any) -> list[Any]:
        stal = find_stal(getattr(self.dataset, "transforms", None))  # close_mosaic rebuilds the transforms
        if stal is not None:
            stal.use_epoch(getattr(indices, "epoch", None))
        return [self.dataset[i] for i in indices]


def tag_loader_epochs(loader: Any, transform: SmallTargetAugment) -> None:
    """Make the workers of an Ultralytics ``InfiniteDataLoader`` apply each batch's own epoch's STAL intensity.

    Call before the loader's first iteration (its workers start then). The loader's batch sampler becomes
    :class:`EpochTaggedBatches` and its dataset gets a ``__getitems__`` that applies the tag.
    """
    repeat = loader.batch_sampler
    inner = getattr(repeat, "sampler", None)
    if inner is None or isinstance(repeat, EpochTaggedBatches):
        return
    # DataLoader forbids setting batch_sampler after __init__; the library sets its own the same way.
    object.__setattr__(loader, "batch_sampler", EpochTaggedBatches(inner, transform))
    loader.dataset.__getitems__ = _EpochItems(loader.dataset)
