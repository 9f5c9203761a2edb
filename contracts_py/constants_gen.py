"""Render the Vyper constants module from :mod:`protocol.constants`.

The model and the contracts share one source of numbers: ``protocol/constants.py``. This module
turns every public integer and string constant there into a Vyper ``constant(...)`` declaration in
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


def values() -> dict[str, int | str]:
    """Every public integer and string constant of :mod:`protocol.constants`, in declaration order."""
    out: dict[str, int | str] = {}
    for name, value in vars(_constants).items():
        if name.isupper() and not name.startswith("_") and isinstance(value, int | str) and not isinstance(value, bool):
            out[name] = value
    return out


def _declaration(name: str, value: int | str) -> str:
    if isinstance(value, str):
        if not value.isascii() or '"' in value or "\\" in value:
            raise ValueError(f"constant {name} = {value!r}: only plain ASCII strings are rendered")
        return f'{name}: constant(String[{len(value)}]) = "{value}"'
    kind = "int256" if value < 0 or name.startswith("INT256") else "uint256"
    return f"{name}: constant({kind}) = {value}"


def render() -> str:
    """The full text of ``constants.vy``."""
    return "\n".join([_HEADER, *(_declaration(name, value) for name, value in values().items())]) + "\n"


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
