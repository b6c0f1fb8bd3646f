"""The selection in words: a figure with its interval (``pm``), the requirements, and why the selected
candidate won."""

from __future__ import annotations

from collections.abc import Sequence

from edgeyolo.select.paired import paired_interval, tied
from edgeyolo.select.types import Candidate, Selection, budget_text


def requirements(sel: Selection) -> str:
    """The budget and minimum mAP of a selection in words ('' when neither is set)."""
    parts = []
    if sel.budget_ms is not None:
        parts.append(f"the {sel.metric} budget of {budget_text(sel)}")
    if sel.min_map is not None:
        parts.append(f"mAP50-95 >= {sel.min_map:g}")
    if sel.streams is not None:
        from edgeyolo.select.streams import streams_requirement

        parts.append(streams_requirement(sel))
    return " with ".join(parts)


def signed_ci(ci: tuple[float, float] | None) -> str:
    """``-0.012 to +0.004``: an interval of a difference, signs shown."""
    return "n/a" if ci is None else f"{ci[0]:+.3f} to {ci[1]:+.3f}"


def pm(value: float | None, ci: Sequence[float] | None, digits: int = 3) -> str:
    """``0.274 ± 0.020``: a figure with the half-width of its interval (just the figure without one)."""
    if value is None:
        return "n/a"
    if not ci or any(v is None for v in ci):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} ± {(ci[1] - ci[0]) / 2:.{digits}f}"


def reason(sel: Selection, best: Candidate, top: Candidate, rival: Candidate | None,
           eligible: list[Candidate], reqs: str) -> str:  # fmt: skip
    """The choice in words: what won, what it was compared with, and whether the data can separate them."""
    n, m = len(eligible), sel.metric
    if sel.budget_ms is not None:
        scope = f"within {reqs}"
    else:
        scope = f"with {reqs} and no latency budget" if reqs else "with no latency budget"
    drop = f", {0.0 - best.map_drop:+.3f} mAP50-95 vs its FP32 twin" if best.map_drop is not None else ""
    if best.drop_ci is not None:
        drop += f" (95% CI {signed_ci((0.0 - best.drop_ci[1], 0.0 - best.drop_ci[0]))})"
    unchecked = ("; no FP32 twin was measured, so its mAP drop vs FP32 is unchecked"
                 if best.precision != "fp32" and best.map_drop is None else "")  # fmt: skip
    figure = pm(best.map50_95, best.map50_95_ci)
    margin = sel.map_tie_margin
    if best is top and (rival is None or not tied(best, rival, margin)):
        text = (f"{best.name} has the highest mAP50-95 ({figure}) of the {n} candidate{'s' if n > 1 else ''} {scope} "
                f"({best.latency_ms:.1f} ms end to end{drop}){unchecked}.")  # fmt: skip
        if rival is not None and best.rival_ci is not None:
            end = ", which reaches 0 only at its end: not a tie" if 0 in best.rival_ci else ""
            text += (f" It scores {best.rival_diff:+.3f} over the runner-up {rival.name} (paired 95% CI "
                     f"{signed_ci(best.rival_ci)}{end}), a difference the val split resolves.")  # fmt: skip
        return text
    other = top if best is not top else rival  # the one it is tied with
    d = paired_interval(other, best)
    point = f"{other.map50_95 - best.map50_95:+.3f}"
    if d is None:
        how = f"their difference {point} is within the tie margin of {margin:g} (no per-image data)"
    elif d[0] < 0 < d[1]:
        how = f"their paired difference {point} (95% CI {signed_ci(d)}) contains 0"
    else:
        how = (
            f"their paired difference {point} (95% CI {signed_ci(d)}) is within the tie margin of ±{margin:g}"
        )
    text = (f"{best.name} ({figure} mAP50-95, {best.latency_ms:.1f} ms {m}{drop}) is tied on accuracy with "
            f"{'the highest-scoring candidate' if other is top else 'the next candidate'} {scope}, {other.name} "
            f"({pm(other.map50_95, other.map50_95_ci)}): {how}, so the faster one is selected{unchecked}.")  # fmt: skip
    if rival is not None:
        sep = best.latency_vs_rival
        if sep == "within noise":
            text += (f" Its {m} ({best.latency_ms:.1f} ms) and that of {rival.name} ({rival.latency_ms:.1f} ms) are "
                     "within the measurement noise: the data cannot separate these two, either is a sound choice.")  # fmt: skip
        elif sep == "faster":
            text += f" It is faster than {rival.name} ({rival.latency_ms:.1f} ms) beyond the measurement noise."  # fmt: skip
    return text
