"""The clearing house's house-wide stored state as the model's :class:`~protocol.state.ProtocolState`.

One list of getter calls (:func:`state_calls`) and one decoder of their answers
(:func:`decode_state`), shared by every reader of a deployed house:
:meth:`contracts_py.chain_house.ChainClearingHouse.state` (through a chain backend's batched
calls) and :meth:`contracts_py.client.NovationClient.snapshot` (through JSON-RPC). Each caller
adds what it reads besides: accounts, role holders, filled orders. Amounts are WAD as stored.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final

from protocol.orders import OrderDomain
from protocol.state import FeedState, MarketState, ProtocolState, Roles

__all__ = ["SCALAR_GETTERS", "decode_state", "feed_state", "state_calls"]

#: The house's getters without arguments that :class:`ProtocolState` mirrors, in call order.
SCALAR_GETTERS: Final = (
    "governance",
    "pending_governance",
    "paused",
    "insurance_fund",
    "fee_pool",
    "funding_pool",
    "loss_pool",
    "uncovered_loss",
    "block_liquidated_wad",
    "block_liquidated_at",
    "liquidations_resume_at_s",
)


def state_calls(
    market_ids: Sequence[int], feed_ids: Sequence[int], asset_ids: Sequence[int]
) -> list[tuple[str, tuple[Any, ...]]]:
    """``(getter, arguments)`` of the house-wide state: the scalars, each market, each feed and
    its move reference, each asset's vault tokens (asset 0, the settlement asset, included)."""
    calls: list[tuple[str, tuple[Any, ...]]] = [(name, ()) for name in SCALAR_GETTERS]
    calls += [("markets", (m,)) for m in market_ids]
    calls += [(fn, (f,)) for f in feed_ids for fn in ("feeds", "feed_moves")]
    calls += [("vault_tokens", (i,)) for i in asset_ids]
    return calls


def feed_state(feed: Sequence[Any], moves: Sequence[Any]) -> FeedState:
    """A feed's :class:`FeedState` from the ``feeds`` and ``feed_moves`` getters' answers."""
    (price, updated, valid), (accepted, ref_price, ref_accepted) = feed, moves
    return FeedState(int(price), int(updated), bool(valid), int(accepted), int(ref_price), int(ref_accepted))


def decode_state(
    values: Iterator[Any],
    market_ids: Sequence[int],
    feed_ids: Sequence[int],
    asset_ids: Sequence[int],
    *,
    now_s: int,
    block: int,
    order_domain: OrderDomain,
) -> ProtocolState:
    """The :class:`ProtocolState` of the answers to :func:`state_calls` (taken from ``values``, in
    order; later values are left for the caller), stamped ``now_s`` and ``block``.

    Roles hold governance (and the pending governance) only, accounts and filled orders are
    empty: the caller adds what it reads. ``block_liquidated_at`` is the chain's block number."""
    top = {name: next(values) for name in SCALAR_GETTERS}
    markets = {m: MarketState(*(int(v) for v in next(values))) for m in market_ids}
    feeds = {f: feed_state(next(values), next(values)) for f in feed_ids}
    vault_tokens = {i: int(next(values)) for i in asset_ids}
    pending = str(top["pending_governance"]).lower()
    return ProtocolState(
        roles=Roles(
            governance=str(top["governance"]).lower(),
            pending_governance=None if int(pending, 16) == 0 else pending,
        ),
        now_s=now_s,
        block=block,
        paused=bool(top["paused"]),
        markets=markets,
        feeds=feeds,
        vault_tokens=vault_tokens,
        insurance_fund=int(top["insurance_fund"]),
        fee_pool=int(top["fee_pool"]),
        funding_pool=int(top["funding_pool"]),
        loss_pool=int(top["loss_pool"]),
        uncovered_loss=int(top["uncovered_loss"]),
        block_liquidated_wad=int(top["block_liquidated_wad"]),
        block_liquidated_at=int(top["block_liquidated_at"]),
        liquidations_resume_at_s=int(top["liquidations_resume_at_s"]),
        order_domain=order_domain,
    )
