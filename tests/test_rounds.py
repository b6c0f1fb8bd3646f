"""Interleaved rounds without a runtime: the order of each pass, how it is recorded, resuming a pass, and what
the order does to a latency comparison (benchmarks/round_order_noise.py, smaller)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from _records import record

from edgeyolo.bench.rounds import RoundStore, Slot, StopRounds, merge_rounds, pass_order, run_interleaved
from edgeyolo.bench.store import schema_errors


def _round_record(p90: float) -> dict:
    """One round's record as a worker returns it: a record plus its raw samples."""
    rec = record(p90=p90)
    rec["latency_samples_ms"] = {k: [p90 * f for f in (0.8, 0.9, 1.0)] for k in rec["latency_ms"]}
    return rec


def _run(tmp_path: Path, names: str, rounds: int, stop_at: int | None = None, calls: list | None = None,
         fail: tuple[str, int] | None = None):  # fmt: skip
    """Measure slots named by ``names`` (one letter each); returns the calls (name, round) and the emitted
    records by name, in the order emitted. ``stop_at``: raise StopRounds on that call (0-based); ``fail``: that
    (name, round) returns an error record."""
    calls = [] if calls is None else calls
    emitted: dict[str, dict] = {}
    slots = [Slot(Path(f"/art/{n}"), n * 64, f"key-{n}") for n in names]

    def measure(s: Slot, r: int) -> dict:
        if stop_at is not None and len(calls) == stop_at:
            raise StopRounds("connection lost")
        calls.append((s.artifact.name, r))
        if (s.artifact.name, r) == fail:
            return record(status="error", message="worker crashed")
        return _round_record(20.0 + r)

    run_interleaved(slots, rounds, measure, RoundStore(tmp_path / "r.rounds.jsonl"),
                    emit=lambda s, rec: emitted.__setitem__(s.artifact.name, rec),
                    error=lambda s, msg: {"status": "error", "message": msg})  # fmt: skip
    return calls, emitted


def test_every_other_pass_reverses_the_order(tmp_path):
    """A B C, C B A, A B C, C B A: every pair runs in both orders, and every candidate's position averages the
    same over two passes; each round records its pass's order and its position, and the record stays valid."""
    calls, recs = _run(tmp_path, "ABC", 4)
    assert "".join(n for n, _ in calls) == "ABC" + "CBA" + "ABC" + "CBA"
    assert [r for _, r in calls] == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    assert [pass_order(r) for r in range(4)] == ["forward", "reversed", "forward", "reversed"]
    for name, positions in (("A", [1, 3, 1, 3]), ("B", [2, 2, 2, 2]), ("C", [3, 1, 3, 1])):
        rounds = recs[name]["rounds"]
        assert [r["order"] for r in rounds] == ["forward", "reversed", "forward", "reversed"]
        assert [r["position"] for r in rounds] == positions and {r["of"] for r in rounds} == {3}
        assert schema_errors(recs[name]) == []
    assert "reversed in odd ones" in recs["A"]["interleave"]["order"]


def test_each_record_is_emitted_as_soon_as_it_is_complete(tmp_path):
    """A record (or an error) goes out the moment its candidate's last round is measured, so after an even number
    of rounds (the last pass reversed) they come out in reverse."""
    calls, recs = _run(tmp_path, "ABC", 2, fail=("B", 1))
    assert "".join(n for n, _ in calls) == "ABC" + "CBA"
    assert list(recs) == ["C", "B", "A"]
    assert recs["B"]["status"] == "error" and recs["B"]["message"] == "round 2 of 2: worker crashed"
    assert recs["A"]["status"] == recs["C"]["status"] == "ok"


def test_a_pass_resumed_after_a_kill_keeps_its_order(tmp_path):
    """Stopped in the second pass (reversed: C B A) after C: the rerun measures B then A in that pass's order,
    then goes on forward (A B C)."""
    first, recs = _run(tmp_path, "ABC", 3, stop_at=4)  # A0 B0 C0 C1, then the connection is lost at B1
    assert "".join(n for n, _ in first) == "ABCC" and all(r["status"] == "error" for r in recs.values())
    again, recs = _run(tmp_path, "ABC", 3)
    assert [(n, r) for n, r in again] == [("B", 1), ("A", 1), ("A", 2), ("B", 2), ("C", 2)]
    assert [r["order"] for r in recs["C"]["rounds"]] == ["forward", "reversed", "forward"]
    assert [r["position"] for r in recs["B"]["rounds"]] == [2, 1, 2]  # 1 of the 2 the resumed pass had left
    assert all(schema_errors(rec) == [] for rec in recs.values())


def test_older_rounds_without_an_order_still_merge(tmp_path):
    """Round lines written before the order was recorded: the record has no order in its rounds (select then
    notes that its passes all ran in one order)."""
    lines = [{"round": r, "pass": f"p{r}", "position": 1, "of": 2, "started": "x", "artifact": "/art/A",
              "cooldown": {}, "record": _round_record(20.0)} for r in range(2)]  # fmt: skip
    rec = merge_rounds(lines)
    assert all("order" not in r for r in rec["rounds"]) and schema_errors(rec) == []


def _separation(pa, pb, order=True):
    from edgeyolo.select.paired import latency_separation
    from edgeyolo.select.types import Candidate

    def rec(p90s):
        return {"rounds": [{"pass": f"p{r}", "end_to_end": {"p90": v}, **({"order": pass_order(r)} if order else {})}
                           for r, v in enumerate(p90s)]}  # fmt: skip

    c = Candidate(name="x", model="m", imgsz=320, format="onnx", precision="fp32", latency_ms=20.0, map50_95=None,
                  map50=None, size_bytes=0, artifact="x")  # fmt: skip
    return latency_separation(c, c, rec(pa), rec(pb), "p90")


def test_faster_needs_the_mean_paired_difference_beyond_its_t_interval():
    """Three passes that agree in sign are no longer enough (a 25% chance with no difference at all): the mean
    difference must stand out of its 95% t-interval; a clear difference still does."""
    assert _separation([20.0, 19.9, 20.1], [20.1, 20.0, 20.3]) == "within noise"  # all three agree in sign
    assert _separation([20.0, 19.0, 21.0], [22.0, 21.1, 23.0]) == "faster"
    assert _separation([22.0, 21.1, 23.0], [20.0, 19.0, 21.0]) == "slower"
    assert _separation([20.0, 20.0], [21.0, 21.0]) == "faster"  # no spread at all: the mean is the interval


def test_false_faster_rate_before_and_after():
    """No real difference, 3 rounds, 1% round noise, warming of 1 sigma per position within a pass: the old rule
    (passes in one order, every pass agreeing in sign) calls a pair faster or slower in ~45% of the trials; the
    new one (reversed every other pass, the t-interval) at most at its 5% level (benchmarks/round_order_noise.py
    prints the full table)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import round_order_noise as sim

    old, new, one_order = sim.false_rates(trials=2000, n=2, rounds=3, sigma=0.01, drift=1.0, seed=3)
    assert old > 0.35 and new < 0.05 and one_order > new
    old, new, _ = sim.false_rates(trials=2000, n=2, rounds=3, sigma=0.01, drift=0.0, seed=4)
    assert old == pytest.approx(0.25, abs=0.03) and new == pytest.approx(0.05, abs=0.015)


def test_resume_measures_again_a_candidate_scored_on_another_val_set(tmp_path):
    """A record scored on 50 val images is not reused by a run that scores the whole split (or 20 images):
    `--resume` never mixes val sets."""
    from _records import record, write_jsonl

    from edgeyolo.bench import done_checksums

    data = tmp_path / "data.yaml"
    data.write_text("path: .\n")
    limited, old = record(fmt="onnx", dev={"profile": "p"}), record(fmt="openvino", dev={"profile": "p"})
    limited["settings"]["accuracy_images"] = 50
    old["settings"].pop("accuracy_images", None)  # written before the limit was recorded: the whole split
    for r, sha in ((limited, "a" * 64), (old, "b" * 64)):
        r["candidate"].update(sha256=sha, threads=1)
        r["accuracy"]["dataset"] = str(data.resolve())
    out = write_jsonl(tmp_path / "results.jsonl", [limited, old])
    assert done_checksums(out, "p", 1, data, accuracy_images=50) == {"a" * 64}
    assert done_checksums(out, "p", 1, data) == {"b" * 64}
    assert done_checksums(out, "p", 1, data, accuracy_images=20) == set()
