"""MkDocs hooks (mkdocs.yml `hooks:`): pages made from the code and the repository at build time, so they
cannot drift from it.

- ``architecture.md`` is the repository's ``ARCHITECTURE.md``, copied in at build time (it stays at the root).
- ``<!-- edgeyolo:cli -->`` in a page is replaced by every command's ``--help``, rendered by Click itself.
"""

from __future__ import annotations

from pathlib import Path

import click
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
CLI_MARKER = "<!-- edgeyolo:cli -->"


def on_files(files, config):
    files.append(File.generated(config, "architecture.md", content=(ROOT / "ARCHITECTURE.md").read_text()))
    return files


def _commands(cmd: click.Command, path: list[str]):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(click.Context(cmd)):
            yield from _commands(cmd.get_command(click.Context(cmd), name), [*path, name])


def cli_reference() -> str:
    """Markdown with one section per command (groups and their subcommands), each its exact ``--help``."""
    from edgeyolo.cli import main

    out = []
    for path, cmd in _commands(main, ["edgeyolo"]):
        name = " ".join(path)
        with click.Context(cmd, info_name=name, terminal_width=100, max_content_width=100) as ctx:
            text = cmd.get_help(ctx)
        level = "#" * min(len(path) + 1, 4)
        out.append(f"{level} `{name}`\n\n```text\n{text}\n```\n")
    return "\n".join(out)


def on_page_markdown(markdown, page, config, files):
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    return markdown
