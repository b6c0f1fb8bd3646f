"""An emulated Raspberry Pi for the tests: a Debian bookworm arm64 userland (the base of Raspberry Pi OS) whose
Python runs under ``qemu-aarch64-static``, reached over the real OpenSSH server the remote tests start.

The root is made once and cached outside the repository (``~/.cache/edgeyolo-test/arm64-bookworm-<key>``, the
key from the suite, architecture, packages, qemu's version and :data:`RECIPE`): ``debootstrap --foreign``
downloads the packages (first stage only; nothing arm64 runs), and each downloaded package is unpacked with
``dpkg-deb`` (no second stage). Concurrent test sessions build it under a lock, into a temporary folder that is
renamed into place, so a half-made root is never used.

No binfmt_misc handler is registered (that is kernel-wide, not the tests' to change): qemu is called explicitly
by a launcher script in the root, ``<root>/usr/local/bin/python3``. It runs
``qemu-aarch64-static -cpu cortex-a76 -L <root> -0 "$0" <root>/usr/bin/python3.11 "$@"``, so ``sys.executable`` is the path the
launcher was called by: a child process that Python starts with ``sys.executable`` (bench starts each
candidate that way) is emulated too, and a venv made from it (its ``bin/python`` a link to the launcher) finds
its ``pyvenv.cfg`` next to the link, as on a real device.

The "device" is this machine's own filesystem and user seen through that Python: ``platform.machine()`` is
``aarch64``, its libc is the root's glibc 2.36, and the packages edgeyolo installs there are aarch64 wheels.

The emulated CPU is a Cortex-A76 (``-cpu``), and the root's ``/proc/cpuinfo`` describes one, as a Pi 5's kernel
does: onnxruntime's CPU detection crashes on the x86 description otherwise (:data:`ORT_NOTE`).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUITE = "bookworm"
ARCH = "arm64"
PACKAGES = ("python3", "python3-venv", "libgomp1")
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
QEMU = "qemu-aarch64-static"
CACHE = Path(os.environ.get("EDGEYOLO_TEST_CACHE", Path.home() / ".cache" / "edgeyolo-test"))
CPU = "cortex-a76"  # the Raspberry Pi 5's core: qemu gives the program its ISA (no SVE/SME, FP16 arithmetic)
RECIPE = 2  # bump when the steps that make the root change
# Top-level folders of the root that would hide this machine's own (qemu -L looks a path up in the root
# first): the device sees this machine's /tmp, /home, /root, /dev, /sys and /run, as a board sees its own.
HOST_DIRS = ("boot", "dev", "home", "media", "mnt", "opt", "root", "run", "srv", "sys", "tmp")

LAUNCHER = """#!/bin/sh
# Runs the arm64 Python of this root under qemu-user as a Cortex-A76 (made by edgeyolo's tests/_emulated.py).
exec {qemu} -cpu {cpu} -L {root} -0 "$0" {root}/usr/bin/python3.11 "$@"
"""

ORT_NOTE = """\
onnxruntime >= 1.2x under qemu-user: `import onnxruntime` dies with SIGSEGV in a static initializer, in
pytorch/cpuinfo's cpuinfo_arm_linux_init (bundled in onnxruntime_pybind11_state.so). Its first pass counts L2
caches only for cores whose microarchitecture it knows; its second pass writes an L2 entry for every core whose
sysfs says it has a private L2 (cache/index2 level, size, shared_cpu_list). Under qemu-user the program reads
this machine's x86 /proc/cpuinfo (no 'CPU implementer'/'CPU part' lines: unknown core) and x86 sysfs (per-core
L2): zero L2 entries allocated, then a write through the NULL array (gdb: `str d31, [x24, x2]` with both 0,
reached from _dl_init). qemu's -cpu changes neither file, so no -cpu choice helps; upstream fixes are open
(pytorch/cpuinfo#398, #418). A real Pi's kernel describes its Cortex-A72/A76, which cpuinfo knows.
The emulated device therefore gets the /proc/cpuinfo a Pi 5 has (each core: CPU implementer 0x41, CPU part
0xd0b, i.e. Cortex-A76), from <root>/proc/cpuinfo, which qemu -L serves in place of the host's; with it
onnxruntime 1.32.0 imports and runs, and no version pin is needed. One side effect: listing /proc itself shows
the root's folder (only cpuinfo), so code that scans /proc for processes (the agent's process-group check) sees
none under emulation; files such as /proc/self/status still come from the kernel."""

CPUINFO_CORE = """processor\t: {i}
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x4
CPU part\t: 0xd0b
CPU revision\t: 1

"""
CPUINFO_MODEL = "Model\t\t: QEMU emulated arm64 (Cortex-A76), edgeyolo test device\n"


class Unavailable(Exception):
    """The emulated device cannot be made here; the message is the skip reason."""


def _qemu_version(qemu: str) -> str:
    out = subprocess.run([qemu, "--version"], capture_output=True, text=True, timeout=30).stdout
    return out.splitlines()[0] if out else "unknown"


def root_key(qemu: str) -> str:
    text = "\n".join([SUITE, ARCH, ",".join(PACKAGES), _qemu_version(qemu), str(RECIPE)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def make_root(log=print) -> Path:
    """The cached arm64 root (made when missing); raises :class:`Unavailable` with the skip reason."""
    qemu = shutil.which(QEMU)
    if qemu is None:
        raise Unavailable(f"{QEMU} not installed (apt-get install qemu-user-static)")
    root = CACHE / f"{ARCH}-{SUITE}-{root_key(qemu)}"
    if (root / ".complete").is_file():
        write_cpuinfo(root)
        return root
    if shutil.which("debootstrap") is None and not Path("/usr/sbin/debootstrap").is_file():
        raise Unavailable("debootstrap not installed (apt-get install debootstrap)")
    if os.geteuid() != 0:
        raise Unavailable(f"emulated arm64 device did not start: debootstrap needs root to make {root} once "
                          "(run the tests as root once; the root is cached)")  # fmt: skip
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{root.name}.lock", "w") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # another test session may be making it
        if (root / ".complete").is_file():
            write_cpuinfo(root)
            return root
        t = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(prefix=f"{root.name}.", dir=CACHE))
        try:
            _debootstrap(tmp, log)
            launcher = tmp / "usr" / "local" / "bin" / "python3"
            launcher.parent.mkdir(parents=True, exist_ok=True)
            launcher.write_text(LAUNCHER.format(qemu=qemu, cpu=CPU, root=root))  # the root's final path
            launcher.chmod(0o755)
            shutil.rmtree(root, ignore_errors=True)
            tmp.rename(root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        (root / ".complete").write_text(f"{time.perf_counter() - t:.0f} s\n")
        log(f"emulated arm64 root made in {time.perf_counter() - t:.0f} s: {root}")
    # Finished roots of an older recipe or qemu (not one in the making).
    for old in CACHE.glob(f"{ARCH}-{SUITE}-*"):
        if old != root and old.is_dir() and "." not in old.name and (old / ".complete").is_file():
            shutil.rmtree(old, ignore_errors=True)
            CACHE.joinpath(f"{old.name}.lock").unlink(missing_ok=True)
    write_cpuinfo(root)
    return root


def write_cpuinfo(root: Path) -> None:
    """The Pi-5-like /proc/cpuinfo (see ORT_NOTE), one core per CPU this machine has (as its sysfs says)."""
    cores = os.cpu_count() or 1
    text = "".join(CPUINFO_CORE.format(i=i) for i in range(cores)) + CPUINFO_MODEL
    path = root / "proc" / "cpuinfo"
    if path.is_file() and path.read_text() == text:
        return
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(f".cpuinfo.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _debootstrap(root: Path, log) -> None:
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    cmd = [debootstrap, "--foreign", f"--arch={ARCH}", "--variant=minbase", f"--include={','.join(PACKAGES)}",
           SUITE, str(root), MIRROR]  # fmt: skip
    log(" ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise Unavailable(f"emulated arm64 device did not start: debootstrap failed ({MIRROR} reachable?): "
                          f"{(r.stderr or r.stdout).strip()[-400:]}")  # fmt: skip
    for deb in sorted((root / "var" / "cache" / "apt" / "archives").glob("*.deb")):
        # --keep-directory-symlink: /bin, /lib, /sbin stay links into /usr (merged /usr, as Debian has it).
        p = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "--keep-directory-symlink", "-C", str(root)], stdin=p.stdout, check=True)
        p.stdout.close()
        if p.wait() != 0:
            raise Unavailable(f"emulated arm64 device did not start: dpkg-deb could not unpack {deb.name}")
        deb.unlink()
    # What base-passwd's maintainer scripts would have made (getpwuid, used by Python's getpass and ssh tools).
    for name in ("passwd", "group"):
        shutil.copy(root / "usr" / "share" / "base-passwd" / f"{name}.master", root / "etc" / name)
    shutil.rmtree(root / "debootstrap", ignore_errors=True)
    for name in (*HOST_DIRS, "proc"):  # proc: debootstrap's link to /proc, replaced by write_cpuinfo's folder
        p = root / name
        if p.is_symlink() or p.is_file():
            p.unlink()
        elif p.is_dir():
            shutil.rmtree(p)


if __name__ == "__main__":
    print(make_root())


@dataclass
class EmulatedPi:
    """The emulated device behind a real sshd on 127.0.0.1: ``python3`` is the root's launcher."""

    root: Path
    python3: str  # the device's system Python (the launcher), what `device setup --base-python` gets
    server: Any  # test_remote.Server
    user: str

    @property
    def host(self) -> str:
        return f"{self.user}@127.0.0.1:{self.server.port}"

    def ssh_args(self) -> list[str]:
        """--identity/--known-hosts for the CLI's remote commands."""
        return ["--identity", str(self.server.key), "--known-hosts", str(self.server.known_hosts)]


def start_emulated_pi(work: Path, log=print) -> EmulatedPi:
    """The cached root (made when missing) and a fresh sshd; pytest.skip with the reason when either cannot be."""
    import getpass

    import pytest
    from test_remote import start_sshd

    t = time.perf_counter()
    try:
        root = make_root(log)
    except Unavailable as e:
        pytest.skip(str(e))
    server = start_sshd(work / "sshd")
    launcher = root / "usr" / "local" / "bin" / "python3"
    r = subprocess.run([str(launcher), "-c", "import platform;print(platform.machine())"], capture_output=True,
                       text=True, timeout=300)  # fmt: skip
    if r.stdout.strip() != "aarch64":
        server.proc.terminate()
        pytest.skip(f"emulated arm64 device did not start: {launcher} printed {r.stdout.strip()!r}, "
                    f"{r.stderr.strip()[-300:]}")  # fmt: skip
    log(f"emulated arm64 device ready in {time.perf_counter() - t:.1f} s ({root})")
    return EmulatedPi(root, str(launcher), server, getpass.getuser())


# ------------------------------------------------------------------------- a model worth comparing
MODEL_RECIPE = dict(epochs=40, imgsz=128, batch=16, optimizer="AdamW", lr0=0.002, copies=8, seed=3, images=8)


def memorized_model(work: Path, log=print) -> tuple[Path, Path]:
    """(weights, data.yaml): yolo26n that has memorized 8 synthetic images (their val split), mAP50-95 ~0.6 on
    them, and that split.

    Why not the session's tiny model: after 2 epochs its scores are flat (all ~0.0025, ties to 1e-8) and its
    mAP50-95 is ~0.004, so "the same mAP on arm64 within 0.005" would hold for any output, and which of the
    tied boxes rank first is float noise. This one gives confident, separated detections: a box that moves or a
    score that changes on arm64 changes its mAP. The images are made here each run (deterministic); the weights
    are trained once (~2-5 min on 2 cores) and cached under ~/.cache/edgeyolo-test, keyed by the images and
    labels, torch's and Ultralytics' versions and :data:`MODEL_RECIPE`.
    """
    from importlib.metadata import version

    from edgeyolo.data.synth import SynthConfig, synthesize

    r = MODEL_RECIPE
    data = synthesize(SynthConfig(out=work / "memorized", train=1, val=r["images"], imgsz=r["imgsz"], seed=r["seed"],
                                  empty_fraction=0.0)).data_yaml  # fmt: skip
    root = data.parent
    h = hashlib.sha256(repr(sorted(r.items())).encode())
    for name in ("torch", "ultralytics-opencv-headless"):
        h.update(version(name).encode())
    for p in sorted((root / "images" / "val").iterdir()) + sorted((root / "labels" / "val").iterdir()):
        h.update(p.name.encode() + p.read_bytes())
    cached = CACHE / f"memorized-{h.hexdigest()[:12]}" / "best.pt"
    if cached.is_file():
        return cached, data
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{cached.parent.name}.lock", "w") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if cached.is_file():
            return cached, data
        from edgeyolo.profiles import load_profile
        from edgeyolo.train import TrainConfig, train

        train_dir = work / "memorized-train"
        for split in ("images", "labels"):  # the training split: the val images, `copies` times each
            (train_dir / split).mkdir(parents=True)
            for p in sorted((root / split / "val").iterdir()):
                for i in range(r["copies"]):
                    shutil.copy(p, train_dir / split / f"c{i}_{p.name}")
        train_yaml = root / "train.yaml"
        text = data.read_text().replace("train: images/train", f"train: {train_dir / 'images'}")
        train_yaml.write_text(text)
        t = time.perf_counter()
        no_aug = {"mosaic": 0.0, "fliplr": 0.0, "hsv_h": 0.0, "hsv_s": 0.0, "hsv_v": 0.0, "translate": 0.0,
                  "scale": 0.0, "erasing": 0.0, "nbs": r["batch"], "warmup_epochs": 0, "plots": False}  # fmt: skip
        result = train(TrainConfig(profile=load_profile("x86-cpu"), data=train_yaml, out=work / "memorized-run",
                                   epochs=r["epochs"], imgsz=r["imgsz"], batch=r["batch"], device="cpu", stal=False,
                                   optimizer=r["optimizer"], lr0=r["lr0"], overrides=no_aug))  # fmt: skip
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".part")
        shutil.copy(result.best, tmp)
        os.replace(tmp, cached)
        log(
            f"memorized model trained in {time.perf_counter() - t:.0f} s (mAP50-95 {result.map50_95:.3f}): {cached}"
        )
    for old in CACHE.glob("memorized-*"):
        if old.is_dir() and old != cached.parent:
            shutil.rmtree(old, ignore_errors=True)
            CACHE.joinpath(f"{old.name}.lock").unlink(missing_ok=True)
    return cached, data
