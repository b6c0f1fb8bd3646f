"""Every `edgeyolo ...` command shown in the README and in the manual (docs/**/*.md) names a real command and
real options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from edgeyolo.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOC_PAGES = sorted((ROOT / "docs").rglob("*.md"))


def readme_commands(text: str) -> list[str]:
    """The `edgeyolo ...` lines of the README's shell blocks, continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```(?:bash|sh|console)?\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s#.*$", "", line).strip().removeprefix("$ ")
            if line.startswith("edgeyolo ") or line == "edgeyolo":
                commands.append(line)
    return commands


def check_command(line: str) -> None:
    """Raise AssertionError naming the unknown command, option or option value of one README line."""
    # "[--threads 4]" shows an optional part: it must parse too.
    tokens = shlex.split(line.replace("[", " ").replace("]", " ").replace("|", " "))[1:]
    cmd: click.Command = main
    path = ["edgeyolo"]
    while isinstance(cmd, click.Group) and tokens and not tokens[0].startswith("-"):
        sub = cmd.get_command(click.Context(cmd), tokens[0])
        assert sub is not None, f"{line!r}: '{' '.join(path)}' has no command '{tokens[0]}'"
        cmd, path = sub, [*path, tokens.pop(0)]
    options = {o: p for p in cmd.params if isinstance(p, click.Option) for o in (*p.opts, *p.secondary_opts)}
    ctx = click.Context(cmd)
    while tokens:
        tok = tokens.pop(0)
        if not tok.startswith("-") or tok in ("-h", "--help"):
            continue
        name, eq, value = tok.partition("=")
        assert name in options, f"{line!r}: '{' '.join(path)}' has no option {name}"
        param = options[name]
        if param.is_flag or param.count:
            continue
        if not eq:
            assert tokens, f"{line!r}: {name} needs a value"
            value = tokens.pop(0)
        if "<" in value or "..." in value:  # a placeholder, not a literal value
            continue
        if isinstance(param.type, click.Choice | click.types.IntParamType | click.types.FloatParamType):
            param.type.convert(value, param, ctx)  # raises BadParameter on a value the option refuses


def test_the_readme_shows_edgeyolo_commands():
    commands = readme_commands(README.read_text())
    # One example per task of the workflow (the manual has the rest).
    tasks = {
        "profiles",
        "data",
        "train",
        "export",
        "predict",
        "bench",
        "select",
        "report",
        "compare",
        "diagnose",
    }
    assert tasks | {"tune", "run", "device"} <= {c.split()[1] for c in commands}, commands


@pytest.mark.parametrize("line", readme_commands(README.read_text()))
def test_readme_command_parses(line):
    check_command(line)


def doc_commands() -> list[tuple[str, str]]:
    return [(p.relative_to(ROOT).as_posix(), c) for p in DOC_PAGES for c in readme_commands(p.read_text())]


def test_the_manual_shows_edgeyolo_commands():
    pages = {page for page, _ in doc_commands()}
    assert len(DOC_PAGES) > 15 and len(pages) > 10, pages
    assert {"data", "device", "diagnose", "tune", "compare", "predict"} <= {
        c.split()[1] for _, c in doc_commands()
    }


@pytest.mark.parametrize(("page", "line"), doc_commands())
def test_docs_command_parses(page, line):
    check_command(line)


def test_the_readme_leads_to_a_raspberry_pi_benchmark():
    """Quick start first, the README short, and a Pi benchmark over SSH within its first screen (~50 lines)."""
    text = README.read_text()
    lines = text.splitlines()
    assert len(lines) <= 150, len(lines)
    assert lines[:7] == ["# edgeyolo", "", "## Quick start", "", "```bash",
                         "make demo   # creates .venv, installs, runs the whole pipeline on the built-in demo dataset",
                         "make test   # creates .venv, installs, runs the test suite"]  # fmt: skip
    first_screen = "\n".join(lines[:50]).replace("\\\n", " ")
    assert "edgeyolo bench --profile rpi5" in first_screen and "--host" in first_screen
    assert "docs/guides/raspberry-pi.md" in first_screen
    for link in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if not link.startswith(("http://", "https://")):
            assert (ROOT / link).exists(), f"README links to {link}, which does not exist"


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("edgeyolo trian --profile x86-cpu", "has no command 'trian'"),
        ("edgeyolo train --profile x86-cpu --epoch 5", "has no option --epoch"),
        ("edgeyolo train --progloss sometimes", "sometimes"),
        ("edgeyolo bench a [--iterations many]", "many"),
    ],
)
def test_the_check_catches_a_wrong_command(line, needle):
    with pytest.raises((AssertionError, click.BadParameter), match=needle):
        check_command(line)


def test_data_group_help_says_it_checks_datasets(runner):
    r = runner.invoke(main, ["--help"])
    (line,) = [x for x in r.output.splitlines() if x.strip().startswith("data ")]
    assert "Check" in line and "demo" in line


def test_a_skip_for_a_missing_system_package_fails_the_run(tmp_path):
    """`make test` on a machine without sshd must not look like a pass (conftest turns such skips into exit 1)."""
    import os
    import shutil
    import subprocess
    import sys

    shutil.copyfile(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_x.py").write_text(
        "import pytest\n\ndef test_remote():\n    pytest.skip('OpenSSH server not installed')\n\n"
        "def test_other():\n    pass\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not the project's settings
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    p = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 1 and "skipped for a missing system package" in p.stdout, p.stdout[-2000:]
    env = {**os.environ, "EDGEYOLO_ALLOW_MISSING": "1"}
    allowed = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert allowed.returncode == 0, allowed.stdout[-2000:]
