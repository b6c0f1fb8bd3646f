"""The Python API in one place: one function per CLI verb, each taking a typed config.

``from edgeyolo.api import train, TrainConfig`` (the package names ``edgeyolo.train``, ``edgeyolo.export``
... are the modules that implement them). The command line (:mod:`edgeyolo.commands`) reaches edgeyolo only
through this module. Importing it does not import torch or ultralytics.

Besides the verbs and their configs and results: the parts of a config (targets, ProgLoss phases, STAL
settings), the readers of the files the verbs write, and the terminal formatting of their results.
"""

from edgeyolo.bench import BenchConfig, BenchResult, benchmark
from edgeyolo.bench.remote import Device, RemoteOptions, benchmark_remote, load_inventory, remote_devices
from edgeyolo.bench.store import read_records, record_line
from edgeyolo.data.check import CheckReport, check_dataset
from edgeyolo.data.synth import SynthConfig, synthesize
from edgeyolo.device import SetupConfig, SetupResult, setup_devices
from edgeyolo.diagnose import Diagnosis, diagnose, format_diagnosis, load_conf_threshold
from edgeyolo.export import ExportConfig, ExportResult, export
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
from edgeyolo.train import TrainConfig, TrainResult, resume, train
from edgeyolo.train import config_from_file as train_config_from_file
from edgeyolo.train.progloss import Phase, ProgLossConfig
from edgeyolo.train.stal import StalConfig
from edgeyolo.tune import TuneConfig, TuneResult, tune

__all__ = [
    # profiles and datasets
    "DeviceProfile", "TargetSpec", "FORMATS", "PRECISIONS", "RUNTIMES_FOR_FORMAT", "list_profiles", "load_profile",
    "SynthConfig", "synthesize", "CheckReport", "check_dataset",
    # training
    "TrainConfig", "TrainResult", "ProgLossConfig", "Phase", "StalConfig", "train", "resume",
    "train_config_from_file", "Diagnosis", "diagnose", "format_diagnosis", "load_conf_threshold",
    "TuneConfig", "TuneResult", "tune",
    # export and inference
    "ExportConfig", "ExportResult", "export", "PredictConfig", "PredictResult", "predict", "load_runtime",
    # measuring, here and on devices
    "BenchConfig", "BenchResult", "benchmark", "read_records", "record_line", "Device", "RemoteOptions",
    "benchmark_remote", "load_inventory", "remote_devices", "SetupConfig", "SetupResult", "setup_devices",
    # choosing and reporting
    "Selection", "select", "pm", "ReportResult", "report", "CompareResult", "compare", "load_runs",
    # everything at once
    "PipelineConfig", "PipelineResult", "run_pipeline",
]  # fmt: skip
