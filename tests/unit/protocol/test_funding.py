"""funding: index accrual, clamping, the rate-of-change limit, lazy settlement with CEIL charges,
no accrual when untrusted."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pytest

from protocol.actions import SetFundingRate, SetPaused, Withdraw
from protocol.constants import WAD
from protocol.errors import ProtocolRevert
from protocol.events import Event, FundingAccrued, FundingRateSet, FundingSettled
from protocol.funding import accrued_markets, accrued_state
from protocol.invariants import check_state
from protocol.scenarios import ACTORS, BTC_FEED, BTC_PERP, ETH_FEED, ETH_PERP

if TYPE_CHECKING:
    from conftest import Desk, DeskFactory

TRADER, MAKER = ACTORS["trader_leveraged"], ACTORS["market_maker"]
FUNDING, GOV = ACTORS["funding_operator"], ACTORS["governance"]
CAP = WAD // 86_400 // 100  # default max_funding_rate_per_s_wad = 115740740740


def set_rate(desk: Desk, rate: int, market_id: int = BTC_PERP) -> list[Event]:
    return desk.apply(SetFundingRate(FUNDING, market_id, rate))


@pytest.fixture
def desk(make_desk: DeskFactory) -> Desk:
    """Default parameters but a one-second funding ramp, two seconds after the markets were
    listed (prices pushed then): every rate is reachable at once, so these tests see accrual and
    clamping alone (the ramp's own tests use the default ramp)."""
    desk = make_desk(prices=False, funding_rate_ramp_s=1)
    desk.advance(2)
    desk.push(BTC_FEED, 60_000 * WAD)
    desk.push(ETH_FEED, 3_000 * WAD)
    return desk


@pytest.mark.parametrize(
    ("rate", "delta"),
    [
        # floor(123456789 * 7 * (60000e18 + 1) / 1e18) = floor(51851851380000 + 864197523e-18)
        (123_456_789, 51_851_851_380_000),
        # the same magnitude with a negative rate floors toward -inf: one wei further
        (-123_456_789, -51_851_851_380_001),
    ],
)
def test_index_accrues_floor_rate_times_elapsed_times_price(desk: Desk, rate: int, delta: int) -> None:
    desk.push(BTC_FEED, 60_000 * WAD + 1)
    set_rate(desk, rate)
    desk.advance(7)
    events = desk.push(BTC_FEED, 61_000 * WAD)  # accrues first, at the old price 60000e18 + 1
    assert events[0] == FundingAccrued(BTC_PERP, delta, 7)
    assert delta == (rate * 7 * (60_000 * WAD + 1)) // WAD
    ms = desk.state.markets[BTC_PERP]
    assert (ms.funding_index, ms.last_accrual_s) == (delta, desk.now)


def test_rate_change_accrues_at_the_old_rate_first(desk: Desk) -> None:
    set_rate(desk, 10**10)
    desk.advance(100)
    events = set_rate(desk, -(10**10))
    # 1e10 * 100 s * 60,000 = 6e16 at the old rate
    assert events == [FundingAccrued(BTC_PERP, 6 * 10**16, 100), FundingRateSet(BTC_PERP, -(10**10), -(10**10))]
    desk.advance(50)
    desk.push(BTC_FEED, 60_000 * WAD)
    assert desk.state.markets[BTC_PERP].funding_index == 6 * 10**16 - 3 * 10**16  # -1e10 * 50 * 60,000


@pytest.mark.parametrize(
    ("requested", "applied"), [(WAD, CAP), (-WAD, -CAP), (CAP, CAP), (-CAP, -CAP), (CAP - 1, CAP - 1)]
)
def test_rate_is_clamped_to_the_maximum(desk: Desk, requested: int, applied: int) -> None:
    assert set_rate(desk, requested) == [FundingRateSet(BTC_PERP, requested, applied)]
    assert desk.state.markets[BTC_PERP].funding_rate_per_s_wad == applied


def test_clamped_rate_is_what_accrues(desk: Desk) -> None:
    set_rate(desk, WAD)
    desk.advance(100)
    desk.push(BTC_FEED, 60_000 * WAD)
    assert desk.state.markets[BTC_PERP].funding_index == CAP * 100 * 60_000 == 694_444_444_440_000_000


def test_only_the_funding_operator_sets_rates(desk: Desk) -> None:
    with pytest.raises(ProtocolRevert, match=r"^funding: caller is not a funding operator$"):
        desk.apply(SetFundingRate(GOV, BTC_PERP, 1))
    with pytest.raises(ProtocolRevert, match=r"^funding: unknown market$"):
        set_rate(desk, 1, market_id=9)


def test_funding_keeps_working_while_paused(desk: Desk) -> None:
    desk.apply(SetPaused(GOV, True))
    set_rate(desk, 5)
    assert desk.state.markets[BTC_PERP].funding_rate_per_s_wad == 5


def test_settlement_is_lazy_and_the_payer_charge_is_rounded_ceil(desk: Desk) -> None:
    desk.deposit_usdc(TRADER, 100_000)
    desk.deposit_usdc(MAKER, 100_000)
    size = WAD // 3  # 333333333333333333
    desk.fill(TRADER, MAKER, size, 60_000 * WAD)
    set_rate(desk, 10**10)
    desk.advance(3_600)
    desk.push(BTC_FEED, 60_000 * WAD)
    index = 10**10 * 3_600 * 60_000  # 2.16e18 USD per BTC
    assert desk.state.markets[BTC_PERP].funding_index == index == 2_160_000_000_000_000_000
    # nothing settled yet: balances untouched, the charge only shows in equity
    assert desk.account(TRADER).balance == desk.account(MAKER).balance == 100_000 * WAD
    # size * index / WAD = 719999999999999999.28: the long pays ceil, the short receives floor
    charge, receipt = 720_000_000_000_000_000, 719_999_999_999_999_999
    assert desk.health(TRADER).equity == 100_000 * WAD - charge
    assert desk.health(MAKER).equity == 100_000 * WAD + receipt

    events = desk.apply(Withdraw(TRADER, 0, 1))
    assert FundingSettled(TRADER, BTC_PERP, -charge) in events
    assert desk.state.funding_pool == charge
    events = desk.apply(Withdraw(MAKER, 0, 1))
    assert FundingSettled(MAKER, BTC_PERP, receipt) in events
    assert desk.state.funding_pool == 1  # the rounding wei stays with the protocol
    assert desk.account(TRADER).balance == 100_000 * WAD - 10**12 - charge
    assert desk.account(MAKER).balance == 100_000 * WAD - 10**12 + receipt
    assert desk.account(TRADER).positions[BTC_PERP].funding_snapshot == index
    assert check_state(desk.state, desk.house.params) == {}


def test_accrual_stops_when_the_price_goes_stale(desk: Desk) -> None:
    set_rate(desk, 10**10)
    desk.advance(3_601)  # the 60,000 price is now one second past its heartbeat
    desk.push(BTC_FEED, 60_000 * WAD)
    ms = desk.state.markets[BTC_PERP]
    # Only the hour the price was trusted accrues, not the stale second: 1e10 * 3600 * 6e22 / 1e18.
    assert (ms.funding_index, ms.last_accrual_s) == (10**10 * 3_600 * 60_000, desk.now)
    desk.advance(10)
    desk.push(BTC_FEED, 60_000 * WAD)
    assert desk.state.markets[BTC_PERP].funding_index == 10**10 * 3_610 * 60_000


def test_no_accrual_after_a_rejected_reading(desk: Desk) -> None:
    set_rate(desk, 10**10)
    desk.push(BTC_FEED, 0)  # rejected: the feed is untrusted from now on
    desk.advance(60)
    desk.push(BTC_FEED, 60_000 * WAD)
    assert desk.state.markets[BTC_PERP].funding_index == 0


def test_markets_accrue_independently(desk: Desk) -> None:
    set_rate(desk, 10**10, market_id=ETH_PERP)
    desk.advance(10)
    desk.push(BTC_FEED, 60_000 * WAD)  # touches only BTC-PERP
    assert desk.state.markets[ETH_PERP].funding_index == 0
    set_rate(desk, 0, market_id=ETH_PERP)
    assert desk.state.markets[ETH_PERP].funding_index == 10**10 * 10 * 3_000


def test_a_new_position_pays_no_funding_for_time_before_it_was_opened(desk: Desk) -> None:
    desk.deposit_usdc(TRADER, 100_000)
    desk.deposit_usdc(MAKER, 100_000)
    set_rate(desk, 10**10)
    desk.advance(1_000)  # the 60,000 price is still trusted; nobody holds a position
    desk.fill(TRADER, MAKER, WAD, 60_000 * WAD)
    events = desk.apply(Withdraw(TRADER, 0, 1))  # same second: the position is 0 s old
    assert not [e for e in events if isinstance(e, FundingSettled)]
    assert desk.account(TRADER).balance == 100_000 * WAD - 10**12


# ----------------------------------------------------------------------------- rate-of-change limit


def test_the_rate_moves_at_most_max_times_elapsed_over_the_ramp(make_desk: DeskFactory) -> None:
    desk = make_desk()  # default ramp: 3,600 s from 0 to the maximum
    assert set_rate(desk, CAP) == [FundingRateSet(BTC_PERP, CAP, 0)]  # listed this second: no move yet
    desk.advance(900)
    # a quarter of the ramp: floor(CAP * 900 / 3,600) = floor(28935185185) = 28935185185
    assert set_rate(desk, CAP)[-1] == FundingRateSet(BTC_PERP, CAP, CAP * 900 // 3_600)
    desk.advance(1)
    step = CAP // 3_600  # 32150205: one second's move, counted from the last update
    assert set_rate(desk, -CAP)[-1] == FundingRateSet(BTC_PERP, -CAP, CAP * 900 // 3_600 - step)
    desk.advance(2 * 3_600)  # two ramps: from anywhere to anywhere within the cap
    desk.push(BTC_FEED, 60_000 * WAD)
    assert set_rate(desk, -WAD)[-1] == FundingRateSet(BTC_PERP, -WAD, -CAP)


def test_updates_split_over_time_move_no_faster_than_one(make_desk: DeskFactory) -> None:
    desk = make_desk()
    for _ in range(10):
        desk.advance(36)
        set_rate(desk, CAP)
    # ten updates of floor(CAP * 36 / 3,600) each: at most what one update after 360 s allows
    assert desk.state.markets[BTC_PERP].funding_rate_per_s_wad == 10 * (CAP * 36 // 3_600) <= CAP * 360 // 3_600


def test_accrued_markets_accrues_copies_of_the_markets_only(desk: Desk) -> None:
    # the simulator's per-step read: every market accrued to the clock, as accrued_state gives
    # them, on copies (the house's own markets untouched)
    set_rate(desk, 123_456_789)
    set_rate(desk, -2_000, ETH_PERP)
    desk.advance(7)
    before = {m: dataclasses.replace(ms) for m, ms in desk.state.markets.items()}
    markets = accrued_markets(desk.state, desk.house.params)
    assert markets == accrued_state(desk.state, desk.house.params).markets
    assert markets[BTC_PERP].funding_index == before[BTC_PERP].funding_index + 123_456_789 * 7 * 60_000
    assert markets[ETH_PERP].funding_index == before[ETH_PERP].funding_index - 2_000 * 7 * 3_000
    assert markets[BTC_PERP].last_accrual_s == desk.now
    assert desk.state.markets == before
