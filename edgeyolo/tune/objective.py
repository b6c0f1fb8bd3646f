"""What a trial is worth: mAP50-95 of the deployed head, optionally penalized by measured latency.

``map``: the mAP50-95 that Ultralytics' validation reports for best.pt of the trial, on the NMS-free
(end-to-end, one-to-one) head, because edgeyolo trains with ``nms=False`` (see ULTRALYTICS.md).

``map-latency``: the trial's best.pt is exported to ONNX FP32 (``edgeyolo.export``) and timed end to end
(preprocess + inference + postprocess) on val images with onnxruntime in a fresh process (``edgeyolo.bench``), using the
profile's thread count. With ``L`` its p90 latency and ``T`` the latency budget (the profile's, or
``--latency-budget-ms``), the fitness is MnasNet's latency-aware reward (Tan et al., 2019)::

    fitness = mAP50-95 * (L / T) ** w,   w = -0.07 when L <= T,   w = -1 when L > T

Within the budget this is MnasNet's soft reward: a model twice as fast as needed earns ~5 % more, so speed
breaks near-ties without outweighing accuracy. Beyond it, MnasNet's hard variant: the score falls in
proportion to the overrun (twice the budget halves it). The latency is measured on the machine that runs
the trial: tune on the target device, or on one of similar speed, for the budget to mean what it says.
With a fixed model and image size, hyperparameters barely move latency; add ``imgsz``/``model`` to the
space to let the search trade accuracy for speed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeyolo.profiles import DeviceProfile

MAP_KEY = "metrics/mAP50-95(B)"
SOFT_EXPONENT = -0.07  # MnasNet's alpha = beta for the soft constraint
HARD_EXPONENT = -1.0  # MnasNet's beta for the hard constraint
LATENCY_IMAGES = 32  # val images the latency loop cycles through (and the artifact's mAP is taken on)


def penalized(map50_95: float, latency_ms: float, budget_ms: float) -> float:
    """MnasNet's reward with the soft exponent within the budget and the hard one beyond it."""
    w = SOFT_EXPONENT if latency_ms <= budget_ms else HARD_EXPONENT
    return map50_95 * (latency_ms / budget_ms) ** w


def measure_latency(
    weights: Path,
    imgsz: int,
    profile: DeviceProfile,
    out: Path,
    data: Path,
    warmup: int | None,
    iterations: int | None,
) -> dict[str, Any]:
    """Export ONNX FP32 and time it on the dataset's val images; returns ``{"p90", "p50", "map50_95",
    "artifact"}`` (latencies in ms; the artifact's own mAP on up to ``LATENCY_IMAGES`` val images).

    Raises:
        RuntimeError: the export or the measurement failed (the message says which).
    """
    from edgeyolo.bench import BenchConfig, benchmark
    from edgeyolo.export import ExportConfig, export
    from edgeyolo.formats import default_format, default_runtime
    from edgeyolo.profiles import TargetSpec

    fmt = default_format()  # the registry's first format (ONNX)
    target = TargetSpec(fmt, "fp32", default_runtime(fmt))
    r = export(
        ExportConfig(
            profile=profile,
            weights=weights,
            out=out / "export",
            imgsz=(imgsz,),
            targets=(target,),
        )
    )
    item = r.items[0]
    if item.status != "ok" or item.artifact is None:
        raise RuntimeError(f"ONNX export failed: {item.reason}")
    results = out / "latency.jsonl"
    results.unlink(missing_ok=True)
    bench = benchmark(BenchConfig(profile=profile, artifacts=(item.artifact,), out=results, warmup=warmup,
                                  iterations=iterations, force=True, data=data,
                                  accuracy_images=LATENCY_IMAGES))  # fmt: skip
    rec = bench.records[0] if bench.records else json.loads(results.read_text().splitlines()[-1])
    if rec.get("status") != "ok":
        raise RuntimeError(f"latency measurement failed: {rec.get('message', 'unknown error')}")
    e2e = rec["latency_ms"]["end_to_end"]
    acc = rec.get("accuracy") or {}
    return {"p90": float(e2e["p90"]), "p50": float(e2e["p50"]), "map50_95": acc.get("map50_95"),
            "artifact": str(item.artifact)}  # fmt: skip
