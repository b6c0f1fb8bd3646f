"""OpenVINO backend: CPU, latency mode, one stream, a fixed thread count."""

from __future__ import annotations

import numpy as np

from edgeyolo.errors import ArtifactError, BackendUnavailableError
from edgeyolo.runtime.base import Runtime


class OpenVinoRuntime(Runtime):
    name = "openvino"

    def load(self) -> None:
        try:
            import openvino as ov
        except ImportError:
            raise BackendUnavailableError(
                "openvino runtime needs: pip install 'edgeyolo[openvino]'"
            ) from None
        self._ov = ov
        config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1"}
        if self.options.threads:
            config["INFERENCE_NUM_THREADS"] = str(int(self.options.threads))
        device = self.options.extra.get("device", "CPU")
        try:
            core = ov.Core()
            model = core.read_model(str(self.artifact.model_path))
            self.compiled = core.compile_model(model, device, config)
        except Exception as e:  # OpenVINO raises RuntimeError subclasses of its own for bad IR files
            raise ArtifactError(f"{self.artifact.model_path}: OpenVINO cannot load it: {e}") from None
        self.request = self.compiled.create_infer_request()

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        self.request.infer({0: tensor})
        return self.request.get_output_tensor(0).data

    def versions(self) -> dict[str, str]:
        return {"openvino": self._ov.get_version()}
