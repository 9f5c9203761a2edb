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
    FUNDING,
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
from protocol.actions import AdvanceTime, Deposit, Liquidate, PushPrice, SetFundingRate, Withdraw, WithdrawFees
from protocol.constants import WAD
from protocol.events import BadDebtSettled, FundingAccrued, Liquidated, PriceAccepted, PriceRejected
from protocol.margin import Health
from protocol.scenarios import ACTORS, BTC_PERP, default_params
from protocol.units import Rounding, mul_div

MAKER, LONG, KEEPER = ACTORS["market_maker"], ACTORS["trader_leveraged"], ACTORS["keeper"]
TRADER = ACTORS["trader_conservative"]


def _mock(name: str, *args: object):
    """Deploy the test contract ``contracts/testing/<name>.vy`` with ``args``."""
    return boa.load_partial(str(CONTRACTS_DIR / "testing" / f"{name}.vy")).deploy(*args)


def _house_on(token):
    """A clearing house (titanoboa) whose settlement token is ``token``."""
    return deploy_boa(default_params(), GOV, matchers=[MATCHER], oracles=[ORACLE], settlement_token=token).core


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
    evil = _mock("reentrant_token", 6)
    core = _house_on(evil)
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
    evil = _mock("reentrant_token", 6)
    core = _house_on(evil)
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


@pytest.mark.parametrize(("above", "closed"), [(0, WAD // 100), (1, WAD)], ids=["at", "below"])
def test_a_liquidation_leaving_exactly_the_dust_notional_stays_partial(above, closed):
    # 1 BTC long from 60,000 on 12,499 USDC, at 50,000: E = 2,499 < MM = 2,500. A liquidation of
    # Q leaves 1 - Q BTC; with the dust threshold set to that rest's notional exactly, the rest
    # is not dust and stays open; one wei above it, the rest is dust and the whole BTC is closed
    q, price = WAD // 100, 50_000
    rest = WAD - q
    d = _reset(Differential(dust_notional_wad=rest * price + above))
    _long_from_60k(d, 12_499, WAD)
    d.apply(AdvanceTime(60, 5))
    d.apply_all(prices(d, price, 3_000))
    assert q <= d.model.max_liquidation_size(LONG, BTC_PERP)
    events = d.apply(Liquidate(KEEPER, LONG, BTC_PERP, q))
    assert [e.size_wad for e in events if isinstance(e, Liquidated)] == [closed]
    left = d.model.state.accounts[LONG].positions
    assert (left[BTC_PERP].size if BTC_PERP in left else 0) == WAD - closed


def test_withdraw_fees_pays_governance_only(diff):
    # a 1 % taker fee on 0.1 BTC at 60,000 is 60 USDC, half to the insurance fund: 30 USDC of
    # fees; anyone but governance is refused them, governance takes them to the last unit
    diff.apply_all([Deposit(MAKER, 0, 100_000 * USDC), Deposit(TRADER, 0, 100_000 * USDC)])
    diff.apply_all(prices(diff, 60_000, 3_000))
    diff.apply(diff.signer.fill(MATCHER, MAKER, TRADER, BTC_PERP, WAD // 10, 60_000 * WAD, 0, WAD // 100))
    assert diff.model.state.fee_pool == 30 * WAD
    assert diff.apply(WithdrawFees(TRADER, TRADER, 30 * USDC)) == "vault: caller is not governance"
    assert diff.apply(WithdrawFees(MATCHER, MATCHER, 1)) == "vault: caller is not governance"
    diff.apply(WithdrawFees(GOV, GOV, 30 * USDC))
    assert diff.model.state.fee_pool == 0


def test_a_second_price_in_one_second_moves_from_the_price_before_that_second(diff):
    # BTC 60,000 accepted a minute ago; this second 60,600 is accepted, then 60,900 (observed
    # later, same block): its move reference is still 60,000 (a minute old, so a 50 % move is
    # allowed), not the 60,600 accepted this second (zero seconds old: no move allowed at all)
    diff.apply_all(prices(diff, 60_000, 3_000))
    diff.apply(AdvanceTime(60, 1))
    now = diff.now
    diff.apply(PushPrice(ORACLE, 0, 60_600 * WAD, now - 10))
    assert diff.model.state.feeds[0].price_wad == 60_600 * WAD
    diff.apply(PushPrice(ORACLE, 0, 60_900 * WAD, now - 5))
    assert diff.model.state.feeds[0].price_wad == 60_900 * WAD
    assert diff.model.state.feeds[0].updated_at_s == now - 5


def test_a_fill_needs_the_initial_margin_rounded_up(diff):
    # at a mark of 60,000 USD + 5 wei, 1 BTC needs IM = ceil(6,000 USD + 0.5 wei) = 6,000 USD +
    # 1 wei: 6,000 USDC of collateral is one wei short; one micro-USDC more is enough
    mark = 60_000 * WAD + 5
    diff.apply_all([Deposit(MAKER, 0, 100_000 * USDC), Deposit(TRADER, 0, 6_000 * USDC)])
    diff.apply_all(prices(diff, 60_000, 3_000))
    diff.apply(AdvanceTime(1, 1))
    diff.apply(PushPrice(ORACLE, 0, mark, diff.now))
    assert diff.model.state.feeds[0].price_wad == mark
    short = diff.apply(diff.signer.fill(MATCHER, MAKER, TRADER, BTC_PERP, WAD, mark, 0, 0))
    assert short == "margin: below initial", short
    diff.apply(Deposit(TRADER, 0, 1))
    filled = diff.apply(diff.signer.fill(MATCHER, MAKER, TRADER, BTC_PERP, WAD, mark, 0, 0))
    assert not isinstance(filled, str), filled
    assert diff.model.health(TRADER).initial == 6_000 * WAD + 1


def test_a_close_that_leaves_exactly_zero_equity_is_allowed(diff):
    # 1 BTC long from 60,000 on 6,000 USDC; at a mark of 56,800 (E = 2,800) it sells the BTC at
    # 54,000 (within 5 % of the mark): E' = 6,000 - 6,000 = 0 = IM' (nothing left), allowed by
    # the initial-margin rule at equality although E' < E
    _long_from_60k(diff, 6_000, WAD)
    diff.apply_all(prices(diff, 56_800, 3_000))
    assert diff.model.health(LONG).equity == 2_800 * WAD
    closed = diff.apply(diff.signer.fill(MATCHER, MAKER, LONG, BTC_PERP, -WAD, 54_000 * WAD, 0, 0))
    assert not isinstance(closed, str), closed
    assert diff.model.health(LONG) == Health(0, 0, 0)


def test_an_underwater_close_at_the_mark_keeps_its_equity_and_is_allowed(diff):
    # 1 BTC long from 60,000 on 6,000 USDC, at 50,000: E = -4,000. Selling it at the mark leaves
    # E' = -4,000 = E with nothing open: a close that does not worsen equity is allowed (its debt
    # is then settled as bad debt)
    _long_from_60k(diff, 6_000, WAD)
    diff.apply_all(prices(diff, 50_000, 3_000))
    assert diff.model.health(LONG).equity == -4_000 * WAD
    closed = diff.apply(diff.signer.fill(MATCHER, MAKER, LONG, BTC_PERP, -WAD, 50_000 * WAD, 0, 0))
    assert not isinstance(closed, str), closed
    # closed flat, the debt is settled: the empty fund covers nothing, 4,000 is left uncovered
    assert closed[-1] == BadDebtSettled(LONG, 4_000 * WAD, 0, 4_000 * WAD)
    assert diff.model.health(LONG) == Health(0, 0, 0)


#: a product of 2**256 or more: mul_div takes its 512-bit path (R. Bloemen's mulDiv)
_WIDE_A, _WIDE_B = 2**255 + 12_345, 3**100


@pytest.mark.parametrize("d", [3**100 - 2, 2**7 * 3**97, 3 * 2**200 + 1], ids=["odd", "even", "odd-small"])
def test_mul_div_of_a_product_beyond_256_bits(d):
    probe = _mock("units_probe")
    product = _WIDE_A * _WIDE_B
    assert product >= 2**256
    assert product % d != 0
    down = probe.mul_div(_WIDE_A, _WIDE_B, d, False)
    assert down == product // d == mul_div(_WIDE_A, _WIDE_B, d, Rounding.DOWN)
    assert probe.mul_div(_WIDE_A, _WIDE_B, d, True) == down + 1 == mul_div(_WIDE_A, _WIDE_B, d, Rounding.UP)


def test_to_int_refuses_2_to_the_255_with_its_reason():
    probe = _mock("units_probe")
    assert probe.to_int(2**255 - 1) == 2**255 - 1
    with boa.reverts("units: overflow"):
        probe.to_int(2**255)


def test_a_withdrawal_whose_transfer_returns_false_is_refused():
    # a token that reports a refused transfer by returning false (no revert): the vault must
    # revert the withdrawal, leaving the account's balance and the vault's holdings as they were
    token = _mock("erc20_false_return", 6)
    core = _house_on(token)
    token.mint(TRADER, 10 * USDC)
    with boa.env.prank(TRADER):
        core.deposit(0, 10 * USDC)
    token.set_refusing(True)
    with boa.env.prank(TRADER), boa.reverts("vault: transfer failed"):
        core.withdraw(0, 4 * USDC)
    assert core.balances(TRADER) == 10 * WAD
    assert token.balanceOf(core.address) == 10 * USDC == core.vault_tokens(0)
    token.set_refusing(False)
    with boa.env.prank(TRADER):
        core.withdraw(0, 4 * USDC)
    assert token.balanceOf(TRADER) == 4 * USDC
    assert core.balances(TRADER) == 6 * WAD


def test_funding_stops_while_the_last_reading_was_rejected(diff):
    # a funding rate runs on BTC-PERP; a rejected reading (price -1) makes the feed untrusted:
    # from then on no funding accrues although the last accepted price is within its heartbeat
    # (a withdrawal would need trusted prices: the accepted reading that ends it accrues instead)
    _long_from_60k(diff, 12_500, WAD)
    diff.apply(SetFundingRate(FUNDING, BTC_PERP, 10**9))
    diff.apply(AdvanceTime(600, 1))
    rejected = diff.apply(PushPrice(ORACLE, 0, -1, diff.now))
    assert [type(e) for e in rejected] == [FundingAccrued, PriceRejected]
    index = diff.model.state.markets[BTC_PERP].funding_index
    assert index != 0
    diff.apply(AdvanceTime(600, 1))
    # the next accepted reading accrues the market first: nothing, for the untrusted stretch
    accepted = diff.apply(PushPrice(ORACLE, 0, 60_000 * WAD, diff.now))
    assert accepted == [PriceAccepted(0, 60_000 * WAD, diff.now)]
    assert diff.model.state.markets[BTC_PERP].funding_index == index
