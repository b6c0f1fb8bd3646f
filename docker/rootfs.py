#!/usr/bin/env python3
"""The root filesystem of a runtime image, made in a build stage from a Debian base's root (run it there).

    rootfs.py assemble SYSROOT OUT [PYTHON]
                                        add to OUT what the files already in OUT need to run
    rootfs.py strip STRIP DIR           strip the ELF files under DIR that carry symbols, where that is safe
    rootfs.py bytecode DIR AS [KEEP...] replace each module's source under DIR (the image's AS) by bytecode
    rootfs.py prune-libs DIR            remove what no ELF file needs from auditwheel's *.libs folders

`assemble` expects the application (the venv, or the site-packages and the launcher) under OUT at its final
path. It adds from SYSROOT (the base image's root: `/` in the cpu build stage, the arm64 base copied into the
rpi build stage): the Python interpreter (PYTHON, default: /usr/local/bin/python3.11 as in the official
python images, else Debian's /usr/bin/python3.11), with /usr/bin/python3 leading to it; its standard library
minus what a runtime never imports (STDLIB_DROP, DYNLOAD_DROP), as bytecode in <prefix>/lib/python311.zip (on
sys.path by default; the extension modules stay in lib-dynload); /bin/sh; every shared library that an ELF
file under OUT needs (DT_NEEDED, resolved like the dynamic loader: the file's RPATH/RUNPATH with $ORIGIN, the
folders of /etc/ld.so.conf, then the system folders; the closure), the dynamic loader, and /etc/ld.so.cache
when a library came from a folder only the cache names (such as /usr/local/lib for a binary without RPATH);
the account files with root, nobody and the image's user (uid 1000); /tmp and /root. The symbolic links on
the way (/lib -> usr/lib, /lib64, the sonames) are made as the base has them. ELF files are read here, in
Python, so the build machine never runs the target's code (no ldd, no emulator), and binaries are copied
unchanged: no RPATH or NEEDED is edited, no library is swapped for another. A NEEDED library found neither
under OUT nor in SYSROOT stops the build, so it shows here and not on the device.

`strip` runs STRIP --strip-unneeded on a copy and keeps the copy only if the dynamic loader can still map
it: patchelf-edited libraries (auditwheel's) can come out with segments whose file offset and address no
longer agree modulo the page size ("ELF load command address/offset not page-aligned"); those stay as
they are.

`bytecode` compiles every module with this Python (bytecode depends on the Python version only, which is
why the build stage and the image must both be 3.11) into a sourceless `.pyc` beside where the `.py` was
and removes the `.py` and `__pycache__`; KEEP packages (given by folder name) keep their source, with
`__pycache__` bytecode that is never checked against it (unchecked-hash), so nothing compiles at run time
either way.
"""

from __future__ import annotations

import importlib.util
import os
import py_compile
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PYTHON = "python3.11"
USER, UID = "edgeyolo", 1000
# Standard-library parts no runtime path of edgeyolo imports (tests/test_docker.py runs predict, bench,
# select, report and compare in the images): the test suite, tools and GUI/terminal modules, packaging
# (ensurepip, venv, distutils, lib2to3), databases. Debian's sitecustomize only hooks apport.
STDLIB_DROP = {
    "test", "idlelib", "tkinter", "turtledemo", "turtle.py", "ensurepip", "venv", "distutils", "lib2to3",
    "pydoc_data", "sqlite3", "curses", "dbm", "__phello__", "__hello__.py", "antigravity.py", "this.py",
    "sitecustomize.py", "EXTERNALLY-MANAGED", "_distutils_system_mod.py", "idle.py", "__pycache__",
    "site-packages", "dist-packages",  # the base's own packages (pip): the image's are elsewhere
}  # fmt: skip
# Extension modules of lib-dynload that go with them (and the test-only ones).
DYNLOAD_DROP = {
    "_sqlite3", "_curses", "_curses_panel", "_dbm", "_gdbm", "readline", "_tkinter", "_testbuffer", "_testcapi",
    "_testclinic", "_testimportmultiple", "_testinternalcapi", "_testmultiphase", "_ctypes_test", "_xxtestfuzz",
    "xxlimited", "xxlimited_35", "_xxsubinterpreters", "audioop", "ossaudiodev", "nis", "_crypt",
}  # fmt: skip
TRIPLETS = {62: "x86_64-linux-gnu", 183: "aarch64-linux-gnu"}  # ELF e_machine


# ---------------------------------------------------------------------------------------------- ELF
class Elf:
    """What the dynamic loader reads from an ELF file: machine, interpreter, NEEDED, RPATH/RUNPATH, segments."""

    def __init__(self, path: Path):
        data = path.read_bytes()
        if data[:4] != b"\x7fELF":
            raise ValueError(f"{path}: not an ELF file")
        self.bits = {1: 32, 2: 64}[data[4]]
        self.e = e = {1: "<", 2: ">"}[data[5]]
        self.data = data
        head = e + ("HHIQQQIHHHHHH" if self.bits == 64 else "HHIIIIIHHHHHH")
        (_, self.machine, _, _, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum, shstrndx) = (
            struct.unpack_from(head, data, 16)
        )
        self.segments = [self._phdr(phoff + i * phentsize) for i in range(phnum)]
        sections = [self._shdr(shoff + i * shentsize) for i in range(shnum)] if shoff else []
        self.section_names = []
        if sections and shstrndx < len(sections):
            self.section_names = [self._cstr(sections[shstrndx][1] + name) for name, _ in sections]
        self.interp = None
        self.needed: list[str] = []
        self.rpath: list[str] = []
        for p_type, p_offset, _, p_filesz, _ in self.segments:
            if p_type == 3:  # PT_INTERP
                self.interp = data[p_offset : p_offset + p_filesz].split(b"\0")[0].decode()
            elif p_type == 2:  # PT_DYNAMIC
                self._dynamic(p_offset, p_filesz)

    def _phdr(self, off: int) -> tuple[int, int, int, int, int]:
        if self.bits == 64:
            p_type, _, p_offset, p_vaddr, _, p_filesz, _, p_align = struct.unpack_from(
                self.e + "IIQQQQQQ", self.data, off
            )
        else:
            p_type, p_offset, p_vaddr, _, p_filesz, _, _, p_align = struct.unpack_from(
                self.e + "IIIIIIII", self.data, off
            )
        return p_type, p_offset, p_vaddr, p_filesz, p_align

    def _shdr(self, off: int) -> tuple[int, int]:
        fmt = self.e + ("IIQQQ" if self.bits == 64 else "IIIII")
        name, _, _, _, sh_offset = struct.unpack_from(fmt, self.data, off)
        return name, sh_offset

    def _cstr(self, off: int) -> str:
        return self.data[off : self.data.index(b"\0", off)].decode()

    def _offset(self, vaddr: int) -> int:
        for p_type, p_offset, p_vaddr, p_filesz, _ in self.segments:
            if p_type == 1 and p_vaddr <= vaddr < p_vaddr + p_filesz:  # PT_LOAD
                return vaddr - p_vaddr + p_offset
        raise ValueError(f"address {vaddr:#x} is in no loaded segment")

    def _dynamic(self, off: int, size: int) -> None:
        fmt, step = (self.e + "qQ", 16) if self.bits == 64 else (self.e + "iI", 8)
        entries = []
        for i in range(0, size, step):
            tag, val = struct.unpack_from(fmt, self.data, off + i)
            if tag == 0:  # DT_NULL
                break
            entries.append((tag, val))
        strtab = self._offset(next(v for t, v in entries if t == 5))  # DT_STRTAB
        for tag, val in entries:
            if tag == 1:  # DT_NEEDED
                self.needed.append(self._cstr(strtab + val))
            elif tag in (15, 29):  # DT_RPATH, DT_RUNPATH
                self.rpath += self._cstr(strtab + val).split(":")

    @property
    def has_symbols(self) -> bool:
        """A symbol table or debug information that `strip --strip-unneeded` would remove."""
        return any(n == ".symtab" or n.startswith(".debug_") for n in self.section_names)

    def alignments(self) -> list[int]:
        """Per loadable segment: the largest power of two (up to its p_align) by which its file offset and
        address agree, which is what the loader needs to map it on pages of that size."""
        out = []
        for p_type, p_offset, p_vaddr, _, p_align in self.segments:
            if p_type == 1:
                delta = (p_vaddr - p_offset) % max(p_align, 1)
                out.append(max(p_align, 1) if delta == 0 else delta & -delta)
        return out


def is_elf(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def elf_files(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.rglob("*")) if is_elf(p)]


# ---------------------------------------------------------------------------------------------- copying
class Root:
    """Copies paths of SYSROOT into OUT the way they are there: the symbolic links on the way too."""

    def __init__(self, sysroot: Path, out: Path):
        self.sysroot, self.out = sysroot, out

    def src(self, path: str) -> Path:
        return self.sysroot / path.lstrip("/")

    def dst(self, path: str) -> Path:
        return self.out / path.lstrip("/")

    def resolve(self, path: str, hops: int = 0) -> str | None:
        """PATH with every symbolic link followed inside SYSROOT, or None if it is not there."""
        return self._walk(path, hops, copy=False)

    def copy(self, path: str) -> str:
        """Make PATH exist in OUT as in SYSROOT: links as links (and their targets), files copied, folders
        made. Returns the resolved path."""
        found = self._walk(path, 0, copy=True)
        if found is None:
            raise FileNotFoundError(f"{path} is not in {self.sysroot}")
        return found

    def _walk(self, path: str, hops: int, copy: bool) -> str | None:
        if hops > 40:
            raise RuntimeError(f"symbolic link loop at {path}")
        parts = [p for p in path.split("/") if p]
        cur = ""
        for i, part in enumerate(parts):
            nxt = f"{cur}/{part}"
            src, dst = self.src(nxt), self.dst(nxt)
            if src.is_symlink():
                target = os.readlink(src)
                if copy and not dst.is_symlink():
                    if dst.exists():
                        raise RuntimeError(f"{nxt} is a link in the base but not in the image")
                    os.symlink(target, dst)
                base = target if target.startswith("/") else os.path.normpath(f"{cur or '/'}/{target}")
                return self._walk("/".join([base, *parts[i + 1 :]]), hops + 1, copy)
            if not src.exists():
                return None
            if copy and src.is_dir() and not dst.exists():
                dst.mkdir()
                os.chmod(dst, stat.S_IMODE(src.stat().st_mode))
            elif copy and not src.is_dir() and not dst.exists():
                shutil.copy2(src, dst)
            cur = nxt
        return cur or "/"


def _compile(source: Path, target: Path, name: str) -> None:
    """Bytecode of SOURCE written to TARGET (its tracebacks name NAME); sourceless-loadable."""
    target.parent.mkdir(parents=True, exist_ok=True)
    py_compile.compile(str(source), cfile=str(target), dfile=name, doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)  # fmt: skip


def _stdlib(root: Root, out: Path, prefix: str) -> None:
    """The standard library as lib/python311.zip (bytecode and data files) beside lib/python3.11 with
    lib-dynload and the landmark Python looks for to find its prefix (os.pyc)."""
    rel = root.resolve(f"{prefix}/lib/{PYTHON}")
    if rel is None:
        raise FileNotFoundError(f"no {prefix}/lib/{PYTHON} in {root.sysroot}")
    src = root.src(rel)
    dst = out / rel.lstrip("/")
    zip_path = dst.parent / f"python{PYTHON.removeprefix('python').replace('.', '')}.zip"
    dst.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:  # fmt: skip
        for path in sorted(src.rglob("*")):
            relpath = path.relative_to(src)
            top = relpath.parts[0]
            if top in STDLIB_DROP or top.startswith("config-") or "__pycache__" in relpath.parts:
                continue
            if top == "lib-dynload":
                if path.is_file() and path.name.split(".")[0] not in DYNLOAD_DROP:
                    (dst / relpath).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, dst / relpath)
                continue
            real = root.resolve(f"{rel}/{relpath}")  # links followed inside the base
            if real is None or root.src(real).is_dir():
                continue
            real = root.src(real)
            if path.suffix == ".py":
                pyc = Path(tmp) / relpath.with_suffix(".pyc")
                _compile(real, pyc, f"{rel}/{relpath}")
                z.write(pyc, str(relpath.with_suffix(".pyc")))
                if relpath == Path("os.py"):
                    shutil.copy2(pyc, dst / "os.pyc")  # the landmark (os itself is frozen into python)
            else:
                z.write(real, str(relpath))


def _same_python() -> None:
    if sys.version_info[:2] != tuple(int(x) for x in PYTHON.removeprefix("python").split(".")):
        sys.exit(f"the bytecode must be written by {PYTHON}, not Python {sys.version.split()[0]}")


def _ld_conf(root: Root, conf: str = "/etc/ld.so.conf", depth: int = 0) -> list[str]:
    """The library folders /etc/ld.so.conf names (with its `include` globs), in order."""
    real = root.resolve(conf)
    if real is None or depth > 8:
        return []
    dirs = []
    for line in root.src(real).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("include "):
            pattern = line.split(None, 1)[1]
            pattern = pattern if pattern.startswith("/") else f"{os.path.dirname(conf)}/{pattern}"
            for inc in sorted(root.sysroot.glob(pattern.lstrip("/"))):
                dirs += _ld_conf(root, "/" + str(inc.relative_to(root.sysroot)), depth + 1)
        elif line:
            dirs.append(line.rstrip("/"))
    return dirs


def assemble(sysroot: Path, out: Path, python: str | None = None) -> None:
    _same_python()
    root = Root(sysroot, out)
    python = python or next(
        (p for p in (f"/usr/local/bin/{PYTHON}", f"/usr/bin/{PYTHON}") if root.resolve(p)), None
    )
    if python is None or root.resolve(python) is None:
        sys.exit(f"no {PYTHON} in {sysroot}")
    for folder in ("usr/bin", "usr/lib", "etc"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    bindir = os.path.dirname(python)
    for path in (python, f"{bindir}/python3", "/bin/sh", "/etc/nsswitch.conf"):
        if root.resolve(path):
            root.copy(path)
    if not root.dst("/usr/bin/python3").exists() and not root.dst("/usr/bin/python3").is_symlink():
        os.symlink(python, root.dst("/usr/bin/python3"))  # the launcher's interpreter (docker/launcher.py)
    _stdlib(root, out, os.path.dirname(bindir))
    machine = Elf(root.src(root.resolve(python))).machine
    default = [f"/lib/{TRIPLETS[machine]}", f"/usr/lib/{TRIPLETS[machine]}", "/lib", "/usr/lib"]
    conf = [d for d in _ld_conf(root) if d not in default]

    done: set[Path] = set()
    missing, from_conf = [], []
    while todo := [p for p in elf_files(out) if p not in done]:
        for path in todo:
            done.add(path)
            elf = Elf(path)
            if elf.machine != machine:
                raise RuntimeError(f"{path}: machine {elf.machine}, not the interpreter's {machine}")
            if elf.interp:
                root.copy(elf.interp)
            here = "/" + str(path.parent.relative_to(out))
            own = [
                os.path.normpath(d.replace("${ORIGIN}", here).replace("$ORIGIN", here))
                for d in elf.rpath
                if d
            ]
            for name in elf.needed:
                if any((out / d.lstrip("/") / name).exists() for d in own):
                    continue  # the wheel's own (auditwheel's .libs folders), already under OUT
                found = next(
                    (f"{d}/{name}" for d in own + conf + default if root.resolve(f"{d}/{name}")), None
                )
                if found is None:
                    missing.append(f"{path.relative_to(out)}: {name}")
                    continue
                root.copy(found)
                if os.path.dirname(found) in conf and os.path.dirname(found) not in own:
                    from_conf.append(found)
    if missing:
        sys.exit("libraries not found in the base:\n  " + "\n  ".join(missing))
    if from_conf:  # found at run time through the loader's cache only
        root.copy("/etc/ld.so.cache")

    # Accounts: root and nobody as the base has them (with /bin/sh, the one shell here), and the image's user.
    for name, extra in (
        ("passwd", f"{USER}:x:{UID}:{UID}::/home/{USER}:/bin/sh"),
        ("group", f"{USER}:x:{UID}:"),
    ):
        base = root.src(f"/etc/{name}").read_text().splitlines() if root.resolve(f"/etc/{name}") else []
        keep = [line for line in base if line.split(":")[0] in ("root", "nobody", "nogroup")]
        if name == "passwd":
            keep = [":".join([*line.split(":")[:6], "/bin/sh" if line.startswith("root:") else line.split(":")[6]])
                    for line in keep]  # fmt: skip
        (out / "etc" / name).write_text("\n".join([*keep, extra]) + "\n")
    for folder, mode in (("tmp", 0o1777), ("root", 0o700)):
        (out / folder).mkdir(exist_ok=True)
        os.chmod(out / folder, mode)


# ---------------------------------------------------------------------------------------------- slimming
def strip(program: str, folder: Path) -> None:
    kept = []
    for path in elf_files(folder):
        elf = Elf(path)
        if not elf.has_symbols:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / path.name
            subprocess.run([program, "--strip-unneeded", "-o", str(out), str(path)], check=True)
            before, after = elf.alignments(), Elf(out).alignments()
            if len(before) == len(after) and all(a >= b for a, b in zip(after, before)):
                shutil.copymode(path, out)
                shutil.move(str(out), path)
            else:
                kept.append(str(path.relative_to(folder)))
    if kept:
        print("left unstripped (stripping would misalign their segments):", *kept, sep="\n  ")


def bytecode(folder: Path, image_path: str, keep: list[str]) -> None:
    _same_python()
    tag = sys.implementation.cache_tag
    for src in sorted(folder.rglob("*.py")):
        rel = src.relative_to(folder)
        if src.is_symlink() or not src.is_file():
            continue
        name = f"{image_path.rstrip('/')}/{rel}"  # the path tracebacks show
        if rel.parts[0] in keep:
            _compile(src, Path(importlib.util.cache_from_source(str(src))), name)
            continue
        try:
            _compile(src, src.with_suffix(".pyc"), name)
        except py_compile.PyCompileError:
            continue  # not Python 3 (a template, an example): left as it is
        src.unlink()
    for cache in sorted(folder.rglob("__pycache__"), reverse=True):
        if cache.relative_to(folder).parts[0] in keep:
            for stale in cache.glob("*.pyc"):
                if not stale.name.endswith(f".{tag}.pyc"):
                    stale.unlink()
        else:
            shutil.rmtree(cache)


def prune_libs(folder: Path) -> None:
    """auditwheel copies a library into <dist>.libs only because an ELF file of the wheel needs it: once
    modules are removed, the libraries only they needed are dead weight."""
    libs = {p.name: p for d in folder.glob("*.libs") for p in d.iterdir()}
    needed: set[str] = set()
    todo = [p for p in elf_files(folder) if p.parent.name not in {d.name for d in folder.glob("*.libs")}]
    while todo:
        for name in Elf(todo.pop()).needed:
            if name in libs and name not in needed:
                needed.add(name)
                todo.append(libs[name])
    for name in sorted(set(libs) - needed):
        print("unused:", libs[name].relative_to(folder))
        libs[name].unlink()


if __name__ == "__main__":
    cmd, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if cmd == "assemble" and len(args) in (2, 3):
        assemble(Path(args[0]), Path(args[1]), *args[2:])
    elif cmd == "strip" and len(args) == 2:
        strip(args[0], Path(args[1]))
    elif cmd == "bytecode" and len(args) >= 2:
        bytecode(Path(args[0]), args[1], args[2:])
    elif cmd == "prune-libs" and len(args) == 1:
        prune_libs(Path(args[0]))
    else:
        sys.exit(__doc__)
