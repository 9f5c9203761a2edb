"""The pinned anvil node that `make test` installs is on PATH (chain tests depend on it)."""

from __future__ import annotations

import re
import shutil
import subprocess

ANVIL_VERSION = "1.7.1"  # keep in step with ANVIL_VERSION in the Makefile


def test_pinned_anvil_is_on_path() -> None:
    anvil = shutil.which("anvil")
    assert anvil is not None, "anvil is not on PATH: run `make anvil` (npm package @foundry-rs/anvil)"
    out = subprocess.run([anvil, "--version"], capture_output=True, text=True, check=True, timeout=30).stdout
    assert re.search(rf"\b{re.escape(ANVIL_VERSION)}\b", out), out
