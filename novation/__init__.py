"""Novation's face: the command line (``novation``, ``python -m novation``) and the demo.

The layers below, top to bottom: :mod:`simulator` (applications for designers), :mod:`contracts_py`
(the Vyper contracts on local chains), :mod:`oracles` (the world's prices) and :mod:`protocol`
(the specification). Imports run one way, top to bottom; ``import-linter`` enforces it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__: str = version("novation")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
