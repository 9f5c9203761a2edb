"""F-09 (medium): 1 wei of collateral on a stale feed made a bankrupt position unliquidatable.

Before the fix liquidation and auto-deleveraging required every feed an account touched to be
trusted. A trader holding a 9x BTC long and 1 wei of WETH kept its losing position open for as long
as the ETH feed stayed stale: no keeper could liquidate or deleverage it while its loss grew. Now
liquidation and ADL value collateral on an untrusted feed at zero (conservative for the protocol);
the positions' own market still needs a trusted price.

Runs on titanoboa and on the reference model in lock step (``oracle_attack``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from oracle_attack import Desk, deploy_desk

from contracts_py.chains import make_chain
from contracts_py.oracle_replay import ProtocolChainReplay
from protocol import events as ev
from protocol.actions import AutoDeleverage, Deposit, Liquidate, PushPrice
from protocol.constants import WAD
from protocol.errors import ProtocolRevert
from protocol.oracle_adapter import trusted_prices
from protocol.params import SocializedLossMethod
from protocol.scenarios import BTC_FEED, BTC_PERP, ETH_FEED, WETH, default_params


@pytest.fixture(scope="module")
def pro_rata() -> Iterator[Desk]:
    with make_chain("boa") as chain:
        yield deploy_desk(chain, fallback=False)


@pytest.fixture(scope="module")
def adl() -> Iterator[Desk]:
    with make_chain("boa") as chain:
        yield deploy_desk(chain, fallback=False, params=default_params(socialized_loss_method=SocializedLossMethod.ADL))


def crash_with_stale_collateral(desk: Desk, holders: tuple[str, ...]) -> ProtocolChainReplay:
    """BTC 60,000 and ETH 3,000; a 9x long; ``holders`` deposit 1 wei of WETH; then ETH is not
    updated for more than its heartbeat while BTC falls 8 % every ten minutes to 35,000: the
    long is bankrupt, its market's price trusted, the 1 wei of WETH on a stale feed."""
    run = desk.start_trading(trader_usdc=7_000)
    a = desk.actors
    run.apply(PushPrice(a["oracle"], ETH_FEED, 3_000 * WAD, run.now_s + 1))
    for who in holders:
        run.apply(Deposit(a[who], WETH, 1))
    price = 60_000
    while price > 35_000:
        run.advance(600)
        price = price * 92 // 100
        desk.publish(run, price)
        assert run.poke().pushed_price_wad == price * WAD
    assert trusted_prices(run.model.state, desk.params) == {BTC_FEED: price * WAD}  # ETH is stale
    return run


def test_a_stale_collateral_feed_does_not_shield_a_bankrupt_position(pro_rata: Desk) -> None:
    a = pro_rata.actors
    run = crash_with_stale_collateral(pro_rata, ("trader",))
    events = run.apply(Liquidate(a["keeper"], a["trader"], BTC_PERP, WAD))
    assert [e.size_wad for e in events if isinstance(e, ev.Liquidated)] == [WAD]  # closed whole
    assert BTC_PERP not in run.model.state.accounts[a["trader"]].positions
    assert run.differences([a["trader"], a["keeper"], a["market_maker"]], [BTC_PERP]) == []


def test_a_stale_collateral_feed_does_not_block_deleveraging(adl: Desk) -> None:
    """Both the bankrupt long and its counterparty hold 1 wei of WETH on the stale feed."""
    a = adl.actors
    run = crash_with_stale_collateral(adl, ("trader", "market_maker"))
    with pytest.raises(ProtocolRevert, match=r"^liquidation: shortfall exceeds insurance fund$"):
        run.apply(Liquidate(a["keeper"], a["trader"], BTC_PERP, WAD))
    adl_step = AutoDeleverage(a["keeper"], a["trader"], BTC_PERP, (a["market_maker"],))
    events = run.apply(adl_step)  # the ADL queue (F-04): proposed, then executed after the window
    assert [type(e).__name__ for e in events] == ["AdlProposed"]
    run.advance(adl.params.protocol.adl_window_s)
    events = run.apply(adl_step)
    assert [e.size_wad for e in events if isinstance(e, ev.Deleveraged)] == [WAD]
    assert BTC_PERP not in run.model.state.accounts[a["trader"]].positions
    assert run.differences([a["trader"], a["keeper"], a["market_maker"]], [BTC_PERP]) == []
