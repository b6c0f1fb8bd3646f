"""The ``edgeyolo`` command line: the Click group, ``--version``, and user mistakes as one line with exit code 1.

Each command lives in its own module in :mod:`edgeyolo.commands` and is registered here. Commands import the
API inside their function, so ``edgeyolo --help`` and ``--version`` stay instant and torch-free.
"""

from __future__ import annotations

from importlib import import_module

import click

from edgeyolo._version import __version__
from edgeyolo.errors import EdgeYoloError


class _Group(click.Group):
    """Turns user mistakes (EdgeYoloError) into one clear line and exit code 1, without a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgeYoloError as e:
            raise click.ClickException(str(e)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="edgeyolo")
def main() -> None:
    """Take a YOLO dataset to the best YOLO26 detector an edge device can run.

    \b
    Quick start (demo dataset, x86 CPU profile):
      edgeyolo run --profile x86-cpu --out demo
    """


# One module per command in edgeyolo/commands/, each defining ``command``.
COMMANDS = ("bench", "compare", "data", "device", "diagnose", "export", "predict", "profiles", "report", "run",
            "select", "train", "tune")  # fmt: skip

for _name in COMMANDS:
    main.add_command(import_module(f"edgeyolo.commands.{_name}").command)
