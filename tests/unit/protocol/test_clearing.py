"""clearing: novation of fills, netting, realized PnL rounding, fees, band and reduce-only mode."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from protocol.actions import FundInsurance, SetPaused
from protocol.constants import WAD
from protocol.errors import ProtocolRevert
from protocol.events import FillSettled, InsuranceFundChanged, OrderFilled, PositionChanged
from protocol.invariants import check_state
from protocol.scenarios import ACTORS, BTC_FEED, BTC_PERP, USDC

if TYPE_CHECKING:
    from conftest import Desk, DeskFactory

TRADER, MAKER, MATCHER = ACTORS["trader_leveraged"], ACTORS["market_maker"], ACTORS["matcher"]
SHORT, GOV = ACTORS["trader_short"], ACTORS["governance"]


@pytest.fixture
def funded(desk: Desk) -> Desk:
    desk.deposit_usdc(TRADER, 100_000)
    desk.deposit_usdc(MAKER, 1_000_000)
    desk.deposit_usdc(SHORT, 100_000)
    return desk


def test_novation_notional_fees_and_split_are_exact(make_desk: DeskFactory) -> None:
    desk = make_desk(insurance_fee_share_wad=3 * WAD // 10)  # 30 % of fees to the insurance fund
    desk.deposit_usdc(TRADER, 100_000)
    desk.deposit_usdc(MAKER, 100_000)
    size, price = WAD // 3, 60_000 * WAD + 7  # 333333333333333333 wei of BTC at 60,000 + 7 wei
    maker_rate, taker_rate = WAD // 10_000, 5 * WAD // 10_000  # 1 bp and 5 bp
    events = desk.fill(TRADER, MAKER, size, price, maker_fee_wad=maker_rate, taker_fee_wad=taker_rate)

    # notional = floor(333333333333333333 * (60000e18 + 7) / 1e18)
    #          = 333333333333333333 * 60000 + floor(2333333333333333331 / 1e18) = 19999999999999999980000 + 2
    notional = 19_999_999_999_999_999_980_002
    assert notional == size * price // WAD
    # fees rounded UP: ceil(notional * 1e14 / 1e18) = ceil(1999999999999999998.0002)
    maker_fee, taker_fee = 1_999_999_999_999_999_999, 9_999_999_999_999_999_991  # ceil(...9990.001)
    assert maker_fee == -(-notional * maker_rate // WAD)
    assert taker_fee == -(-notional * taker_rate // WAD)
    total = maker_fee + taker_fee  # 11999999999999999990
    to_fund = 3_599_999_999_999_999_997  # floor(total * 0.3)
    assert to_fund == total * 3 // 10

    assert FillSettled(MAKER, TRADER, BTC_PERP, size, price, notional, maker_fee, taker_fee) in events
    assert InsuranceFundChanged(to_fund, to_fund, "fee") in events
    assert desk.state.insurance_fund == to_fund
    assert desk.state.fee_pool == total - to_fund == 8_399_999_999_999_999_993
    taker, maker = desk.account(TRADER), desk.account(MAKER)
    assert taker.balance == 100_000 * WAD - taker_fee
    assert maker.balance == 100_000 * WAD - maker_fee
    assert (taker.positions[BTC_PERP].size, taker.positions[BTC_PERP].open_notional) == (size, notional)
    assert (maker.positions[BTC_PERP].size, maker.positions[BTC_PERP].open_notional) == (-size, -notional)
    ms = desk.state.markets[BTC_PERP]
    assert ms.oi_long == ms.oi_short == size
    assert check_state(desk.state, desk.house.params) == {}


def test_position_changed_events_for_both_sides(funded: Desk) -> None:
    events = funded.fill(TRADER, MAKER, -WAD // 2, 59_000 * WAD)  # the taker sells 0.5 BTC
    assert [type(e) for e in events[:2]] == [OrderFilled, OrderFilled]  # each side's order counts first
    assert events[2:4] == [
        PositionChanged(TRADER, BTC_PERP, -WAD // 2, -29_500 * WAD, 0),
        PositionChanged(MAKER, BTC_PERP, WAD // 2, 29_500 * WAD, 0),
    ]


def test_netting_keeps_an_average_entry_and_realizes_on_reduce(funded: Desk) -> None:
    funded.fill(TRADER, MAKER, WAD, 60_000 * WAD)
    funded.fill(TRADER, MAKER, WAD, 62_000 * WAD)
    pos = funded.account(TRADER).positions[BTC_PERP]
    assert (pos.size, pos.open_notional) == (2 * WAD, 122_000 * WAD)  # average entry 61,000
    # sell 0.5 at 63,000: closed cost = ceil(122,000 * 0.5 / 2) = 30,500; proceeds 31,500; realized +1,000
    funded.fill(TRADER, MAKER, -WAD // 2, 63_000 * WAD)
    pos = funded.account(TRADER).positions[BTC_PERP]
    assert (pos.size, pos.open_notional) == (3 * WAD // 2, 91_500 * WAD)
    assert funded.account(TRADER).balance == 101_000 * WAD
    assert funded.account(TRADER).realized_pnl == 1_000 * WAD
    # the maker was short 2 at 122,000 and buys 0.5 back at 63,000: realized 30,500 - 31,500 = -1,000
    assert funded.account(MAKER).realized_pnl == -1_000 * WAD
    assert check_state(funded.state, funded.house.params) == {}


def test_closed_cost_is_rounded_ceil_against_the_trader(funded: Desk) -> None:
    funded.fill(TRADER, MAKER, WAD, 60_000 * WAD + 1)  # notional 60000e18 + 1
    funded.fill(TRADER, MAKER, 2 * WAD, 60_000 * WAD)  # notional 120000e18
    assert funded.account(TRADER).positions[BTC_PERP].open_notional == 180_000 * WAD + 1
    events = funded.fill(TRADER, MAKER, -WAD, 60_000 * WAD)[2:]  # after the two OrderFilled
    # long: closed cost = ceil((180000e18 + 1) * 1e18 / 3e18) = 60000e18 + 1 -> realized = 60000e18 - that = -1
    assert events[0] == PositionChanged(TRADER, BTC_PERP, 2 * WAD, 120_000 * WAD, -1)
    # short: closed cost = ceil(-(180000e18 + 1) / 3) = -60000e18 -> realized = -60000e18 + 60000e18 = 0
    assert events[1] == PositionChanged(MAKER, BTC_PERP, -2 * WAD, -(120_000 * WAD + 1), 0)
    assert funded.account(TRADER).balance == 100_000 * WAD - 1
    assert check_state(funded.state, funded.house.params) == {}


def test_flip_realizes_the_closed_part_and_opens_the_rest(funded: Desk) -> None:
    funded.fill(TRADER, MAKER, WAD, 60_000 * WAD)  # long 1 at 60,000
    size, price = -(2 * WAD + 1), 61_000 * WAD + 1
    events = funded.fill(TRADER, MAKER, size, price)[2:]  # after the two OrderFilled
    n = 122_000_000_000_000_000_061_002  # floor((2e18 + 1) * (61000e18 + 1) / 1e18)
    assert n == -size * price // WAD
    # taker sells: closed part of the flow = floor(n * 1e18 / (2e18 + 1)) = floor(61000e18 + 0.99999...) = 61000e18
    # realized = 61000e18 - 60000e18 = 1000e18; the rest opens short at n - 61000e18
    assert events[0] == PositionChanged(TRADER, BTC_PERP, -WAD - 1, -(n - 61_000 * WAD), 1_000 * WAD)
    # maker buys: closed flow = floor(-n * 1e18 / (2e18 + 1)) = -61000e18 - 1; closed cost -60000e18
    # realized = -61000e18 - 1 + 60000e18 = -1000e18 - 1; the rest opens long at n - 61000e18 - 1
    assert events[1] == PositionChanged(MAKER, BTC_PERP, WAD + 1, n - 61_000 * WAD - 1, -1_000 * WAD - 1)
    ms = funded.state.markets[BTC_PERP]
    assert ms.oi_long == ms.oi_short == WAD + 1
    assert check_state(funded.state, funded.house.params) == {}


def test_closing_to_zero_removes_the_position(funded: Desk) -> None:
    funded.fill(TRADER, MAKER, WAD, 60_000 * WAD)
    funded.fill(TRADER, MAKER, -WAD, 61_000 * WAD)
    assert BTC_PERP not in funded.account(TRADER).positions
    assert funded.state.markets[BTC_PERP].oi_long == 0
    assert funded.account(TRADER).balance == 101_000 * WAD


def test_fee_split_gives_the_odd_wei_to_the_fee_pool(funded: Desk) -> None:
    # notional of 1 wei of BTC at 60,000e18 = 60000 wei; a 1e-18 fee rate: ceil(60000 * 1 / 1e18) = 1 wei
    events = funded.fill(TRADER, MAKER, 1, 60_000 * WAD, maker_fee_wad=0, taker_fee_wad=1)
    assert events[4] == FillSettled(MAKER, TRADER, BTC_PERP, 1, 60_000 * WAD, 60_000, 0, 1)
    assert (funded.state.insurance_fund, funded.state.fee_pool) == (0, 1)  # floor(1 * 0.5) = 0 to the fund


def test_self_trade(funded: Desk) -> None:
    with pytest.raises(ProtocolRevert, match=r"^clearing: self trade$"):
        funded.fill(TRADER, TRADER, WAD, 60_000 * WAD)


def test_only_a_matcher_submits_fills(funded: Desk) -> None:
    with pytest.raises(ProtocolRevert, match=r"^clearing: caller is not a matcher$"):
        funded.apply(funded.signer.fill(TRADER, MAKER, TRADER, BTC_PERP, WAD, 60_000 * WAD, 0, 0))


def test_fee_cap_and_unknown_market(funded: Desk) -> None:
    with pytest.raises(ProtocolRevert, match=r"^clearing: fee too high$"):
        funded.fill(TRADER, MAKER, WAD, 60_000 * WAD, taker_fee_wad=WAD // 100 + 1)
    funded.fill(TRADER, MAKER, WAD, 60_000 * WAD, taker_fee_wad=WAD // 100)  # exactly 1 % is allowed
    with pytest.raises(ProtocolRevert, match=r"^clearing: unknown market$"):
        funded.fill(TRADER, MAKER, WAD, 60_000 * WAD, market_id=9)


def test_paused_clearing(funded: Desk) -> None:
    funded.apply(SetPaused(GOV, True))
    with pytest.raises(ProtocolRevert, match=r"^clearing: paused$"):
        funded.fill(TRADER, MAKER, WAD, 60_000 * WAD)


@pytest.mark.parametrize(
    ("price", "ok"),
    [
        (63_000 * WAD, True),  # |63,000 - 60,000| * 1e18 = 5 % * 60,000 * 1e18: at the band
        (63_000 * WAD + 1, False),
        (57_000 * WAD, True),
        (57_000 * WAD - 1, False),
    ],
)
def test_price_band_boundary(funded: Desk, price: int, ok: bool) -> None:
    before = funded.house.snapshot()
    if ok:
        funded.fill(TRADER, MAKER, WAD, price)
        assert funded.account(TRADER).positions[BTC_PERP].open_notional == price
    else:
        with pytest.raises(ProtocolRevert, match=r"^clearing: price outside band$"):
            funded.fill(TRADER, MAKER, WAD, price)
        assert funded.house.snapshot() == before


def test_band_applies_to_reducing_fills_while_the_price_is_trusted(funded: Desk) -> None:
    funded.fill(TRADER, MAKER, WAD, 60_000 * WAD)
    with pytest.raises(ProtocolRevert, match=r"^clearing: price outside band$"):
        funded.fill(TRADER, MAKER, -WAD, 63_000 * WAD + 1)


def test_reduce_only_once_the_price_is_older_than_the_heartbeat(funded: Desk) -> None:
    funded.fill(TRADER, MAKER, WAD, 60_000 * WAD)  # trader long 1, maker short 1
    funded.advance(3_600)  # now - updated_at = heartbeat: still trusted
    funded.fill(TRADER, MAKER, WAD // 10, 60_000 * WAD)
    funded.advance(1)  # heartbeat + 1 s: untrusted, reduce-only
    before = funded.house.snapshot()
    with pytest.raises(ProtocolRevert, match=r"^clearing: market reduce-only$"):
        funded.fill(TRADER, MAKER, WAD // 10, 60_000 * WAD)  # both sides increase
    with pytest.raises(ProtocolRevert, match=r"^clearing: market reduce-only$"):
        funded.fill(SHORT, TRADER, WAD // 10, 60_000 * WAD)  # trader reduces, SHORT opens
    assert funded.house.snapshot() == before
    funded.fill(TRADER, MAKER, -WAD // 2, 60_000 * WAD)  # both reduce: allowed
    assert funded.account(TRADER).positions[BTC_PERP].size == 6 * WAD // 10
    assert funded.account(MAKER).positions[BTC_PERP].size == -6 * WAD // 10
    # a fresh price lifts reduce-only mode
    funded.push(BTC_FEED, 60_000 * WAD)
    funded.fill(TRADER, MAKER, WAD // 10, 60_000 * WAD)


def test_initial_margin_is_checked_after_a_fill(funded: Desk) -> None:
    lean = ACTORS["trader_conservative"]
    funded.deposit_usdc(lean, 5_999, units=999_999)  # 5,999.999999 USDC
    before = funded.house.snapshot()
    # 1 BTC at 60,000: IM = 60,000 * 10 % = 6,000 > 5,999.999999
    with pytest.raises(ProtocolRevert, match=r"^margin: below initial$"):
        funded.fill(lean, MAKER, WAD, 60_000 * WAD)
    assert funded.house.snapshot() == before
    funded.deposit_usdc(lean, 0, units=1)  # now exactly 6,000: equity == IM passes
    funded.fill(lean, MAKER, WAD, 60_000 * WAD)
    h = funded.health(lean)
    assert (h.equity, h.initial, h.maintenance) == (6_000 * WAD, 6_000 * WAD, 3_000 * WAD)


def test_fees_count_against_initial_margin(funded: Desk) -> None:
    lean = ACTORS["trader_conservative"]
    funded.deposit_usdc(lean, 6_000)
    # taker fee 1 bp: ceil(60,000 * 0.0001) = 6 -> equity 5,994 < IM 6,000
    with pytest.raises(ProtocolRevert, match=r"^margin: below initial$"):
        funded.fill(lean, MAKER, WAD, 60_000 * WAD, taker_fee_wad=WAD // 10_000)


def test_maker_is_margin_checked_too(funded: Desk) -> None:
    lean = ACTORS["trader_conservative"]
    funded.deposit_usdc(lean, 100)
    with pytest.raises(ProtocolRevert, match=r"^margin: below initial$"):
        funded.fill(TRADER, lean, WAD, 60_000 * WAD)


def test_a_reducing_side_needs_no_initial_margin(funded: Desk) -> None:
    lean = ACTORS["trader_conservative"]
    funded.deposit_usdc(lean, 6_000)
    funded.fill(lean, MAKER, WAD, 60_000 * WAD)
    funded.push(BTC_FEED, 58_000 * WAD)  # equity 4,000 < IM 5,800
    funded.fill(lean, MAKER, -WAD // 10, 58_000 * WAD)  # sells 0.1: IM after 5,220 > equity 4,000, still allowed
    h = funded.health(lean)
    assert (h.equity, h.initial) == (4_000 * WAD, 5_220 * WAD)


def test_reduce_only_fill_cannot_dump_bad_debt_at_an_arbitrary_price(funded: Desk) -> None:
    lean, other_long = ACTORS["trader_conservative"], ACTORS["trader_collateral"]
    funded.deposit_usdc(lean, 6_000)
    funded.deposit_usdc(other_long, 100_000)
    funded.apply(FundInsurance(GOV, 10_000 * USDC))
    funded.fill(lean, MAKER, WAD, 60_000 * WAD)  # lean long 1 on exactly its initial margin
    funded.fill(other_long, SHORT, WAD, 60_000 * WAD)  # SHORT is the other short in the market
    funded.advance(3_601)  # reduce-only: the last good price (60,000) is one second past its heartbeat
    before = funded.house.snapshot()
    # lean sells its 1 BTC to its own counterparty at 1 wei: realized -60,000, balance -54,000, all of it bad debt
    with pytest.raises(ProtocolRevert):
        funded.fill(lean, MAKER, -WAD, 1)
    assert funded.house.snapshot() == before
