"""roles: governance-only actions, role grants and revocations, governance transfer, the pause
switch and margin parameters within bounds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from protocol.actions import (
    AcceptGovernance,
    Action,
    AdvanceTime,
    Deposit,
    Fill,
    FundInsurance,
    PushPrice,
    SetFundingRate,
    SetMarketMargin,
    SetPaused,
    SetRole,
    Withdraw,
    WithdrawFees,
)
from protocol.constants import MAX_INITIAL_MARGIN_FRACTION, WAD
from protocol.errors import ProtocolRevert
from protocol.events import GovernanceProposed, MarginParamsSet, PausedSet, RoleSet
from protocol.margin import Health
from protocol.scenarios import ACTORS, BTC_FEED, BTC_PERP, ETH_PERP

if TYPE_CHECKING:
    from conftest import Desk

GOV, MATCHER, ORACLE, FUNDING = ACTORS["governance"], ACTORS["matcher"], ACTORS["oracle"], ACTORS["funding_operator"]
TRADER, MAKER, KEEPER = ACTORS["trader_leveraged"], ACTORS["market_maker"], ACTORS["keeper"]
NEW_GOV = ACTORS["trader_conservative"]


@pytest.mark.parametrize(
    "action",
    [
        SetPaused(TRADER, True),
        SetRole(TRADER, "matcher", TRADER, True),
        SetRole(MATCHER, "oracle", MATCHER, True),
        SetMarketMargin(ORACLE, BTC_PERP, WAD // 5, WAD // 2),
    ],
)
def test_only_governance(desk: Desk, action: Action) -> None:
    before, params = desk.house.snapshot(), desk.house.params
    with pytest.raises(ProtocolRevert, match=r"^roles: caller is not governance$"):
        desk.apply(action)
    assert desk.house.snapshot() == before
    assert desk.house.params == params


def test_grant_and_revoke_matcher(desk: Desk) -> None:
    desk.deposit_usdc(TRADER, 100_000)
    desk.deposit_usdc(MAKER, 100_000)

    def by_keeper() -> Fill:
        return desk.signer.fill(KEEPER, MAKER, TRADER, BTC_PERP, WAD, 60_000 * WAD)

    with pytest.raises(ProtocolRevert, match=r"^clearing: caller is not a matcher$"):
        desk.apply(by_keeper())
    assert desk.apply(SetRole(GOV, "matcher", KEEPER, True)) == [RoleSet("matcher", KEEPER, True)]
    assert desk.state.roles.matchers == {MATCHER, KEEPER}
    desk.apply(by_keeper())
    desk.apply(SetRole(GOV, "matcher", KEEPER, False))
    assert desk.state.roles.matchers == {MATCHER}
    with pytest.raises(ProtocolRevert, match=r"^clearing: caller is not a matcher$"):
        desk.apply(by_keeper())
    desk.apply(SetRole(GOV, "matcher", KEEPER, False))  # revoking an absent role is a no-op
    assert desk.state.roles.matchers == {MATCHER}


def test_grant_and_revoke_oracle_and_funding(desk: Desk) -> None:
    desk.apply(SetRole(GOV, "oracle", ORACLE, False))
    with pytest.raises(ProtocolRevert, match=r"^oracle: caller is not an oracle$"):
        desk.push(BTC_FEED, 60_000 * WAD)
    desk.apply(SetRole(GOV, "oracle", KEEPER, True))
    desk.apply(PushPrice(KEEPER, BTC_FEED, 60_100 * WAD, desk.now))
    assert desk.state.feeds[BTC_FEED].price_wad == 60_100 * WAD

    desk.apply(SetRole(GOV, "funding", FUNDING, False))
    with pytest.raises(ProtocolRevert, match=r"^funding: caller is not a funding operator$"):
        desk.apply(SetFundingRate(FUNDING, BTC_PERP, 1))
    desk.apply(SetRole(GOV, "funding", KEEPER, True))
    desk.apply(SetFundingRate(KEEPER, BTC_PERP, 1))
    assert desk.state.roles.funding_operators == {KEEPER}


def test_governance_transfer_is_proposed_then_accepted(desk: Desk) -> None:
    assert desk.apply(SetRole(GOV, "governance", NEW_GOV, True)) == [GovernanceProposed(NEW_GOV)]
    assert (desk.state.roles.governance, desk.state.roles.pending_governance) == (GOV, NEW_GOV)
    desk.apply(SetPaused(GOV, True))  # the holder governs until the successor accepts
    with pytest.raises(ProtocolRevert, match=r"^roles: caller is not the proposed governance$"):
        desk.apply(AcceptGovernance(GOV))
    assert desk.apply(AcceptGovernance(NEW_GOV)) == [RoleSet("governance", NEW_GOV, True)]
    assert (desk.state.roles.governance, desk.state.roles.pending_governance) == (NEW_GOV, None)
    with pytest.raises(ProtocolRevert, match=r"^roles: caller is not governance$"):
        desk.apply(SetPaused(GOV, False))
    assert desk.apply(SetPaused(NEW_GOV, False)) == [PausedSet(False)]
    with pytest.raises(ProtocolRevert, match=r"^roles: caller is not the proposed governance$"):
        desk.apply(AcceptGovernance(NEW_GOV))  # accepted once


def test_governance_cannot_be_revoked(desk: Desk) -> None:
    with pytest.raises(ProtocolRevert, match=r"^roles: governance cannot be revoked, only transferred$"):
        desk.apply(SetRole(GOV, "governance", GOV, False))
    assert desk.state.roles.governance == GOV


def test_pause_blocks_user_actions_but_not_prices_funding_time_or_governance(desk: Desk) -> None:
    desk.deposit_usdc(TRADER, 100_000)
    desk.deposit_usdc(MAKER, 100_000)
    assert desk.apply(SetPaused(GOV, True)) == [PausedSet(True)]
    for action, reason in (
        (Deposit(TRADER, 0, 1), "vault: paused"),
        (Withdraw(TRADER, 0, 1), "vault: paused"),
        (WithdrawFees(GOV, GOV, 1), "vault: paused"),
        (desk.signer.fill(MATCHER, MAKER, TRADER, BTC_PERP, WAD, 60_000 * WAD), "clearing: paused"),
    ):
        with pytest.raises(ProtocolRevert) as info:
            desk.apply(action)
        assert info.value.reason == reason
    desk.apply(AdvanceTime(10, 1))  # the funding ramp lets the rate move after listing
    desk.push(BTC_FEED, 61_000 * WAD)
    desk.apply(SetFundingRate(FUNDING, BTC_PERP, 7))
    desk.apply(SetRole(GOV, "matcher", KEEPER, True))
    desk.apply(SetMarketMargin(GOV, BTC_PERP, WAD // 5, WAD // 2))
    desk.apply(FundInsurance(GOV, 1))
    assert (desk.state.feeds[BTC_FEED].price_wad, desk.state.markets[BTC_PERP].funding_rate_per_s_wad) == (
        61_000 * WAD,
        7,
    )
    desk.apply(SetPaused(GOV, False))
    desk.deposit_usdc(TRADER, 1)


def test_set_market_margin_changes_requirements(desk: Desk) -> None:
    desk.deposit_usdc(TRADER, 100_000)
    desk.deposit_usdc(MAKER, 100_000)
    desk.fill(TRADER, MAKER, WAD, 60_000 * WAD)
    assert desk.health(TRADER) == Health(100_000 * WAD, 6_000 * WAD, 3_000 * WAD)
    events = desk.apply(SetMarketMargin(GOV, BTC_PERP, WAD // 5, 3 * WAD // 4))
    assert events == [MarginParamsSet(BTC_PERP, WAD // 5, 3 * WAD // 4)]
    mp = desk.house.params.market(BTC_PERP)
    assert (mp.initial_margin_fraction_wad, mp.maintenance_share_wad) == (WAD // 5, 3 * WAD // 4)
    assert desk.house.params.market(ETH_PERP).initial_margin_fraction_wad == WAD // 10  # others untouched
    # IM = 60,000 * 20 % = 12,000; MM = 60,000 * ceil(0.2 * 0.75) = 9,000
    assert desk.health(TRADER) == Health(100_000 * WAD, 12_000 * WAD, 9_000 * WAD)


@pytest.mark.parametrize(
    ("imf", "share"),
    [
        (WAD // 1_000 - 1, WAD // 2),  # below the 0.1 % floor
        (MAX_INITIAL_MARGIN_FRACTION + 1, WAD // 2),  # above 1000 %
        (WAD // 10, 0),  # maintenance share must be > 0
        (WAD // 10, WAD),  # ... and < 100 %
    ],
)
def test_set_market_margin_out_of_bounds(desk: Desk, imf: int, share: int) -> None:
    before, params = desk.house.snapshot(), desk.house.params
    with pytest.raises(ProtocolRevert, match=r"^roles: margin parameters out of bounds$"):
        desk.apply(SetMarketMargin(GOV, BTC_PERP, imf, share))
    assert desk.house.snapshot() == before
    assert desk.house.params == params


@pytest.mark.parametrize(("imf", "share"), [(WAD // 1_000, 1), (WAD, WAD - 1), (MAX_INITIAL_MARGIN_FRACTION, WAD // 2)])
def test_set_market_margin_at_the_bounds(desk: Desk, imf: int, share: int) -> None:
    desk.apply(SetMarketMargin(GOV, BTC_PERP, imf, share))
    assert desk.house.params.market(BTC_PERP).initial_margin_fraction_wad == imf


def test_set_market_margin_unknown_market(desk: Desk) -> None:
    with pytest.raises(ProtocolRevert, match=r"^roles: unknown market$"):
        desk.apply(SetMarketMargin(GOV, 9, WAD // 10, WAD // 2))
