"""What the keeper sends: screened by the margin core, decided exactly by the reference model.

For a :class:`~contracts_py.client.Snapshot` of the book (read through the lens at one block):

1. the margin core (:func:`protocol.margin_core.evaluate` over the positioned accounts, the
   markets' funding accrued to the block's time) finds the exact set of liquidatable accounts
   among thousands; accounts in debt with collateral are added for collateral sales;
2. the reference model decides the actions on those accounts only
   (:func:`protocol.keeper.keeper_actions`: the largest valid liquidation size, deleveraging
   with a counterparty list ranked over every account, the fewest collateral units needed);
3. the actions are applied in order to a copy of the model advanced to the next block, which
   drops what the protocol would refuse there (the per-block liquidation cap above all) and
   gives each action's reward: the keeper's share of the penalty, or the discount on collateral
   bought (USD WAD).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from contracts_py.client import Snapshot
from protocol import events as ev
from protocol.actions import Action, AdvanceTime, AutoDeleverage, Liquidate, LiquidateCollateral
from protocol.clearing_house import ClearingHouse
from protocol.constants import WAD
from protocol.errors import InvalidParameter, ProtocolRevert
from protocol.funding import accrued_markets
from protocol.keeper import keeper_actions

__all__ = ["Work", "plan_work", "screened_candidates", "work_action", "work_key"]


@dataclass(frozen=True)
class Work:
    """One action the protocol accepts in the next block, and what it pays the keeper (USD WAD)."""

    key: str
    action: Action
    reward_wad: int


def work_key(action: Action) -> str:
    """The journal key of ``action``: one pending transaction per (kind, account, market or asset)."""
    if isinstance(action, Liquidate | AutoDeleverage):
        return f"{type(action).__name__}:{action.account}:{action.market_id}"
    if isinstance(action, LiquidateCollateral):
        return f"LiquidateCollateral:{action.account}:{action.asset_id}"
    raise InvalidParameter(f"a keeper does not send {type(action).__name__}")


def work_action(keeper: str, fn: str, args: tuple[Any, ...]) -> Action | None:
    """The action of a transaction ``keeper`` sent to the house calling ``fn(*args)`` (the inverse
    of :func:`contracts_py.chain_house.call_of` for the keeper's work), None for a call that is
    not keeper work (a funding poke)."""
    if fn == "liquidate":
        return Liquidate(keeper, *args)
    if fn == "liquidate_collateral":
        return LiquidateCollateral(keeper, *args)
    if fn == "auto_deleverage":
        account, market_id, counterparties = args
        return AutoDeleverage(keeper, account, market_id, tuple(counterparties))
    return None


def screened_candidates(snap: Snapshot) -> list[str]:
    """Accounts of ``snap`` below maintenance (the margin core's exact set at the block's prices,
    funding accrued to its time), plus accounts in debt holding collateral, sorted."""
    from protocol.margin_core import MarginBook, evaluate, liquidation_candidates

    accounts = snap.state.accounts
    debt = {a for a, acct in accounts.items() if acct.balance < 0 and any(acct.collateral.values())}
    positioned = {a: acct for a, acct in accounts.items() if acct.positions}
    if not positioned:
        return sorted(debt)
    # the markets with funding accrued (copies), the positioned accounts as read (the book copies them)
    state = dataclasses.replace(snap.state, markets=accrued_markets(snap.state, snap.params), accounts=positioned)
    prices = {f: fs.price_wad for f, fs in state.feeds.items() if fs.price_wad > 0}
    book = MarginBook.from_state(state, snap.params)
    try:
        batch = evaluate(book, prices)
    except InvalidParameter:  # a feed without a price: the model decides every account
        return sorted(set(positioned) | debt)
    labels = book.labels or ()
    return sorted({labels[int(i)] for i in liquidation_candidates(batch)} | debt)


def plan_work(
    snap: Snapshot,
    keeper: str,
    *,
    skip: frozenset[str] | set[str] = frozenset(),
    pending: Sequence[Action] = (),
) -> list[Work]:
    """The actions ``keeper`` may send for the next block of ``snap`` (work whose key is in
    ``skip``, e.g. already pending, left out), each confirmed by the model, in order.

    ``pending``: the keeper's own transactions not mined yet (e.g. left out of a full block);
    they go first in the model's next block, so new work does not exceed the per-block cap
    beside them."""
    candidates = [a for a in screened_candidates(snap) if a != keeper]
    if not candidates:
        return []
    house = ClearingHouse.from_state(snap.params, copy.deepcopy(snap.state))
    actions = [a for a in keeper_actions(house, keeper, keeper, accounts=candidates) if work_key(a) not in skip]
    house.apply(AdvanceTime(1, 1))
    for action in pending:
        try:
            house.apply(action)
        except ProtocolRevert:
            continue  # it will revert, or was overtaken: it takes nothing from the next block
    out = []
    for action in actions:
        try:
            events = house.apply(action)
        except ProtocolRevert:
            continue  # refused in the next block (its cap is used up, or time moved the account)
        out.append(Work(work_key(action), action, _reward(house, events)))
    return out


def _reward(house: ClearingHouse, events: list[ev.Event]) -> int:
    total = 0
    for e in events:
        if isinstance(e, ev.Liquidated):
            total += e.keeper_reward_wad
        elif isinstance(e, ev.CollateralLiquidated):
            feed = house.params.collateral(e.asset_id).feed_id
            total += e.amount_wad * house.state.feeds[feed].price_wad // WAD - e.proceeds_wad
    return total
