"""socialized_loss: pro-rata loss indexes, uncovered loss, and auto-deleveraging checks and prices.

Common start: TRADER deposits 12,500 USDC and buys 1 BTC at 60,000 from the market maker (no
fees); BTC then falls to 47,000, so TRADER's equity is 12,500 - 13,000 = -500 (bankrupt).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from protocol.actions import Action, AutoDeleverage, FundInsurance, Liquidate, SetPaused, Withdraw
from protocol.adl_queue import dominates
from protocol.constants import UINT256_MAX, WAD
from protocol.context import Context
from protocol.errors import InvalidParameter, ProtocolRevert
from protocol.events import (
    AdlProposed,
    BadDebtSettled,
    Deleveraged,
    Event,
    LossCharged,
    LossSocialized,
    ShortfallSettled,
)
from protocol.invariants import check_state, check_transition
from protocol.keeper import adl_counterparties
from protocol.margin import Health
from protocol.params import SocializedLossMethod
from protocol.scenarios import ACTORS, BTC_FEED, BTC_PERP, USDC
from protocol.socialized_loss import adl_score, counterparty_score

if TYPE_CHECKING:
    from conftest import Desk, DeskFactory

TRADER, MAKER, KEEPER, GOV = ACTORS["trader_leveraged"], ACTORS["market_maker"], ACTORS["keeper"], ACTORS["governance"]
SHORT, BUYER = ACTORS["trader_short"], ACTORS["trader_conservative"]
BYSTANDER = ACTORS["trader_collateral"]  # deposits, never trades


def bankrupt_long(desk: Desk, *, short_size: int, short_deposit: int) -> Desk:
    desk.deposit_usdc(TRADER, 12_500)
    desk.deposit_usdc(MAKER, 1_000_000)
    desk.deposit_usdc(SHORT, short_deposit)
    desk.deposit_usdc(BUYER, 200_000)
    desk.deposit_usdc(KEEPER, 100_000)
    desk.deposit_usdc(BYSTANDER, 5_000)
    desk.fill(TRADER, MAKER, WAD, 60_000 * WAD)  # MAKER short 1
    desk.fill(BUYER, SHORT, short_size, 60_000 * WAD)  # SHORT short `short_size`
    desk.push(BTC_FEED, 47_000 * WAD)
    assert desk.health(TRADER).equity == -500 * WAD
    return desk


def apply_checked(desk: Desk, action: Action) -> list[Event]:
    before = desk.house.snapshot()
    events = desk.apply(action)
    params = desk.house.params
    assert check_state(desk.state, params) == {}
    assert check_transition(before, desk.state, events, params) == {}
    return events


def deleverage(desk: Desk, counterparties: tuple[str, ...]) -> list[Event]:
    """Propose ``counterparties`` for TRADER's BTC long, let the challenge window pass, execute
    (protocol.adl_queue); the execution's events."""
    apply_checked(desk, AutoDeleverage(KEEPER, TRADER, BTC_PERP, counterparties))
    desk.advance(desk.house.params.protocol.adl_window_s)
    return apply_checked(desk, AutoDeleverage(KEEPER, TRADER, BTC_PERP, counterparties))


# ----------------------------------------------------------------------------- pro rata


def test_pro_rata_charges_only_the_opposite_side_rounded_up(desk: Desk) -> None:
    bankrupt_long(desk, short_size=2 * WAD, short_deposit=100_000)
    events = apply_checked(desk, Liquidate(KEEPER, TRADER, BTC_PERP, WAD))
    # shortfall 500 with an empty fund; shorts hold 3 BTC: index step = ceil(500e18 * 1e18 / 3e18)
    step = 166_666_666_666_666_666_667
    assert step == -(-500 * WAD * WAD // (3 * WAD))
    assert ShortfallSettled(TRADER, BTC_PERP, 500 * WAD, 0, 500 * WAD) in events
    assert LossSocialized(BTC_PERP, -1, 500 * WAD, step) in events
    ms = desk.state.markets[BTC_PERP]
    assert (ms.loss_index_short, ms.loss_index_long) == (step, 0)
    assert desk.state.loss_pool == -500 * WAD

    # shorts: charge ceil(|size| * step / WAD); 1 BTC -> step, 2 BTC -> 2 * step (together 500e18 + 1)
    assert desk.health(MAKER).equity == 1_000_000 * WAD + 13_000 * WAD - step
    assert desk.health(SHORT).equity == 100_000 * WAD + 26_000 * WAD - 2 * step
    # longs (including the keeper who took over the bankrupt long) and the bystander pay nothing
    assert desk.health(BUYER).equity == 200_000 * WAD - 26_000 * WAD
    assert desk.health(KEEPER).equity == 100_000 * WAD
    assert desk.health(BYSTANDER) == Health(5_000 * WAD, 0, 0)

    events = apply_checked(desk, Withdraw(MAKER, 0, 1))
    assert LossCharged(MAKER, BTC_PERP, step) in events
    events = apply_checked(desk, Withdraw(SHORT, 0, 1))
    assert LossCharged(SHORT, BTC_PERP, 2 * step) in events
    assert desk.state.loss_pool == 1  # the charges over-cover the loss by the rounding wei
    assert desk.account(BYSTANDER).balance == 5_000 * WAD
    for who in (BUYER, KEEPER, BYSTANDER):
        events = desk.apply(Withdraw(who, 0, 1))
        assert not [e for e in events if isinstance(e, LossCharged)]


def test_positions_opened_after_the_loss_are_not_charged(desk: Desk) -> None:
    bankrupt_long(desk, short_size=2 * WAD, short_deposit=100_000)
    desk.apply(Liquidate(KEEPER, TRADER, BTC_PERP, WAD))
    desk.fill(BYSTANDER, BUYER, -WAD // 10, 47_000 * WAD)  # a new short after the loss
    assert desk.account(BYSTANDER).positions[BTC_PERP].loss_snapshot == desk.state.markets[BTC_PERP].loss_index_short
    assert desk.health(BYSTANDER).equity == 5_000 * WAD


def test_fund_pays_first_and_the_rest_is_socialized(desk: Desk) -> None:
    bankrupt_long(desk, short_size=2 * WAD, short_deposit=100_000)
    desk.apply(FundInsurance(GOV, 200 * USDC))
    events = apply_checked(desk, Liquidate(KEEPER, TRADER, BTC_PERP, WAD))
    assert ShortfallSettled(TRADER, BTC_PERP, 500 * WAD, 200 * WAD, 300 * WAD) in events
    assert LossSocialized(BTC_PERP, -1, 300 * WAD, 100 * WAD) in events  # 300 / 3 BTC, exact
    assert desk.state.insurance_fund == 0


def test_uncovered_loss_when_nobody_holds_the_opposite_side(desk: Desk) -> None:
    desk.deposit_usdc(TRADER, 12_500)
    desk.deposit_usdc(MAKER, 1_000_000)
    desk.fill(TRADER, MAKER, WAD, 60_000 * WAD)
    desk.push(BTC_FEED, 47_000 * WAD)
    # the bankrupt long sells to its only counterparty: both close, no open interest is left
    events = apply_checked(desk, desk.signer.fill(ACTORS["matcher"], MAKER, TRADER, BTC_PERP, -WAD, 47_000 * WAD))
    assert BadDebtSettled(TRADER, 500 * WAD, 0, 500 * WAD) in events
    assert not [e for e in events if isinstance(e, LossSocialized)]
    assert desk.state.uncovered_loss == 500 * WAD
    assert desk.state.markets[BTC_PERP].oi_short == 0
    assert desk.account(TRADER).balance == 0


# ----------------------------------------------------------------------------- ADL


def test_adl_score_formula() -> None:
    # floor(floor(1e18 * 3e18 / 2e18) * 1e18 / 4e18) = floor(1.5e18 / 4) = 0.375e18
    assert adl_score(WAD, -2 * WAD, 3 * WAD, 4 * WAD) == 375 * WAD // 1_000
    assert adl_score(1, 3, 1, 1) == 0  # floor(1/3) = 0
    assert adl_score(WAD, 0, WAD, WAD) == UINT256_MAX  # no cost basis ranks first
    assert adl_score(WAD, WAD, WAD, 0) == UINT256_MAX  # no positive equity ranks first
    assert adl_score(WAD, WAD, WAD, -5) == UINT256_MAX


@pytest.fixture
def adl(make_desk: DeskFactory) -> Desk:
    """ADL method. Shorts in profit at 47,000: SHORT 0.4 BTC (equity 2,400 + 5,200, score ~0.53) and
    MAKER 1 BTC (equity 1,013,000, score ~0.01)."""
    desk = make_desk(socialized_loss_method=SocializedLossMethod.ADL)
    return bankrupt_long(desk, short_size=4 * WAD // 10, short_deposit=2_400)


def test_adl_scores_of_the_fixture(adl: Desk) -> None:
    # SHORT: floor(floor(5,200 * 18,800 / 24,000) * 1e18 / 7,600) with WAD scaling
    short_score = adl_score(5_200 * WAD, -24_000 * WAD, 18_800 * WAD, 7_600 * WAD)
    maker_score = adl_score(13_000 * WAD, -60_000 * WAD, 47_000 * WAD, 1_013_000 * WAD)
    assert short_score == (5_200 * WAD * 18_800 * WAD // (24_000 * WAD)) * WAD // (7_600 * WAD)
    assert short_score > maker_score


def test_counterparty_score_of_the_fixture(adl: Desk) -> None:
    # the keeper's per-account score (protocol.keeper ranks with it): the fixture's two scores
    # against the bankrupt long at 47,000, 0 for a long (same side) and for no position
    ctx = Context(adl.state, adl.house.params)
    price = 47_000 * WAD
    assert counterparty_score(ctx, SHORT, BTC_PERP, 1, price) == adl_score(
        5_200 * WAD, -24_000 * WAD, 18_800 * WAD, 7_600 * WAD
    )
    assert counterparty_score(ctx, MAKER, BTC_PERP, 1, price) == adl_score(
        13_000 * WAD, -60_000 * WAD, 47_000 * WAD, 1_013_000 * WAD
    )
    assert counterparty_score(ctx, BUYER, BTC_PERP, 1, price) == 0
    assert counterparty_score(ctx, BYSTANDER, BTC_PERP, 1, price) == 0
    # a short at a loss (price above its entry) scores 0 too
    assert counterparty_score(ctx, SHORT, BTC_PERP, 1, 61_000 * WAD) == 0


@pytest.mark.parametrize(
    ("new", "old", "expected"),
    [
        ([2, 1], [2, 1], False),  # equal: not strictly better anywhere
        ([2, 2], [2, 1], True),
        ([2, 1], [2], True),  # a missing entry scores 0
        ([3], [2, 1], False),  # ... so dropping a scored entry is worse there
        ([1, 5], [2, 1], False),
        ([], [], False),
    ],
)
def test_a_challenge_must_dominate_the_proposal(new: list[int], old: list[int], expected: bool) -> None:
    assert dominates(new, old) is expected


def test_partial_adl_closes_at_the_ratio_preserving_price(adl: Desk) -> None:
    # q = 0.4: MM = 2,350 -> MM' = 1,410; room = E - floor(E * MM'/MM) = -500 - floor(-300) = -200
    # the bankrupt long sells 0.4 for ceil(0.4 * 47,000) - room = 18,800 + 200 = 19,000
    events = deleverage(adl, (SHORT,))
    assert Deleveraged(TRADER, SHORT, BTC_PERP, 4 * WAD // 10, 19_000 * WAD) in events
    h = adl.health(TRADER)
    assert h == Health(-300 * WAD, 2_820 * WAD, 1_410 * WAD)
    assert h.equity * 2_350 * WAD == -500 * WAD * h.maintenance  # E/MM unchanged, exactly
    assert BTC_PERP not in adl.account(SHORT).positions
    # SHORT sold 0.4 at 60,000 (24,000) and bought back at 19,000: +5,000
    assert adl.account(SHORT).balance == 2_400 * WAD + 5_000 * WAD


def test_full_adl_splits_the_bankruptcy_value_pro_rata(adl: Desk) -> None:
    # q = 1: MM' = 0, room = E = -500: the long sells 1 BTC for 47,000 + 500 = 47,500;
    # SHORT takes 0.4 for floor(47,500 * 0.4) = 19,000, MAKER the rest 0.6 for 28,500
    events = deleverage(adl, (SHORT, MAKER))
    assert [e for e in events if isinstance(e, Deleveraged)] == [
        Deleveraged(TRADER, SHORT, BTC_PERP, 4 * WAD // 10, 19_000 * WAD),
        Deleveraged(TRADER, MAKER, BTC_PERP, 6 * WAD // 10, 28_500 * WAD),
    ]
    assert not adl.account(TRADER).positions
    assert adl.account(TRADER).balance == 0  # 12,500 + 47,500 - 60,000: no bad debt left
    assert not [e for e in events if isinstance(e, BadDebtSettled)]
    assert adl.account(MAKER).positions[BTC_PERP].size == -4 * WAD // 10
    assert adl.state.uncovered_loss == 0


@pytest.mark.parametrize(
    ("counterparties", "reason"),
    [
        ((MAKER, SHORT), "socialized_loss: ranking violated"),
        ((SHORT, SHORT), "socialized_loss: repeated counterparty"),
        ((SHORT, TRADER), "socialized_loss: account is its own counterparty"),
        ((BUYER,), "socialized_loss: counterparty not opposite"),  # a long
        ((SHORT, BYSTANDER), "socialized_loss: counterparty not opposite"),  # no position
    ],
)
def test_adl_refusals(adl: Desk, counterparties: tuple[str, ...], reason: str) -> None:
    before = adl.house.snapshot()
    with pytest.raises(ProtocolRevert) as info:
        adl.apply(AutoDeleverage(KEEPER, TRADER, BTC_PERP, counterparties))
    assert info.value.reason == reason
    assert adl.house.snapshot() == before


def test_adl_counterparty_must_be_in_profit(adl: Desk) -> None:
    adl.fill(BYSTANDER, KEEPER, -WAD // 2, 47_000 * WAD)  # a short opened at the current price: upnl 0
    with pytest.raises(ProtocolRevert, match=r"^socialized_loss: counterparty not in profit$"):
        adl.apply(AutoDeleverage(KEEPER, TRADER, BTC_PERP, (BYSTANDER,)))


def test_adl_needs_a_bankrupt_account_the_fund_cannot_cover(adl: Desk) -> None:
    adl.apply(FundInsurance(GOV, 500 * USDC))  # fund = shortfall
    with pytest.raises(ProtocolRevert, match=r"^socialized_loss: insurance fund covers shortfall$"):
        adl.apply(AutoDeleverage(KEEPER, TRADER, BTC_PERP, (SHORT,)))
    adl.push(BTC_FEED, 49_000 * WAD)  # E = 1,500 > 0
    with pytest.raises(ProtocolRevert, match=r"^socialized_loss: account not bankrupt$"):
        adl.apply(AutoDeleverage(KEEPER, TRADER, BTC_PERP, (SHORT,)))
    with pytest.raises(ProtocolRevert, match=r"^socialized_loss: no position$"):
        adl.apply(AutoDeleverage(KEEPER, BYSTANDER, BTC_PERP, (SHORT,)))


def test_adl_only_with_the_adl_method_and_not_paused(desk: Desk, adl: Desk) -> None:
    bankrupt_long(desk, short_size=4 * WAD // 10, short_deposit=2_400)
    with pytest.raises(ProtocolRevert, match=r"^socialized_loss: method does not deleverage$"):
        desk.apply(AutoDeleverage(KEEPER, TRADER, BTC_PERP, (SHORT,)))
    adl.apply(SetPaused(GOV, True))
    with pytest.raises(ProtocolRevert, match=r"^socialized_loss: paused$"):
        adl.apply(AutoDeleverage(KEEPER, TRADER, BTC_PERP, (SHORT,)))


def test_adl_never_leaves_a_counterparty_with_unsettled_bad_debt(make_desk: DeskFactory) -> None:
    desk = make_desk(socialized_loss_method=SocializedLossMethod.ADL)
    desk.deposit_usdc(TRADER, 7_000)
    desk.deposit_usdc(MAKER, 1_000_000)
    desk.deposit_usdc(SHORT, 4_100)
    desk.deposit_usdc(BUYER, 100_000)
    desk.fill(TRADER, MAKER, WAD, 60_000 * WAD)
    desk.push(BTC_FEED, 40_000 * WAD)  # TRADER: E = 7,000 - 20,000 = -13,000
    desk.fill(SHORT, BUYER, -WAD, 40_500 * WAD)  # SHORT opens 1 BTC short at 40,500 (IM 4,050): in profit by 500
    # bankruptcy value 40,000 + 13,000 = 53,000: SHORT buys back at 53,000 -> realized -12,500, balance -8,400
    deleverage(desk, (SHORT,))


def test_reference_keeper_ranks_a_candidate_pool_as_the_full_search(adl: Desk) -> None:
    full = adl_counterparties(adl.house, TRADER, BTC_PERP)
    assert full == (SHORT, MAKER)
    assert adl_counterparties(adl.house, TRADER, BTC_PERP, candidates=[MAKER, SHORT, BUYER, BYSTANDER]) == full
    assert adl_counterparties(adl.house, TRADER, BTC_PERP, candidates=[MAKER]) == (MAKER,)
    assert adl_counterparties(adl.house, TRADER, BTC_PERP, candidates=[]) == ()
    assert adl_counterparties(adl.house, TRADER, BTC_PERP, candidates=[SHORT.upper().replace("0X", "0x")]) == (SHORT,)
    assert adl_counterparties(adl.house, TRADER, BTC_PERP, candidates=["0x" + "ab" * 20]) == ()  # no account
    with pytest.raises(InvalidParameter, match="candidate"):
        adl_counterparties(adl.house, TRADER, BTC_PERP, candidates=["0x12"])


@pytest.mark.parametrize(
    ("after_deadline", "empty", "closes"),
    [(-1, True, False), (0, True, True), ("window", True, True), ("window + 1", True, False), (0, False, False)],
)
def test_bankrupt_close_only_in_the_window_of_an_empty_proposal(
    make_desk: DeskFactory, after_deadline: int | str, empty: bool, closes: bool
) -> None:
    # F-10: an empty list proposed and left unchallenged lets Liquidate close the bankrupt position
    # beyond the fund from the deadline to deadline + adl_window_s inclusive, and only then; a
    # non-empty proposal never opens that path
    desk = bankrupt_long(
        make_desk(socialized_loss_method=SocializedLossMethod.ADL), short_size=4 * WAD // 10, short_deposit=2_400
    )
    window = desk.house.params.protocol.adl_window_s
    apply_checked(desk, AutoDeleverage(KEEPER, TRADER, BTC_PERP, () if empty else (SHORT,)))
    extra = {"window": window, "window + 1": window + 1}.get(str(after_deadline), after_deadline)
    assert isinstance(extra, int)
    desk.advance(window + extra)
    liquidate = Liquidate(KEEPER, TRADER, BTC_PERP, abs(desk.account(TRADER).positions[BTC_PERP].size))
    if closes:
        apply_checked(desk, liquidate)
        assert BTC_PERP not in desk.account(TRADER).positions
        assert (TRADER, BTC_PERP) not in desk.state.adl_proposals
    else:
        with pytest.raises(ProtocolRevert, match="shortfall exceeds insurance fund"):
            desk.apply(liquidate)


def test_the_queue_refuses_a_weaker_challenge_and_a_list_other_than_the_proposed(adl: Desk) -> None:
    window = adl.house.params.protocol.adl_window_s
    proposed = apply_checked(adl, AutoDeleverage(KEEPER, TRADER, BTC_PERP, (MAKER,)))
    deadline = adl.now + window
    assert proposed == [AdlProposed(TRADER, BTC_PERP, KEEPER, (MAKER,), deadline)]
    adl.advance(1)
    with pytest.raises(ProtocolRevert, match=r"^socialized_loss: challenge not higher$"):
        adl.apply(AutoDeleverage(KEEPER, TRADER, BTC_PERP, (MAKER,)))
    # SHORT scores above MAKER: the challenge replaces the list and keeps the deadline
    challenged = apply_checked(adl, AutoDeleverage(KEEPER, TRADER, BTC_PERP, (SHORT, MAKER)))
    assert challenged == [AdlProposed(TRADER, BTC_PERP, KEEPER, (SHORT, MAKER), deadline)]
    adl.advance(window)
    with pytest.raises(ProtocolRevert, match=r"^socialized_loss: not the proposed list$"):
        adl.apply(AutoDeleverage(KEEPER, TRADER, BTC_PERP, (SHORT,)))
    assert any(
        isinstance(e, Deleveraged) for e in apply_checked(adl, AutoDeleverage(KEEPER, TRADER, BTC_PERP, (SHORT, MAKER)))
    )
    assert (TRADER, BTC_PERP) not in adl.state.adl_proposals
