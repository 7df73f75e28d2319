"""What every command shares: stderr/stdout consoles, exit codes, and loading a stack file or failing cleanly."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from mlinfra.stacks.config import StackConfig

EXIT_OK = 0
EXIT_FAILED = 1  # the check ran and found a problem (policy violation, failed deployment)
EXIT_BAD_INPUT = 2  # the input could not be used (config, file, arguments)


def err(message: str) -> None:
    """Print a message to stderr, without markup interpretation."""
    typer.echo(message, err=True)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print ``error: message`` to stderr and exit with ``code``."""
    err(f"error: {message}")
    raise typer.Exit(code)


def load_or_exit(path: Path, *, require_buildable: bool = False) -> StackConfig:
    """Load and validate a stack file; print every located issue and exit 2 on failure."""
    from mlinfra.stacks.loader import ConfigError, load
    from mlinfra.stacks.program import unbuildable_reason

    try:
        config = load(path)
    except ConfigError as error:
        for issue in error.issues:
            err(f"error: {issue}")
        noun = "problem" if len(error.issues) == 1 else "problems"
        err(f"{path}: {len(error.issues)} {noun}; nothing was planned or deployed")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if require_buildable:
        reason = unbuildable_reason(config)
        if reason:
            fail(f"{path}: target.cloud: {reason}")
    return config


def write_output(text: str, destination: str) -> None:
    """Write ``text`` to a file, or to stdout when ``destination`` is '-'."""
    if destination == "-":
        sys.stdout.write(text)
        return
    target = Path(destination)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{destination}: cannot write: {exc.strerror or exc}")
