"""Shared pieces of the command line: the app, one-sentence errors, atomic writes, times."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from protocol.errors import NovationError

__all__ = ["app", "fail", "oracle_app", "utc", "write_atomic"]

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Novation: decentralized clearing of crypto derivatives — the exact model, the contracts on local "
    "chains, stress studies and tools for designers, auditors and integrators.",
)
oracle_app = typer.Typer(no_args_is_help=True, help="Price-feed tools: history analysis and live checks.")
app.add_typer(oracle_app, name="oracle")


def fail(exc: NovationError) -> NoReturn:
    """Print one unwrapped error line on stderr and exit with code 2."""
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {exc}", highlight=False)
    raise typer.Exit(code=2)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def utc(ts: int) -> str:
    """``YYYY-MM-DD HH:MM`` of a Unix time, UTC."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M")
