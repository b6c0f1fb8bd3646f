"""NCNN backend: the ``ncnn`` package alone (no torch, no pnnx), CPU, a fixed thread count.

edgeyolo's NCNN graph stops before the end-to-end head's top-k (NCNN has no top-k layer, see
``edgeyolo.export.ncnn``): it returns the one-to-one branch's decoded boxes and class scores for every
anchor, and :func:`topk_end2end` does the head's top-k in numpy, timed as postprocess. The result is the
same ``[1, max_det, 6]`` as the ONNX/OpenVINO graphs give, with no NMS.

Precision: an FP32 artifact runs with NCNN's FP16 storage and arithmetic switched off (NCNN switches them on
by default wherever the CPU has them, which would make an "FP32" measurement an FP16 one on a Pi 5); an FP16
artifact (FP16 weights) runs with them on, so the CPU uses FP16 where it can (ARMv8.2 arithmetic on the
Cortex-A76; storage only on CPUs without it).
"""

from __future__ import annotations

import numpy as np

from edgeyolo.errors import ArtifactError
from edgeyolo.runtime import require
from edgeyolo.runtime.base import Runtime


def topk_end2end(raw: np.ndarray, max_det: int) -> np.ndarray:
    """The end-to-end head's top-k (``Detect.get_topk_index``, not class-agnostic) on one image.

    Args:
        raw: ``[4 + nc, anchors]`` (a leading batch axis of 1 is accepted): xyxy boxes then class scores.
        max_det: rows to keep (fewer when there are fewer anchors).

    Returns:
        ``[1, min(max_det, anchors), 6]`` rows ``x1, y1, x2, y2, score, class`` sorted by score: the best
        ``max_det`` anchors by their best class, then the best ``max_det`` (anchor, class) pairs among them.
        An anchor may appear once per class; overlapping boxes are never suppressed.
    """
    raw = np.asarray(raw, dtype=np.float32)
    raw = raw.reshape(raw.shape[-2], raw.shape[-1])
    boxes, scores = raw[:4], raw[4:]
    nc, anchors = scores.shape
    k = min(max_det, anchors)
    best = scores.max(axis=0)
    top = np.argpartition(-best, k - 1)[:k] if k < anchors else np.arange(anchors)
    top = top[np.argsort(-best[top], kind="stable")]
    pairs = scores[:, top].T.reshape(-1)  # [k * nc]: anchor-major, class-minor, as the head flattens them
    flat = np.argpartition(-pairs, k - 1)[:k] if k < pairs.size else np.arange(pairs.size)
    flat = flat[np.argsort(-pairs[flat], kind="stable")]
    anchor = top[flat // nc]
    out = np.empty((1, k, 6), np.float32)
    out[0, :, :4] = boxes[:, anchor].T
    out[0, :, 4] = pairs[flat]
    out[0, :, 5] = flat % nc
    return out


class NcnnRuntime(Runtime):
    name = "ncnn"

    def load(self) -> None:
        ncnn = require(self.name, "ncnn")
        self._ncnn = ncnn
        self.net = self._load_net(self.options.threads)
        inputs, outputs = self.net.input_names(), self.net.output_names()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ArtifactError(
                f"{self.artifact.model_path}: expected one input and one output, got {inputs} and {outputs}"
            )
        self._input, self._output = inputs[0], outputs[0]
        self.max_det = int(self.artifact.manifest.get("max_det", 300))

    def _load_net(self, threads: int | None):
        ncnn = self._ncnn
        net = ncnn.Net()
        opt = net.opt  # options must be set before the model is loaded
        opt.use_vulkan_compute = False
        opt.lightmode = True  # free each intermediate blob as soon as it is consumed
        if threads:
            opt.num_threads = int(threads)
        fp16 = self.artifact.precision == "fp16"
        opt.use_fp16_storage = opt.use_fp16_packed = opt.use_fp16_arithmetic = fp16
        opt.use_bf16_storage = False
        param = self.artifact.model_path
        weights = param.with_suffix(".bin")  # model.ncnn.param -> model.ncnn.bin
        if not weights.is_file():
            raise ArtifactError(
                f"{self.artifact.root}: NCNN weights '{weights.name}' are missing; re-export it."
            )
        if net.load_param(str(param)) != 0:
            raise ArtifactError(f"{param}: NCNN cannot parse it; re-export the artifact.")
        if net.load_model(str(weights)) != 0:
            raise ArtifactError(
                f"{weights}: NCNN cannot load it (truncated or not this graph's); re-export it."
            )
        return net

    def run_network(self, tensor: np.ndarray, net=None) -> np.ndarray:
        """Decoded boxes and class scores of every anchor, ``[4 + nc, anchors]`` (on ``net``: a stream's)."""
        with (self.net if net is None else net).create_extractor() as ex:
            ex.input(self._input, self._ncnn.Mat(np.ascontiguousarray(tensor[0], dtype=np.float32)))
            ret, out = ex.extract(self._output)
            if ret != 0:
                raise RuntimeError(f"ncnn extract failed with code {ret}")
            return np.array(out)

    def select_end2end(self, raw: np.ndarray) -> np.ndarray:
        return topk_end2end(raw, self.max_det)

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        return self.select_end2end(self.run_network(tensor))

    def versions(self) -> dict[str, str]:
        return {"ncnn": self._ncnn.__version__}

    def open_streams(self, n: int):
        """One net loaded with ``threads // n`` threads, an extractor per frame in each of the ``n`` streams
        (extractors of one net run concurrently; the weights are loaded once)."""
        from edgeyolo.runtime.streams import StreamPredictor, StreamSet, threads_per_stream, total_threads

        per = threads_per_stream(total_threads(self), n)
        net = self._load_net(per)
        predictors = [StreamPredictor(self, lambda t: self.run_network(t, net)) for _ in range(n)]
        return StreamSet(predictors, {"strategy": f"one NCNN net, {n} extractor(s) of {per} thread(s) each",
                                      "threads_per_stream": per})  # fmt: skip

    def settings(self) -> dict:
        opt, ncnn = self.net.opt, self._ncnn
        keys = ("num_threads", "lightmode", "use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic",
                "use_bf16_storage", "use_packing_layout", "use_winograd_convolution", "use_sgemm_convolution",
                "use_vulkan_compute")  # fmt: skip
        out = {k: getattr(opt, k) for k in keys}
        # What the CPU offers: FP16 arithmetic needs ARMv8.2 (asimdhp); elsewhere FP16 is storage at most.
        out.update(cpu_fp16_arithmetic=bool(ncnn.cpu_support_arm_asimdhp()), cpu_powersave=ncnn.get_cpu_powersave(),
                   topk="numpy (edgeyolo postprocess)")  # fmt: skip
        return out

    def io_spec(self) -> tuple[dict, dict]:
        h, w = self.artifact.shape
        graph = self.run_network(np.zeros((1, 3, h, w), np.float32))
        rows = min(self.max_det, graph.shape[-1])
        return (
            {"name": self._input, "shape": [1, 3, h, w], "dtype": "float32"},
            {"name": self._output, "shape": [1, rows, 6], "dtype": "float32",
             "graph_shape": [1, *graph.shape], "topk": "numpy (edgeyolo postprocess)"},
        )  # fmt: skip
