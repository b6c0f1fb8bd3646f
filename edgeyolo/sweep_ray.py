"""``edgeyolo run --ray-address``: the sweep's trainings and exports as Ray tasks; bench stays where it is.

Each (model, size) to train is a task with ``cpus_per_training`` CPUs and ``gpus_per_training`` GPUs (default: 1
where the cluster has GPUs, else none); each training's diagnosis and exports are one task after it, with the same
resources (TensorRT needs the GPU), which Ray places where the trained weights are when it can. The connection and
the resource rules are ``edgeyolo.cluster``'s, shared with ``tune --backend ray``.

Where the files go:

- ``shared_out`` (``--shared-out``): ``out`` is on storage every node mounts at the same path. Tasks write there
  directly; each first checks that it sees the marker file the driver wrote into ``out`` (a node that does not
  fails its task with a one-line error, instead of writing a run nobody will find).
- otherwise (the default): tasks work in a node-local scratch folder (``$TMPDIR/edgeyolo-ray/<hash of out>``) and
  return their outputs as a tar (the run folder without caches, the artifact folders); the driver unpacks each
  into ``out`` (a whole folder swapped in at once), rewriting the scratch paths in the text files and in
  ``last.pt``'s arguments to ``out``'s, so the run folder is the one a local run writes. A training also ships its
  run folder after every epoch whose ``last.pt`` it saved, so a killed task or driver leaves ``last.pt`` in
  ``out`` and a rerun resumes from it on whichever node runs it then. The demo dataset (in ``out``) is shipped
  to nodes that do not see it; a ``--data`` dataset must be at the same path on every node. A node's scratch
  copies of a training are removed once its export task has shipped them.

A rerun reuses what ``out`` holds, as a local run does: finished trainings (``done.json``) are not submitted,
an interrupted one resumes from its ``last.pt``, and existing artifacts are reused by export's own rule (shipped to
the export task when ``out`` is not shared). A failed task is an error for its (model, size); the others go on.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeyolo._ship import pack, scratch_dir, unpack

_POLL_S = 1.0


# The sweep's own types and steps, from edgeyolo.pipeline (which imports this module, so it passes them in):
Training = PipelineConfig = CameraPlan = Any
Log = Callable[[str], None]


@dataclass(frozen=True)
class Steps:
    """The sweep's steps the tasks run, as ``edgeyolo.pipeline`` defines them."""

    train: Callable[..., None]  # (training, cfg, data, log, shapes): train or resume one (model, size)
    diagnose: Callable[..., tuple[str, str] | None]  # (training, data, log) -> report section
    # (training, cfg, data, cam, out, log) -> (artifacts, export summary)
    export: Callable[..., tuple[list[Path], list[tuple[str, str, str]]]]
    shapes: Callable[..., tuple[Any, ...]]  # deploy_shapes(training, cfg, aspect)


@dataclass(frozen=True)
class _Job:
    """What every task needs (pickled once per task)."""

    cfg: PipelineConfig
    data: str  # the dataset, as the driver sees it
    out: str  # the driver's --out, absolute
    shared: bool
    marker: str | None  # shared: the file each node must see in out
    cam: CameraPlan
    gpus: float
    steps: Steps


def _work(job: _Job) -> Path:
    return Path(job.out) if job.shared else scratch_dir(job.out)


def _name(t: Training) -> str:
    return t.run_dir.name if t.run_dir is not None else f"{t.model}-{t.imgsz}"


# --- the tasks (run in Ray workers) ---------------------------------------------------------------------------------


def _node() -> str:
    import ray

    ctx = ray.get_runtime_context()
    return f"{ray.util.get_node_ip_address()} ({ctx.get_node_id()[:8]})"


def _prepare_node(job: _Job, queue: Any, name: str, what: str, data_blob: bytes | None) -> tuple[Path, Path]:
    """Say where the task runs, check the shared folder, and find (or unpack) the dataset: (work folder, data)."""
    from edgeyolo.cluster import ClusterError
    from edgeyolo.errors import DatasetError

    node = _node()
    queue.put((name, "running", f"{what} running on {node}"))
    work = _work(job)
    if job.marker and not (Path(job.out) / job.marker).is_file():
        raise ClusterError(f"--shared-out: node {node} does not see {job.out} (no {job.marker} there); mount it at "
                           "the same path on every node, or run without --shared-out to ship the outputs back")  # fmt: skip
    data = Path(job.data)
    if data.is_file():
        return work, data
    rel = data.relative_to(job.out) if data.is_relative_to(job.out) else None
    if rel is None or data_blob is None:
        raise DatasetError(
            f"node {node} cannot read the dataset {data}: put it at the same path on every node"
        )
    import fcntl

    work.mkdir(parents=True, exist_ok=True)
    with open(work / ".data.lock", "w") as lock:  # tasks on one node unpack it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (work / rel).is_file():
            unpack(data_blob, work, [str(rel.parent)], job.out, str(work))
    return work, work / rel


class _Watcher(threading.Thread):
    """Reports a running training's epochs, and ships its run folder after each saved ``last.pt`` (not shared)."""

    def __init__(self, job: _Job, name: str, queue: Any, work: Path) -> None:
        super().__init__(daemon=True)
        self.job, self.name, self.queue, self.work = job, name, queue, work
        self.run_dir = work / "train" / name
        self.stopped = threading.Event()
        self.rows = self._rows()
        self.seen: tuple | None = self._stat()

    def _rows(self) -> int:
        csv = self.run_dir / "results.csv"
        return max(0, len(csv.read_text().splitlines()) - 1) if csv.is_file() else 0

    def _stat(self) -> tuple | None:
        last = self.run_dir / "weights" / "last.pt"
        if not last.is_file():
            return None
        st = last.stat()
        return st.st_mtime_ns, st.st_size

    def run(self) -> None:
        while not self.stopped.wait(_POLL_S):
            rows = self._rows()
            if rows > self.rows:
                self.rows = rows
                self.queue.put((self.name, "epoch", f"epoch {rows}/{self.job.cfg.epochs}"))
            stat = self._stat()
            while not self.job.shared and stat is not None and stat != self.seen:
                time.sleep(0.2)
                now = self._stat()
                if now == stat:  # unchanged for a moment: written whole
                    self.seen = stat
                    unit = f"train/{self.name}"
                    self.queue.put((self.name, "checkpoint", (unit, str(self.work), pack(self.work, [unit]))))
                stat = now

    def stop(self) -> None:
        self.stopped.set()
        self.join()


def _train_task(job: _Job, t: Training, resume_blob: bytes | None, data_blob: bytes | None, queue: Any
                ) -> dict[str, Any]:  # fmt: skip
    from edgeyolo.cluster import task_device

    name = _name(t)
    work, data = _prepare_node(job, queue, name, "training", data_blob)
    unit = f"train/{name}"
    run_dir = work / unit
    if not job.shared:
        shutil.rmtree(run_dir, ignore_errors=True)  # what an earlier attempt left on this node is not the run
        if resume_blob is not None:
            unpack(resume_blob, work, [unit], job.out, str(work))
    state = "resume" if (run_dir / "weights" / "last.pt").is_file() else "new"
    local = dataclasses.replace(t, run_dir=run_dir, state=state, weights=None, map50_95=None)
    cfg = dataclasses.replace(job.cfg, out=work, device=task_device(job.gpus))
    watcher = _Watcher(job, name, queue, work)
    watcher.start()
    try:
        job.steps.train(
            local,
            cfg,
            data,
            lambda m: queue.put((name, "log", m)),
            job.steps.shapes(local, cfg, job.cam.aspect),
        )
    finally:
        watcher.stop()
    return {"unit": unit, "work": str(work), "blob": None if job.shared else pack(work, [unit])}


def _export_task(job: _Job, t: Training, trained: dict[str, Any] | None, run_blob: bytes | None,
                 artifacts_blob: bytes | None, weights_blob: bytes | None, data_blob: bytes | None, queue: Any
                 ) -> dict[str, Any]:  # fmt: skip
    name = _name(t)
    work, data = _prepare_node(job, queue, name, "export", data_blob)
    log = lambda m: queue.put((name, "log", m))  # noqa: E731
    local = dataclasses.replace(t)
    units: list[str] = []
    if not job.shared:
        blob = (trained or {}).get("blob") or run_blob
        if blob is not None and t.run_dir is not None:
            unpack(blob, work, [f"train/{name}"], job.out, str(work))
        if artifacts_blob is not None:
            unpack(artifacts_blob, work, _units_of(artifacts_blob), job.out, str(work))
    if t.run_dir is not None:
        local.run_dir = work / "train" / name
        local.weights = Path(json.loads((local.run_dir / "done.json").read_text())["best"])
        units.append(f"train/{name}/diagnosis.json")
    elif not Path(t.weights).is_file() and weights_blob is not None:  # given weights this node does not see
        local.weights = scratch_dir(job.out) / "given" / name / Path(t.weights).name
        local.weights.parent.mkdir(parents=True, exist_ok=True)
        local.weights.write_bytes(weights_blob)
    section = job.steps.diagnose(local, data, log)
    artifacts, summary = job.steps.export(local, job.cfg, data, job.cam, work, log)
    rel = [str(Path(a).relative_to(work)) for a in artifacts]
    result = {"section": section, "summary": summary, "artifacts": rel, "work": str(work), "units": units + rel,
              "blob": None if job.shared else pack(work, units + rel)}  # fmt: skip
    if not job.shared:  # shipped: this node's copies are done with (the dataset stays for the other tasks)
        for p in [work / "train" / name, work / "given" / name, *(work / u for u in rel)]:
            shutil.rmtree(p, ignore_errors=True)
    return result


def _units_of(blob: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        names = [m.name for m in tar.getmembers()]
    return sorted({"/".join(n.split("/")[: 3 if n.startswith("artifacts/trained") else 2]) for n in names})


# --- the driver -----------------------------------------------------------------------------------------------------


def run_on_ray(plan: list[Training], cfg: PipelineConfig, data: Path, cam: CameraPlan, steps: Steps, log: Log
               ) -> tuple[list[Path], list[tuple[str, str, str]], list[tuple[str, str]]]:  # fmt: skip
    """Steps 2-4 of the sweep (train, diagnose, export) as Ray tasks; the outputs end up in ``cfg.out`` as a
    local run writes them. Returns the artifacts, the export summary and the diagnosis sections, in plan order."""
    from edgeyolo.cluster import connect, require_ray

    require_ray("run --ray-address needs Ray: pip install 'edgeyolo[ray]'")
    started = connect(cfg.ray_address, cfg.num_cpus)
    try:
        return _Sweep(plan, cfg, data, cam, steps, log).run()
    finally:
        if started:
            import ray

            ray.shutdown()


class _Sweep:
    def __init__(
        self, plan: list[Training], cfg: PipelineConfig, data: Path, cam: CameraPlan, steps: Steps, log: Log
    ) -> None:
        from edgeyolo.cluster import cluster_gpus

        self.plan, self.log, self.out = plan, log, Path(cfg.out).resolve()
        self.bench_on = ", ".join(d.name for d in cfg.devices) or "this machine"
        gpus = (
            cfg.gpus_per_training
            if cfg.gpus_per_training is not None
            else (1.0 if cluster_gpus() > 0 else 0.0)
        )
        marker = f".edgeyolo-shared-{os.getpid()}-{id(self):x}" if cfg.shared_out else None
        job_cfg = dataclasses.replace(cfg, out=self.out, devices=(), remote=None)
        self.job = _Job(cfg=job_cfg, data=str(Path(data).resolve()), out=str(self.out), shared=cfg.shared_out,
                        marker=marker, cam=cam, gpus=gpus, steps=steps)  # fmt: skip
        self.done: dict[str, tuple[list[Path], list[tuple[str, str, str]], tuple[str, str] | None]] = {}
        self.failed: set[str] = set()
        self.trained: set[str] = set()  # its final run folder is in out: later checkpoints are stale

    def _plan_lines(self, cfg: PipelineConfig) -> None:
        from edgeyolo.cluster import describe, task_device

        j = self.job
        where = (f"written by the tasks into the shared {self.out}" if j.shared
                 else f"shipped back to this machine into {self.out} (each node works in {scratch_dir(self.out)})")  # fmt: skip
        self.log(f"[plan] Ray at {cfg.ray_address}: {describe()}; each training and each training's exports is a "
                 f"task with {cfg.cpus_per_training:g} CPU(s) and {j.gpus:g} GPU(s) (device {task_device(j.gpus)}); "
                 f"outputs {where}; bench after the exports, on {self.bench_on}")  # fmt: skip
        for t in self.plan:
            train = {"new": "train on a Ray node", "resume": "resume from last.pt on a Ray node",
                     "done": "trained earlier", "given": "given weights"}[t.state]  # fmt: skip
            self.log(
                f"[plan] {_name(t)}: {train}, then export on a Ray node (where the weights are when it can)"
            )

    def run(self) -> tuple[list[Path], list[tuple[str, str, str]], list[tuple[str, str]]]:
        import ray
        from ray.util.queue import Queue

        cfg = self.job.cfg
        self._plan_lines(cfg)
        if self.job.marker:
            (self.out / self.job.marker).write_text(
                "edgeyolo run --shared-out: every node must see this file\n"
            )
        queue = Queue(actor_options={"num_cpus": 0})
        opts = {"num_cpus": cfg.cpus_per_training, "num_gpus": self.job.gpus, "max_retries": 0}
        train_task, export_task = (
            ray.remote(_train_task).options(**opts),
            ray.remote(_export_task).options(**opts),
        )
        data_ref = None
        if not self.job.shared and Path(self.job.data).is_relative_to(self.out):  # the demo dataset: shipped
            data_ref = ray.put(pack(self.out, [str(Path(self.job.data).parent.relative_to(self.out))]))
        pending: dict[Any, tuple[str, Training]] = {}
        try:
            for t in self.plan:
                trained = None
                if t.state in ("new", "resume"):
                    resume = self._pack_run(t) if t.state == "resume" else None
                    trained = train_task.remote(self.job, t, resume, data_ref, queue)
                    pending[trained] = ("train", t)
                run_blob = self._pack_run(t) if trained is None else None
                weights = Path(t.weights).read_bytes() if t.state == "given" else None
                ref = export_task.remote(self.job, t, trained, run_blob, self._pack_artifacts(t), weights, data_ref,
                                         queue)  # fmt: skip
                pending[ref] = ("export", t)
                self.log(f"[ray] {_name(t)}: queued")
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=_POLL_S)
                self._drain(queue)
                for ref in ready:
                    kind, t = pending.pop(ref)
                    self._finish(
                        ref, kind, t, training_pending=any(v == ("train", t) for v in pending.values())
                    )
            self._drain(queue)
        finally:
            queue.shutdown()
            if self.job.marker:
                (self.out / self.job.marker).unlink(missing_ok=True)
        return self._collect()

    def _pack_run(self, t: Training) -> bytes | None:
        if self.job.shared or t.run_dir is None:
            return None
        return pack(self.out, [f"train/{_name(t)}"])

    def _pack_artifacts(self, t: Training) -> bytes | None:
        """The artifact folders this training's exports would write, when ``out`` already holds some."""
        from edgeyolo.export import artifact_name
        from edgeyolo.train import model_stem

        if self.job.shared:
            return None
        units = []
        for shape in self.job.steps.shapes(t, self.job.cfg, self.job.cam.aspect):
            folder = "artifacts" if shape.long == t.imgsz else f"artifacts/trained{t.imgsz}"
            for target in self.job.cfg.profile.targets:
                unit = f"{folder}/{artifact_name(model_stem(t.model), shape, target)}"
                if (self.out / unit / "manifest.json").is_file():
                    units.append(unit)
        return pack(self.out, units) if units else None

    def _drain(self, queue: Any) -> None:
        """Show the tasks' progress; write shipped checkpoints of running trainings into ``out``."""
        for name, kind, value in queue.get_nowait_batch(queue.qsize()) if queue.qsize() else []:
            if kind == "checkpoint":
                if name not in self.trained and name not in self.failed:
                    unit, work, blob = value
                    unpack(blob, self.out, [unit], work, str(self.out))
                    self.log(f"[ray] {name}: last.pt shipped to {self.out / unit / 'weights'}")
            elif kind == "log":
                self.log(f"[ray {name}] {value}")
            else:
                self.log(f"[ray] {name}: {value}")

    def _finish(self, ref: Any, kind: str, t: Training, training_pending: bool) -> None:
        import ray

        name = _name(t)
        try:
            res = ray.get(ref)
        except (
            Exception
        ) as e:  # a task's error, or its worker died: that (model, size) failed, the others go on
            if name not in self.failed and not training_pending:
                self.failed.add(name)
                self.log(f"[ray] {name}: {'training' if kind == 'train' else 'export'} failed: {_reason(e)}")
            return
        if res.get("blob") is not None:
            units = [res["unit"]] if kind == "train" else res["units"]
            unpack(res["blob"], self.out, units, res["work"], str(self.out))
        if kind == "train":
            self.trained.add(name)
            info = json.loads((t.run_dir / "done.json").read_text())
            t.weights, t.map50_95 = Path(info["best"]), info.get("map50_95")
            m = "n/a" if t.map50_95 is None else f"{t.map50_95:.4f}"
            self.log(f"[ray] {name}: trained, mAP50-95 {m}")
            return
        src = res["work"].rstrip("/") + "/"
        summary = [(a.replace(src, str(self.out) + "/", 1), s, r) for a, s, r in res["summary"]]
        section = res["section"] and tuple(x.replace(src, str(self.out) + "/") for x in res["section"])
        self.done[name] = ([self.out / a for a in res["artifacts"]], summary, section)
        self.log(f"[ray] {name}: done, {len(res['artifacts'])} artifact(s)")

    def _collect(self) -> tuple[list[Path], list[tuple[str, str, str]], list[tuple[str, str]]]:
        artifacts, summary, sections = [], [], []
        for t in self.plan:
            name = _name(t)
            if name in self.done:
                a, s, section = self.done[name]
                artifacts, summary = artifacts + a, summary + s
                sections += [section] if section else []
            elif name in self.failed:
                summary.append((name, "failed", "its Ray task failed (see the [ray] lines above)"))
        return artifacts, summary, sections


def _reason(e: BaseException) -> str:
    """One line for a failed task: the task's own error message, or why its worker died."""
    cause = getattr(e, "cause", None) or e
    lines = [ln.strip() for ln in str(cause).strip().splitlines() if ln.strip()]
    return lines[-1] if lines else type(cause).__name__
