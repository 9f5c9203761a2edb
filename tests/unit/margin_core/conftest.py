"""Builders shared by the margin core unit tests: small parameter sets and model states."""

from __future__ import annotations

import pytest

from protocol.constants import WAD
from protocol.params import CollateralParams, FeedParams, MarketParams, Params, ProtocolParams
from protocol.state import Account, MarketState, Position, ProtocolState, Roles

GOVERNANCE = "0x" + "11" * 20


def two_market_params() -> Params:
    """BTC (no OI scaling) and ETH (OI scaling) perpetuals, WETH collateral on the ETH feed."""
    return Params(
        ProtocolParams(),
        feeds=(FeedParams(0, "BTC/USD", 3_600, WAD // 2), FeedParams(1, "ETH/USD", 3_600, WAD // 2)),
        markets=(
            MarketParams(0, "BTC-PERP", 0, initial_margin_fraction_wad=WAD // 10, maintenance_share_wad=WAD // 2),
            MarketParams(
                1,
                "ETH-PERP",
                1,
                initial_margin_fraction_wad=WAD // 20,
                maintenance_share_wad=6 * WAD // 10,
                oi_cap_lower_wad=10**6 * WAD,
                oi_cap_upper_wad=10**7 * WAD,
            ),
        ),
        collaterals=(CollateralParams(1, "WETH", 18, 1, WAD // 5, WAD // 20, 10**30, 10**5 * WAD, 10**29),),
    )


def market_states() -> dict[int, MarketState]:
    """Nonzero funding and loss indices; ETH open interest inside the scaling band."""
    return {
        0: MarketState(funding_index=123 * WAD + 456, loss_index_long=7 * WAD // 3, loss_index_short=WAD // 7),
        1: MarketState(funding_index=-5 * WAD + 1, loss_index_long=11, loss_index_short=3 * WAD, oi_long=1_000 * WAD),
    }


PRICES = {0: 60_000 * WAD + 12_345, 1: 3_000 * WAD - 7}


def trader(balance: int = 0, *, btc: int = 0, eth: int = 0, weth: int = 0) -> Account:
    """An account with a BTC and/or ETH position opened at round prices and old index snapshots."""
    positions = {}
    if btc:
        positions[0] = Position(btc, btc * 59_000, funding_snapshot=100 * WAD + 3, loss_snapshot=WAD // 10)
    if eth:
        positions[1] = Position(eth, eth * 3_100, funding_snapshot=-4 * WAD, loss_snapshot=5)
    return Account(balance=balance, collateral={1: weth} if weth else {}, positions=positions)


def state_of(accounts: dict[str, Account], markets: dict[int, MarketState] | None = None) -> ProtocolState:
    """A protocol state holding ``accounts`` (only the fields the margin core reads)."""
    return ProtocolState(roles=Roles(GOVERNANCE), accounts=accounts, markets=markets or market_states())


@pytest.fixture
def params() -> Params:
    return two_market_params()
