"""The `cyberclaim` command. Each module in this package defines `register(app)`
for its own commands; they are found here, so adding a command area is adding
a file."""
from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="cyberclaim: evidence to timeline to coverage and loss.")

for _m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _m.name.startswith("_"):
        _mod = importlib.import_module(f"{__name__}.{_m.name}")
        if hasattr(_mod, "register"):
            _mod.register(app)


def main() -> None:
    from app.cli._errors import run_cli

    sys.exit(run_cli(app))
