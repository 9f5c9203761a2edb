"""Shared test configuration: hypothesis profiles and the path to the shared market data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
# `make mutation`: each contract mutant runs the campaigns on a small, derandomized profile, no
# shrinking (a failure is all the verdict needs)
settings.register_profile(
    "mutation",
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("deep", max_examples=5_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

MARKET_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "market_data"


@pytest.fixture(scope="session")
def market_data() -> Path:
    """The shared crash-window data beside the checkout; fails loudly if it is missing."""
    if not MARKET_DATA.is_dir():
        pytest.fail(f"shared market data not found at {MARKET_DATA}: check out the project beside ../shared")
    return MARKET_DATA
