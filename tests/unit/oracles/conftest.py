"""Fixtures for the oracle unit tests (``market_data`` comes from ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def chainlink_dir(market_data: Path) -> Path:
    """Folder of the Chainlink round histories; fails (never skips) when it is missing."""
    folder = market_data / "chainlink"
    if not folder.is_dir():
        pytest.fail(f"Chainlink round histories not found at {folder}: is ../shared complete?")
    return folder
