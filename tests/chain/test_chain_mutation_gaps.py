# ruff: noqa: F811  (pytest fixtures imported from the harness)
"""Behaviour the mutation run found pinned only by the gas snapshot (issue 14, item 6): the
liquidation trigger at exact equality (equity == maintenance is healthy, one dollar lower is
not) and the reentrancy lock on `deposit` (a token that re-enters deposit from transferFrom);
then the vault's refusal of an asset never listed and a withdrawal of every token it holds
(found by the contract mutation run).
Each test fails on the contracts with the corresponding mutant applied (tests/mutation)."""

from __future__ import annotations

import boa
import pytest
from eth.exceptions import Revert
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as selector
from eth_utils import to_checksum_address
from test_protocol_harness import (  # noqa: F401  (fixtures)
    GOV,
    MATCHER,
    ORACLE,
    USDC,
    Differential,
    _reset,
    deployment,
    diff,
    prices,
)

from contracts_py.deploy import CONTRACTS_DIR, deploy_boa
from protocol.actions import AdvanceTime, Deposit, Liquidate, PushPrice, Withdraw
from protocol.constants import WAD
from protocol.events import Liquidated
from protocol.margin import Health
from protocol.scenarios import ACTORS, BTC_PERP, default_params

MAKER, LONG, KEEPER = ACTORS["market_maker"], ACTORS["trader_leveraged"], ACTORS["keeper"]
TRADER = ACTORS["trader_conservative"]


def _long_from_60k(d: Differential, collateral_usdc: int, size_wad: int) -> None:
    """Prices BTC 60,000 / ETH 3,000; LONG posts ``collateral_usdc`` USDC and buys ``size_wad`` BTC
    from MAKER at 60,000; MAKER and KEEPER hold 2,000,000 USDC each (margin to spare)."""
    d.apply_all(
        [
            *prices(d, 60_000, 3_000),
            Deposit(MAKER, 0, 2_000_000 * USDC),
            Deposit(KEEPER, 0, 2_000_000 * USDC),
            Deposit(LONG, 0, collateral_usdc * USDC),
            d.signer.fill(MATCHER, MAKER, LONG, BTC_PERP, size_wad, 60_000 * WAD, 0, 0),
        ]
    )


def test_liquidation_trigger_is_strict_at_exact_equality(diff):
    # 12,500 USDC and 1 BTC long from 60,000: at P = 50,000, E = 12,500 + P - 60,000 = 2,500
    # and MM = P / 20 = 2,500 exactly
    _long_from_60k(diff, 12_500, WAD)
    diff.apply(AdvanceTime(60, 5))
    diff.apply_all(prices(diff, 50_000, 3_000))
    assert diff.model.health(LONG) == Health(2_500 * WAD, 5_000 * WAD, 2_500 * WAD)
    assert diff.apply(Liquidate(KEEPER, LONG, BTC_PERP, WAD // 10)) == "liquidation: account healthy"
    diff.apply_all(prices(diff, 49_999, 3_000))  # E = 2,499 < MM = 2,499.95
    q = diff.model.max_liquidation_size(LONG, BTC_PERP)
    assert 0 < q < WAD
    assert any(isinstance(e, Liquidated) for e in diff.apply(Liquidate(KEEPER, LONG, BTC_PERP, q)))


def test_deposit_lock_refuses_a_token_that_reenters_deposit():
    evil = boa.load_partial(str(CONTRACTS_DIR / "testing" / "reentrant_token.vy")).deploy(6)
    system = deploy_boa(default_params(), GOV, matchers=[MATCHER], oracles=[ORACLE], settlement_token=evil)
    core = system.core
    evil.mint(TRADER, 100 * USDC)
    evil.mint(evil.address, 100 * USDC)
    with boa.env.prank(evil.address):  # the token can pay for a nested deposit of its own
        evil.approve(core.address, 100 * USDC)
    with boa.env.prank(TRADER):
        evil.approve(core.address, 100 * USDC)
    # transferFrom of TRADER's deposit calls deposit(0, 5 USDC) as the token: the lock refuses
    # it (a revert without data), the outer deposit completes with exactly its own amount
    evil.arm(core.address, selector("deposit(uint256,uint256)") + encode(["uint256", "uint256"], [0, 5 * USDC]), False)
    with boa.env.prank(TRADER):
        core.deposit(0, 50 * USDC)
    assert evil.last_success() is False
    assert evil.last_output() == b""
    assert core.balances(evil.address) == 0
    assert core.balances(TRADER) == 50 * WAD
    assert evil.balanceOf(core.address) == 50 * USDC == core.vault_tokens(0)


def test_vault_refuses_an_unlisted_asset_and_pays_out_its_last_token(diff):
    assert diff.apply(Deposit(TRADER, 9, USDC)) == "vault: unknown asset"
    diff.apply(Deposit(TRADER, 0, 100 * USDC))
    # the vault holds exactly the amount asked: all of it is paid out
    diff.apply(Withdraw(TRADER, 0, 100 * USDC))
    assert diff.model.state.vault_tokens[0] == 0


def test_move_guard_holds_at_exactly_one_heartbeat(diff):
    # the last accepted price is exactly heartbeat_s old: still the move reference, so a +60 %
    # push (max_move 50 %) is refused; one second later the reference is stale and it is accepted
    heartbeat = diff.model.params.feed(0).heartbeat_s
    diff.apply_all(prices(diff, 60_000, 3_000))
    diff.apply(AdvanceTime(heartbeat, 1))
    refused = diff.apply(PushPrice(ORACLE, 0, 96_000 * WAD, diff.now))
    assert diff.model.state.feeds[0].price_wad == 60_000 * WAD, refused
    diff.apply(AdvanceTime(1, 1))
    diff.apply(PushPrice(ORACLE, 0, 96_000 * WAD, diff.now))
    assert diff.model.state.feeds[0].price_wad == 96_000 * WAD


#: selector of Error(string), the prefix of a revert with a reason
ERROR_STRING = selector("Error(string)")
_ORDER0 = ("0x" + "00" * 20, 0, 0, 0, 0, 0, 0)
#: every @nonreentrant entry of clearing_house.vy with well-formed arguments
_LOCKED = {
    "deposit": (0, 5 * USDC),
    "withdraw": (0, 1),
    "fill": (_ORDER0, b"", _ORDER0, b"", 1, 1, 0, 0),
    "cancel_order": (_ORDER0,),
    "push_price": (0, WAD, 1),
    "set_funding_rate": (0, 0),
    "liquidate": (TRADER, 0, 1),
    "liquidate_collateral": (TRADER, 1, 1),
    "auto_deleverage": (TRADER, 0, []),
    "fund_insurance": (1,),
    "withdraw_fees": (TRADER, 1),
    "set_paused": (True,),
    "set_role": ("matcher", TRADER, True),
    "accept_governance": (),
    "set_market_margin": (0, WAD // 10, WAD // 2),
}


def _revert_data(to: str, sender: str, calldata: bytes) -> bytes | None:
    """The revert data of a call of ``to`` by ``sender``; None when it completes."""
    try:
        boa.env.raw_call(to, sender=sender, data=calldata)
    except Revert as exc:
        return bytes(exc.args[0])
    return None


@pytest.mark.parametrize("name", sorted(_LOCKED))
def test_every_locked_entry_refuses_reentry_from_a_token_callback(name):
    # @nonreentrant is one lock for the whole contract: entered from a deposit's transferFrom,
    # each locked entry reverts before any of its own checks (no revert data), where the same
    # call made directly by the token completes or reverts with its own prefixed reason
    evil = boa.load_partial(str(CONTRACTS_DIR / "testing" / "reentrant_token.vy")).deploy(6)
    system = deploy_boa(default_params(), GOV, matchers=[MATCHER], oracles=[ORACLE], settlement_token=evil)
    core = system.core
    evil.mint(TRADER, 100 * USDC)
    evil.mint(evil.address, 100 * USDC)
    with boa.env.prank(evil.address):
        evil.approve(core.address, 100 * USDC)
    with boa.env.prank(TRADER):
        evil.approve(core.address, 100 * USDC)
    calldata = getattr(core, name).prepare_calldata(*_LOCKED[name])
    with boa.env.anchor():
        direct = _revert_data(core.address, evil.address, calldata)
    assert direct is None or direct[:4] == ERROR_STRING, name
    evil.arm(core.address, calldata, False)
    with boa.env.prank(TRADER):
        core.deposit(0, 50 * USDC)
    assert evil.last_success() is False
    assert evil.last_output() == b""
    assert core.balances(TRADER) == 50 * WAD
    assert core.balances(evil.address) == 0


def test_global_deposit_cap_admits_exactly_the_cap(diff):
    # WETH (asset 1): 100,000 per account, 1,000,000 in all; ten accounts fill the global cap
    # exactly (accepted: the cap is inclusive), an eleventh's single wei is refused
    per_account = 10**5 * 10**18
    accounts = [to_checksum_address(f"0x{0xC0FFEE00 + i:040x}") for i in range(11)]
    for account in accounts[:10]:
        diff.apply(Deposit(account, 1, per_account))
    assert diff.model.state.vault_tokens[1] == 10 * per_account
    assert diff.apply(Deposit(accounts[10], 1, 1)) == "vault: deposit cap"


def test_block_cap_refuses_a_solvent_liquidation_past_it_in_one_block(diff):
    # 20 BTC long from 60,000 on 125,000 USDC; at 55,000: E = 25,000 > 0 (solvent) < MM = 55,000,
    # and the size that restores it is the whole position, 1.1M USD against the per-block cap of
    # 1M: refused whole; 18 BTC (990,000 USD) pass, one more BTC in the same block does not
    _long_from_60k(diff, 125_000, 20 * WAD)
    diff.apply_all(prices(diff, 55_000, 3_000))
    assert diff.model.health(LONG).equity == 25_000 * WAD
    assert diff.model.max_liquidation_size(LONG, BTC_PERP) == 20 * WAD
    assert diff.apply(Liquidate(KEEPER, LONG, BTC_PERP, 20 * WAD)) == "liquidation: block cap reached"
    assert any(isinstance(e, Liquidated) for e in diff.apply(Liquidate(KEEPER, LONG, BTC_PERP, 18 * WAD)))
    assert diff.apply(Liquidate(KEEPER, LONG, BTC_PERP, WAD)) == "liquidation: block cap reached"
    diff.apply(AdvanceTime(1, 1))  # a new block: a new allowance
    assert any(isinstance(e, Liquidated) for e in diff.apply(Liquidate(KEEPER, LONG, BTC_PERP, WAD)))


def test_a_price_is_valid_for_exactly_one_heartbeat(diff):
    # a fill that opens risk needs a valid mark: one exactly heartbeat_s old still is; a second
    # older, the market is reduce-only
    heartbeat = diff.model.params.feed(0).heartbeat_s
    diff.apply_all([Deposit(MAKER, 0, 100_000 * USDC), Deposit(TRADER, 0, 100_000 * USDC)])
    diff.apply_all(prices(diff, 60_000, 3_000))
    diff.apply(AdvanceTime(heartbeat, 1))
    filled = diff.apply(diff.signer.fill(MATCHER, MAKER, TRADER, BTC_PERP, WAD // 10, 60_000 * WAD, 0, 0))
    assert not isinstance(filled, str), filled
    diff.apply(AdvanceTime(1, 1))
    stale = diff.apply(diff.signer.fill(MATCHER, MAKER, TRADER, BTC_PERP, WAD // 10, 60_000 * WAD, 0, 0))
    assert stale == "clearing: market reduce-only", stale


def test_a_fill_may_use_exactly_the_initial_margin(diff):
    # 1 BTC at the mark 60,000 needs IM = 10 % = 6,000 USDC: exactly that is enough, one micro-USDC
    # less is not
    diff.apply_all([Deposit(MAKER, 0, 100_000 * USDC), Deposit(TRADER, 0, 6_000 * USDC - 1)])
    diff.apply_all(prices(diff, 60_000, 3_000))
    short = diff.apply(diff.signer.fill(MATCHER, MAKER, TRADER, BTC_PERP, WAD, 60_000 * WAD, 0, 0))
    assert short == "margin: below initial", short
    diff.apply(Deposit(TRADER, 0, 1))
    filled = diff.apply(diff.signer.fill(MATCHER, MAKER, TRADER, BTC_PERP, WAD, 60_000 * WAD, 0, 0))
    assert not isinstance(filled, str), filled
    assert diff.model.health(TRADER).equity == diff.model.health(TRADER).initial == 6_000 * WAD


def test_a_liquidation_leaving_exactly_the_dust_notional_stays_partial():
    # 1 BTC long from 60,000 on 12,499 USDC, at 50,000: E = 2,499 < MM = 2,500. A liquidation of
    # Q leaves 1 - Q BTC; with the dust threshold set to that rest's notional exactly, the rest
    # is not dust and stays open (the whole position is closed only below the threshold)
    q, price = WAD // 100, 50_000
    rest = WAD - q
    d = _reset(Differential(dust_notional_wad=rest * price))
    _long_from_60k(d, 12_499, WAD)
    d.apply(AdvanceTime(60, 5))
    d.apply_all(prices(d, price, 3_000))
    assert q <= d.model.max_liquidation_size(LONG, BTC_PERP)
    events = d.apply(Liquidate(KEEPER, LONG, BTC_PERP, q))
    assert [e.size_wad for e in events if isinstance(e, Liquidated)] == [q]
    assert d.model.state.accounts[LONG].positions[BTC_PERP].size == rest
