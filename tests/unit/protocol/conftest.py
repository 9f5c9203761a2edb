"""Fixtures for the reference-model unit tests.

``desk`` is a :class:`~protocol.clearing_house.ClearingHouse` built from
:func:`protocol.scenarios.default_params` with the role-named actors of
:data:`protocol.scenarios.ACTORS` (governance, matcher, oracle, funding operator) and prices
pushed at ``T0`` (BTC 60,000, ETH 3,000), wrapped with a few helpers. ``make_desk`` builds one
with protocol-parameter overrides (``make_desk(liquidation_penalty_wad=0)``) or whole params.
Fill helpers charge no fees unless asked, so hand arithmetic stays short.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from protocol.actions import Action, AdvanceTime, Deposit, PushPrice
from protocol.clearing_house import ClearingHouse
from protocol.constants import WAD
from protocol.events import Event
from protocol.margin import Health
from protocol.oracle_adapter import earliest_acceptance
from protocol.orders import OrderSigner
from protocol.params import Params
from protocol.scenarios import ACTORS, BTC_FEED, BTC_PERP, ETH_FEED, USDC, WETH, actor_signer, default_params
from protocol.state import Account, ProtocolState

#: Start time of every desk (s) and the prices pushed at it.
T0 = 1_700_000_000
BTC_PRICE = 60_000 * WAD
ETH_PRICE = 3_000 * WAD


@dataclass
class Desk:
    """A clearing house with the actors of ``ACTORS`` and short helpers for the common actions;
    ``signer`` signs the actors' orders for the house's domain."""

    house: ClearingHouse
    signer: OrderSigner = field(default_factory=actor_signer)

    @property
    def state(self) -> ProtocolState:
        return self.house.state

    @property
    def now(self) -> int:
        return self.house.state.now_s

    def apply(self, action: Action) -> list[Event]:
        return self.house.apply(action)

    def account(self, who: str) -> Account:
        return self.house.state.accounts[who]

    def health(self, who: str) -> Health:
        return self.house.health(who)

    def deposit_usdc(self, who: str, usd: int, units: int = 0) -> list[Event]:
        """Deposit ``usd`` whole USDC plus ``units`` token units (1 unit = 0.000001 USDC)."""
        return self.apply(Deposit(who, 0, usd * USDC + units))

    def deposit_weth(self, who: str, amount_wad: int) -> list[Event]:
        return self.apply(Deposit(who, WETH, amount_wad))

    def fill(
        self,
        taker: str,
        maker: str,
        size_wad: int,
        price_wad: int,
        *,
        market_id: int = BTC_PERP,
        maker_fee_wad: int = 0,
        taker_fee_wad: int = 0,
    ) -> list[Event]:
        """The taker buys ``size_wad`` (sells if negative) from the maker at ``price_wad``."""
        return self.apply(
            self.signer.fill(
                ACTORS["matcher"], maker, taker, market_id, size_wad, price_wad, maker_fee_wad, taker_fee_wad
            )
        )

    def push(self, feed_id: int, price_wad: int, timestamp_s: int | None = None) -> list[Event]:
        """The oracle pushes ``price_wad`` for ``feed_id`` stamped ``timestamp_s``.

        Without a timestamp the reading is stamped now, after the clock has moved (seconds only,
        same block) as far as the core's order and move bound need (docs/SPEC.md §3): past the
        feed's last reading, and until a move within ``max_move`` is allowed.
        """
        if timestamp_s is None:
            feed, fp = self.state.feeds[feed_id], self.house.params.feed(feed_id)
            at = earliest_acceptance(feed, fp, price_wad, self.now) if price_wad > 0 else self.now
            if at is None:  # beyond max_move, meant to be rejected: only a newer timestamp
                at = max(self.now, feed.updated_at_s + 1)
            self.advance(at - self.now)
            timestamp_s = self.now
        return self.apply(PushPrice(ACTORS["oracle"], feed_id, price_wad, timestamp_s))

    def push_btc(self, price_wad: int) -> list[Event]:
        return self.push(BTC_FEED, price_wad)

    def push_eth(self, price_wad: int) -> list[Event]:
        return self.push(ETH_FEED, price_wad)

    def advance(self, seconds: int, blocks: int = 0) -> list[Event]:
        return self.apply(AdvanceTime(seconds, blocks))


def build_house(params: Params) -> ClearingHouse:
    """A house with every role assigned to its ACTORS address, started at ``T0``."""
    return ClearingHouse(
        params,
        governance=ACTORS["governance"],
        matchers=[ACTORS["matcher"]],
        oracles=[ACTORS["oracle"]],
        funding_operators=[ACTORS["funding_operator"]],
        start_time_s=T0,
    )


DeskFactory = Callable[..., Desk]


@pytest.fixture
def make_desk() -> DeskFactory:
    """``make_desk(params=None, *, prices=True, **protocol_overrides) -> Desk``."""

    def _make(params: Params | None = None, *, prices: bool = True, **protocol_overrides: object) -> Desk:
        if params is None:
            params = default_params(**protocol_overrides)
        elif protocol_overrides:
            raise TypeError("pass either params or protocol overrides, not both")
        desk = Desk(build_house(params))
        if prices:
            desk.push(BTC_FEED, BTC_PRICE)
            desk.push(ETH_FEED, ETH_PRICE)
        return desk

    return _make


@pytest.fixture
def desk(make_desk: DeskFactory) -> Desk:
    """Default parameters, roles assigned, BTC 60,000 and ETH 3,000 pushed at ``T0``."""
    return make_desk()


@pytest.fixture
def house(desk: Desk) -> ClearingHouse:
    """The bare clearing house of ``desk``."""
    return desk.house
