"""The Python API in one place: one function per CLI verb, each taking a typed config.

``from edgeyolo.api import train, TrainConfig`` (the package names ``edgeyolo.train``, ``edgeyolo.export``
... are the modules that implement them). The command line (:mod:`edgeyolo.commands`) reaches edgeyolo only
through this module. Importing it imports nothing else; each name loads its module on first use
(never torch or ultralytics until training or export runs).

Besides the verbs and their configs and results: the parts of a config (targets, ProgLoss phases, STAL
settings), the readers of the files the verbs write, and the terminal formatting of their results.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeyolo.bench import BenchConfig, BenchResult, benchmark
    from edgeyolo.bench.remote import Device, RemoteOptions, benchmark_remote, load_inventory, remote_devices
    from edgeyolo.bench.store import read_records, record_line
    from edgeyolo.data.check import CheckReport, check_dataset
    from edgeyolo.data.synth import SynthConfig, synthesize
    from edgeyolo.device import SetupConfig, SetupResult, setup_devices
    from edgeyolo.diagnose import Diagnosis, diagnose, format_diagnosis, load_conf_threshold
    from edgeyolo.export import ExportConfig, ExportResult, export
    from edgeyolo.formats import PIP_RUNTIMES, RUNTIMES
    from edgeyolo.live import FrameResult, Stream, StreamConfig
    from edgeyolo.pipeline import PipelineConfig, PipelineResult, run_pipeline
    from edgeyolo.predict import PredictConfig, PredictResult, predict
    from edgeyolo.profiles import (
        FORMATS,
        PRECISIONS,
        RUNTIMES_FOR_FORMAT,
        DeviceProfile,
        TargetSpec,
        list_profiles,
        load_profile,
    )
    from edgeyolo.report import CompareResult, ReportResult, compare, load_runs, report
    from edgeyolo.runtime import load_runtime
    from edgeyolo.select import Selection, pm, select
    from edgeyolo.shapes import Shape, parse_shape
    from edgeyolo.train import TrainConfig, TrainResult, resume, train
    from edgeyolo.train import config_from_file as train_config_from_file
    from edgeyolo.train.progloss import Phase, ProgLossConfig
    from edgeyolo.train.stal import StalConfig
    from edgeyolo.tune import TuneConfig, TuneResult, tune

_WHERE = {  # name -> (module, attribute): imported on first use (PEP 562)
    "BenchConfig": ("edgeyolo.bench", "BenchConfig"),
    "BenchResult": ("edgeyolo.bench", "BenchResult"),
    "benchmark": ("edgeyolo.bench", "benchmark"),
    "Device": ("edgeyolo.bench.remote", "Device"),
    "RemoteOptions": ("edgeyolo.bench.remote", "RemoteOptions"),
    "benchmark_remote": ("edgeyolo.bench.remote", "benchmark_remote"),
    "load_inventory": ("edgeyolo.bench.remote", "load_inventory"),
    "remote_devices": ("edgeyolo.bench.remote", "remote_devices"),
    "read_records": ("edgeyolo.bench.store", "read_records"),
    "record_line": ("edgeyolo.bench.store", "record_line"),
    "CheckReport": ("edgeyolo.data.check", "CheckReport"),
    "check_dataset": ("edgeyolo.data.check", "check_dataset"),
    "SynthConfig": ("edgeyolo.data.synth", "SynthConfig"),
    "synthesize": ("edgeyolo.data.synth", "synthesize"),
    "SetupConfig": ("edgeyolo.device", "SetupConfig"),
    "SetupResult": ("edgeyolo.device", "SetupResult"),
    "setup_devices": ("edgeyolo.device", "setup_devices"),
    "Diagnosis": ("edgeyolo.diagnose", "Diagnosis"),
    "diagnose": ("edgeyolo.diagnose", "diagnose"),
    "format_diagnosis": ("edgeyolo.diagnose", "format_diagnosis"),
    "load_conf_threshold": ("edgeyolo.diagnose", "load_conf_threshold"),
    "ExportConfig": ("edgeyolo.export", "ExportConfig"),
    "ExportResult": ("edgeyolo.export", "ExportResult"),
    "export": ("edgeyolo.export", "export"),
    "PipelineConfig": ("edgeyolo.pipeline", "PipelineConfig"),
    "PipelineResult": ("edgeyolo.pipeline", "PipelineResult"),
    "run_pipeline": ("edgeyolo.pipeline", "run_pipeline"),
    "PredictConfig": ("edgeyolo.predict", "PredictConfig"),
    "PredictResult": ("edgeyolo.predict", "PredictResult"),
    "predict": ("edgeyolo.predict", "predict"),
    "Stream": ("edgeyolo.live", "Stream"),
    "StreamConfig": ("edgeyolo.live", "StreamConfig"),
    "FrameResult": ("edgeyolo.live", "FrameResult"),
    "FORMATS": ("edgeyolo.profiles", "FORMATS"),
    "RUNTIMES": ("edgeyolo.formats", "RUNTIMES"),
    "PIP_RUNTIMES": ("edgeyolo.formats", "PIP_RUNTIMES"),
    "PRECISIONS": ("edgeyolo.profiles", "PRECISIONS"),
    "RUNTIMES_FOR_FORMAT": ("edgeyolo.profiles", "RUNTIMES_FOR_FORMAT"),
    "DeviceProfile": ("edgeyolo.profiles", "DeviceProfile"),
    "TargetSpec": ("edgeyolo.profiles", "TargetSpec"),
    "list_profiles": ("edgeyolo.profiles", "list_profiles"),
    "load_profile": ("edgeyolo.profiles", "load_profile"),
    "CompareResult": ("edgeyolo.report", "CompareResult"),
    "ReportResult": ("edgeyolo.report", "ReportResult"),
    "compare": ("edgeyolo.report", "compare"),
    "load_runs": ("edgeyolo.report", "load_runs"),
    "report": ("edgeyolo.report", "report"),
    "load_runtime": ("edgeyolo.runtime", "load_runtime"),
    "Shape": ("edgeyolo.shapes", "Shape"),
    "parse_shape": ("edgeyolo.shapes", "parse_shape"),
    "Selection": ("edgeyolo.select", "Selection"),
    "pm": ("edgeyolo.select", "pm"),
    "select": ("edgeyolo.select", "select"),
    "TrainConfig": ("edgeyolo.train", "TrainConfig"),
    "TrainResult": ("edgeyolo.train", "TrainResult"),
    "resume": ("edgeyolo.train", "resume"),
    "train": ("edgeyolo.train", "train"),
    "train_config_from_file": ("edgeyolo.train", "config_from_file"),
    "Phase": ("edgeyolo.train.progloss", "Phase"),
    "ProgLossConfig": ("edgeyolo.train.progloss", "ProgLossConfig"),
    "StalConfig": ("edgeyolo.train.stal", "StalConfig"),
    "TuneConfig": ("edgeyolo.tune", "TuneConfig"),
    "TuneResult": ("edgeyolo.tune", "TuneResult"),
    "tune": ("edgeyolo.tune", "tune"),
}


def __getattr__(name: str) -> Any:
    """Import a name of the API from its module on first use: ``edgeyolo predict`` on a device loads the predict
    path only, not training, export and reporting code it never runs."""
    try:
        module, attr = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    # profiles and datasets
    "DeviceProfile", "TargetSpec", "FORMATS", "PRECISIONS", "RUNTIMES_FOR_FORMAT", "RUNTIMES", "PIP_RUNTIMES",
    "list_profiles", "load_profile",
    "Shape", "parse_shape",
    "SynthConfig", "synthesize", "CheckReport", "check_dataset",
    # training
    "TrainConfig", "TrainResult", "ProgLossConfig", "Phase", "StalConfig", "train", "resume",
    "train_config_from_file", "Diagnosis", "diagnose", "format_diagnosis", "load_conf_threshold",
    "TuneConfig", "TuneResult", "tune",
    # export and inference
    "ExportConfig", "ExportResult", "export", "PredictConfig", "PredictResult", "predict", "Stream", "StreamConfig",
    "FrameResult", "load_runtime",
    # measuring, here and on devices
    "BenchConfig", "BenchResult", "benchmark", "read_records", "record_line", "Device", "RemoteOptions",
    "benchmark_remote", "load_inventory", "remote_devices", "SetupConfig", "SetupResult", "setup_devices",
    # choosing and reporting
    "Selection", "select", "pm", "ReportResult", "report", "CompareResult", "compare", "load_runs",
    # everything at once
    "PipelineConfig", "PipelineResult", "run_pipeline",
]  # fmt: skip
