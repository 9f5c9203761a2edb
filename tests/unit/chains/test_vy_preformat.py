"""scripts/vy_preformat.py (``make format-vy`` before mamushi): split ``initializes:``
declarations joined, decorators in natrix's order, everything else untouched."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_SPEC = importlib.util.spec_from_file_location(
    "vy_preformat", Path(__file__).resolve().parents[3] / "scripts" / "vy_preformat.py"
)
assert _SPEC is not None
assert _SPEC.loader is not None
vy_preformat = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(vy_preformat)

SOURCE = """initializes: state
initializes: clearing[
    state := state,
    margin := margin,
]
exports: (
    state.paused,
)


@view
@external
@nonreentrant
def f() -> bool:
    return state.paused
"""


def test_preformat_joins_declarations_and_orders_decorators() -> None:
    out = vy_preformat.preformat(SOURCE)
    assert out == SOURCE.replace(
        "initializes: clearing[\n    state := state,\n    margin := margin,\n]",
        "initializes: clearing[state := state, margin := margin]",
    ).replace("@view\n@external\n", "@external\n@view\n")
    assert vy_preformat.preformat(out) == out
