"""Render the Vyper constants module from :mod:`protocol.constants`.

The model and the contracts share one source of numbers: ``protocol/constants.py``. This module
turns every public integer constant there into a Vyper ``constant(...)`` declaration in
``contracts_py/contracts/constants.vy`` so that no number is typed twice. The contract build and
the tests call :func:`ensure_current`; ``python -m contracts_py.constants_gen`` rewrites the file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from protocol import constants as _constants

__all__ = ["CONSTANTS_PATH", "ensure_current", "render", "values"]

CONSTANTS_PATH = Path(__file__).resolve().parent / "contracts" / "constants.vy"

_HEADER = '''# pragma version ~=0.4.3
"""
@title constants
@notice Protocol constants, GENERATED from protocol/constants.py by contracts_py/constants_gen.py.
        Do not edit: change protocol/constants.py and run `python -m contracts_py.constants_gen`.
"""
'''


def values() -> dict[str, int]:
    """Every public integer constant of :mod:`protocol.constants`, in declaration order."""
    out: dict[str, int] = {}
    for name, value in vars(_constants).items():
        if name.isupper() and not name.startswith("_") and isinstance(value, int) and not isinstance(value, bool):
            out[name] = value
    return out


def _vyper_type(name: str, value: int) -> str:
    if value < 0 or name.startswith("INT256"):
        return "int256"
    return "uint256"


def render() -> str:
    """The full text of ``constants.vy``."""
    lines = [_HEADER]
    for name, value in values().items():
        lines.append(f"{name}: constant({_vyper_type(name, value)}) = {value}")
    return "\n".join(lines) + "\n"


def ensure_current(path: Path = CONSTANTS_PATH) -> bool:
    """Rewrite ``path`` if it differs from :func:`render`; return True if it was rewritten."""
    text = render()
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    tmp = path.with_suffix(".vy.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return True


if __name__ == "__main__":  # pragma: no cover - command-line entry
    changed = ensure_current()
    sys.stdout.write(f"{CONSTANTS_PATH} {'rewritten' if changed else 'up to date'}\n")
