"""The export formats and runtimes edgeyolo knows: one table of frozen records, looked up by name.

Everything that needs to know about a format reads it here: profile validation, export (the model files, the
packages, the precisions refused), ``load_runtime``, the device agent's package check, ``device setup`` (which
runtimes, which wheels) and the command line's choices and help. Adding a format is one :class:`FormatInfo`
(and, for a new runtime, one :class:`RuntimeInfo`) plus the exporter and the runtime backend they name.

Plain data with no dependencies: a device imports this module without any export code, torch or ultralytics.
Exporters and backend classes are ``"module:attr"`` strings, imported by :func:`load` only when used.
:func:`register_format` and :func:`register_runtime` add entries (a plugin, a test); the views
(:data:`FORMATS`, :data:`RUNTIMES`, :data:`RUNTIMES_FOR_FORMAT`, ...) always show the table as it is now.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from edgeyolo.errors import UnknownNameError

PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class Package:
    """A Python package that export needs on this machine."""

    module: str  # the import name
    extra: str  # edgeyolo's pip extra that installs it
    precision: str = ""  # needed only to export this precision ("": every precision)


@dataclass(frozen=True)
class RuntimeInfo:
    """A runtime that executes artifacts on the device."""

    name: str  # in profiles, manifests and --runtimes
    backend: str  # "module:Class" of its edgeyolo.runtime.Runtime, imported only when used
    module: str  # the Python module it runs on: imported to check it is installed and read its version
    package: str  # the pip package that installs ``module`` (device setup's wheel)
    extra: str  # edgeyolo's pip extra that installs it
    not_from_pip: str = ""  # why device setup cannot install it ("": it can)


@dataclass(frozen=True)
class FormatInfo:
    """An artifact format: what export writes and which runtimes run it."""

    name: str  # in profiles, manifests, artifact names and --formats
    files: tuple[str, ...]  # the model files of an artifact; the manifest names the first
    runtimes: tuple[str, ...]  # the runtimes that can run it, the default first
    # "module:function" that writes ``files`` for one target: called with an edgeyolo.export.ExportJob
    exporter: str
    packages: tuple[Package, ...] = ()  # what its export needs here, checked in this order
    precisions: tuple[str, ...] = PRECISIONS  # the precisions it exports
    refused: tuple[tuple[str, str], ...] = ()  # (precision, why it is not exported)
    check: str = ""  # "module:function" (format name -> why export cannot run here, or None); "": none
    quantization: str = ""  # "module:attr" of edgeyolo's own INT8 settings, recorded in the manifest
    versions: tuple[str, ...] = ()  # other packages whose versions the manifest records

    @property
    def runtime(self) -> str:
        """The runtime that runs it unless another is named."""
        return self.runtimes[0]

    def refusal(self, precision: str) -> str | None:
        """Why ``precision`` is not exported in this format (None when it is)."""
        why = dict(self.refused).get(precision)
        if why is None and precision not in self.precisions:
            why = f"{self.name} does not export {precision}; it exports {', '.join(self.precisions)}"
        return why

    def packages_for(self, precision: str) -> tuple[Package, ...]:
        return tuple(p for p in self.packages if p.precision in ("", precision))


_FORMATS: dict[str, FormatInfo] = {}
_RUNTIMES: dict[str, RuntimeInfo] = {}


def register_runtime(info: RuntimeInfo, *, replace: bool = False) -> RuntimeInfo:
    """Add a runtime to the table (``replace``: over one of the same name)."""
    if info.name in _RUNTIMES and not replace:
        raise ValueError(f"runtime '{info.name}' is already registered")
    _RUNTIMES[info.name] = info
    return info


def register_format(info: FormatInfo, *, replace: bool = False) -> FormatInfo:
    """Add a format to the table; its runtimes must be registered first."""
    if info.name in _FORMATS and not replace:
        raise ValueError(f"format '{info.name}' is already registered")
    unknown = [r for r in info.runtimes if r not in _RUNTIMES]
    if not info.runtimes or unknown:
        raise ValueError(f"format '{info.name}': runtimes {list(info.runtimes)} must be registered ones")
    _FORMATS[info.name] = info
    return info


def unregister_format(name: str) -> None:
    _FORMATS.pop(name, None)


def unregister_runtime(name: str) -> None:
    _RUNTIMES.pop(name, None)


def get_format(name: str) -> FormatInfo:
    if name not in _FORMATS:
        raise UnknownNameError(f"Unknown format '{name}'; known: {', '.join(_FORMATS)}.")
    return _FORMATS[name]


def get_runtime(name: str) -> RuntimeInfo:
    if name not in _RUNTIMES:
        raise UnknownNameError(f"Unknown runtime '{name}'; known: {', '.join(_RUNTIMES)}.")
    return _RUNTIMES[name]


def default_format() -> str:
    """The first format: the one a quick measurement (tune's latency) exports."""
    return next(iter(_FORMATS))


def default_runtime(fmt: str) -> str | None:
    """The runtime that runs ``fmt`` unless another is named (None for an unknown format)."""
    return _FORMATS[fmt].runtime if fmt in _FORMATS else None


def runtime_of(manifest: Mapping[str, Any]) -> str:
    """The runtime an artifact's manifest names, else its format's default, else the first runtime."""
    return manifest.get("runtime") or default_runtime(manifest.get("format", "")) or next(iter(_RUNTIMES))


def formats_run_by(runtime: str) -> tuple[str, ...]:
    return tuple(f.name for f in _FORMATS.values() if runtime in f.runtimes)


def recorded_packages() -> tuple[str, ...]:
    """Every package whose version a manifest records: each format's export packages and versions, then the
    runtimes' modules."""
    names = [n for f in _FORMATS.values() for n in (*(p.module for p in f.packages), *f.versions)]
    return tuple(dict.fromkeys([*names, *(r.module for r in _RUNTIMES.values())]))


def load(ref: str) -> Any:
    """The object a ``"module:attr"`` string names, imported now."""
    module, _, attr = ref.partition(":")
    return getattr(import_module(module), attr)


class _Names(Sequence[str]):
    """A live, read-only sequence of names (a tuple's ``in``, ``join``, indexing and ``repr``)."""

    def __init__(self, names: Callable[[], Sequence[str]]):
        self._names = names

    def __getitem__(self, i):  # type: ignore[override]
        return tuple(self._names())[i]

    def __len__(self) -> int:
        return len(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._names()))

    def __repr__(self) -> str:
        return repr(tuple(self._names()))


class _Table(Mapping[str, Any]):
    """A live, read-only view of one of the tables (``value`` maps each record to what the view shows)."""

    def __init__(self, table: dict[str, Any], value: Callable[[Any], Any] = lambda r: r):
        self._table, self._value = table, value

    def __getitem__(self, name: str) -> Any:
        return self._value(self._table[name])

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._table))

    def __len__(self) -> int:
        return len(self._table)

    def __repr__(self) -> str:
        return repr(dict(self.items()))


FORMATS = _Names(lambda: tuple(_FORMATS))  # format names, in the table's order
RUNTIMES = _Names(lambda: tuple(_RUNTIMES))  # runtime names
# the runtimes device setup can install
PIP_RUNTIMES = _Names(lambda: tuple(r.name for r in _RUNTIMES.values() if not r.not_from_pip))
RUNTIMES_FOR_FORMAT: Mapping[str, tuple[str, ...]] = _Table(_FORMATS, lambda f: f.runtimes)
FORMAT_TABLE: Mapping[str, FormatInfo] = _Table(_FORMATS)
RUNTIME_TABLE: Mapping[str, RuntimeInfo] = _Table(_RUNTIMES)

# --- the built-in formats and runtimes ------------------------------------------------------------------------

_NCNN_INT8 = (
    "NCNN INT8 needs ncnn's C++ tools ncnn2table/ncnn2int8, which the ncnn and pnnx wheels do not ship; "
    "use ncnn fp16, or onnx/openvino int8"
)
for _rt in (
    RuntimeInfo("onnxruntime", "edgeyolo.runtime.onnxruntime:OnnxRuntime", "onnxruntime", "onnxruntime", "onnx"),
    RuntimeInfo("openvino", "edgeyolo.runtime.openvino:OpenVinoRuntime", "openvino", "openvino", "openvino"),
    RuntimeInfo("tensorrt", "edgeyolo.runtime.tensorrt:TensorRTRuntime", "tensorrt", "tensorrt", "tensorrt",
                not_from_pip="TensorRT comes with JetPack on a Jetson (apt install python3-libnvinfer), not from PyPI"),
    RuntimeInfo("ncnn", "edgeyolo.runtime.ncnn:NcnnRuntime", "ncnn", "ncnn", "ncnn"),
):  # fmt: skip
    register_runtime(_rt)
for _fmt in (
    FormatInfo("onnx", ("model.onnx",), ("onnxruntime",), "edgeyolo.export.library:export_onnx",
               (Package("onnx", "onnx"), Package("onnxruntime", "onnx")),
               quantization="edgeyolo.export.onnx_int8:SETTINGS", versions=("onnxslim",)),
    FormatInfo("openvino", ("model.xml", "model.bin"), ("openvino",), "edgeyolo.export.library:export_openvino",
               (Package("openvino", "openvino"), Package("nncf", "openvino", "int8"))),
    FormatInfo("tensorrt", ("model.engine",), ("tensorrt",), "edgeyolo.export.library:export_tensorrt",
               (Package("tensorrt", "tensorrt"),), check="edgeyolo.export.library:cuda_missing"),
    FormatInfo("ncnn", ("model.ncnn.param", "model.ncnn.bin"), ("ncnn",), "edgeyolo.export.ncnn:export_artifact",
               (Package("pnnx", "train"), Package("ncnn", "ncnn")), precisions=("fp32", "fp16"),
               refused=(("int8", _NCNN_INT8),)),
):  # fmt: skip
    register_format(_fmt)
