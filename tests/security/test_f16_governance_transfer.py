# ruff: noqa: F811  (fixtures imported from the harness)
"""F-16 (low): governance moved in one step, to any address (zero included).

The attack surface: one mistyped or zero address in ``set_role("governance", ...)`` handed the
protocol to nobody, for good (no pause, no roles, no margins ever again). The fix: a
propose/accept transfer (the holder governs until the successor accepts; a wrong proposal is
replaced) and a zero-address check on chain (the model's records refuse the zero address
before anything runs). Model and contracts (titanoboa) side by side.
"""

from __future__ import annotations

import boa
import pytest
from security_harness import ATTACKER, GOV, Differential, deployment, diff  # noqa: F401  (fixtures)

from protocol.actions import AcceptGovernance, SetPaused, SetRole
from protocol.errors import InvalidParameter
from protocol.events import GovernanceProposed, RoleSet
from protocol.scenarios import ACTORS

SUCCESSOR = ACTORS["trader_short"]
TYPO = "0x" + "de" * 20  # nobody holds its key


def test_a_mistyped_successor_never_takes_over(diff: Differential) -> None:
    assert diff.apply(SetRole(GOV, "governance", TYPO, True)) == [GovernanceProposed(TYPO)]
    assert diff.model.state.roles.governance == GOV  # before the fix: TYPO, and governance was lost
    diff.apply(SetPaused(GOV, True))  # the holder still governs
    assert diff.apply(AcceptGovernance(ATTACKER)) == "roles: caller is not the proposed governance"
    diff.apply(SetRole(GOV, "governance", SUCCESSOR, True))  # the proposal is corrected
    assert diff.apply(AcceptGovernance(TYPO)) == "roles: caller is not the proposed governance"
    assert diff.apply(AcceptGovernance(SUCCESSOR)) == [RoleSet("governance", SUCCESSOR, True)]
    assert diff.apply(SetPaused(GOV, False)) == "roles: caller is not governance"
    diff.apply(SetPaused(SUCCESSOR, False))


def test_the_zero_address_is_refused(diff: Differential) -> None:
    zero = "0x" + "00" * 20
    with pytest.raises(InvalidParameter, match=r"^SetRole\.account must not be the zero address$"):
        SetRole(GOV, "governance", zero, True)
    for role in ("governance", "matcher", "oracle", "funding"):
        with boa.env.prank(GOV), boa.reverts("roles: zero address"):
            diff.core.set_role(role, zero, True)
    assert str(diff.core.governance()).lower() == GOV
