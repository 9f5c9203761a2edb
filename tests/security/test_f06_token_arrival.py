"""F-06 (medium): deposits and ``fund_insurance`` credited the requested amount, not what arrived.

With a fee-on-transfer token the vault received less than it credited, so the books ran above
the holdings and the last to withdraw found the vault short; a rebasing token drifts the holdings
away from the books without any transfer. The fix (``docs/SPEC.md`` §5): the vault measures its
token balance around every inbound transfer and refuses one that delivers anything but the amount
(``vault: received amount differs``) or leaves its holdings below its books (``vault: holdings
below books``, a negative rebase). The reference model's tokens are ideal (they deliver what is
sent), so this is a property of the token boundary: the contracts are tested with the two mock
tokens of ``contracts/testing/`` on titanoboa, and the model-vs-contract harness checks the
vault's token balance against the model's books after every action of every other test.
"""

from __future__ import annotations

from typing import Any

import boa
import pytest
from security_harness import ATTACKER, GOV, MATCHER, ORACLE, USDC, VICTIM

from contracts_py.deploy import CONTRACTS_DIR, deploy_boa
from protocol.constants import WAD
from protocol.scenarios import WETH, default_params


def _token(name: str, *args: Any) -> Any:
    return boa.load_partial(str(CONTRACTS_DIR / "testing" / f"{name}.vy")).deploy(*args)


def _fund(token: Any, core: Any, *holders: str, amount: int = 10_000 * USDC) -> None:
    for who in holders:
        token.mint(who, amount)
        with boa.env.prank(who):
            token.approve(core.address, 2**256 - 1)


@pytest.fixture
def fee_settlement() -> tuple[Any, Any]:
    """The protocol with a settlement token that burns 1 % of every transfer."""
    token = _token("erc20_fee_on_transfer", 6, 100)
    system = deploy_boa(default_params(), GOV, matchers=[MATCHER], oracles=[ORACLE], settlement_token=token)
    _fund(token, system.core, VICTIM, ATTACKER)
    return token, system.core


def test_fee_on_transfer_deposit_is_refused(fee_settlement: tuple[Any, Any]) -> None:
    """Before: the victim and the attacker each deposit 1,000 and are credited 1,000 while 990
    arrive; the attacker withdraws 1,000 and the victim can take out only 980 of its 1,000."""
    token, core = fee_settlement
    for who in (VICTIM, ATTACKER):
        with boa.env.prank(who), boa.reverts("vault: received amount differs"):
            core.deposit(0, 1_000 * USDC)
    with boa.env.prank(ATTACKER), boa.reverts("vault: received amount differs"):
        core.fund_insurance(1_000 * USDC)
    assert (core.balances(VICTIM), core.balances(ATTACKER), core.insurance_fund()) == (0, 0, 0)
    assert core.vault_tokens(0) == token.balanceOf(core.address) == 0


def test_fee_on_transfer_collateral_is_refused() -> None:
    token = _token("erc20_fee_on_transfer", 18, 100)
    system = deploy_boa(default_params(), GOV, matchers=[MATCHER], oracles=[ORACLE], collateral_tokens={WETH: token})
    _fund(token, system.core, VICTIM, amount=WAD)
    with boa.env.prank(VICTIM), boa.reverts("vault: received amount differs"):
        system.core.deposit(WETH, WAD)
    assert system.core.collateral(VICTIM, WETH) == 0


def test_rebasing_token_below_its_books_takes_no_new_deposits() -> None:
    """A deposit credits exactly what arrives, whatever the index; once a negative rebase has
    put the holdings below the books, no new deposit is taken (before: it was, and paid out the
    earlier depositors' shortfall)."""
    token = _token("erc20_rebasing", 6)
    system = deploy_boa(default_params(), GOV, matchers=[MATCHER], oracles=[ORACLE], settlement_token=token)
    core = system.core
    _fund(token, core, VICTIM, ATTACKER)
    with boa.env.prank(VICTIM):
        core.deposit(0, 1_000 * USDC)
    token.rebase(2 * WAD)  # balances double: the vault holds 2,000 against 1,000 of books
    with boa.env.prank(ATTACKER):
        core.deposit(0, 100 * USDC)  # exactly 100 arrives (50 shares at 2.0): credited 100
    assert core.balances(ATTACKER) == 100 * WAD
    assert (core.vault_tokens(0), token.balanceOf(core.address)) == (1_100 * USDC, 2_100 * USDC)
    token.rebase(WAD // 4)  # balances fall to a quarter: 525 against 1,100 of books
    with boa.env.prank(ATTACKER), boa.reverts("vault: holdings below books"):
        core.deposit(0, 100 * USDC)
    with boa.env.prank(ATTACKER), boa.reverts("vault: holdings below books"):
        core.fund_insurance(100 * USDC)
    assert core.vault_tokens(0) == 1_100 * USDC


def test_a_plain_token_still_credits_the_amount() -> None:
    token = _token("erc20_fee_on_transfer", 6, 0)  # a zero fee: an ordinary token
    system = deploy_boa(default_params(), GOV, matchers=[MATCHER], oracles=[ORACLE], settlement_token=token)
    _fund(token, system.core, VICTIM)
    with boa.env.prank(VICTIM):
        system.core.deposit(0, 1_000 * USDC)
        system.core.fund_insurance(10 * USDC)
    assert system.core.balances(VICTIM) == 1_000 * WAD
    assert system.core.vault_tokens(0) == token.balanceOf(system.core.address) == 1_010 * USDC
