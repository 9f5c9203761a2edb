"""Clear the outputs, execution counts and run metadata of notebooks before committing them.

CI (``tests/e2e/test_notebooks.py``) checks that committed notebooks hold none, so diffs show only
what changed in the cells. Usage::

    .venv/bin/python notebooks/clear_outputs.py              # every notebook in this folder
    .venv/bin/python notebooks/clear_outputs.py FILE.ipynb   # the given ones
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat


def clear(path: Path) -> bool:
    """Clear ``path`` in place; True if it changed."""
    nb = nbformat.read(path, as_version=4)
    changed = nb.metadata.pop("widgets", None) is not None
    language = nb.metadata.get("language_info", {})
    if set(language) - {"name"}:  # the kernel fills in its version, lexer, ...: machine-specific noise
        nb.metadata.language_info = {"name": language.get("name", "python")}
        changed = True
    for cell in nb.cells:
        if cell.metadata.pop("execution", None) is not None:
            changed = True
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            cell.outputs, cell.execution_count = [], None
            changed = True
    if changed:
        nbformat.write(nb, path)
    return changed


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(Path(__file__).resolve().parent.glob("*.ipynb"))
    for path in paths:
        if clear(path):
            print(f"cleared {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
