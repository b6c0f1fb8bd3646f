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
        self._cudart = _cudart()
        logger = trt.Logger(trt.Logger.WARNING)
        self.engine = trt.Runtime(logger).deserialize_cuda_engine(read_engine_file(self.artifact.model_path))
        if self.engine is None:
            raise ArtifactError(f"{self.artifact.model_path}: TensorRT could not deserialize the engine")
        self._allocations: list = []  # device buffers of every context, freed with the runtime
        self.context, self.stream, self._io = self._new_context()
        self._input = next(n for n, v in self._io.items() if v[0])
        self._output = next(n for n, v in self._io.items() if not v[0])

    def _new_context(self) -> tuple:
        """An execution context with its own CUDA stream and buffers: (context, stream, {name: (is_input, host,
        device)})."""
        trt, cudart = self._trt, self._cudart
        context = self.engine.create_execution_context()
        stream = _check(cudart.cudaStreamCreate())
        io = {}
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            shape = tuple(self.engine.get_tensor_shape(name))
            dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            is_input = self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            host = np.empty(shape, dtype)
            dev = _check(cudart.cudaMalloc(host.nbytes))
            self._allocations.append(dev)
            context.set_tensor_address(name, int(dev))
            io[name] = (is_input, host, dev)
        return context, stream, io

    def input_dtype(self) -> type:
        return np.float16 if self.artifact.manifest.get("input_dtype") == "float16" else np.float32

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        return self._run(self.context, self.stream, self._io, tensor)

    def _run(self, context, stream, io: dict, tensor: np.ndarray) -> np.ndarray:
        cudart = self._cudart
        _, host_in, dev_in = io[self._input]
        _, host_out, dev_out = io[self._output]
        np.copyto(host_in, tensor, casting="same_kind")
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        _check(cudart.cudaMemcpyAsync(dev_in, host_in.ctypes.data, host_in.nbytes, h2d, stream))
        if not context.execute_async_v3(stream):
            raise RuntimeError("TensorRT execution failed")
        _check(cudart.cudaMemcpyAsync(host_out.ctypes.data, dev_out, host_out.nbytes, d2h, stream))
        _check(cudart.cudaStreamSynchronize(stream))
        return host_out

    def open_streams(self, n: int):
        """One engine, ``n`` execution contexts, each with its own CUDA stream and buffers (the GPU overlaps
        them; the host threads wait on their own stream only)."""
        from edgeyolo.runtime.streams import StreamPredictor, StreamSet

        def network(ctx) -> object:
            return lambda tensor: self._run(*ctx, tensor)

        contexts = [self._new_context() for _ in range(n)]
        predictors = [StreamPredictor(self, network(c)) for c in contexts]
        return StreamSet(predictors, {"strategy": f"one TensorRT engine, {n} execution context(s) with a CUDA stream each",
                                      "contexts": n})  # fmt: skip

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
        for dev in getattr(self, "_allocations", []):
            cudart.cudaFree(dev)
