"""Shared pieces of the trading-side attack tests (F-01, F-04, F-06, F-07, F-08, F-10, F-13, F-16,
F-17, F-19, F-20): the model-vs-contract harness of ``tests/chain`` and the scenario's actors.

:class:`Differential` (``tests/chain/test_protocol_harness.py``) applies every action to the
reference model and to the contracts on titanoboa and asserts the same events, the same revert
reason and the same state to the wei after each one, so an attack written against it runs on
both executions at once. Test modules import the ``deployment`` / ``diff`` fixtures from here
(``deployment_adl`` / ``diff_adl``: the same with the ADL socialized-loss method).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chain"))

from test_protocol_harness import (
    BOA_ACTORS,
    USDC,
    Differential,
    prices,
    revert_reason,
)

from protocol.params import SocializedLossMethod
from protocol.scenarios import ACTORS

__all__ = [
    "ATTACKER",
    "BOA_ACTORS",
    "COLLUDER",
    "GOV",
    "KEEPER",
    "MAKER",
    "MATCHER",
    "ORACLE",
    "USDC",
    "VICTIM",
    "Differential",
    "deployment",
    "deployment_adl",
    "diff",
    "diff_adl",
    "prices",
    "revert_reason",
]

GOV, MATCHER, ORACLE = ACTORS["governance"], ACTORS["matcher"], ACTORS["oracle"]
KEEPER, MAKER = ACTORS["keeper"], ACTORS["market_maker"]
#: The account that attacks, the one it colludes with, and an honest trader it preys on.
ATTACKER, COLLUDER, VICTIM = ACTORS["trader_leveraged"], ACTORS["trader_short"], ACTORS["trader_conservative"]


@pytest.fixture(scope="module")
def deployment() -> Differential:
    """One default-parameter deployment on titanoboa per test module (import it with ``diff``)."""
    return Differential()


@pytest.fixture
def diff(deployment: Differential) -> Differential:
    """The module's deployment with a fresh model (titanoboa's plugin isolates each test)."""
    deployment.reset()
    return deployment


@pytest.fixture(scope="module")
def deployment_adl() -> Differential:
    """One deployment with the ADL socialized-loss method per test module (use ``diff_adl``)."""
    return Differential(socialized_loss_method=SocializedLossMethod.ADL)


@pytest.fixture
def diff_adl(deployment_adl: Differential) -> Differential:
    """The module's ADL deployment with a fresh model."""
    deployment_adl.reset()
    return deployment_adl
