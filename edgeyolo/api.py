"""The Python API in one place: one function per CLI verb, each taking a typed config.

``from edgeyolo.api import train, TrainConfig`` (the package names ``edgeyolo.train``, ``edgeyolo.export``
... are the modules that implement them). Importing this module does not import torch or ultralytics.
"""

from edgeyolo.bench import BenchConfig, BenchResult, benchmark
from edgeyolo.data.synth import SynthConfig, synthesize
from edgeyolo.export import ExportConfig, ExportResult, export
from edgeyolo.pipeline import PipelineConfig, PipelineResult, run_pipeline
from edgeyolo.profiles import DeviceProfile, list_profiles, load_profile
from edgeyolo.report import ReportResult, report
from edgeyolo.runtime import load_runtime
from edgeyolo.select import Selection, select
from edgeyolo.train import TrainConfig, TrainResult, resume, train

__all__ = [
    "BenchConfig", "BenchResult", "DeviceProfile", "ExportConfig", "ExportResult", "PipelineConfig",
    "PipelineResult", "ReportResult", "Selection", "SynthConfig", "TrainConfig", "TrainResult", "benchmark",
    "export", "list_profiles", "load_profile", "load_runtime", "report", "resume", "run_pipeline", "select",
    "synthesize", "train",
]  # fmt: skip
