"""The Python API in one place: one function per CLI verb, each taking a typed config.

``from edgeyolo.api import train, TrainConfig`` (the package names ``edgeyolo.train``, ``edgeyolo.export``
... are the modules that implement them). Importing this module does not import torch or ultralytics.
"""

from edgeyolo.bench import BenchConfig, BenchResult, benchmark
from edgeyolo.bench.remote import Device, RemoteOptions, benchmark_remote, load_inventory
from edgeyolo.data.synth import SynthConfig, synthesize
from edgeyolo.diagnose import Diagnosis, diagnose, load_conf_threshold
from edgeyolo.export import ExportConfig, ExportResult, export
from edgeyolo.pipeline import PipelineConfig, PipelineResult, run_pipeline
from edgeyolo.profiles import DeviceProfile, list_profiles, load_profile
from edgeyolo.report import CompareResult, ReportResult, compare, load_runs, report
from edgeyolo.runtime import load_runtime
from edgeyolo.select import Selection, select
from edgeyolo.train import TrainConfig, TrainResult, resume, train
from edgeyolo.tune import TuneConfig, TuneResult, tune

__all__ = [
    "BenchConfig", "BenchResult", "CompareResult", "Device", "DeviceProfile", "Diagnosis", "ExportConfig",
    "ExportResult", "PipelineConfig", "PipelineResult", "RemoteOptions", "ReportResult", "Selection", "SynthConfig",
    "TrainConfig", "TrainResult", "TuneConfig", "TuneResult", "benchmark", "benchmark_remote", "compare", "diagnose",
    "export", "list_profiles", "load_conf_threshold", "load_inventory", "load_profile", "load_runtime", "load_runs",
    "report", "resume", "run_pipeline", "select", "synthesize", "train", "tune",
]  # fmt: skip
