"""Click commands that live in their own module (one ``command`` object each), added to ``edgeyolo.cli.main``.

Each module imports only click at import time; its heavy imports happen inside the command.
"""

from __future__ import annotations

import importlib
import pkgutil

import click


def commands() -> list[click.Command]:
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.append(module.command)
    return found
