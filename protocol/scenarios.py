"""Ready-made parameters, named actors and the scripted crash scenario of the demo.

Actors are named by role. Each role has a deterministic private key derived from its name
(:func:`actor_key`: public, for tests and demos only), and its address is that key's, so
scenarios are reproducible and every actor can sign orders (:func:`actor_signer`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from protocol.actions import (
    Action,
    AdvanceTime,
    Deposit,
    Fill,
    FundInsurance,
    PushPrice,
    SetFundingRate,
    Withdraw,
)
from protocol.constants import WAD
from protocol.orders import MODEL_DOMAIN, OrderDomain, OrderSigner, address_of
from protocol.params import CollateralParams, FeedParams, MarketKind, MarketParams, Params, ProtocolParams

__all__ = [
    "ACTORS",
    "ScriptStep",
    "actor",
    "actor_key",
    "actor_signer",
    "crash_scenario",
    "default_params",
    "option_params",
]

BTC_FEED, ETH_FEED = 0, 1
BTC_PERP, ETH_PERP, BTC_CALL, BTC_PUT = 0, 1, 2, 3
WETH = 1
USDC = 10**6  # one settlement token in token units


def actor_key(role: str) -> bytes:
    """The deterministic private key of a role name: SHA-256 of ``"novation actor " + role``.

    Anyone can derive it: for tests, demos and simulations, never for value.
    """
    return hashlib.sha256(f"novation actor {role}".encode()).digest()


def actor(role: str) -> str:
    """The address of a role name's key (:func:`actor_key`)."""
    return address_of(actor_key(role))


ACTORS = {
    name: actor(name)
    for name in (
        "governance",
        "matcher",
        "oracle",
        "funding_operator",
        "keeper",
        "liquidator",
        "market_maker",
        "trader_conservative",
        "trader_leveraged",
        "trader_collateral",
        "trader_short",
    )
}


def actor_signer(domain: OrderDomain = MODEL_DOMAIN, roles: Iterable[str] = ()) -> OrderSigner:
    """An order signer for ``domain`` holding the keys of every role of :data:`ACTORS` and of
    ``roles`` (e.g. ``[f"trader-{i}" for i in range(n)]``)."""
    return OrderSigner(domain, [actor_key(r) for r in (*ACTORS, *roles)])


def default_params(**protocol_overrides: object) -> Params:
    """Two perpetual markets (BTC, ETH), USDC settlement and WETH collateral."""
    return Params(
        protocol=ProtocolParams(**protocol_overrides),  # type: ignore[arg-type]
        feeds=(
            FeedParams(BTC_FEED, "BTC/USD", heartbeat_s=3_600, max_move_wad=WAD // 2),
            FeedParams(ETH_FEED, "ETH/USD", heartbeat_s=3_600, max_move_wad=WAD // 2),
        ),
        markets=(
            MarketParams(
                BTC_PERP, "BTC-PERP", BTC_FEED, initial_margin_fraction_wad=WAD // 10, maintenance_share_wad=WAD // 2
            ),
            MarketParams(
                ETH_PERP,
                "ETH-PERP",
                ETH_FEED,
                initial_margin_fraction_wad=WAD // 10,
                maintenance_share_wad=WAD // 2,
                oi_cap_lower_wad=5 * 10**6 * WAD,
                oi_cap_upper_wad=50 * 10**6 * WAD,
            ),
        ),
        collaterals=(
            CollateralParams(
                WETH,
                "WETH",
                decimals=18,
                feed_id=ETH_FEED,
                haircut_wad=WAD // 5,
                liquidation_discount_wad=WAD // 20,
                deposit_cap=10**6 * WAD,
                value_cap_wad=10**8 * WAD,
                account_deposit_cap=10**5 * WAD,
            ),
        ),
    )


def option_params(expiry_s: int, **protocol_overrides: object) -> Params:
    """:func:`default_params` plus a BTC call (strike 65,000, market 2) and put (strike 55,000,
    market 3) expiring at ``expiry_s``, margined with 60 % implied volatility."""
    base = default_params(**protocol_overrides)
    options = tuple(
        MarketParams(
            market_id,
            symbol,
            BTC_FEED,
            initial_margin_fraction_wad=WAD // 10,
            maintenance_share_wad=WAD // 2,
            kind=kind,
            strike_wad=strike * WAD,
            expiry_s=expiry_s,
            volatility_wad=6 * WAD // 10,
        )
        for market_id, symbol, kind, strike in (
            (BTC_CALL, "BTC-65000-C", MarketKind.CALL, 65_000),
            (BTC_PUT, "BTC-55000-P", MarketKind.PUT, 55_000),
        )
    )
    return Params(
        protocol=base.protocol, feeds=base.feeds, markets=base.markets + options, collaterals=base.collaterals
    )


@dataclass(frozen=True)
class ScriptStep:
    """One narrated step of a scripted scenario."""

    title: str
    actions: tuple[Action, ...]


def crash_scenario(signer: OrderSigner | None = None) -> list[ScriptStep]:
    """BTC falls 60,000 -> 54,000 -> 42,000 (a gap): partial and full liquidations, an
    insurance-fund payout, a socialized loss and, once ETH has slid so far that the collateral
    trader's WETH no longer covers its debt, a collateral liquidation.

    Fills carry orders signed by ``signer`` (default: :func:`actor_signer` for the model's
    domain). Liquidations are not scripted: a keeper (:mod:`protocol.keeper`) reacts after each
    step.
    """
    a = ACTORS
    orders = signer or actor_signer()
    mm, cons, lev, coll, short = (
        a["market_maker"],
        a["trader_conservative"],
        a["trader_leveraged"],
        a["trader_collateral"],
        a["trader_short"],
    )

    def price(btc: int, eth: int, t: int) -> tuple[Action, ...]:
        return (PushPrice(a["oracle"], BTC_FEED, btc * WAD, t), PushPrice(a["oracle"], ETH_FEED, eth * WAD, t))

    def buy(taker: str, maker: str, btc_wad: int, px: int) -> Fill:
        return orders.fill(a["matcher"], maker, taker, BTC_PERP, btc_wad, px * WAD, WAD // 10_000, WAD // 2_000)

    t0 = 1_000
    return [
        ScriptStep("prices published: BTC 60,000, ETH 3,000", (AdvanceTime(t0, 1), *price(60_000, 3_000, t0))),
        ScriptStep(
            "deposits: USDC margin, WETH collateral, a seeded insurance fund",
            (
                Deposit(mm, 0, 2_000_000 * USDC),
                Deposit(cons, 0, 30_000 * USDC),
                Deposit(lev, 0, 17_000 * USDC),
                Deposit(coll, 0, 1_000 * USDC),
                Deposit(coll, WETH, 3 * WAD),
                Deposit(short, 0, 50_000 * USDC),
                Deposit(a["keeper"], 0, 200_000 * USDC),
                Deposit(a["liquidator"], 0, 50_000 * USDC),
                FundInsurance(a["governance"], 500 * USDC),
            ),
        ),
        ScriptStep(
            "fills novated: three longs against the market maker and a short",
            (
                buy(cons, mm, WAD, 60_000),
                buy(lev, mm, 2 * WAD, 60_000),
                buy(coll, short, WAD // 10, 60_000),
                buy(mm, short, WAD // 2, 60_000),
            ),
        ),
        ScriptStep(
            "eight hours of positive funding (longs pay)",
            (
                SetFundingRate(a["funding_operator"], BTC_PERP, WAD // 10_000 // 28_800),
                AdvanceTime(8 * 3_600, 2_400),
                *price(60_000, 3_000, t0 + 8 * 3_600),
            ),
        ),
        ScriptStep(
            "BTC drops to 54,000: the leveraged long falls below maintenance",
            (
                AdvanceTime(60, 5),
                *price(54_000, 2_800, t0 + 8 * 3_600 + 60),
            ),
        ),
        ScriptStep("withdrawal: the conservative trader takes out excess margin", (Withdraw(cons, 0, 5_000 * USDC),)),
        ScriptStep(
            "BTC gaps to 42,000: the rest of the leveraged long is underwater",
            (
                AdvanceTime(60, 5),
                *price(42_000, 1_900, t0 + 8 * 3_600 + 120),
            ),
        ),
        ScriptStep(
            "the collateral trader closes at a loss: its USDC balance goes negative",
            (orders.fill(a["matcher"], short, coll, BTC_PERP, -(WAD // 10), 42_000 * WAD, 0, WAD // 2_000),),
        ),
        ScriptStep(
            "ETH slides to 250: the WETH no longer covers the collateral trader's debt",
            tuple(
                step
                for i, eth in enumerate((950, 475, 250), start=3)
                for step in (AdvanceTime(60, 5), *price(42_000, eth, t0 + 8 * 3_600 + 60 * i))
            ),
        ),
    ]
