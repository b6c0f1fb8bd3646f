"""Datasets: the built-in synthetic demo set and YOLO-format dataset reading."""

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
]
