"""Benchmark on remote devices over SSH: copy artifacts (checksummed), run ``edgeyolo bench`` there, fetch.

Each device runs its candidates one at a time, in interleaved rounds (A B C, A B C, ...; one remote
``edgeyolo bench --round-index`` per candidate and round, each a fresh process there), and a candidate's record
comes back as soon as it has all its rounds (rounds measured so far wait in ``<results>.rounds.jsonl`` here,
so a run that stopped continues them); several devices run in parallel threads. Anything that goes
wrong on a device (unreachable, authentication, unknown host key, missing runtime, a crash, a dropped
connection, a malformed record, a candidate past its time limit) becomes an error record for that device's
candidates; the others continue and nothing measured is lost.

Each candidate runs under ``python -m edgeyolo.bench.agent run``, in a process group of its own that is
ended as a whole when the candidate outlives its total time limit (:func:`candidate_limit_s`) or the
connection drops, so the next candidate is never measured next to a leftover one.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from edgeyolo._version import __version__
from edgeyolo.bench import (
    BenchConfig,
    BenchResult,
    done_checksums,
    error_record,
    shape_notes,
    streams_key,
    streams_request,
    training_imgsz,
)
from edgeyolo.bench.agent import PGID_LINE, TIMEOUT_EXIT, TIMEOUT_LINE
from edgeyolo.bench.remote.fetch import fetch_per_image, remote_records
from edgeyolo.bench.remote.inventory import Device, check_workdir
from edgeyolo.bench.remote.session import Expired, Log, RemoteError, RemoteOptions, Session, transport_errors
from edgeyolo.bench.remote.stage import stage_artifact, stage_profile, stage_val_split
from edgeyolo.bench.rounds import (
    RoundStore,
    Slot,
    StopRounds,
    effective_rounds,
    rounds_path,
    run_interleaved,
    run_key,
)
from edgeyolo.bench.store import append_record, resolve_sidecars
from edgeyolo.errors import ConfigError, EdgeYoloError
from edgeyolo.formats import RUNTIME_TABLE, runtime_of
from edgeyolo.profiles import DeviceProfile
from edgeyolo.runtime.base import artifact_sha256, load_artifact, verify_artifact

# A candidate's total time limit on a device (see candidate_limit_s): a slow board's start-up (interpreter,
# imports, model load or compile, environment capture), then each image at a slow allowance.
STARTUP_S = 300.0
PER_IMAGE_MIN_S = 1.0  # per image (warm-up, timed or accuracy) at least this long ...
PER_IMAGE_BUDGETS = 20  # ... or this many times the profile's latency budget
STREAMS_TRIAL_START_S = 30.0  # per streams trial: opening its sessions or requests and warming them up
CONTROLLER_GRACE_S = 30.0  # past the limit the agent on the device ends the candidate; past this, we do


def candidate_limit_s(cfg: BenchConfig, profile: DeviceProfile, val_images: int = 0) -> float:
    """Total seconds one candidate may take on a device: start-up, plus warm-up, timed and accuracy images at
    a slow per-image allowance (the profile's latency budget x 20, at least 1 s), plus ``--min-duration``."""
    warmup = profile.bench.warmup if cfg.warmup is None else cfg.warmup
    iterations = cfg.iterations or profile.bench.iterations
    min_duration = profile.bench.min_duration_s if cfg.min_duration_s is None else cfg.min_duration_s
    images = 0
    if cfg.data is not None:
        images = val_images if cfg.accuracy_images is None else min(cfg.accuracy_images, val_images)
    per_image = max(PER_IMAGE_MIN_S, PER_IMAGE_BUDGETS * profile.latency_budget_ms / 1000)
    return (
        STARTUP_S
        + min_duration
        + (1 + warmup + iterations + images) * per_image
        + streams_limit_s(cfg, profile)
    )


def streams_limit_s(cfg: BenchConfig, profile: DeviceProfile) -> float:
    """Seconds the streams measurement may take on a device: each trial's duration plus a slow start (sessions
    or requests opened, warm-up frames), for one trial or for every trial of the capacity search."""
    from edgeyolo.bench.streams import DEFAULT_DURATION_S, MAX_STREAMS

    streams, _ = streams_request(cfg, profile)
    if streams is None:
        return 0.0
    trials = (
        1 if streams != "auto" else 2 * MAX_STREAMS.bit_length()
    )  # doubling up to the limit, then bisection
    return trials * ((cfg.streams_duration_s or DEFAULT_DURATION_S) + STREAMS_TRIAL_START_S)


@dataclass
class _DeviceRun:
    """One device's part of a remote benchmark: its connection, its staged inputs, its candidates' rounds."""

    device: Device
    profile: DeviceProfile
    cfg: BenchConfig
    opts: RemoteOptions
    log: Log
    emit: Callable[[dict], None]
    shas: dict[Path, str] = field(default_factory=dict)  # artifact -> checksum
    done: set[str] = field(default_factory=set)
    session: Session | None = None
    remote_data: str | None = None
    remote_profile: str | None = None
    val_images: int = 0  # images of the val split on the device (for the candidate's time limit)
    store: RoundStore | None = None  # the interleaved rounds measured so far (shared by the device threads)
    train_sizes: dict[Path, int | None] = field(default_factory=dict)  # artifact -> training image size
    shape_notes: dict[Path, str | None] = field(
        default_factory=dict
    )  # artifact -> why its val images do not fit

    @property
    def rounds(self) -> int:
        iterations = self.cfg.iterations or self.profile.bench.iterations
        return effective_rounds(self.cfg.rounds or self.profile.bench.rounds, iterations)

    def key(self, artifact: Path, sha: str) -> str:
        """What a candidate's rounds on this device are measured with (rounds resume only under the same key)."""
        c, p = self.cfg, self.profile
        return run_key(sha, artifact=str(Path(artifact).resolve()), profile=p.name, threads=c.threads or p.threads, data=str(Path(c.data).resolve()) if c.data else None,
                       accuracy_images=c.accuracy_images, warmup=p.bench.warmup if c.warmup is None else c.warmup,
                       iterations=c.iterations or p.bench.iterations, rounds=self.rounds,
                       min_duration_s=float(p.bench.min_duration_s if c.min_duration_s is None else c.min_duration_s),
                       host=str(self.device.host), **streams_key(*streams_request(c, p), c.streams_duration_s))  # fmt: skip

    def temperature(self) -> float | None:
        """The device's temperature now: its hottest thermal zone, read over SFTP (no process started there, so
        it costs milliseconds between rounds); None without a sensor or a connection."""
        if self.session is None:
            return None
        sftp, temps = self.session.sftp, []
        try:
            zones = [z for z in sftp.listdir("/sys/class/thermal") if z.startswith("thermal_zone")]
        except OSError:
            return None
        for zone in zones:
            try:
                with sftp.open(f"/sys/class/thermal/{zone}/temp", "r") as f:
                    raw = f.read().decode(errors="replace").strip()
            except OSError:
                continue
            if raw.lstrip("-").isdigit():
                temps.append(int(raw) / 1000.0)
        return max(temps) if temps else None

    def error(self, artifact: Path, message: str) -> dict:
        rec = error_record(self.profile.name, artifact, message)
        rec["device"].update({"name": self.device.name, "host": str(self.device.host)})
        return rec

    def connect(self) -> None:
        s = Session(self.device, self.opts, self.log)
        try:
            self.info = s.agent("info")
        except BaseException:
            s.close()
            raise
        remote_version = self.info.get("edgeyolo")
        if str(remote_version).split(".")[:2] != __version__.split(".")[:2]:
            s.close()
            raise RemoteError(
                f"{self.device.host}: edgeyolo {remote_version} there, {__version__} here; on the device run: "
                f"{s.python} -m pip install 'edgeyolo[onnx]=={__version__}'"
            )
        self.session = s  # closed by run() at the end, or by _reconnect()
        self.remote_profile = stage_profile(s, self.profile)
        if self.cfg.data is not None:
            self.remote_data, self.val_images = stage_val_split(s, Path(self.cfg.data), self.cfg.accuracy_images,
                                                                self.log)  # fmt: skip

    def _bench_argv(self, remote_artifact: str, out: str, round_index: int = 0) -> list[str]:
        c = self.cfg
        argv = [self.session.python, "-m", "edgeyolo", "bench", "--profile", self.remote_profile,
                remote_artifact, "--out", out, "--force" if c.force else "--resume",
                "--rounds", str(self.rounds), "--round-index", str(round_index)]  # fmt: skip
        if self.remote_data:
            argv += ["--data", self.remote_data]
        for flag, value in (("--threads", c.threads), ("--warmup", c.warmup), ("--iterations", c.iterations),
                            ("--min-duration", c.min_duration_s), ("--accuracy-images", c.accuracy_images),
                            ("--streams", c.streams), ("--fps", c.fps), ("--streams-duration", c.streams_duration_s)):  # fmt: skip
            if value is not None:
                argv += [flag, str(value)]
        return argv

    def limit_s(self) -> float:
        """This device's total time limit for one candidate."""
        if self.opts.candidate_timeout_s is not None:
            return self.opts.candidate_timeout_s
        return candidate_limit_s(self.cfg, self.profile, self.val_images)

    def candidate(self, artifact: Path, sha: str, round_index: int = 0) -> dict:
        """Copy, run and fetch one round of one candidate; returns that round's record (ok, with its raw samples
        for pooling, or error from the device)."""
        s = self.session
        art = load_artifact(artifact)
        if verify_artifact(art) != sha:  # raises when it changed since export; here: since this run began
            raise RemoteError(f"{artifact}: the files changed while the benchmark ran; measure it again")
        runtime = runtime_of(art.manifest)
        rt = RUNTIME_TABLE.get(runtime)
        module, extra = (rt.module, rt.extra) if rt else (runtime, runtime)
        if self.info["runtimes"].get(runtime) is None:
            return self.error(artifact, f"{self.device.host}: runtime package '{module}' is not installed for "
                                        f"{s.python}; on the device run: {s.python} -m pip install 'edgeyolo[{extra}]' "
                                        f"(or from here: edgeyolo device setup --host {self.device.host} --runtimes {runtime})")  # fmt: skip
        remote = stage_artifact(s, artifact, sha, self.log)
        # One results file per (artifact, profile, data, settings): the device's own --resume then reuses a
        # record only when it was measured exactly as asked (e.g. after a connection dropped mid-candidate).
        settings = [a for a in self._bench_argv("", "", round_index)[4:] if a not in ("--force", "--resume")]
        argv_key = hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:12]
        out = s.path("results", f"{sha[:16]}-{argv_key}.jsonl")
        s.makedirs(posixpath.dirname(out))
        before = remote_records(s, out)
        limit = self.limit_s()
        pgid: list[int] = []

        def on_line(ln: str) -> None:
            if ln.startswith(PGID_LINE):
                pgid.append(int(ln[len(PGID_LINE) :]))
            elif ln.strip():
                self.log(f"{artifact.name}: {ln}")

        # The agent ends the candidate's whole process group at the limit (or when this connection drops).
        agent = [s.python, "-m", "edgeyolo.bench.agent", "run", f"{limit:g}", "--"]
        argv = agent + self._bench_argv(remote, out, round_index)
        try:
            code, output = s.run(argv, limit + CONTROLLER_GRACE_S, on_line=on_line)
        except Expired:  # the agent did not end it: end it from here, and continue on a fresh connection
            if pgid:
                try:
                    s.run(["kill", "-KILL", "--", f"-{pgid[0]}"], timeout_s=15)
                except (Expired, *transport_errors()):
                    pass
            self._reconnect()
            return self.error(artifact, self._timed_out(limit))
        if code == TIMEOUT_EXIT and TIMEOUT_LINE in output:
            return self.error(artifact, self._timed_out(limit))
        records = remote_records(s, out)
        new = records[len(before) :]  # a round is always measured anew (never taken from an earlier run)
        if not new:
            last = (output.strip().splitlines() or [f"exit code {code}"])[-1]
            return self.error(artifact, f"{self.device.host}: edgeyolo bench failed: {last}")
        rec = new[-1]
        if isinstance(rec, dict) and rec["status"] == "ok" and rec["candidate"].get("sha256") != sha:
            rec = f"is about another artifact (sha256 {rec['candidate'].get('sha256')!s:.12}, expected {sha[:12]})"
        if isinstance(rec, str):
            return self.error(artifact, f"{self.device.host}: the device sent back a malformed record ({out}: {rec}); "
                                        f"check edgeyolo there ({s.python} -m pip install --force-reinstall "
                                        f"'edgeyolo=={__version__}') and measure the candidate again")  # fmt: skip
        rec["candidate"]["remote_artifact"] = rec["candidate"].get("artifact")
        rec["candidate"]["artifact"] = str(artifact.resolve())
        rec["device"].update({"name": self.device.name, "host": str(self.device.host)})
        if rec.get("status") != "ok":
            rec["message"] = f"{self.device.host}: {rec.get('message')}"
        if rec.get("accuracy"):
            rec["accuracy"]["remote_dataset"] = rec["accuracy"]["dataset"]
            rec["accuracy"]["dataset"] = str(Path(self.cfg.data).resolve())
            fetch_per_image(s, rec, out, self.cfg.out, self.log)
        if rec.get("status") == "ok":
            rec["candidate"]["train_imgsz"] = self.train_sizes.get(artifact)
            rec["candidate"]["shape_note"] = self.shape_notes.get(artifact)
        return rec

    def _timed_out(self, limit: float) -> str:
        how = ("set by --candidate-timeout (RemoteOptions.candidate_timeout_s)" if self.opts.candidate_timeout_s is not None
               else "from its warm-up, --iterations, --min-duration and accuracy images")  # fmt: skip
        return (f"{self.device.host}: timed out after {limit:g} s, the candidate's limit ({how}); every process it "
                "started on the device was stopped. If the device is only slow, measure fewer --iterations or "
                "--accuracy-images")  # fmt: skip

    def run(self) -> None:
        try:
            self._run()
        finally:
            if self.session is not None:
                self.session.close()
                self.session = None

    def _run(self) -> None:
        shas = self.shas
        todo = [a for a in self.cfg.artifacts if shas[a] not in self.done]
        for a in self.cfg.artifacts:
            if shas[a] in self.done:
                self.log(f"{a.name}: already measured on {self.device.name} (--resume)")
        if not todo:
            return
        try:
            self.connect()
        except (EdgeYoloError, *transport_errors()) as e:
            for a in todo:
                self.emit(self.error(a, str(e)))
            return

        def measure(slot: Slot, r: int) -> dict:
            try:
                return self.candidate(slot.artifact, slot.sha, r)
            except EdgeYoloError as e:  # about this candidate or device; the connection is fine
                return self.error(slot.artifact, str(e))
            except transport_errors() as e:  # the connection dropped mid-candidate
                msg = self._lost(e)
                if self.session is None:
                    raise StopRounds(
                        msg, f"{self.device.host}: not measured, the connection was lost earlier"
                    ) from None
                return self.error(slot.artifact, msg)

        run_interleaved([Slot(a, shas[a], self.key(a, shas[a])) for a in todo], self.rounds, measure, self.store,
                        emit=lambda slot, rec: self.emit(rec), error=lambda slot, msg: self.error(slot.artifact, msg),
                        temperature=self.temperature, log=self.log, fresh=self.cfg.force)  # fmt: skip

    def _lost(self, e: BaseException) -> str:
        """After a transport failure close the old connection and try one reconnect; the session stays None
        when the device is gone. (The agent on the device ended the candidate when the connection dropped.)"""
        msg = f"{self.device.host}: connection lost during the candidate ({type(e).__name__}: {e})"
        self._reconnect()
        return msg

    def _reconnect(self) -> None:
        """Close the old connection and open a new one; the session stays None when that fails."""
        if self.session is not None:
            self.session.close()
        self.session = None
        try:
            self.connect()
        except (EdgeYoloError, *transport_errors()):
            self.session = None


def benchmark_remote(
    cfg: BenchConfig, devices: Sequence[Device], opts: RemoteOptions = RemoteOptions(),  # noqa: B008 (frozen)
    on_record: Callable[[dict], None] | None = None, log: Log = lambda m: None,
) -> BenchResult:  # fmt: skip
    """Benchmark ``cfg.artifacts`` on each device (in parallel); records appended to ``cfg.out`` as they arrive."""
    if not cfg.artifacts:
        raise ConfigError("bench: no artifacts given; pass one or more folders written by 'edgeyolo export'.")
    if not devices:
        raise ConfigError("bench: no devices; pass --host user@host[:port] or --devices devices.yaml")
    names = [d.name for d in devices]
    if len(set(names)) != len(names):
        raise ConfigError(f"bench: device names must be unique, got {', '.join(names)}")
    for d in devices:
        check_workdir(d.workdir, f"device {d.name}")
    hosts = [str(d.host) for d in devices]
    if len(set(hosts)) != len(hosts):
        dup = next(h for h in hosts if hosts.count(h) > 1)
        raise ConfigError(f"bench: {dup} is given twice (--host / --devices); a device would be measured in "
                          "parallel with itself")  # fmt: skip
    artifacts = tuple(Path(a) for a in cfg.artifacts)
    shas = {a: artifact_sha256(load_artifact(a)) for a in artifacts}  # every manifest valid before connecting
    if cfg.data is not None:
        from edgeyolo.data.yolo import load_dataset

        load_dataset(cfg.data)
    cfg = replace(cfg, artifacts=artifacts)
    result = BenchResult(out=Path(cfg.out))
    lock = threading.Lock()

    def emit(rec: dict) -> None:
        with lock:
            append_record(cfg.out, rec)
            resolve_sidecars(rec, cfg.out)
            result.records.append(rec)
            if on_record:
                on_record(rec)

    runs = []
    store = RoundStore(rounds_path(cfg.out))
    train_sizes = {a: training_imgsz(a) for a in artifacts}
    notes = shape_notes(cfg.profile, cfg.data, artifacts)
    for d in devices:
        profile = d.profile or cfg.profile
        streams, fps = streams_request(cfg, profile)
        done = (
            set()
            if cfg.force
            else done_checksums(Path(cfg.out), profile.name, cfg.threads, cfg.data, host=str(d.host),
                                accuracy_images=cfg.accuracy_images, streams=streams, fps=fps)
        )  # fmt: skip
        runs.append(_DeviceRun(d, profile, cfg, opts, log=lambda m, n=d.name: log(f"[{n}] {m}"), emit=emit,
                               shas=shas, done=done, store=store, train_sizes=train_sizes,
                               shape_notes=notes))  # fmt: skip
    if any(shas[a] in r.done for r in runs for a in artifacts) and not cfg.resume:
        raise ConfigError(
            f"{cfg.out} already has results for some of these candidates on these devices; "
            "pass --resume to skip them or --force to measure them again"
        )
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        for f in [pool.submit(r.run) for r in runs]:
            f.result()
    store.tidy()
    for r in runs:
        result.skipped.extend(a for a in artifacts if shas[a] in r.done)
    return result
