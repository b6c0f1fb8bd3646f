"""TensorRT backend: a serialized engine run with the tensorrt Python API and cuda-python buffers.

Engines are tied to the TensorRT version (and GPU) they were built with: the version in the manifest is
checked before deserializing, so a mismatch is a clear error instead of a crash inside TensorRT.
"""

from __future__ import annotations

import json

import numpy as np

from edgeyolo.errors import ArtifactError
from edgeyolo.runtime import require
from edgeyolo.runtime.base import Runtime


def _cudart():
    return require(
        "tensorrt", "cuda.bindings.runtime", "cuda.cudart",  # cuda-python >= 12.6, then older ones
        needs="cuda-python", note="on a Jetson: pip install cuda-python",
    )  # fmt: skip


def _check(result):
    err, *rest = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise RuntimeError(f"CUDA error {err}")
    return rest[0] if len(rest) == 1 else rest


def read_engine_file(path) -> bytes:
    """Engine bytes; Ultralytics prefixes its engines with a length-prefixed JSON metadata block."""
    data = open(path, "rb").read()
    n = int.from_bytes(data[:4], "little", signed=True)
    if 0 < n < len(data) - 4:
        try:
            json.loads(data[4 : 4 + n].decode("utf-8"))
            return data[4 + n :]
        except (UnicodeDecodeError, json.JSONDecodeError):
            pass
    return data


class TensorRTRuntime(Runtime):
    name = "tensorrt"

    def load(self) -> None:
        trt = require(self.name, "tensorrt", needs="TensorRT", note="JetPack ships python3-libnvinfer")
        self._trt = trt
        built = (self.artifact.manifest.get("versions") or {}).get("tensorrt")
        if built and built.split(".")[:2] != trt.__version__.split(".")[:2]:
            raise ArtifactError(
                f"{self.artifact.model_path}: engine built with TensorRT {built}, this machine has {trt.__version__}; "
                "re-export the engine on this device"
            )
        cudart = self._cudart = _cudart()
        logger = trt.Logger(trt.Logger.WARNING)
        self.engine = trt.Runtime(logger).deserialize_cuda_engine(read_engine_file(self.artifact.model_path))
        if self.engine is None:
            raise ArtifactError(f"{self.artifact.model_path}: TensorRT could not deserialize the engine")
        self.context = self.engine.create_execution_context()
        self.stream = _check(cudart.cudaStreamCreate())
        self._io = {}
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            shape = tuple(self.engine.get_tensor_shape(name))
            dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            is_input = self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            host = np.empty(shape, dtype)
            dev = _check(cudart.cudaMalloc(host.nbytes))
            self.context.set_tensor_address(name, int(dev))
            self._io[name] = (is_input, host, dev)
        self._input = next(n for n, v in self._io.items() if v[0])
        self._output = next(n for n, v in self._io.items() if not v[0])

    def input_dtype(self) -> type:
        return np.float16 if self.artifact.manifest.get("input_dtype") == "float16" else np.float32

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        cudart = self._cudart
        _, host_in, dev_in = self._io[self._input]
        _, host_out, dev_out = self._io[self._output]
        np.copyto(host_in, tensor, casting="same_kind")
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        _check(cudart.cudaMemcpyAsync(dev_in, host_in.ctypes.data, host_in.nbytes, h2d, self.stream))
        if not self.context.execute_async_v3(self.stream):
            raise RuntimeError("TensorRT execution failed")
        _check(cudart.cudaMemcpyAsync(host_out.ctypes.data, dev_out, host_out.nbytes, d2h, self.stream))
        _check(cudart.cudaStreamSynchronize(self.stream))
        return host_out

    def versions(self) -> dict[str, str]:
        return {"tensorrt": self._trt.__version__}

    def io_spec(self) -> tuple[dict, dict]:
        def spec(name: str) -> dict:
            _, host, _ = self._io[name]
            return {"name": name, "shape": list(host.shape), "dtype": str(host.dtype)}

        return spec(self._input), spec(self._output)

    def __del__(self) -> None:
        cudart = getattr(self, "_cudart", None)
        if cudart is None:
            return
        for _, _, dev in getattr(self, "_io", {}).values():
            cudart.cudaFree(dev)
