"""A reference keeper: finds what can be liquidated in the model and returns the actions.

It scans every account, which only an off-chain actor may do; the protocol itself verifies
each action it is handed. Sizes are the largest the protocol accepts (see
:func:`protocol.liquidation.max_liquidation_size`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from protocol.actions import Action, AutoDeleverage, Liquidate, LiquidateCollateral, normalize_address
from protocol.adl_queue import dominates, phase
from protocol.clearing_house import ClearingHouse
from protocol.constants import MAX_ADL_COUNTERPARTIES
from protocol.errors import ProtocolRevert
from protocol.liquidation import collateral_sale
from protocol.margin import notional, unrealized_pnl
from protocol.oracle_adapter import trusted_prices
from protocol.params import SocializedLossMethod
from protocol.socialized_loss import adl_score
from protocol.units import to_wad

if TYPE_CHECKING:
    from protocol.keeper_block import KeeperBlock

__all__ = ["adl_action", "adl_counterparties", "collateral_for_sale", "collateral_to_sell", "keeper_actions"]


def collateral_for_sale(house: ClearingHouse | KeeperBlock, address: str) -> bool:
    """True if ``address``'s collateral may be sold now (F-05): its settled balance is negative
    and it is below its maintenance requirement as liquidation values it; False when a price its
    positions need is untrusted. ``house`` may be a keepers' block (the same questions, asked
    without a fork)."""
    if house.settled_account(address).balance >= 0:
        return False
    try:
        return house.liquidation_health(address).liquidatable
    except ProtocolRevert:
        return False


def collateral_to_sell(house: ClearingHouse, address: str, asset_id: int, price_wad: int) -> int:
    """Token units of ``asset_id`` a liquidator may buy from ``address``: the fewest whose net
    proceeds cover the negative balance (after the pending funding the purchase settles), or
    everything held if that is not enough."""
    acct = house.settled_account(address)
    cp = house.params.collateral(asset_id)
    unit = to_wad(1, cp.decimals)

    def covers(units: int) -> bool:
        proceeds, fee = collateral_sale(units * unit, price_wad, cp.liquidation_discount_wad, house.params.protocol)
        return proceeds - fee >= -acct.balance

    lo, hi = 1, acct.collateral.get(asset_id, 0) // unit
    while lo < hi:
        mid = (lo + hi) // 2
        if covers(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def keeper_actions(
    house: ClearingHouse, keeper: str, liquidator: str, accounts: Iterable[str] | None = None
) -> list[Action]:
    """Liquidations (or, with the ADL method and a shortfall beyond the insurance fund,
    deleveragings) ``keeper`` and collateral sales ``liquidator`` would send now, one per
    (account, market) or (account, asset), in address order.

    ``accounts`` limits the scan to those addresses (e.g. the candidates a margin-core screen
    found); None scans every account. Deleveraging counterparties are always ranked over every
    account of ``house``.
    """
    actions: list[Action] = []
    prices = trusted_prices(house.state, house.params)
    scanned = house.state.accounts if accounts is None else {normalize_address(a, "account") for a in accounts}
    for address in sorted(scanned):
        if address not in house.state.accounts:
            continue
        if address in (keeper, liquidator):
            continue
        acct = house.state.accounts[address]
        for market_id in sorted(acct.positions):
            try:
                size = house.max_liquidation_size(address, market_id)
            except ProtocolRevert:
                continue  # an untrusted price: nothing may be liquidated
            if not size:
                continue
            health = house.liquidation_health(address)
            adl = house.params.protocol.socialized_loss_method is SocializedLossMethod.ADL
            if adl and -health.equity > house.state.insurance_fund:
                step = adl_action(house, keeper, address, market_id, adl_counterparties(house, address, market_id))
                if step is not None:
                    actions.append(step)
            else:
                actions.append(Liquidate(keeper, address, market_id, size))
        if acct.balance < 0 and collateral_for_sale(house, address):
            for asset_id, amount_wad in sorted(acct.collateral.items()):
                cp = house.params.collateral(asset_id)
                if amount_wad >= to_wad(1, cp.decimals) and cp.feed_id in prices:
                    n = collateral_to_sell(house, address, asset_id, prices[cp.feed_id])
                    actions.append(LiquidateCollateral(liquidator, address, asset_id, n))
    return actions


def _scored(house: ClearingHouse, address: str, market_id: int, searched: Iterable[str]) -> dict[str, int]:
    """ADL score of each of ``searched`` holding a position opposite to ``address``'s in
    ``market_id`` in profit, at trusted prices (none when a needed price is untrusted)."""
    state, params = house.state, house.params
    acct = state.accounts.get(address)
    if acct is None or market_id not in acct.positions:
        return {}
    price = trusted_prices(state, params).get(params.market(market_id).feed_id)
    side = 1 if acct.positions[market_id].size > 0 else -1
    scores: dict[str, int] = {}
    for other in searched:
        cp = state.accounts.get(other)
        pos = None if cp is None else cp.positions.get(market_id)
        if other == address or pos is None or price is None or (pos.size > 0) == (side > 0):
            continue
        upnl = unrealized_pnl(pos, price)
        try:
            health = house.liquidation_health(other)
        except ProtocolRevert:
            continue
        if upnl > 0:
            scores[other] = adl_score(upnl, pos.open_notional, notional(pos.size, price), health.equity)
    return scores


def adl_counterparties(
    house: ClearingHouse, address: str, market_id: int, candidates: Iterable[str] | None = None
) -> tuple[str, ...]:
    """Opposite positions in profit, ranked by :func:`~protocol.socialized_loss.adl_score`
    (highest first, ties by address), at most ``MAX_ADL_COUNTERPARTIES``; what a keeper passes
    to ``AutoDeleverage``. Empty when a needed price is untrusted.

    ``candidates`` limits the search to those accounts (e.g. the pool of
    :func:`protocol.margin_core.adl_pool`); None searches every account.
    """
    searched = house.state.accounts if candidates is None else (normalize_address(a, "candidate") for a in candidates)
    scores = _scored(house, address, market_id, searched)
    ranked = sorted(scores, key=lambda a: (-scores[a], a))
    return tuple(ranked[:MAX_ADL_COUNTERPARTIES])


def adl_action(
    house: ClearingHouse, keeper: str, address: str, market_id: int, ranked: tuple[str, ...]
) -> AutoDeleverage | Liquidate | None:
    """What ``keeper`` sends for a bankrupt position beyond the fund, given its own ranking
    ``ranked`` (:func:`adl_counterparties`), by the phase of the ADL queue
    (:mod:`protocol.adl_queue`): a proposal; a challenge when ``ranked`` outranks the stored list
    (else None: wait for the deadline); the stored list's execution, or for an empty one the
    bankrupt close (F-10)."""
    current = phase(house.state, house.params, address, market_id)
    if current == "propose":
        return AutoDeleverage(keeper, address, market_id, ranked)
    stored = house.state.adl_proposals[(address, market_id)].counterparties
    if current == "execute":
        if stored:
            return AutoDeleverage(keeper, address, market_id, stored)
        return Liquidate(keeper, address, market_id, abs(house.state.accounts[address].positions[market_id].size))
    scores = _scored(house, address, market_id, (*ranked, *stored))
    if dominates([scores.get(a, 0) for a in ranked], [scores.get(a, 0) for a in stored]):
        return AutoDeleverage(keeper, address, market_id, ranked)
    return None
