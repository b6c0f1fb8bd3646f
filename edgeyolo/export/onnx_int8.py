"""ONNX INT8 for CPUs: static QDQ quantization with ONNX Runtime, calibrated on the dataset's val images.

The library's own ONNX INT8 export quantizes only Conv/MatMul with signed 8-bit activations, so every
convolution is wrapped in its own Quantize/Dequantize pair and the float SiLU between them stays: on an
AVX2 CPU that graph ran 1.6x *slower* than FP32 (benchmarks/int8.py). edgeyolo quantizes the whole
backbone and neck instead, in the layout ONNX Runtime's x86 kernels are fastest with: unsigned
asymmetric activations, signed per-channel weights, ``reduce_range`` (7-bit weights, so AVX2's 16-bit
multiply-add cannot saturate on CPUs without VNNI). The Detect head stays float: its decode concatenates
box pixels (0..imgsz) with class scores (0..1), which one 8-bit scale cannot hold.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import cv2

from edgeyolo.errors import ExportError

SETTINGS = {
    "method": "onnxruntime quantize_static",
    "format": "QDQ",
    "activations": "uint8, asymmetric, per tensor",
    "weights": "int8, per channel",
    "reduce_range": True,
    "float": "the Detect head (decode and its branches)",
}


def head_nodes(model: Any) -> list[str]:
    """Names of the nodes of the last ``/model.N/`` module: the Detect head of an Ultralytics export."""
    index = {n.name: int(m.group(1)) for n in model.graph.node if (m := re.match(r"/model\.(\d+)/", n.name))}
    if not index:
        raise ExportError(
            "ONNX INT8: no '/model.N/' node names in the exported graph; cannot locate the head"
        )
    last = max(index.values())
    return [name for name, i in index.items() if i == last]


def quantize_onnx(fp32: Path, out: Path, images: list[Path], imgsz: int | tuple[int, int]) -> Path:
    """Write the INT8 model of ``fp32`` to ``out``, calibrated on ``images`` (letterboxed as at run time)."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from edgeyolo.runtime.preprocess import Preprocessor

    if not images:
        raise ExportError(
            "ONNX INT8: no calibration images (the val split, times the calibration fraction, is empty)"
        )
    model = onnx.load(str(fp32))
    name = model.graph.input[0].name
    exclude = head_nodes(model)
    del model
    pre = Preprocessor(*((imgsz, imgsz) if isinstance(imgsz, int) else imgsz))

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.rewind()

        def get_next(self) -> dict | None:
            path = next(self.it, None)
            if path is None:
                return None
            img = cv2.imread(str(path))
            if img is None:
                raise ExportError(f"ONNX INT8 calibration: cannot read image {path}")
            return {name: pre(img)[0].copy()}

        def rewind(self) -> None:
            self.it = iter(images)

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"  # shapes inferred, graph optimised: better quantization
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(out), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        reduce_range=True, nodes_to_exclude=exclude)  # fmt: skip
    return out
