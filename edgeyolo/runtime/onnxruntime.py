"""ONNX Runtime backend (CPU execution provider)."""

from __future__ import annotations

import numpy as np

from edgeyolo.errors import ArtifactError
from edgeyolo.runtime import require
from edgeyolo.runtime.base import Runtime


class OnnxRuntime(Runtime):
    name = "onnxruntime"

    def load(self) -> None:
        ort = require(self.name, "onnxruntime")
        self._ort = ort
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.options.threads:
            so.intra_op_num_threads = int(self.options.threads)
            so.inter_op_num_threads = 1
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session_options = so
        try:
            self.session = ort.InferenceSession(
                str(self.artifact.model_path), sess_options=so, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own exception types for corrupt graphs
            raise ArtifactError(f"{self.artifact.model_path}: ONNX Runtime cannot load it: {e}") from None
        inp = self.session.get_inputs()[0]
        self._input_name = inp.name
        self._input_dtype = np.float16 if "float16" in inp.type else np.float32
        self._output_names = [self.session.get_outputs()[0].name]

    def input_dtype(self) -> type:
        # Called before load(): read the precision from the manifest instead of the session.
        return np.float16 if self.artifact.manifest.get("input_dtype") == "float16" else np.float32

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        return self.session.run(self._output_names, {self._input_name: tensor})[0]

    def versions(self) -> dict[str, str]:
        return {"onnxruntime": self._ort.__version__}

    def open_streams(self, n: int):
        """``n`` sessions, each with its own intra-op pool of ``threads // n`` threads (why not one shared
        session: :mod:`edgeyolo.runtime.streams`)."""
        from edgeyolo.runtime.streams import separate_instances, threads_per_stream, total_threads

        per = threads_per_stream(total_threads(self), n)
        return separate_instances(
            self, n, f"{n} ONNX Runtime session(s), each with an intra-op pool of {per} thread(s)"
        )

    def settings(self) -> dict:
        so = self._session_options
        return {"providers": self.session.get_providers(), "intra_op_num_threads": so.intra_op_num_threads,
                "inter_op_num_threads": so.inter_op_num_threads, "execution_mode": str(so.execution_mode).split(".")[-1],
                "graph_optimization_level": str(so.graph_optimization_level).split(".")[-1]}  # fmt: skip

    def io_spec(self) -> tuple[dict, dict]:
        def spec(v) -> dict:
            return {
                "name": v.name,
                "shape": list(v.shape),
                "dtype": v.type.replace("tensor(", "").rstrip(")"),
            }

        return spec(self.session.get_inputs()[0]), spec(self.session.get_outputs()[0])
