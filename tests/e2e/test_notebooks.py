"""The notebooks of ``notebooks/`` run top to bottom on the project's interpreter, as a user runs them.

Each notebook is its own test: it is copied into a temporary folder, which is also the kernel's
working directory, and executed there with nbclient on the ``python3`` kernel — the kernelspec
ipykernel installs into the venv, whose ``python`` jupyter_client resolves to ``sys.executable``
(checked below, both in the launch command and inside a running kernel). Nothing is written
back: the repository keeps its notebooks without outputs, and the committed files are checked
for that too. Every notebook asserts what it shows, so a cell that raises fails its test with the
cell's source and error.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbformat import NotebookNode

from simulator.market_data import market_data_dir

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL_NAME = "python3"
#: Seconds one cell may run; generous because a fresh clone compiles the contracts and numba kernels once.
CELL_TIMEOUT_S = 300
KERNEL_STARTUP_TIMEOUT_S = 120
#: Notebooks whose replay of the shared market data must run (not print its skip message) in CI.
NEEDS_MARKET_DATA = {"04_stress_study.ipynb": "crash replay skipped"}
CLEAR_COMMAND = ".venv/bin/python notebooks/clear_outputs.py"
#: Terminal colour codes in kernel tracebacks.
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def kernel_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder for the kernel, and an environment it inherits that does not depend on the
    user's home: no IPython profile or startup scripts, runtime files in ``tmp_path``, and the venv's
    kernelspecs before any user-wide ``python3`` kernelspec."""
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter-runtime"))
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "1")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # debugpy's frozen-modules warning
    monkeypatch.delenv("MPLBACKEND", raising=False)  # figures render inline, as in a notebook
    work = tmp_path / "work"
    work.mkdir()
    return work


def execute(nb: NotebookNode, cwd: Path) -> NotebookNode:
    """Run every cell of ``nb`` in a fresh ``python3`` kernel started in ``cwd``; outputs go into ``nb``.

    Raises CellExecutionError (with the cell's source and traceback) when a cell raises.
    """
    client = NotebookClient(
        nb,
        kernel_name=KERNEL_NAME,
        timeout=CELL_TIMEOUT_S,
        startup_timeout=KERNEL_STARTUP_TIMEOUT_S,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()
    return nb


def stream_text(nb: NotebookNode) -> str:
    """Everything the code cells printed."""
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "stream"
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, kernel_dir: Path) -> None:
    if path.name in NEEDS_MARKET_DATA and market_data_dir() is None:  # fail, never skip, without the data
        pytest.fail(f"{path.name} replays the shared market data, which is missing: see tests/README.md")
    before = digest(path)
    copy = kernel_dir / path.name
    shutil.copyfile(path, copy)
    nb = nbformat.read(copy, as_version=4)
    try:
        execute(nb, kernel_dir)
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        pytest.fail(f"{path.name} failed:\n{ANSI.sub('', str(exc))}", pytrace=False)
    skipped = NEEDS_MARKET_DATA.get(path.name)
    if skipped is not None:
        assert skipped not in stream_text(nb), f"{path.name} skipped its market-data replay: {stream_text(nb)}"
    assert digest(path) == before, f"running {path.name} changed the committed file"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if "execution" in cell.metadata
        or (cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None))
    ]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs or execution counts; run `{CLEAR_COMMAND}`"
    assert "widgets" not in nb.metadata, f"{path.name} holds widget state; run `{CLEAR_COMMAND}`"
    assert set(nb.metadata.get("language_info", {})) <= {"name"}, f"{path.name}: run `{CLEAR_COMMAND}`"
    assert nb.metadata.kernelspec.name == KERNEL_NAME


def test_every_notebook_is_described() -> None:
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"
    readme = (NOTEBOOK_DIR / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in NOTEBOOKS if p.name not in readme]
    assert not missing, f"notebooks/README.md does not describe {missing}"


def test_kernel_is_this_interpreter(kernel_dir: Path) -> None:
    """The ``python3`` kernel launches, and runs, the interpreter running the tests (the venv's)."""
    assert KernelManager(kernel_name=KERNEL_NAME).format_kernel_cmd()[0] == sys.executable
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys\nprint(sys.executable, end='')")])
    assert stream_text(execute(nb, kernel_dir)) == sys.executable


def test_a_failing_cell_fails_the_run(kernel_dir: Path) -> None:
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("x = 2"), nbformat.v4.new_code_cell("assert x + 2 == 5, 'wrong numbers'")]
    )
    with pytest.raises(CellExecutionError, match="wrong numbers"):
        execute(nb, kernel_dir)
