"""The ``novation`` command line: one Typer app, one module per group of commands.

* :mod:`novation.cli.protocol` — ``demo``, ``check-params``, ``replay`` (the reference model);
* :mod:`novation.cli.oracle` — ``oracle history``, ``oracle check`` (price feeds);
* :mod:`novation.cli.simulate` — ``simulate``, ``simulate-on-chain``, ``sweep``, ``stress``;
* :mod:`novation.cli.audit` — ``audit`` (invariant campaigns, shrunk reproducers);
* :mod:`novation.cli.calibrate` — ``calibrate`` (margin methodology);
* :mod:`novation.cli.chain` — ``deploy``, ``state``, ``events``, ``at-risk``, ``index`` (a live deployment);
* :mod:`novation.cli.operate` — ``keeper``, ``monitor`` (operate a deployment).

Every command validates its input before it works and answers bad input with one sentence on
stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

from typing import Annotated

import typer

from novation import __version__
from novation.cli import audit, calibrate, chain, operate, oracle, protocol, simulate
from novation.cli._common import app

__all__ = ["app", "main"]

_COMMAND_MODULES = (audit, calibrate, chain, operate, oracle, protocol, simulate)  # imported for their commands


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"novation {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit"),
    ] = False,
) -> None:
    """Novation: decentralized clearing of crypto derivatives."""


def main() -> None:
    """Entry point of ``novation`` and ``python -m novation``."""
    app(prog_name="novation")
