# ruff: noqa: F811  (fixtures imported from the harness)
"""F-19 (low): the collateral deposit cap was global, so one account could fill it and block
every other account's top-ups (a margin call nobody could answer with that collateral).

The fix (``docs/SPEC.md`` §5): each collateral has a per-account cap, ``account_deposit_cap``
(token units, at most ``deposit_cap``), so it takes ``deposit_cap / account_deposit_cap``
accounts (ten with the defaults) to fill the global one. Model and contracts (titanoboa) side by
side.
"""

from __future__ import annotations

from security_harness import ATTACKER, VICTIM, Differential, deployment, diff  # noqa: F401  (fixtures)

from protocol.actions import Deposit
from protocol.scenarios import WETH, default_params

CP = default_params().collateral(WETH)


def test_one_account_cannot_fill_the_global_cap(diff: Differential) -> None:
    assert CP.deposit_cap == 10 * CP.account_deposit_cap
    # before the fix: accepted, and the victim's top-up below reverted "vault: deposit cap"
    assert diff.apply(Deposit(ATTACKER, WETH, CP.deposit_cap)) == "vault: account deposit cap"
    assert diff.apply(Deposit(ATTACKER, WETH, CP.account_deposit_cap + 1)) == "vault: account deposit cap"
    diff.apply(Deposit(ATTACKER, WETH, CP.account_deposit_cap))
    assert diff.apply(Deposit(ATTACKER, WETH, 1)) == "vault: account deposit cap"
    diff.apply(Deposit(VICTIM, WETH, CP.account_deposit_cap))
    assert diff.model.state.vault_tokens[WETH] == 2 * CP.account_deposit_cap
