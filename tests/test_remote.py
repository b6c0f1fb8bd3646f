"""Remote benchmarking against a real OpenSSH server that each test module starts on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgeyolo.bench import BenchConfig
from edgeyolo.bench.remote import (
    Device,
    Host,
    RemoteOptions,
    benchmark_remote,
    load_inventory,
    parse_host,
    remote_devices,
)
from edgeyolo.bench.store import read_records, schema_errors
from edgeyolo.cli import main
from edgeyolo.errors import ConfigError
from edgeyolo.profiles import load_profile

SSHD = "/usr/sbin/sshd"
FAST = dict(warmup=1, iterations=5, rounds=1)  # one process per candidate; interleaved rounds: test_bench


# ---------------------------------------------------------------- host strings and inventories (no server)
@pytest.mark.parametrize(
    "text, host",
    [
        ("pi@192.168.1.20", Host("pi", "192.168.1.20", 22)),
        ("pi@rpi5.local:2222", Host("pi", "rpi5.local", 2222)),
        ("jetson", Host(None, "jetson", 22)),
        ("me@[::1]:2200", Host("me", "::1", 2200)),
    ],
)
def test_parse_host(text, host):
    assert parse_host(text) == host


@pytest.mark.parametrize(
    "text", ["pi@", "pi@host:0", "pi@host:99999", "pi@host;rm -rf /", "a b@host", "@host"]
)
def test_parse_host_rejects(text):
    with pytest.raises(ConfigError, match="--host"):
        parse_host(text)


def test_inventory(tmp_path):
    (tmp_path / "lab.yaml").write_text(_profile_yaml("lab-pi"))
    inv = tmp_path / "devices.yaml"
    inv.write_text(
        "devices:\n"
        "  pi5: {host: pi@10.0.0.5, profile: rpi5, python: ~/ey/bin/python}\n"
        "  bench-pi: {host: 'pi@10.0.0.6:2222', profile: lab.yaml, key: ~/.ssh/lab, workdir: /srv/ey}\n"
    )
    fleet = load_inventory(inv)
    assert fleet["pi5"].host == Host("pi", "10.0.0.5", 22) and fleet["pi5"].profile.name == "rpi5"
    assert fleet["bench-pi"].profile.name == "lab-pi" and fleet["bench-pi"].workdir == "/srv/ey"
    assert fleet["bench-pi"].key_file == Path("~/.ssh/lab").expanduser()
    assert [d.name for d in remote_devices(["me@127.0.0.1:2022"], inv, ["bench-pi"])] == [
        "me@127.0.0.1:2022",
        "bench-pi",
    ]


def _profile_yaml(name: str) -> str:
    import yaml

    d = load_profile("rpi5").to_dict()
    d["name"] = name
    return yaml.safe_dump(d)


@pytest.mark.parametrize(
    "body, match",
    [
        ("devices: []\n", "expected a 'devices:' mapping"),
        ("devices:\n  a: {profile: rpi5}\n", "devices.a: missing 'host'"),
        ("devices:\n  a: {host: pi@x, password: hunter2}\n", "unknown key 'password'"),
        ("devices:\n  a: {host: pi@x, workdir: ../up}\n", "must be absolute"),
        ("devices:\n  a: {host: pi@x, workdir: /srv/../etc}\n", "must not contain '..'"),
        (
            "devices:\n  a: {host: pi@x, workdir: /}\n",
            "devices.a: workdir '/' is the root folder; give edgeyolo",
        ),
        ("devices:\n  a: {host: pi@x, workdir: '~'}\n", "workdir '~' is the home folder itself"),
        ("devices:\n  a: {host: pi@x, workdir: '~/'}\n", "workdir '~/' is the home folder itself"),
        ("devices:\n  a: {host: pi@x, workdir: /home/pi}\n", "workdir '/home/pi' is a home folder itself"),
        ("devices:\n  a: {host: pi@x, workdir: /root}\n", "workdir '/root' is a top-level system folder"),
        (
            "devices:\n  a: {host: pi@x, workdir: /etc/edgeyolo}\n",
            "workdir '/etc/edgeyolo' is a system folder",
        ),
        ("devices:\n  a: {host: pi@x, workdir: /usr/local}\n", "workdir '/usr/local' is a system folder"),
        ("devices:\n  a: {host: 'pi@x:70000'}\n", "between 1 and 65535"),
        ("devices: {a: [\n", "not valid YAML"),
        ("devices:\n  a: {host: pi@x, profile: nope}\n", "devices.a.profile: Unknown profile 'nope'"),
    ],
)
def test_inventory_rejects(tmp_path, body, match):
    inv = tmp_path / "devices.yaml"
    inv.write_text(body)
    with pytest.raises(ConfigError, match=match):
        load_inventory(inv)


def test_remote_workdir_flag_refuses_the_root_folder():
    with pytest.raises(ConfigError, match="--remote-workdir: workdir '/' is the root folder"):
        remote_devices(["pi@10.0.0.5"], workdir="/")


def test_candidate_limit_comes_from_the_work_asked_for(tmp_path):
    from edgeyolo.bench.remote import candidate_limit_s

    prof = load_profile("rpi5")

    def limit(**kw) -> float:
        cfg = BenchConfig(profile=prof, artifacts=(), out=tmp_path / "r.jsonl", warmup=0, **kw)
        return candidate_limit_s(cfg, prof, val_images=50)

    base = limit(iterations=10)
    assert limit(iterations=1000) > base + 900  # at least a second an image
    assert limit(iterations=10, min_duration_s=120) == pytest.approx(base + 120)
    assert limit(iterations=10, data=tmp_path) > base + 49  # and each accuracy image
    assert base < limit(iterations=10, data=tmp_path, accuracy_images=5) < limit(iterations=10, data=tmp_path)
    assert base < 3600  # a hang costs minutes, not the old hour per read


def test_known_hosts_appends_are_serialised(tmp_path):
    """Device threads adding keys at once, and another process holding the file (mid-line): every line comes
    out whole."""
    import fcntl
    import threading

    import paramiko

    from edgeyolo.bench.remote.session import SaveNewKey

    key = paramiko.Ed25519Key.from_private_key_file(str(_keygen(tmp_path / "host")))
    known = tmp_path / "known_hosts"
    known.write_text("mine.example ssh-ed25519 AAAA")  # a user's file without its last newline
    policy = SaveNewKey(known, log=lambda m: None)
    start = threading.Barrier(24)

    def add(i: int) -> None:
        start.wait()
        policy.missing_host_key(paramiko.SSHClient(), f"[10.0.0.{i}]:22", key)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = known.read_text().split("\n")
    assert lines[0] == "mine.example ssh-ed25519 AAAA" and lines[-1] == ""
    want = {f"[10.0.0.{i}]:22 ssh-ed25519 {key.get_base64()}" for i in range(24)}
    assert sorted(lines[1:-1]) == sorted(want)  # each once, whole, no blank lines

    # Another writer holds the file while it writes half a line: the append waits for it.
    with open(known, "ab") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        other.write(b"other.example ssh-ed25519 ")
        other.flush()
        t = threading.Thread(
            target=lambda: policy.missing_host_key(paramiko.SSHClient(), "[late.example]:22", key)
        )
        t.start()
        t.join(0.5)
        assert t.is_alive() and known.read_text().endswith("other.example ssh-ed25519 ")
        other.write(b"BBBB\n")
        other.flush()
        fcntl.flock(other.fileno(), fcntl.LOCK_UN)
    t.join(10)
    late = f"[late.example]:22 ssh-ed25519 {key.get_base64()}"
    assert known.read_text().endswith(f"other.example ssh-ed25519 BBBB\n{late}\n")


def test_unknown_inventory_device(tmp_path):
    inv = tmp_path / "devices.yaml"
    inv.write_text("devices:\n  pi5: {host: pi@10.0.0.5}\n")
    with pytest.raises(ConfigError, match="--only nano: not in"):
        remote_devices([], inv, ["nano"])


# ---------------------------------------------------------------- a real sshd on 127.0.0.1
@dataclass
class Server:
    port: int
    root: Path
    key: Path  # authorized user key
    known_hosts: Path  # holds the server's host key
    proc: subprocess.Popen

    def device(self, name: str = "dut", python: str = sys.executable, key: Path | None = None,
               hostname: str = "127.0.0.1") -> Device:  # fmt: skip
        """A device on this server; a second device at the same time needs hostname='localhost' (one
        user@host:port is never measured twice in parallel)."""
        return Device(name=name, host=Host(getpass.getuser(), hostname, self.port), key_file=key or self.key,
                      python=python, workdir=str(self.root / f"work-{name}"))  # fmt: skip

    def opts(self, **kw) -> RemoteOptions:
        return RemoteOptions(**{"known_hosts": self.known_hosts, "connect_timeout_s": 10, **kw})

    def kill_sessions(self) -> None:
        """Drop every connection: kill the daemon and each session process under it."""
        for pid in [*_descendants(self.proc.pid), self.proc.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(10)


def _descendants(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            children += [child, *_descendants(child)]
    return children


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


def start_sshd(root: Path, sftp: bool = True) -> Server:
    if not Path(SSHD).is_file() or shutil.which("ssh-keygen") is None:
        pytest.skip("OpenSSH server not installed (.ci/run installs openssh-server)")
    root.mkdir(parents=True, exist_ok=True)
    host_key, user_key = _keygen(root / "host_ed25519"), _keygen(root / "user_ed25519")
    (root / "authorized_keys").write_text((root / "user_ed25519.pub").read_text())
    port = _free_port()
    (root / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {root}/sshd.pid\n"
        f"AuthorizedKeysFile {root}/authorized_keys\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n"
        + ("Subsystem sftp internal-sftp\n" if sftp else "")
        + "LogLevel ERROR\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(root / "sshd_config")], stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.skip(f"sshd did not start: {proc.stderr.read().decode().strip()[-300:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    pub = (root / "host_ed25519.pub").read_text().split()
    known = root / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {pub[0]} {pub[1]}\n[localhost]:{port} {pub[0]} {pub[1]}\n")
    return Server(port, root, user_key, known, proc)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    if server.proc.poll() is None:
        server.proc.terminate()
        server.proc.wait(10)


def _cfg(tmp_path, artifacts, data=None, **kw) -> BenchConfig:
    return BenchConfig(profile=load_profile("x86-cpu"), artifacts=tuple(artifacts), out=tmp_path / "results.jsonl",
                       data=data, threads=1, **{**FAST, **kw})  # fmt: skip


def test_remote_benchmark_end_to_end(tmp_path, sshd, onnx_artifact, tiny_data):
    logs: list[str] = []
    dev = sshd.device()
    r = benchmark_remote(_cfg(tmp_path, [onnx_artifact], tiny_data), [dev], sshd.opts(), log=logs.append)
    [rec] = r.records
    assert rec["status"] == "ok", rec.get("message")
    assert (
        rec["device"]["host"] == f"{getpass.getuser()}@127.0.0.1:{sshd.port}"
        and rec["device"]["name"] == "dut"
    )
    assert rec["candidate"]["artifact"] == str(onnx_artifact.resolve())
    remote_art = Path(rec["candidate"]["remote_artifact"])
    assert remote_art.is_relative_to(dev.workdir) and remote_art.is_dir()  # copied under the work folder only
    assert rec["accuracy"]["dataset"] == str(tiny_data.resolve()) and rec["accuracy"]["map50_95"] is not None
    assert Path(rec["accuracy"]["remote_dataset"]).is_relative_to(dev.workdir)
    assert rec["latency_ms"]["end_to_end"]["n"] == FAST["iterations"]
    assert read_records(tmp_path / "results.jsonl") == [rec]
    assert schema_errors(rec) == []
    assert any("copying" in m for m in logs) and any("e2e p50" in m or "✅" in m for m in logs)

    # Same output again: refused without --resume, skipped with it; --force measures again without re-copying.
    with pytest.raises(ConfigError, match="--resume"):
        benchmark_remote(_cfg(tmp_path, [onnx_artifact], tiny_data), [dev], sshd.opts())
    again = benchmark_remote(_cfg(tmp_path, [onnx_artifact], tiny_data, resume=True), [dev], sshd.opts())
    assert again.records == [] and again.skipped == [onnx_artifact]
    logs.clear()
    forced = benchmark_remote(
        _cfg(tmp_path, [onnx_artifact], tiny_data, force=True), [dev], sshd.opts(), log=logs.append
    )
    assert forced.records[0]["status"] == "ok"
    assert any("already on the device" in m for m in logs) and not any("copying" in m for m in logs)


def test_unknown_host_key_refused_then_accepted(tmp_path, sshd, onnx_artifact):
    known = tmp_path / "known_hosts"
    r = benchmark_remote(_cfg(tmp_path, [onnx_artifact]), [sshd.device()], sshd.opts(known_hosts=known))
    [rec] = r.records
    assert (
        rec["status"] == "error" and "not in" in rec["message"] and "--accept-new-host-key" in rec["message"]
    )
    assert not known.exists()
    r = benchmark_remote(_cfg(tmp_path, [onnx_artifact], force=True), [sshd.device()],
                         sshd.opts(known_hosts=known, accept_new_host_key=True))  # fmt: skip
    assert r.records[0]["status"] == "ok", r.records[0].get("message")
    assert f"[127.0.0.1]:{sshd.port}" in known.read_text()


def test_changed_host_key_refused_even_with_accept(tmp_path, sshd, onnx_artifact):
    other = _keygen(tmp_path / "other_host").with_suffix(".pub").read_text().split()
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {other[0]} {other[1]}\n")
    r = benchmark_remote(_cfg(tmp_path, [onnx_artifact]), [sshd.device()],
                         sshd.opts(known_hosts=known, accept_new_host_key=True))  # fmt: skip
    assert r.records[0]["status"] == "error" and "host key differs" in r.records[0]["message"]


def test_wrong_key_and_unreachable_host_are_error_records(tmp_path, sshd, onnx_artifact):
    wrong = _keygen(tmp_path / "wrong")
    bad_auth = sshd.device("bad-auth", key=wrong)
    gone = Device("gone", Host(getpass.getuser(), "127.0.0.1", _free_port()), key_file=sshd.key,
                  workdir=str(tmp_path / "w"))  # fmt: skip
    good = sshd.device("good", hostname="localhost")
    r = benchmark_remote(_cfg(tmp_path, [onnx_artifact]), [bad_auth, gone, good], sshd.opts())
    by_device = {rec["device"]["name"]: rec for rec in r.records}
    assert "authentication failed" in by_device["bad-auth"]["message"]
    assert "cannot reach" in by_device["gone"]["message"]
    assert by_device["good"]["status"] == "ok"  # the other devices continue
    assert len(read_records(tmp_path / "results.jsonl")) == 3
    assert all(schema_errors(rec) == [] for rec in r.records)


def test_missing_edgeyolo_and_missing_runtime(tmp_path, sshd, onnx_artifact):
    bare = shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"
    no_edgeyolo = sshd.device("bare", python=bare)
    hide = tmp_path / "hide" / "onnxruntime"
    hide.mkdir(parents=True)
    (hide / "__init__.py").write_text("raise ImportError('onnxruntime is not installed here')\n")
    wrapper = tmp_path / "python-without-ort"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={hide.parent} exec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    no_ort = sshd.device("no-ort", python=str(wrapper), hostname="localhost")
    r = benchmark_remote(_cfg(tmp_path, [onnx_artifact]), [no_edgeyolo, no_ort], sshd.opts())
    by_device = {rec["device"]["name"]: rec for rec in r.records}
    assert "edgeyolo is not installed" in by_device["bare"]["message"]
    assert "pip install 'edgeyolo[onnx]" in by_device["bare"]["message"]
    assert "'onnxruntime' is not installed" in by_device["no-ort"]["message"]
    assert "pip install 'edgeyolo[onnx]'" in by_device["no-ort"]["message"]


def test_dropped_connection_keeps_what_was_measured(tmp_path, tmp_path_factory, onnx_artifact):
    server = start_sshd(tmp_path_factory.mktemp("sshd-drop"))
    second = tmp_path / "second"
    shutil.copytree(onnx_artifact, second)
    seen = []

    def drop_after_first(rec):
        seen.append(rec)
        if len(seen) == 1:
            server.kill_sessions()

    try:
        r = benchmark_remote(_cfg(tmp_path, [onnx_artifact, second]), [server.device()], server.opts(),
                             on_record=drop_after_first)  # fmt: skip
    finally:
        if server.proc.poll() is None:
            server.kill_sessions()
    first, lost = r.records
    assert first["status"] == "ok"
    assert lost["status"] == "error" and "connection" in lost["message"]
    assert [x["status"] for x in read_records(tmp_path / "results.jsonl")] == ["ok", "error"]


def test_cli_remote_bench(tmp_path, sshd, onnx_artifact, runner):
    inv = tmp_path / "devices.yaml"
    dev = sshd.device("cli-dut")
    inv.write_text(json.dumps({"devices": {"cli-dut": {"host": str(dev.host), "profile": "x86-cpu", "key": str(sshd.key),
                                                        "python": sys.executable, "workdir": dev.workdir}}}))  # fmt: skip
    out = tmp_path / "r.jsonl"
    res = runner.invoke(main, ["bench", "--profile", "x86-cpu", str(onnx_artifact), "--devices", str(inv),
                               "--known-hosts", str(sshd.known_hosts), "--out", str(out), "--threads", "1",
                               "--iterations", "5", "--warmup", "1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert f"✅ {onnx_artifact.name} on cli-dut" in res.output
    res = runner.invoke(main, ["bench", "--profile", "x86-cpu", str(onnx_artifact), "--only", "x"])
    assert res.exit_code != 0 and "--only picks devices from --devices" in res.output


def test_cli_candidate_timeout(tmp_path, sshd, onnx_artifact, runner):
    """--candidate-timeout is each candidate's total limit on the device: past it the candidate is ended and
    recorded as an error saying so; without a device to reach the option is refused."""
    dev = sshd.device("cli-slow")
    out = tmp_path / "r.jsonl"
    res = runner.invoke(main, ["bench", "--profile", "x86-cpu", str(onnx_artifact), "--host", str(dev.host),
                               "--identity", str(sshd.key), "--remote-python", sys.executable,
                               "--remote-workdir", dev.workdir, "--known-hosts", str(sshd.known_hosts),
                               "--out", str(out), "--threads", "1", "--iterations", "5", "--warmup", "1",
                               "--candidate-timeout", "0.05"])  # fmt: skip
    (rec,) = read_records(out)
    assert rec["status"] == "error" and "timed out after 0.05 s" in rec["message"], rec
    assert "--candidate-timeout" in rec["message"]
    res = runner.invoke(
        main, ["bench", "--profile", "x86-cpu", str(onnx_artifact), "--candidate-timeout", "5"]
    )
    assert (
        res.exit_code == 2
        and "--candidate-timeout limits candidates on devices reached over SSH" in res.output
    )


def test_sweep_on_two_devices_reports_each_and_compares(tmp_path, sshd, tiny_weights, tiny_data):
    """`run --weights ... --host A --host B`: export once, measure on both devices in parallel, a report per
    device and a comparison."""
    import yaml

    from edgeyolo.pipeline import PipelineConfig, run_pipeline

    d = load_profile("x86-cpu").to_dict()
    d.update(
        name="tiny-cpu",
        targets=[{"format": "onnx", "precision": "fp32", "runtime": "onnxruntime"}],
        threads=1,
    )
    (tmp_path / "tiny-cpu.yaml").write_text(yaml.safe_dump(d))
    logs: list[str] = []
    r = run_pipeline(PipelineConfig(profile=load_profile(tmp_path / "tiny-cpu.yaml"), out=tmp_path / "sweep", data=tiny_data,
                                    weights=(tiny_weights,), imgsz=(128,), bench_iterations=3, bench_warmup=1,
                                    devices=(sshd.device("lab-a"), sshd.device("lab-b", hostname="localhost")), remote=sshd.opts()),
                     log=logs.append)  # fmt: skip
    records = read_records(r.results)
    # square and camera-shaped (the 16:9 val images at 128: 128x96) on each device, the shape read back from there
    assert sorted(x["device"]["name"] for x in records) == ["lab-a", "lab-a", "lab-b", "lab-b"]
    assert sorted(tuple(x["candidate"]["shape"]) for x in records) == [(96, 128)] * 2 + [(128, 128)] * 2
    assert all(x["status"] == "ok" for x in records)
    assert set(r.reports) == {"tiny-cpu @ lab-a", "tiny-cpu @ lab-b"}
    for folder in r.reports.values():
        assert (folder / "report.html").is_file() and (folder / "results.csv").is_file()
    assert (r.compare_dir / "compare.html").is_file()
    assert any(m.startswith("[plan]") and "on lab-a, lab-b" in m for m in logs)


def test_candidate_that_crashes_on_the_device(tmp_path, sshd, onnx_artifact):
    """A model file the device's runtime cannot load: that candidate's error record comes back; the next
    candidate on the same device is still measured."""
    broken = tmp_path / "broken"
    shutil.copytree(onnx_artifact, broken)
    (broken / "model.onnx").write_bytes(b"not an onnx graph")
    _restamp(broken)  # exported that way: it passes the checksum and fails in the device's runtime
    r = benchmark_remote(_cfg(tmp_path, [broken, onnx_artifact]), [sshd.device("crashy")], sshd.opts())
    bad, good = r.records
    assert bad["status"] == "error" and bad["candidate"]["artifact"] == str(broken.resolve())
    assert "model.onnx" in bad["message"] or "onnx" in bad["message"].lower()
    assert good["status"] == "ok"


def test_new_settings_are_measured_not_taken_from_an_earlier_run(tmp_path, sshd, onnx_artifact):
    """The device keeps its results per settings: other iterations into a new --out are a new measurement."""
    dev = sshd.device("settings")
    first = benchmark_remote(_cfg(tmp_path, [onnx_artifact], iterations=3), [dev], sshd.opts()).records[0]
    cfg = dataclasses.replace(_cfg(tmp_path, [onnx_artifact], iterations=9), out=tmp_path / "second.jsonl")
    second = benchmark_remote(cfg, [dev], sshd.opts()).records[0]
    assert first["latency_ms"]["end_to_end"]["n"] == 3 and second["latency_ms"]["end_to_end"]["n"] == 9
    assert second["created"] >= first["created"] and second != first


def test_known_hosts_kept_and_markers_refused(tmp_path, sshd, onnx_artifact):
    known = tmp_path / "known_hosts"
    mine = "# my devices\nother.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    known.write_text(mine)  # no trailing newline
    r = benchmark_remote(_cfg(tmp_path, [onnx_artifact]), [sshd.device()],
                         sshd.opts(known_hosts=known, accept_new_host_key=True))  # fmt: skip
    assert r.records[0]["status"] == "ok", r.records[0].get("message")
    text = known.read_text()
    assert (
        text.startswith(mine + "\n") and f"[127.0.0.1]:{sshd.port} ssh-ed25519 " in text
    )  # appended, nothing lost

    ca = tmp_path / "ca_known_hosts"
    ca.write_text(
        "@cert-authority *.corp ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    )
    r = benchmark_remote(
        _cfg(tmp_path, [onnx_artifact], force=True), [sshd.device()], sshd.opts(known_hosts=ca)
    )
    assert (
        r.records[0]["status"] == "error"
        and "@cert-authority lines are not supported" in r.records[0]["message"]
    )


def test_device_without_sftp_is_an_error_record(tmp_path, tmp_path_factory, onnx_artifact):
    server = start_sshd(tmp_path_factory.mktemp("sshd-nosftp"), sftp=False)
    try:
        r = benchmark_remote(_cfg(tmp_path, [onnx_artifact]), [server.device()], server.opts())
    finally:
        server.kill_sessions()
    assert r.records[0]["status"] == "error" and "no SFTP on the device" in r.records[0]["message"]


def test_same_host_twice_is_refused(tmp_path, sshd, onnx_artifact):
    with pytest.raises(ConfigError, match="given twice"):
        benchmark_remote(_cfg(tmp_path, [onnx_artifact]), [sshd.device("a"), sshd.device("b")], sshd.opts())


def test_results_of_other_candidates_do_not_block_a_new_one(tmp_path, sshd, onnx_artifact):
    """--resume/--force is only asked for when these candidates were measured on that device before."""
    dev = sshd.device("other")
    benchmark_remote(_cfg(tmp_path, [onnx_artifact]), [dev], sshd.opts())
    other = tmp_path / "other-artifact"
    shutil.copytree(onnx_artifact, other)
    (other / "model.onnx").write_bytes((other / "model.onnx").read_bytes() + b"\0")  # another checksum
    _restamp(other)
    r = benchmark_remote(_cfg(tmp_path, [other]), [dev], sshd.opts())  # same results file, no --resume
    assert [x["candidate"]["artifact"] for x in r.records] == [str(other.resolve())]


def _restamp(folder: Path) -> None:
    """Record the folder's current files in its manifest, as export does (a test's deliberate change)."""
    from edgeyolo.export.manifest import write_manifest

    m = json.loads((folder / "manifest.json").read_text())
    write_manifest(folder, **{k: v for k, v in m.items() if k not in ("schema", "created")})


def _stand_in_artifact(src: Path, dst: Path) -> Path:
    """An artifact for the stand-in python (which never loads it): ``src``'s manifest and a few bytes for a
    model, recorded in the manifest, so that it passes the checksum and copies in no time."""
    dst.mkdir()
    shutil.copyfile(src / "manifest.json", dst / "manifest.json")
    (dst / "model.onnx").write_text(f"stand-in {dst.name}")
    _restamp(dst)
    return dst


def _processes_with(token: str) -> list[str]:
    """Command lines of the running processes (zombies have none) that mention ``token``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if token in text:
            found.append(text)
    return found


def _open_connections(wait_s: float = 5.0) -> list:
    """SSH connections (paramiko transports) still open in this process, after ``wait_s`` for them to end."""
    import threading

    import paramiko

    deadline = time.monotonic() + wait_s
    while True:
        alive = [t for t in threading.enumerate() if isinstance(t, paramiko.Transport) and t.is_alive()]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def _stand_in_python(tmp_path: Path, token: str) -> tuple[Path, Path]:
    """The device's python: for candidates whose folder names a behaviour (and ``token``), a tiny stand-in for
    ``edgeyolo bench``; otherwise the real interpreter, after noting which token processes run as it starts."""
    listing = tmp_path / "running-at-start.txt"
    script = tmp_path / "python-stand-in"
    script.write_text(f"""#!{sys.executable}
import json, os, subprocess, sys, time
args = sys.argv[1:]
if args[:3] == ["-m", "edgeyolo", "bench"]:
    name, out = os.path.basename(args[5]), args[args.index("--out") + 1]
    if name.endswith("hang-{token}"):  # hangs, with a child of its own
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "{token}-child"])
        time.sleep(600)
    if name.endswith("badjson-{token}"):
        open(out, "a").write("{{not json\\n")
        sys.exit(0)
    if name.endswith("nocandidate-{token}"):
        open(out, "a").write(json.dumps({{"schema": "edgeyolo.bench/1", "status": "ok", "device": {{}}}}) + "\\n")
        sys.exit(0)
    others = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{{pid}}/cmdline", "rb").read().replace(b"\\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "{token}" in cmd:
            others.append(cmd)
    with open({str(listing)!r}, "a") as f:
        f.write(json.dumps({{"candidate": name, "running": others}}) + "\\n")
os.execv(sys.executable, [sys.executable, *args])
""")
    script.chmod(0o755)
    return script, listing


def test_hanging_candidate_is_stopped_at_its_limit(tmp_path, sshd, onnx_artifact):
    """A candidate that hangs on the device (with a child process) is ended as a whole at its time limit and
    recorded as timed out; the next candidate starts with nothing of it left running and is measured."""
    token = f"tok{os.getpid()}x{time.monotonic_ns()}"
    python, listing = _stand_in_python(tmp_path, token)
    hang = _stand_in_artifact(onnx_artifact, tmp_path / f"hang-{token}")
    dev = dataclasses.replace(sshd.device("hangs"), python=str(python))
    limit = 10  # the next candidate, measured for real, must fit in it too on a busy machine
    t0 = time.monotonic()
    seen: list[tuple[float, list[str]]] = []
    r = benchmark_remote(_cfg(tmp_path, [hang, onnx_artifact]), [dev], sshd.opts(candidate_timeout_s=limit),
                         on_record=lambda rec: seen.append((time.monotonic() - t0, _processes_with(token))))  # fmt: skip
    hung, good = r.records
    assert hung["status"] == "error" and f"timed out after {limit} s" in hung["message"], hung
    assert "stopped" in hung["message"] and hung["candidate"]["artifact"] == str(hang.resolve())
    assert limit <= seen[0][0] < limit + 10  # at the limit, not at a per-read timeout
    assert seen[0][1] == []  # the stand-in, its child and the agent are gone once the record is back
    assert good["status"] == "ok", good.get("message")
    assert good["latency_ms"]["end_to_end"]["n"] == FAST["iterations"]
    [start] = [json.loads(line) for line in listing.read_text().splitlines()]
    assert start == {"candidate": f"{good['candidate']['remote_artifact'].rsplit('/', 1)[-1]}", "running": []}
    assert _processes_with(token) == []
    assert _open_connections() == []


def test_dropped_connection_ends_the_candidate_on_the_device(tmp_path, sshd):
    """The connection goes away mid-candidate: the agent there ends the candidate's whole process tree (no
    pty, so sshd itself would leave it running)."""
    import threading

    from edgeyolo.bench.remote.session import Session

    token = f"tok{os.getpid()}x{time.monotonic_ns()}"
    sleeper = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', sys.argv[1]]); time.sleep(600)"  # fmt: skip
    argv = [
        sys.executable,
        "-m",
        "edgeyolo.bench.agent",
        "run",
        "600",
        "--",
        sys.executable,
        "-c",
        sleeper,
        token,
    ]
    s = Session(sshd.device("drops"), sshd.opts(), log=lambda m: None)
    ended: list[BaseException] = []

    def run() -> None:
        try:
            s.run(argv, timeout_s=600)
        except BaseException as e:  # the connection closes under it
            ended.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while len(_processes_with(token)) < 3 and time.monotonic() < deadline:  # agent, candidate, its child
        time.sleep(0.05)
    assert len(_processes_with(token)) == 3, _processes_with(token)
    s.close()
    deadline = time.monotonic() + 15
    while _processes_with(token) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_with(token) == []
    t.join(10)
    assert not t.is_alive()


def test_malformed_records_are_errors_of_their_candidate_only(tmp_path, sshd, onnx_artifact):
    """Bad JSON and a record without 'candidate' from the device: an error record for each of those
    candidates, and the next candidate on that device is still measured."""
    token = f"tok{os.getpid()}x{time.monotonic_ns()}"
    python, _ = _stand_in_python(tmp_path, token)
    bad_json = _stand_in_artifact(onnx_artifact, tmp_path / f"badjson-{token}")
    no_candidate = _stand_in_artifact(onnx_artifact, tmp_path / f"nocandidate-{token}")
    dev = dataclasses.replace(sshd.device("malformed"), python=str(python))
    r = benchmark_remote(_cfg(tmp_path, [bad_json, no_candidate, onnx_artifact]), [dev], sshd.opts())
    first, second, good = r.records
    assert first["status"] == "error" and "malformed record" in first["message"]
    assert "is not JSON" in first["message"] and "connection lost" not in first["message"]
    assert second["status"] == "error" and "malformed record" in second["message"]
    assert "has no 'candidate'" in second["message"]
    assert first["candidate"]["artifact"] == str(bad_json.resolve())
    assert second["candidate"]["artifact"] == str(no_candidate.resolve())
    assert good["status"] == "ok", good.get("message")
    assert [x["status"] for x in read_records(tmp_path / "results.jsonl")] == ["error", "error", "ok"]
    assert _open_connections() == []  # not taken for a lost connection and left open


def test_workdir_root_or_home_is_refused_before_connecting(tmp_path, sshd, onnx_artifact):
    for workdir, why in (("/", "the root folder"), ("~", "the home folder itself")):
        dev = dataclasses.replace(sshd.device(), workdir=workdir)
        with pytest.raises(ConfigError, match=f"device dut: workdir '{re.escape(workdir)}' is {why}"):
            benchmark_remote(_cfg(tmp_path, [onnx_artifact]), [dev], sshd.opts())
    assert not (tmp_path / "results.jsonl").exists()


def test_uploads_stay_inside_the_work_folder(tmp_path, sshd):
    from edgeyolo.bench.remote.session import RemoteError, Session

    dev = sshd.device("guarded")
    local = tmp_path / "f.txt"
    local.write_text("x")
    outside = tmp_path / "outside" / "f.txt"
    s = Session(dev, sshd.opts(), log=lambda m: None)
    try:
        with pytest.raises(RemoteError, match="refusing a path outside the work folder"):
            s.upload_tree([(local, str(outside))])
        with pytest.raises(RemoteError, match="refusing a path outside the work folder"):
            s.upload_tree([(local, "inside/ok.txt"), (local, "../escaped/f.txt")])
        assert not (Path(dev.workdir) / "inside").exists()  # every path is checked before anything is copied
        s.upload_tree([(local, "inside/ok.txt")])  # relative to the work folder
    finally:
        s.close()
    assert not outside.parent.exists() and not (Path(dev.workdir).parent / "escaped").exists()
    assert (Path(dev.workdir) / "inside" / "ok.txt").read_text() == "x"


def test_artifact_changed_since_export_is_not_copied_or_measured(tmp_path, sshd, onnx_artifact):
    changed = tmp_path / "changed"
    shutil.copytree(onnx_artifact, changed)
    (changed / "model.onnx").write_bytes((changed / "model.onnx").read_bytes() + b"\0")  # a partial re-sync
    dev = sshd.device("honest")
    r = benchmark_remote(_cfg(tmp_path, [changed, onnx_artifact]), [dev], sshd.opts())
    bad, good = r.records
    assert bad["status"] == "error" and "changed since export" in bad["message"], bad
    assert good["status"] == "ok", good.get("message")
    copied = [p.name for p in (Path(dev.workdir) / "artifacts").iterdir()]
    assert copied == [Path(good["candidate"]["remote_artifact"]).name]
