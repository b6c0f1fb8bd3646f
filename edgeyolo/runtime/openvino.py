"""OpenVINO backend: CPU, latency mode, one stream, a fixed thread count, FP32 artifacts computed in FP32."""

from __future__ import annotations

import numpy as np

from edgeyolo.errors import ArtifactError
from edgeyolo.runtime import require
from edgeyolo.runtime.base import Runtime


class OpenVinoRuntime(Runtime):
    name = "openvino"

    def load(self) -> None:
        from edgeyolo._offline import disable_vendor_telemetry

        disable_vendor_telemetry()
        ov = require(self.name, "openvino")
        self._ov = ov
        config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1"}
        if self.artifact.manifest.get("precision") == "fp32":
            # OpenVINO's CPU plugin runs a float model in bfloat16 on CPUs with AVX512-BF16/AMX and in float16
            # on ARM (a Raspberry Pi) unless told otherwise: an FP32 candidate is measured in FP32.
            config["INFERENCE_PRECISION_HINT"] = "f32"
        if self.options.threads:
            config["INFERENCE_NUM_THREADS"] = str(int(self.options.threads))
        self.compiled = self._compile(config)
        self.request = self.compiled.create_infer_request()

    def _compile(self, config: dict):
        device = self.options.extra.get("device", "CPU")
        try:
            if getattr(self, "_model", None) is None:
                self._core = self._ov.Core()
                self._model = self._core.read_model(str(self.artifact.model_path))
            return self._core.compile_model(self._model, device, config)
        except Exception as e:  # OpenVINO raises RuntimeError subclasses of its own for bad IR files
            raise ArtifactError(f"{self.artifact.model_path}: OpenVINO cannot load it: {e}") from None

    def open_streams(self, n: int):
        """The model compiled for throughput (``PERFORMANCE_HINT: THROUGHPUT`` for ``n`` requests over all the
        threads: the plugin picks its CPU streams) and ``n`` infer requests, one per stream, in flight at once."""
        from edgeyolo.runtime.streams import StreamPredictor, StreamSet, total_threads

        config = {"PERFORMANCE_HINT": "THROUGHPUT", "PERFORMANCE_HINT_NUM_REQUESTS": str(n),
                  "INFERENCE_NUM_THREADS": str(total_threads(self))}  # fmt: skip
        if self.artifact.manifest.get("precision") == "fp32":
            config["INFERENCE_PRECISION_HINT"] = "f32"
        compiled = self._compile(config)

        def network(request):
            def run(tensor: np.ndarray) -> np.ndarray:
                request.infer({0: tensor})
                return request.get_output_tensor(0).data

            return run

        predictors = [StreamPredictor(self, network(compiled.create_infer_request())) for _ in range(n)]
        settings = {"strategy": f"OpenVINO THROUGHPUT hint, {n} infer request(s) in flight",
                    **self._read_back(compiled, ("PERFORMANCE_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS",
                                                 "OPTIMAL_NUMBER_OF_INFER_REQUESTS"))}  # fmt: skip
        return StreamSet(predictors, settings)

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        self.request.infer({0: tensor})
        return self.request.get_output_tensor(0).data

    def versions(self) -> dict[str, str]:
        return {"openvino": self._ov.get_version()}

    def settings(self) -> dict:
        """Read back from the compiled model: what OpenVINO actually uses, not only what was asked."""
        keys = ("PERFORMANCE_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS", "INFERENCE_PRECISION_HINT")
        return {"device": self.options.extra.get("device", "CPU"), **self._read_back(self.compiled, keys)}

    @staticmethod
    def _read_back(compiled, keys) -> dict:
        out = {}
        for key in keys:
            try:
                value = compiled.get_property(key)
                out[key] = value.get_type_name() if hasattr(value, "get_type_name") else str(value)
            except Exception:  # a property this device plugin does not expose
                out[key] = None
        return out

    def io_spec(self) -> tuple[dict, dict]:
        def spec(port) -> dict:
            shape = [d.get_length() if d.is_static else str(d) for d in port.get_partial_shape()]
            names = sorted(port.get_names())  # the NMS-free output can come without a tensor name
            return {
                "name": names[0] if names else None,
                "shape": shape,
                "dtype": port.get_element_type().get_type_name(),
            }

        return spec(self.compiled.input(0)), spec(self.compiled.output(0))
