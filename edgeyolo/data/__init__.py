"""Datasets: the built-in synthetic demo set, YOLO-format dataset reading and the val images' camera aspect."""

from edgeyolo.data.aspect import aspect_text, val_aspect
from edgeyolo.data.synth import SynthConfig, SynthResult, synthesize
from edgeyolo.data.yolo import DatasetInfo, LabeledImage, load_dataset, load_split

__all__ = [
    "DatasetInfo",
    "LabeledImage",
    "SynthConfig",
    "SynthResult",
    "load_dataset",
    "load_split",
    "synthesize",
    "aspect_text",
    "val_aspect",
]
