"""Margin fractions above 100 % of notional (docs/SPEC.md §2, §4): BTC-PERP at IMF 150 %.

Set-up (``short_at_150``): BTC-PERP with initial fraction 150 % and maintenance share 50 %
(``mmf = 75 %``); the trader deposits 90,000 USDC and sells 1 BTC to the market maker at 60,000,
no fees. At a BTC price ``p`` (USD): ``B = 90,000``, ``O = -60,000``, ``E = B - O - p =
150,000 - p``, ``IM = ceil(1.5 p)``, ``MM = ceil(0.75 p)``. Maximum leverage is ``1 / 1.5``:
90,000 USDC carry exactly 60,000 of notional.

Liquidation price of a lone short (SPEC §4): liquidatable iff ``E < MM`` iff
``p (W + mmf) > (B - O) W``, so ``p* = floor((B - O) W / (W + mmf)) + 1`` wei
= 85,714.285714285714285715. Bankruptcy price (``E = 0``): ``B - O = 150,000``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pytest

from protocol.actions import Liquidate, SetMarketMargin
from protocol.constants import MAX_INITIAL_MARGIN_FRACTION, WAD
from protocol.errors import ProtocolRevert
from protocol.events import Liquidated
from protocol.invariants import check_state, check_transition
from protocol.margin import Health, account_health, initial_fraction, maintenance_fraction
from protocol.params import Params
from protocol.scenarios import ACTORS, BTC_FEED, BTC_PERP, default_params
from protocol.state import Account, MarketState, Position

if TYPE_CHECKING:
    from conftest import Desk, DeskFactory

TRADER, MAKER, KEEPER, GOV = ACTORS["trader_short"], ACTORS["market_maker"], ACTORS["keeper"], ACTORS["governance"]
IMF, SHARE = 3 * WAD // 2, WAD // 2
MMF = 3 * WAD // 4
#: The short's liquidation price (module docstring), in wei.
P_STAR = (150_000 * WAD) * WAD // (WAD + MMF) + 1
assert P_STAR == 85_714_285_714_285_714_285_715


def params_at(imf: int, share: int) -> Params:
    """:func:`default_params` with BTC-PERP at ``imf`` and ``share``."""
    p = default_params()
    btc = dataclasses.replace(p.market(BTC_PERP), initial_margin_fraction_wad=imf, maintenance_share_wad=share)
    return dataclasses.replace(p, markets=(btc, *(m for m in p.markets if m.market_id != BTC_PERP)))


def opened(make_desk: DeskFactory, size_wad: int, *, share: int = SHARE) -> Desk:
    """The trader holds ``size_wad`` BTC opened at 60,000 on 90,000 USDC; makers and keepers funded."""
    desk = make_desk(params_at(IMF, share))
    desk.deposit_usdc(TRADER, 90_000)
    desk.deposit_usdc(MAKER, 10_000_000)
    desk.deposit_usdc(KEEPER, 1_000_000)
    desk.fill(TRADER, MAKER, size_wad, 60_000 * WAD)
    return desk


def checked(desk: Desk, action: Liquidate) -> list[object]:
    before = desk.house.snapshot()
    events = desk.apply(action)
    assert check_state(desk.state, desk.house.params) == {}
    assert check_transition(before, desk.state, events, desk.house.params) == {}
    return list(events)


def test_the_bounds_allow_up_to_1000_percent(desk: Desk) -> None:
    assert MAX_INITIAL_MARGIN_FRACTION == 10 * WAD
    desk.apply(SetMarketMargin(GOV, BTC_PERP, MAX_INITIAL_MARGIN_FRACTION, WAD - 1))
    assert desk.house.params.market(BTC_PERP).initial_margin_fraction_wad == 10 * WAD
    with pytest.raises(ProtocolRevert, match=r"^roles: margin parameters out of bounds$"):
        desk.apply(SetMarketMargin(GOV, BTC_PERP, MAX_INITIAL_MARGIN_FRACTION + 1, WAD // 2))


def test_opening_needs_150_percent_of_the_notional(make_desk: DeskFactory) -> None:
    desk = make_desk(params_at(IMF, SHARE))
    desk.deposit_usdc(TRADER, 89_999, 999_999)  # one token unit short of 90,000
    desk.deposit_usdc(MAKER, 10_000_000)
    before = desk.house.snapshot()
    with pytest.raises(ProtocolRevert, match=r"^margin: below initial$"):
        desk.fill(TRADER, MAKER, -WAD, 60_000 * WAD)
    assert desk.house.snapshot() == before
    desk.deposit_usdc(TRADER, 0, 1)
    desk.fill(TRADER, MAKER, -WAD, 60_000 * WAD)
    assert desk.health(TRADER) == Health(90_000 * WAD, 90_000 * WAD, 45_000 * WAD)


def test_the_short_is_liquidated_exactly_from_its_liquidation_price(make_desk: DeskFactory) -> None:
    desk = opened(make_desk, -WAD)
    desk.push(BTC_FEED, P_STAR - 1)
    h = desk.health(TRADER)
    assert h.equity == h.maintenance == 150_000 * WAD - (P_STAR - 1)  # on the threshold, not below it
    assert not h.liquidatable
    with pytest.raises(ProtocolRevert, match=r"^liquidation: account healthy$"):
        desk.apply(Liquidate(KEEPER, TRADER, BTC_PERP, WAD // 10))
    desk.push(BTC_FEED, P_STAR)
    h = desk.health(TRADER)
    assert h == Health(150_000 * WAD - P_STAR, -(-3 * P_STAR // 2), -(-3 * P_STAR // 4))
    assert h.liquidatable
    assert desk.house.max_liquidation_size(TRADER, BTC_PERP) > 0


def test_partial_liquidation_at_86000_closes_what_restores_150_percent(make_desk: DeskFactory) -> None:
    """At 86,000: E = 64,000, MM = 64,500, IM = 129,000. Closing q (of 1 BTC) leaves
    MM' = 64,500 (1 - q) and IM' = 129,000 (1 - q); room = E - ceil(E MM'/MM) = 64,000 q;
    penalty = min(ceil(86,000 q * 2.5 %), room) = 2,150 q; restored iff 64,000 - 2,150 q >=
    129,000 (1 - q) iff q >= 65,000 / 126,850."""
    desk = opened(make_desk, -WAD)
    desk.push(BTC_FEED, 86_000 * WAD)
    assert desk.health(TRADER) == Health(64_000 * WAD, 129_000 * WAD, 64_500 * WAD)
    q_max = -(-65_000 * WAD // 126_850)
    assert desk.house.max_liquidation_size(TRADER, BTC_PERP) == q_max
    events = checked(desk, Liquidate(KEEPER, TRADER, BTC_PERP, q_max))
    penalty = 2_150 * q_max
    value = 86_000 * q_max  # the short buys back q at the oracle: floor(q p / W), exact
    assert Liquidated(TRADER, KEEPER, BTC_PERP, q_max, value, penalty, penalty // 2) in events
    rest = WAD - q_max
    after = desk.health(TRADER)
    assert after == Health(64_000 * WAD - penalty, 129_000 * rest, 64_500 * rest)
    assert after.meets_initial
    assert desk.account(KEEPER).positions[BTC_PERP].size == -q_max  # the keeper took the short over


def test_a_long_at_75_percent_maintenance_is_never_liquidated_while_its_balance_covers_its_cost() -> None:
    """Long 1 BTC at 60,000 on 90,000: E - MM = 30,000 + p - ceil(0.75 p) > 0 at every price."""
    params = params_at(IMF, SHARE)
    acct = Account(balance=90_000 * WAD, positions={BTC_PERP: Position(size=WAD, open_notional=60_000 * WAD)})
    for p in (1, 60_000 * WAD, 10**9 * WAD):
        h = account_health(acct, params, {BTC_PERP: MarketState()}, {BTC_FEED: p}, now_s=0)
        assert h.equity == 30_000 * WAD + p
        assert h.maintenance == -(-3 * p // 4)
        assert not h.liquidatable


def test_a_long_with_maintenance_above_100_percent_is_liquidated_on_a_rally(make_desk: DeskFactory) -> None:
    """Share 80 %: mmf = 120 % > 100 %. E - MM = 30,000 + p - ceil(1.2 p) falls as p rises: the
    liquidation price of the long, p (mmf - W) > (B - O) W, is 150,000, above its entry (SPEC §4)."""
    desk = opened(make_desk, WAD, share=4 * WAD // 5)
    assert maintenance_fraction(desk.house.params.market(BTC_PERP)) == 6 * WAD // 5
    for p in (90_000, 135_000, 150_000):
        desk.push(BTC_FEED, p * WAD)
    h = desk.health(TRADER)
    assert h == Health(180_000 * WAD, 225_000 * WAD, 180_000 * WAD)
    assert not h.liquidatable
    desk.push(BTC_FEED, 150_000 * WAD + 1)
    assert desk.health(TRADER).liquidatable
    checked(desk, Liquidate(KEEPER, TRADER, BTC_PERP, desk.house.max_liquidation_size(TRADER, BTC_PERP)))


def test_open_interest_scaling_leaves_a_fraction_above_100_percent_alone() -> None:
    """OI scaling grows the initial fraction toward 100 %; a base already above stays put."""
    eth = dataclasses.replace(default_params().market(1), initial_margin_fraction_wad=IMF)
    assert (eth.oi_cap_lower_wad, eth.oi_cap_upper_wad) == (5 * 10**6 * WAD, 50 * 10**6 * WAD)
    for oi in (0, 10_000 * WAD, 10**9 * WAD):
        assert initial_fraction(eth, MarketState(oi_long=oi), 3_000 * WAD) == IMF
    at_100 = dataclasses.replace(eth, initial_margin_fraction_wad=WAD)
    assert initial_fraction(at_100, MarketState(oi_long=10**9 * WAD), 3_000 * WAD) == WAD
