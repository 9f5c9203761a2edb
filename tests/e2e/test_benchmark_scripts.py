"""Every script in ``benchmarks/`` starts as a user runs it (``python benchmarks/X.py --help``):
its imports resolve from the script's own folder (a script named after one of our packages would
shadow it) and its options parse. The measurements themselves are not run in CI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[2] / "benchmarks").glob("*.py"))
PACKAGES = {"novation", "methodology", "simulator", "contracts_py", "oracles", "protocol"}


def test_no_benchmark_is_named_after_a_package() -> None:
    assert BENCHMARKS
    assert not {p.stem for p in BENCHMARKS} & PACKAGES


@pytest.mark.parametrize("script", BENCHMARKS, ids=[p.name for p in BENCHMARKS])
def test_benchmark_script_starts(script: Path) -> None:
    run = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert "usage:" in run.stdout
