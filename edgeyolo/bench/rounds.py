"""Interleaved rounds: every candidate is measured once per round, in alternation, each round in a fresh
process, so drift of the machine (other load, clocks) hits every candidate alike instead of making whichever
ran later look slower. Every other pass reverses the order (A B C, C B A, A B C, ...): warming within a pass,
which the cool-down between passes resets, then favours each candidate of a pair in turn instead of always the
one that runs first (every pair runs in both orders; over two passes every candidate's mean position is the
same). A candidate's rounds are pooled into its one record; each round keeps its pass, position and order.

Each finished round is appended to ``<results>.rounds.jsonl`` next to the results file as soon as it is
measured; a run killed mid-round continues from there (rounds already measured are kept, the rest measured in
new passes), and a candidate's record goes to the results file once it has all its rounds. Rounds measured in
the same pass (one go over the candidates) are paired when two candidates' latencies are compared.

Between passes, on a device with a temperature sensor, the next pass waits (bounded) until the temperature is
back near where the first pass started; the temperature and the wait are recorded with each round.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeyolo._io import append_jsonl, jsonl_lines
from edgeyolo.bench.measure import NOISY_CV
from edgeyolo.bench.stats import rounds_interval, samples_interval, summarize

ROUND_SCHEMA = "edgeyolo.bench.round/1"
STAGES = ("preprocess", "inference", "postprocess", "end_to_end")
COOL_TOLERANCE_C = 2.0  # a pass starts once the device is within this of the first pass's start temperature
COOL_MAX_WAIT_S = 120.0  # ... or after this long, whichever comes first (the wait is recorded)
COOL_POLL_S = 2.0
NOISY_SPREAD = 0.10  # round-to-round spread of end-to-end p90 (range / median) above which a record is noisy


class StopRounds(Exception):
    """Nothing more can be measured on this device now (e.g. the connection is gone); the rounds measured so far
    stay in the rounds file and a later run continues them.

    Args: the message for the candidate being measured, and the one for those not reached.
    """


@dataclass(frozen=True)
class Slot:
    """One candidate in an interleaved set."""

    artifact: Path
    sha: str
    key: str  # identifies the measurement asked for (see run_key): rounds resume only under the same key


def pass_order(round_index: int) -> str:
    """The order of the pass that measures round ``round_index`` (0-based): ``forward`` (the candidates in
    the order given) in even rounds, ``reversed`` in odd ones. A pass resumed after a kill keeps its order."""
    return "reversed" if round_index % 2 else "forward"


def rounds_path(out: str | Path) -> Path:
    """``results.jsonl`` -> ``results.rounds.jsonl``: the rounds of candidates not finished yet."""
    out = Path(out)
    return out.with_name(f"{out.stem}.rounds.jsonl")


def per_image_dir(out: str | Path) -> Path:
    """``results.jsonl`` -> ``results.per-image/``: the per-image evaluations (bootstrap sidecars)."""
    out = Path(out)
    return out.with_name(f"{out.stem}.per-image")


def split(total: float, rounds: int) -> list:
    """``total`` iterations (int) or seconds (float) spread over ``rounds``: the first rounds take the rest."""
    if isinstance(total, int):
        base, extra = divmod(total, rounds)
        return [base + (1 if r < extra else 0) for r in range(rounds)]
    return [total / rounds] * rounds


def effective_rounds(rounds: int, iterations: int) -> int:
    """Rounds actually run: each needs at least one timed iteration."""
    return max(1, min(rounds, iterations))


def run_key(sha: str, **settings) -> str:
    """A short digest of what a candidate is measured with (profile, threads, data, work, rounds, host)."""
    text = json.dumps({"sha256": sha, **settings}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="milliseconds")


class RoundStore:
    """``<results>.rounds.jsonl``: one line per measured round, and a closing line per candidate once its record
    is in the results file (or it failed, or ``--force`` started it over)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock = threading.Lock()  # several device threads write one file

    def _lines(self) -> list[dict]:
        if not self.path.is_file():
            return []
        out = []
        for _, line in jsonl_lines(self.path.read_text(encoding="utf-8")):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue  # a damaged line costs that round only: it is measured again
            if isinstance(obj, dict) and obj.get("schema") == ROUND_SCHEMA and "key" in obj:
                out.append(obj)
        return out

    def pending(self, keys: Sequence[str]) -> dict[str, list[dict]]:
        """The rounds measured for each key since it was last closed, by round index."""
        found: dict[str, dict[int, dict]] = {k: {} for k in keys}
        with self.lock:
            lines = self._lines()
        for obj in lines:
            k = obj["key"]
            if k not in found:
                continue
            if "closed" in obj:
                found[k] = {}
            elif isinstance(obj.get("round"), int) and isinstance(obj.get("record"), dict):
                found[k][obj["round"]] = obj
        return {k: [v[r] for r in sorted(v)] for k, v in found.items()}

    def add(self, line: dict) -> None:
        with self.lock:
            append_jsonl(self.path, {"schema": ROUND_SCHEMA, **line})

    def close(self, key: str, why: str) -> None:
        with self.lock:
            append_jsonl(self.path, {"schema": ROUND_SCHEMA, "key": key, "closed": why, "at": _now()})

    def tidy(self) -> None:
        """Remove the file once no candidate has rounds waiting in it."""
        with self.lock:
            lines = self._lines()
            open_keys: dict[str, bool] = {}
            for obj in lines:
                open_keys[obj["key"]] = "closed" not in obj
            if not any(open_keys.values()):
                self.path.unlink(missing_ok=True)


def cool_down(temperature: Callable[[], float | None], start_c: float | None, log: Callable[[str], None]
              ) -> tuple[float | None, float]:  # fmt: skip
    """Wait until the device is within COOL_TOLERANCE_C of ``start_c`` (at most COOL_MAX_WAIT_S); returns the
    temperature then and the seconds waited. No sensor (None): no wait."""
    t0 = time.monotonic()
    now = _read(temperature)
    if now is None or start_c is None or now <= start_c + COOL_TOLERANCE_C:
        return now, 0.0
    log(
        f"waiting for the device to cool from {now:.1f} to {start_c + COOL_TOLERANCE_C:.1f} °C before the next round"
    )
    while now is not None and now > start_c + COOL_TOLERANCE_C and time.monotonic() - t0 < COOL_MAX_WAIT_S:
        time.sleep(COOL_POLL_S)
        now = _read(temperature)
    return now, round(time.monotonic() - t0, 3)


def _read(temperature: Callable[[], float | None]) -> float | None:
    try:
        value = temperature()
    except Exception:  # a sensor that fails (or a connection that dropped) is no sensor
        return None
    return None if value is None else float(value)


def run_interleaved(
    slots: Sequence[Slot],
    rounds: int,
    measure: Callable[[Slot, int], dict],
    store: RoundStore,
    *,
    emit: Callable[[Slot, dict], None],
    error: Callable[[Slot, str], dict],
    temperature: Callable[[], float | None] = lambda: None,
    log: Callable[[str], None] = lambda m: None,
    fresh: bool = False,
) -> None:
    """Measure ``slots`` for ``rounds`` rounds each in alternation; ``emit`` each candidate's record (pooled, or
    an error) as soon as it is complete (so in the order of the last pass: reversed after an even number).

    ``measure(slot, round_index)`` returns that round's record (an error record when the candidate failed) or
    raises :class:`StopRounds`, after which every unfinished candidate gets an error record carrying its
    message and keeps its measured rounds for a later run. ``fresh`` (``--force``) starts over instead of
    continuing earlier rounds.
    """
    if fresh:
        for key, lines in store.pending([s.key for s in slots]).items():
            if lines:
                store.close(key, "started over (--force)")
    state = store.pending([s.key for s in slots])
    earlier = [ln for lines in state.values() for ln in lines]
    for s in slots:
        if state[s.key] and len(state[s.key]) >= rounds:  # all measured; the run stopped before the record
            _finish(s, state[s.key], store, emit)
    active = [s for s in slots if len(state[s.key]) < rounds]
    if earlier and active:
        log(f"continuing interleaved rounds: {len(earlier)} round(s) measured earlier are kept "
            f"({', '.join(sorted({s.artifact.name for s in slots if state[s.key]}))})")  # fmt: skip
    starts = [
        ln["cooldown"].get("start_c")
        for ln in earlier
        if (ln.get("cooldown") or {}).get("start_c") is not None
    ]
    start_c = starts[0] if starts else None
    passes = 0
    while active:
        if passes or earlier:
            now, waited = cool_down(temperature, start_c, log)
        else:
            now, waited = _read(temperature), 0.0
            start_c = now
        pass_id = uuid.uuid4().hex[:12]
        # A pass measures the candidates with the fewest rounds: every candidate in a fresh run; after a kill
        # mid-pass, first those the interrupted pass had not reached, so the order keeps alternating. Its order
        # is that of its round: forward in even rounds, reversed in odd ones.
        behind = min(len(state[s.key]) for s in active)
        order = pass_order(behind)
        batch = [s for s in active if len(state[s.key]) == behind]
        if order == "reversed":
            batch.reverse()
        for pos, s in enumerate(batch, start=1):
            r = len(state[s.key])
            temp = now if pos == 1 else _read(temperature)
            started = _now()
            try:
                rec = measure(s, r)
            except StopRounds as e:
                now_msg, rest_msg = (e.args + (str(e),))[:2]
                for x in [x for x in active if len(state[x.key]) < rounds]:
                    kept = len(state[x.key])
                    tail = f" ({kept} of {rounds} rounds measured are kept; rerun with --resume to finish)"
                    emit(x, error(x, (now_msg if x is s else rest_msg) + (tail if kept else "")))
                return
            if rec.get("status") != "ok":
                if rounds > 1:
                    rec["message"] = f"round {r + 1} of {rounds}: {rec.get('message')}"
                store.close(s.key, "failed")
                state[s.key] = [None] * rounds  # done with it
                emit(s, rec)
                continue
            line = {"key": s.key, "round": r, "rounds": rounds, "pass": pass_id, "position": pos, "of": len(batch),
                    "order": order, "started": started, "artifact": str(s.artifact),
                    "cooldown": {"start_c": start_c, "temperature_c": temp,
                                 "waited_s": waited if pos == 1 else 0.0,
                                 "target_c": None if start_c is None else start_c + COOL_TOLERANCE_C},
                    "record": rec}  # fmt: skip
            store.add(line)
            state[s.key].append(line)
            if len(state[s.key]) == rounds:
                _finish(s, state[s.key], store, emit)
        active = [s for s in active if len(state[s.key]) < rounds]
        passes += 1


def _finish(slot: Slot, lines: list[dict], store: RoundStore, emit: Callable[[Slot, dict], None]) -> None:
    emit(slot, merge_rounds(lines))
    store.close(slot.key, "merged")


def merge_rounds(lines: Sequence[dict]) -> dict:
    """One record from a candidate's round lines (each with its round's record and raw samples): pooled
    percentiles, each round's statistics, the latency intervals and the round-to-round noise."""
    lines = sorted(lines, key=lambda ln: ln["round"])
    recs = [ln["record"] for ln in lines]
    first, last = recs[0], recs[-1]
    pooled: dict[str, list[float]] = {k: [] for k in STAGES}
    for r in recs:
        for k in STAGES:
            pooled[k] += (r.get("latency_samples_ms") or {}).get(k) or []
    latency = {k: summarize(v) for k, v in pooled.items()}
    e2e = latency["end_to_end"]
    per_round = [r["latency_ms"]["end_to_end"] for r in recs]
    interval = rounds_interval(per_round) if len(recs) > 1 else samples_interval(pooled["end_to_end"])
    cv = e2e["std"] / e2e["mean"] if e2e["mean"] else 0.0
    p90s = sorted(s["p90"] for s in per_round)
    spread = (p90s[-1] - p90s[0]) / p90s[len(p90s) // 2] if len(p90s) > 1 and p90s[len(p90s) // 2] else None
    reasons = [f"end-to-end CV {cv:.2f} > {NOISY_CV}"] if cv > NOISY_CV else []
    for r in recs:
        reasons += [
            x for x in r["stability"]["reasons"] if not x.startswith("end-to-end CV") and x not in reasons
        ]
    if spread is not None and spread > NOISY_SPREAD:
        reasons.append(f"round-to-round p90 spread {spread:.0%} > {NOISY_SPREAD:.0%}")
    powers = [r.get("power") for r in recs]
    power = None
    if all(p is not None for p in powers):
        power = {**powers[0], "mean_w": round(sum(p["mean_w"] for p in powers) / len(powers), 3),
                 "mj_per_image": round(sum(p["mj_per_image"] for p in powers) / len(powers), 3)}  # fmt: skip
    rounds = [{
        "round": ln["round"] + 1, "pass": ln["pass"], "position": ln["position"], "of": ln["of"],
        **({"order": ln["order"]} if "order" in ln else {}), "started": ln["started"],
        "temperature_c": ln["cooldown"].get("temperature_c"), "waited_s": ln["cooldown"].get("waited_s", 0.0),
        "end_to_end": {k: r["latency_ms"]["end_to_end"][k] for k in ("n", "mean", "p50", "p90", "p95", "p99")},
        "cv": r["stability"]["cv"],
    } for ln, r in zip(lines, recs)]  # fmt: skip
    out = {k: v for k, v in first.items() if k not in ("latency_samples_ms", "round")}
    out.update(
        settings={**first["settings"], "iterations": sum(r["settings"]["iterations"] for r in recs),
                  "min_duration_s": round(sum(r["settings"]["min_duration_s"] for r in recs), 6), "rounds": len(recs)},
        latency_ms=latency,
        latency_ci_ms=interval,
        rounds=rounds,
        interleave={"rounds": len(recs), "order": "each pass measures every candidate once: in the order given in "
                    "even passes, reversed in odd ones (A B C, C B A, ...)",
                    "cooldown": {"start_c": lines[0]["cooldown"].get("start_c"), "tolerance_c": COOL_TOLERANCE_C,
                                 "max_wait_s": COOL_MAX_WAIT_S}},
        throughput_fps=round(1000.0 / e2e["mean"], 2) if e2e["mean"] else None,
        stability={"cv": round(cv, 4), "noisy": bool(reasons), "reasons": reasons, "round_spread": None if spread is None
                   else round(spread, 4), "before": first["stability"].get("before"), "after": last["stability"].get("after")},
        memory_mb={"peak_rss": max(r["memory_mb"]["peak_rss"] for r in recs)},
        power=power,
        power_note=None if power is not None else next((r.get("power_note") for r in recs if r.get("power_note")), None),
        accuracy=first.get("accuracy"),
        created=last["created"],
    )  # fmt: skip
    return out
