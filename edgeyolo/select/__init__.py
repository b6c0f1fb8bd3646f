"""Choosing the candidate to ship: Pareto front over (p90 latency, mAP50-95) and the budget rule.

Selected: the highest-mAP candidate within the latency budget (and at or above ``min_map`` when given) whose
mAP drop vs its FP32 twin (same model, training size and input shape) is within ``max_map_drop``. The accuracy
figures are intervals where the records allow: each record's per-image evaluation (its sidecar file) is
resampled over the val images (:mod:`edgeyolo.bench.bootstrap`), the same resamples for every candidate, so
the difference between two candidates has a paired interval. One reading of that interval decides everything
(:mod:`edgeyolo.select.paired`): a candidate is tied with the best when 0 lies strictly inside the interval of
their difference or all of it is within the tie margin (profile ``map_tie_margin``, 0.001), so one worse on
some images and better on none is not tied unless by that little; ties go to lower latency, then smaller
artifact; an FP16/INT8 candidate passes ``max_map_drop`` only when the far end of its paired drop interval is
within it. Records without per-image data (older ones) read their point difference the same way, with a note.
Only accuracies measured on the same val images (dataset, split, count, image list) are compared; candidates
measured on other images are left out of the comparison, and the reason says so. A latency difference stands
out of the noise when the 95% t-interval of its mean paired per-pass difference (interleaved rounds, the order
reversed every other pass) excludes 0, else the records' intervals are compared. Error records superseded by a
later record of the same candidate are dropped.

When nothing fits, the selection names the fastest candidate and the one closest to fitting (smallest
relative shortfall over all the requirements). Selection is per device: records from several machines are
never pooled (``device=`` picks one; ``edgeyolo compare`` sets them side by side).

An input shape is one more candidate dimension: a camera-shaped input (``320x192``) competes like any other,
its FP32 twin has the same shape, and when it is selected the reason compares it with its square twin (same
model, training size, format, precision, runtime and long side; :func:`square_twins`).
"""

from edgeyolo.select.camera import (
    ShapeComparison,
    compare_shape,
    shape_comparisons,
    square_twin,
    square_twins,
)
from edgeyolo.select.paired import paired_interval, tied
from edgeyolo.select.pareto import pareto_front
from edgeyolo.select.records import (
    candidate_name,
    device_label,
    devices_of,
    latest_errors,
    latest_per_candidate,
    record_shape,
    records_of_device,
)
from edgeyolo.select.rule import select
from edgeyolo.select.text import pm
from edgeyolo.select.types import Candidate, Metric, Selection

__all__ = [
    "Candidate", "Metric", "Selection", "ShapeComparison", "candidate_name", "compare_shape", "device_label",
    "devices_of", "latest_errors", "latest_per_candidate", "paired_interval", "pareto_front", "pm", "record_shape",
    "records_of_device", "select", "shape_comparisons", "square_twin", "square_twins", "tied",
]  # fmt: skip
