"""demo: the scripted crash exercises every mechanism and keeps every invariant."""

from __future__ import annotations

import pytest

from novation.demo import DemoResult, run_demo
from protocol.events import (
    BadDebtSettled,
    CollateralLiquidated,
    Event,
    Liquidated,
    LossSocialized,
    PositionChanged,
    ShortfallSettled,
)
from protocol.invariants import STATE_INVARIANTS, TRANSITION_INVARIANTS, check_state


@pytest.fixture(scope="module")
def demo() -> DemoResult:
    return run_demo()  # raises NovationError if any invariant is violated after any action


def _size_after(events: list[Event], i: int) -> int:
    """Size of the liquidated account's position right after the Liquidated event at ``i``."""
    liq = events[i]
    assert isinstance(liq, Liquidated)
    for ev in reversed(events[:i]):
        if isinstance(ev, PositionChanged) and ev.account == liq.account and ev.market_id == liq.market_id:
            return ev.size_wad
    raise AssertionError(f"no PositionChanged before {liq}")


def test_partial_and_full_liquidations(demo: DemoResult) -> None:
    after = [_size_after(demo.events, i) for i, e in enumerate(demo.events) if isinstance(e, Liquidated)]
    assert any(size != 0 for size in after), "no partial liquidation"
    assert any(size == 0 for size in after), "no full liquidation"


def test_insurance_fund_payout_and_socialized_loss(demo: DemoResult) -> None:
    bad = [e for e in demo.events if isinstance(e, BadDebtSettled | ShortfallSettled)]
    assert any(e.covered_by_fund_wad > 0 for e in bad)
    assert sum(e.socialized_wad for e in bad) > 0
    assert all(e.debt_wad == e.covered_by_fund_wad + e.socialized_wad for e in bad)
    socialized = sum(e.amount_wad for e in demo.events if isinstance(e, LossSocialized))
    assert socialized + demo.house.state.uncovered_loss == sum(e.socialized_wad for e in bad)


def test_collateral_liquidation(demo: DemoResult) -> None:
    sales = [e for e in demo.events if isinstance(e, CollateralLiquidated)]
    assert sales
    assert all(e.proceeds_wad > 0 and e.fee_wad > 0 for e in sales)


def test_every_check_ran_and_the_final_state_is_sound(demo: DemoResult) -> None:
    per_action = len(STATE_INVARIANTS) + len(TRANSITION_INVARIANTS)
    assert demo.checks == demo.actions * per_action
    assert demo.actions > 0
    assert check_state(demo.house.state, demo.house.params) == {}
