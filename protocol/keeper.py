"""A reference keeper: finds what can be liquidated in the model and returns the actions.

It scans every account, which only an off-chain actor may do; the protocol itself verifies
each action it is handed. Sizes are the largest the protocol accepts (see
:func:`protocol.liquidation.max_liquidation_size`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from protocol.actions import Action, AutoDeleverage, Liquidate, LiquidateCollateral, normalize_address
from protocol.clearing_house import ClearingHouse
from protocol.constants import MAX_ADL_COUNTERPARTIES
from protocol.errors import ProtocolRevert
from protocol.liquidation import collateral_sale
from protocol.margin import notional, unrealized_pnl
from protocol.oracle_adapter import trusted_prices
from protocol.socialized_loss import adl_score
from protocol.units import to_wad

if TYPE_CHECKING:
    from protocol.keeper_block import KeeperBlock

__all__ = ["adl_counterparties", "collateral_for_sale", "collateral_to_sell", "keeper_actions"]


def collateral_for_sale(house: ClearingHouse | KeeperBlock, address: str) -> bool:
    """True if ``address``'s collateral may be sold now (F-05): its settled balance is negative,
    it is below its maintenance requirement as liquidation values it and its debt ratio reaches
    ``collateral_debt_ratio_trigger`` (the sale's target is positive); False when a price its
    positions need is untrusted. ``house`` may be a keepers' block (the same questions, asked
    without a fork)."""
    if house.settled_account(address).balance >= 0:
        return False
    try:
        return house.liquidation_health(address).liquidatable and house.collateral_sale_target(address) > 0
    except ProtocolRevert:
        return False


def collateral_to_sell(house: ClearingHouse, address: str, asset_id: int, price_wad: int) -> int:
    """Token units of ``asset_id`` a liquidator may buy from ``address``: the fewest whose net
    proceeds reach the sale's target (the close factor's share of the negative balance, after the
    pending funding the purchase settles), or everything held if that is not enough."""
    acct = house.settled_account(address)
    target = house.collateral_sale_target(address)
    cp = house.params.collateral(asset_id)
    unit = to_wad(1, cp.decimals)

    def covers(units: int) -> bool:
        proceeds, fee = collateral_sale(units * unit, price_wad, cp.liquidation_discount_wad, house.params.protocol)
        return proceeds - fee >= target

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
            adl = house.params.protocol.socialized_loss_method.deleverages
            if adl and -health.equity > house.state.insurance_fund:
                ranked = adl_counterparties(house, address, market_id)
                if ranked:
                    actions.append(AutoDeleverage(keeper, address, market_id, ranked))
            else:
                actions.append(Liquidate(keeper, address, market_id, size))
        if acct.balance < 0 and collateral_for_sale(house, address):
            for asset_id, amount_wad in sorted(acct.collateral.items()):
                cp = house.params.collateral(asset_id)
                if amount_wad >= to_wad(1, cp.decimals) and cp.feed_id in prices:
                    n = collateral_to_sell(house, address, asset_id, prices[cp.feed_id])
                    actions.append(LiquidateCollateral(liquidator, address, asset_id, n))
    return actions


def adl_counterparties(
    house: ClearingHouse, address: str, market_id: int, candidates: Iterable[str] | None = None
) -> tuple[str, ...]:
    """Opposite positions in profit, ranked by :func:`~protocol.socialized_loss.adl_score`
    (highest first, ties by address), at most ``MAX_ADL_COUNTERPARTIES``; what a keeper passes
    to ``AutoDeleverage``. Empty when a needed price is untrusted.

    ``candidates`` limits the search to those accounts (e.g. the pool of
    :func:`protocol.margin_core.adl_pool`); None searches every account.
    """
    state, params = house.state, house.params
    prices = trusted_prices(state, params)
    acct = state.accounts.get(address)
    if acct is None or market_id not in acct.positions:
        return ()
    price = prices.get(params.market(market_id).feed_id)
    side = 1 if acct.positions[market_id].size > 0 else -1
    ranked: list[tuple[int, str]] = []
    if candidates is None:
        searched = state.accounts
    else:  # an unknown candidate holds no position: nothing to rank
        picked = (normalize_address(a, "candidate") for a in candidates)
        searched = {a: acct for a in picked if (acct := state.accounts.get(a)) is not None}
    for other, cp in searched.items():
        pos = cp.positions.get(market_id)
        if other == address or pos is None or price is None or (pos.size > 0) == (side > 0):
            continue
        upnl = unrealized_pnl(pos, price)
        try:
            health = house.liquidation_health(other)
        except ProtocolRevert:
            continue
        if upnl > 0:
            ranked.append((adl_score(upnl, pos.open_notional, notional(pos.size, price), health.equity), other))
    ranked.sort(key=lambda t: (-t[0], t[1]))
    return tuple(addr for _, addr in ranked[:MAX_ADL_COUNTERPARTIES])
