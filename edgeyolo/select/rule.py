"""The selection rule: options, the FP32 twin drops, the front and budget flags, the choice and its reason,
or, when nothing fits, the fastest and the closest candidates."""

from __future__ import annotations

from collections.abc import Sequence

from edgeyolo.errors import ConfigError
from edgeyolo.select.camera import camera_reason, shape_notes
from edgeyolo.select.paired import latency_separation, load_bootstrap, one_order, paired_interval, tied
from edgeyolo.select.pareto import pareto_front
from edgeyolo.select.records import (
    candidate_name,
    devices_of,
    latest_errors,
    latest_per_candidate,
    record_shape,
    records_of_device,
    same_val_set,
    val_set,
    val_set_labels,
)
from edgeyolo.select.streams import annotate_streams, check_streams, streams_shortfall
from edgeyolo.select.text import reason, requirements, signed_ci
from edgeyolo.select.types import (
    DEFAULT_MAP_TIE_MARGIN,
    DEFAULT_MAX_MAP_DROP,
    METRICS,
    Candidate,
    Metric,
    Selection,
)


def _check_options(budget_ms, fps, min_map, max_map_drop, metric, map_tie_margin=None) -> None:
    if metric not in METRICS:
        raise ConfigError(f"select: unknown metric '{metric}'; use p50, p90, p95 or p99")
    if budget_ms is not None and fps is not None:
        raise ConfigError(
            f"select: got both a budget of {budget_ms:g} ms (--budget-ms) and {fps:g} FPS (--fps); give one"
        )
    if budget_ms is not None and not budget_ms > 0:
        raise ConfigError(f"select: the latency budget (--budget-ms) must be > 0 ms, got {budget_ms:g}")
    if fps is not None and not fps > 0:
        raise ConfigError(f"select: the frame rate (--fps) must be > 0, got {fps:g}")
    if min_map is not None and not 0 <= min_map <= 1:
        hint = f"; did you mean {min_map / 100:g}?" if 1 < min_map <= 100 else ""
        raise ConfigError(f"select: --min-map is a mAP50-95 between 0 and 1, got {min_map:g}{hint}")
    if max_map_drop is not None and not 0 <= max_map_drop <= 1:
        raise ConfigError(f"select: max_map_drop must be between 0 and 1 (mAP50-95), got {max_map_drop:g}")
    if map_tie_margin is not None and not 0 <= map_tie_margin <= 1:
        raise ConfigError(
            f"select: map_tie_margin must be between 0 and 1 (mAP50-95), got {map_tie_margin:g}"
        )


def _shortfall(c: Candidate, sel: Selection) -> tuple[float, list[str]]:
    """How far a candidate is from fitting, relative to each requirement (0 = fits), and the misses in words."""
    total, misses = 0.0, []
    if sel.budget_ms is not None and c.latency_ms > sel.budget_ms:
        total += (c.latency_ms - sel.budget_ms) / sel.budget_ms
        misses.append(f"{c.latency_ms - sel.budget_ms:.1f} ms over the budget")
    if sel.min_map is not None and c.map50_95 is not None and c.map50_95 < sel.min_map:
        total += (sel.min_map - c.map50_95) / max(sel.min_map, 1e-6)
        misses.append(f"mAP50-95 {sel.min_map - c.map50_95:.3f} below the minimum {sel.min_map:g}")
    drop_hi = c.drop_ci[1] if c.drop_ci is not None else c.map_drop
    if drop_hi is not None and drop_hi > sel.max_map_drop:
        total += (drop_hi - sel.max_map_drop) / max(sel.max_map_drop, 0.01)
        ci = f" (95% CI {signed_ci(c.drop_ci)})" if c.drop_ci is not None else ""
        if c.map_drop > sel.max_map_drop:
            misses.append(f"loses {c.map_drop:.3f} mAP50-95 vs FP32 (limit {sel.max_map_drop:g}){ci}")
        else:
            misses.append(f"the val split ({_images(c)}) is too small to tell whether its drop vs FP32 stays within "
                          f"{sel.max_map_drop:g}: {c.map_drop:+.3f}{ci}")  # fmt: skip
    more, miss = streams_shortfall(c, sel.streams)
    if miss:
        total += more
        misses.append(miss)
    return total, misses


def _images(c: Candidate) -> str:
    n = c.boot.images if c.boot is not None else 0
    return f"{n} images" if n else "val images"


def select(
    records: Sequence[dict],
    budget_ms: float | None = None,
    max_map_drop: float | None = None,
    metric: Metric = "p90",
    *,
    fps: float | None = None,
    min_map: float | None = None,
    device: str | None = None,
    map_tie_margin: float | None = None,
    streams: int | None = None,
) -> Selection:
    """Apply the selection rule to the benchmark records of one device.

    The rule: the most accurate candidate within the budget (and ``min_map``) whose drop vs its FP32 twin is
    within ``max_map_drop`` -- for an FP16/INT8 candidate, the far end of the paired 95% interval of its drop.
    Accuracy differences are read on paired 95% bootstrap intervals over the val images (a point difference
    without per-image data): a candidate is tied with the best when 0 lies strictly inside the interval of
    their difference or all of it is within ``map_tie_margin``, so a candidate worse on some images and better
    on none is not tied unless by that little. Ties go to lower latency, then smaller artifact. A latency
    difference stands out of the noise when the 95% t-interval of its mean paired per-pass difference excludes
    0. Only accuracies measured on the same val images are compared: candidates measured on other images than
    most are left out of the comparison, and the reason says so.

    Args:
        records: benchmark records (``edgeyolo.bench/1``); error records are listed, never selected.
        budget_ms: end-to-end latency budget at ``metric``; default: the records' profile budget.
        max_map_drop: how much mAP50-95 a non-FP32 candidate may lose vs its FP32 twin; default: the profile's.
        metric: the end-to-end latency percentile the budget applies to.
        fps: a frame-rate target, i.e. a budget of ``1000 / fps`` ms; exclusive with ``budget_ms``.
        min_map: candidates below this mAP50-95 are not selected.
        device: when the records come from several devices, the one to select for (label, hostname or
            profile); a budget rule across devices would compare latencies of different machines.
        map_tie_margin: mAP50-95 differences whose whole interval is within it are ties; default: the
            records' profile setting, else 0.001.
        streams: only candidates whose records show this many concurrent streams served at their target FPS
            within the latency budget (``bench --streams``) are selectable; the others say why not.

    Raises:
        ConfigError: an option is out of range, both ``budget_ms`` and ``fps`` are given, or the records come
            from several devices and ``device`` does not name one of them.
    """
    _check_options(budget_ms, fps, min_map, max_map_drop, metric, map_tie_margin)
    check_streams(streams)
    if device is not None:
        records = records_of_device(records, device)
    elif len(found := devices_of(records)) > 1:
        raise ConfigError(
            f"The records come from {len(found)} devices ({'; '.join(found)}); select for one with --device "
            "(e.g. --device " + repr(found[0]) + ") or compare them with 'edgeyolo compare'."
        )
    ok = latest_per_candidate(records)
    errors = latest_errors(records)  # an error a later ok record of the same candidate superseded is gone
    settings = next((r.get("settings") or {} for r in ok), {})
    if fps is not None:
        budget, source = 1000.0 / fps, "fps"
    elif budget_ms is not None:
        budget, source = float(budget_ms), "budget_ms"
    else:
        budget = settings.get("latency_budget_ms")
        source = "profile" if budget is not None else None
    drop_limit = max_map_drop if max_map_drop is not None else settings.get("max_map_drop")
    drop_limit = DEFAULT_MAX_MAP_DROP if drop_limit is None else float(drop_limit)
    margin = map_tie_margin if map_tie_margin is not None else settings.get("map_tie_margin")
    margin = DEFAULT_MAP_TIE_MARGIN if margin is None else float(margin)
    sel = Selection(metric=metric, budget_ms=budget, max_map_drop=drop_limit, errors=errors, min_map=min_map,
                    fps=fps, budget_source=source, map_tie_margin=margin, streams=streams)  # fmt: skip
    sel.device = next(iter(devices_of(records)), None)
    if not ok:
        sel.reason = "No successful benchmark records to choose from" + (
            f" ({len(errors)} error record{'s' if len(errors) != 1 else ''})." if errors else "."
        )
        return sel

    by_artifact: dict[str, dict] = {}
    no_boot: dict[str, list[str]] = {}
    for rec in ok:
        c, acc = rec["candidate"], rec.get("accuracy") or {}
        ci = acc.get("ci") or {}
        lat_ci = ((rec.get("latency_ci_ms") or {}).get("end_to_end") or {}).get(metric)
        cand = Candidate(
            name=candidate_name(rec), model=c["model"], imgsz=int(c["imgsz"]), format=c["format"],
            precision=c["precision"], latency_ms=float(rec["latency_ms"]["end_to_end"][metric]),
            map50_95=acc.get("map50_95"), map50=acc.get("map50"), size_bytes=int(c.get("size_bytes", 0)),
            artifact=c["artifact"], runtime=c.get("runtime") or "", train_imgsz=c.get("train_imgsz"),
            map50_95_ci=tuple(ci["map50_95"]) if ci.get("map50_95") else None,
            map50_ci=tuple(ci["map50"]) if ci.get("map50") else None,
            latency_ci=tuple(lat_ci) if lat_ci else None,
            shape=record_shape(rec).hw if c.get("shape") is not None else None, shape_note=c.get("shape_note"),
        )  # fmt: skip
        if cand.map50_95 is not None:
            cand.boot, why = load_bootstrap(rec)
            if why:
                no_boot.setdefault(why, []).append(cand.name)
        sel.candidates.append(cand)
        by_artifact[cand.artifact] = rec
    annotate_streams(sel, by_artifact, streams)
    other_images = _one_val_set(sel, by_artifact)
    boots = [c.boot for c in sel.candidates if c.boot is not None and not c.other_val_set]
    if boots:
        sel.bootstrap = {"resamples": boots[0].resamples, "seed": boots[0].seed, "confidence": 0.95,
                         "images": boots[0].images}  # fmt: skip
    _record_notes(sel, ok, by_artifact, no_boot)
    sel.notes += shape_notes(sel)  # a camera aspect the val images do not have: never silently

    for cand in sel.candidates:
        if cand.precision == "fp32" or cand.map50_95 is None or cand.other_val_set:
            continue
        twins = [t for t in sel.candidates if t.precision == "fp32" and t.model == cand.model and t.hw == cand.hw
                 and t.train_imgsz == cand.train_imgsz and t.map50_95 is not None]  # fmt: skip
        twins.sort(
            key=lambda t: (t.other_val_set, t.format != cand.format)
        )  # same images, then same format first
        if twins and not twins[0].other_val_set:
            cand.map_drop = round(twins[0].map50_95 - cand.map50_95, 5)
            cand.twin = twins[0].artifact
            cand.drop_ci = paired_interval(twins[0], cand)
        elif twins:
            cand.note = "no FP32 twin measured on the same val images (only on other ones); mAP drop unknown"
        else:
            cand.note = "no FP32 twin measured; mAP drop unknown"

    scored = [c for c in sel.candidates if c.map50_95 is not None and not c.other_val_set]
    for c, flag in zip(scored, pareto_front([(c.latency_ms, c.map50_95) for c in scored])):
        c.on_front = flag
    for c in sel.candidates:
        c.within_budget = budget is None or c.latency_ms <= budget
        drop_hi = c.drop_ci[1] if c.drop_ci is not None else c.map_drop
        drop_ok = drop_hi is None or drop_hi <= drop_limit
        map_ok = min_map is None or (c.map50_95 is not None and c.map50_95 >= min_map)
        streams_ok = streams is None or c.serves_streams is True
        c.eligible = (c.within_budget and c.map50_95 is not None and drop_ok and map_ok and streams_ok
                      and not c.other_val_set)  # fmt: skip
        if c.map50_95 is None:
            c.note = "no accuracy measured (benchmark with --data)"
        elif c.other_val_set:
            c.note = (f"accuracy measured on other val images ({c.val_set}) than the candidates compared "
                      f"({sel.val_set}): not compared, not selectable")  # fmt: skip
        else:
            c.misses = _shortfall(c, sel)[1]
            # the notes say why an in-budget candidate is still not eligible (the misses say all of it)
            c.note = "; ".join(
                [n for n in [c.note, *(m for m in c.misses if "over the budget" not in m)] if n]
            )
        if budget is not None and c.latency_ci is not None and c.latency_ci[0] <= budget < c.latency_ci[1]:
            c.note = "; ".join(x for x in [c.note, f"{metric} {c.latency_ms:.1f} ms straddles the {budget:g} ms budget "
                                           f"within its noise ({c.latency_ci[0]:.1f}-{c.latency_ci[1]:.1f} ms)"] if x)  # fmt: skip

    sel.fastest = min(sel.candidates, key=lambda c: (c.latency_ms, c.size_bytes))
    eligible = [c for c in sel.candidates if c.eligible]
    reqs = requirements(sel)
    if eligible:
        top = max(eligible, key=lambda c: (c.map50_95, -c.latency_ms))
        ties = [c for c in eligible if tied(top, c, margin)]
        best = min(ties, key=lambda c: (c.latency_ms, c.size_bytes))
        sel.selected = best
        others = sorted((c for c in eligible if c is not best), key=lambda c: -c.map50_95)
        if len(ties) > 1:
            rival = min((c for c in ties if c is not best), key=lambda c: (c.latency_ms, c.size_bytes))
        else:
            rival = others[0] if others else None
        for c in sel.candidates:
            other = rival if c is best else best
            if other is None or c.map50_95 is None or c.other_val_set:
                continue
            c.rival, c.rival_diff = other.name, round(c.map50_95 - other.map50_95, 5)
            c.rival_ci = paired_interval(c, other)
            c.rival_tied = tied(other, c, margin)
            c.latency_vs_rival = latency_separation(c, other, by_artifact[c.artifact], by_artifact[other.artifact],
                                                    metric)  # fmt: skip
        sel.reason = reason(sel, best, top, rival, eligible, reqs) + camera_reason(sel, best)
    elif not scored:
        sel.reason = "No candidate has an accuracy measurement; benchmark with --data to select by mAP."
    else:
        sel.closest = min(scored, key=lambda c: (_shortfall(c, sel)[0], c.latency_ms, -c.map50_95))
        f, cl = sel.fastest, sel.closest
        head = f"No candidate meets {reqs} within the allowed mAP drop" if reqs else (
            "No candidate is within the allowed mAP drop")  # fmt: skip
        fast = f"{f.name} at {f.latency_ms:.1f} ms" + (
            f" (mAP50-95 {f.map50_95:.3f})" if f.map50_95 is not None else "")  # fmt: skip
        if cl is f:
            tail = f"the fastest, and the closest to fitting, is {fast}"
        else:
            tail = f"the fastest is {fast} and the closest to fitting is {cl.name} at {cl.latency_ms:.1f} ms " \
                   f"(mAP50-95 {cl.map50_95:.3f})"  # fmt: skip
        misses = " and ".join(cl.misses)
        sel.reason = f"{head}; {tail}" + (f", {misses}" if misses else "") + "."
    if other_images:
        sel.reason += f" {other_images}"
    return _flag_emulated(sel, ok)


def _record_notes(sel: Selection, ok: Sequence[dict], by_artifact: dict[str, dict], no_boot: dict[str, list[str]]
                  ) -> None:  # fmt: skip
    """What the records cannot support, as notes: older records (no rounds, no intervals), candidates without
    per-image data or rounds, and rounds measured with every pass in one order."""
    margin = sel.map_tie_margin
    old = [r for r in ok if not r.get("rounds") and not (r.get("accuracy") or {}).get("ci")]
    if len(old) == len(ok):
        sel.notes.append("These records were measured before interleaved rounds and intervals (an older edgeyolo): "
                         f"selected as before, with mAP50-95 within {margin:g} a tie and the point drop vs FP32; "
                         "measure again ('edgeyolo bench --force') for intervals.")  # fmt: skip
    else:
        left_out = {c.name for c in sel.candidates if c.other_val_set}  # their note says why, not this one
        for why, names in no_boot.items():
            names = [n for n in names if n not in left_out]
            if not names:
                continue
            sel.notes.append(f"{len(names)} candidate(s) without paired intervals ({why}: {', '.join(names[:3])}"
                             f"{', ...' if len(names) > 3 else ''}): their ties read the point difference (within "
                             f"{margin:g} mAP50-95: a tie) and their drop vs FP32 the point estimate.")  # fmt: skip
        unrounded = [c.name for c in sel.candidates if not by_artifact[c.artifact].get("rounds")]
        if unrounded:
            sel.notes.append(f"{len(unrounded)} record(s) measured without interleaved rounds ({', '.join(unrounded[:3])}"
                             f"{', ...' if len(unrounded) > 3 else ''}): their latency has no round-to-round noise figure.")  # fmt: skip
        one = [c.name for c in sel.candidates if one_order(by_artifact[c.artifact])]
        if one and len(sel.candidates) > 1:
            sel.notes.append(f"{len(one)} record(s) measured with every pass in the same order, before bench reversed it "
                             f"every other pass ({', '.join(one[:3])}{', ...' if len(one) > 3 else ''}): a latency "
                             "difference between them may come from that order (warming within a pass); measure "
                             "again ('edgeyolo bench --force') to tell.")  # fmt: skip


def _one_val_set(sel: Selection, by_artifact: dict[str, dict]) -> str:
    """Compare accuracies measured on one val set only: the one most candidates share (then the larger); the
    candidates measured on other images are flagged (``other_val_set``) and left out of every accuracy
    comparison. Returns the sentence the reason ends with, and the selection's note ('' when all share one)."""
    groups: list[tuple[tuple, list[Candidate]]] = []
    for c in sel.candidates:
        key = val_set(by_artifact[c.artifact], c.boot.image_digest if c.boot is not None else None)
        if key is None:
            continue
        for i, (k, members) in enumerate(groups):
            if same_val_set(k, key):
                members.append(c)
                groups[i] = (k if k[3] is not None else key, members)
                break
        else:
            groups.append((key, [c]))
    if not groups:
        return ""
    labels = val_set_labels([k for k, _ in groups])
    for (_, members), label in zip(groups, labels):
        for c in members:
            c.val_set = label
    ref = max(range(len(groups)), key=lambda i: (len(groups[i][1]), groups[i][0][2] or 0))
    sel.val_set = labels[ref]
    if len(groups) == 1:
        return ""
    others = [(label, m) for i, ((_, m), label) in enumerate(zip(groups, labels)) if i != ref]
    for _, members in others:
        for c in members:
            c.other_val_set = True
    n = sum(len(m) for _, m in others)
    which = "; ".join(f"{', '.join(c.name for c in m[:3])}{', ...' if len(m) > 3 else ''} on {label}"
                      for label, m in others)  # fmt: skip
    text = (f"{n} candidate{'s were' if n > 1 else ' was'} measured on other val images than the "
            f"{len(groups[ref][1])} compared ({sel.val_set}): {which}. A mAP measured on other images cannot be "
            f"compared, so {'they are' if n > 1 else 'it is'} left out of the accuracy comparison; measure "
            f"{'them' if n > 1 else 'it'} again on the same images "
            "('edgeyolo bench --force' with the same --data and --accuracy-images).")  # fmt: skip
    sel.notes.append(text)
    return text


def _flag_emulated(sel: Selection, records: Sequence[dict]) -> Selection:
    """A choice made from records measured under emulation (qemu-user) says so first: their latency is the
    emulator's, not the device's (accuracy is the artifact's own there too)."""
    emus = [(r.get("device") or {}).get("emulation") for r in records]
    found = {(e.get("emulator"), e.get("host_arch")) for e in emus if e}
    if found:
        sel.emulated = "; ".join(f"{emu} on {host or 'another CPU'}" for emu, host in sorted(found, key=str))
        sel.reason = (f"Measured under emulation ({sel.emulated}): the latencies are not the device's, so this "
                      f"choice only holds for accuracy. {sel.reason}")  # fmt: skip
    return sel
