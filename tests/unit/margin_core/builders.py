"""Model accounts as exact limb arrays, for comparing the two ways of building a book."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from protocol.margin_core import MarginBook, WadLimbs
from protocol.params import Params
from protocol.state import Account, MarketState


def limb_book(
    accounts: Sequence[Account], params: Params, markets: Mapping[int, MarketState], now_s: int = 0
) -> MarginBook:
    """:meth:`MarginBook.from_arrays` of ``accounts`` (perpetual columns, exact limbs)."""
    perps = [mp.market_id for mp in params.markets if not mp.is_option]
    assets = [cp.asset_id for cp in params.collaterals]
    n = len(accounts)

    def field(get: str) -> WadLimbs:
        rows = [[getattr(a.positions[m], get) if m in a.positions else 0 for m in perps] for a in accounts]
        return WadLimbs.from_ints(rows, shape=(n, len(perps)))

    return MarginBook.from_arrays(
        params,
        markets,
        balance=WadLimbs.from_ints([a.balance for a in accounts], shape=(n,)),
        size=field("size"),
        open_notional=field("open_notional"),
        funding_snapshot=field("funding_snapshot"),
        loss_snapshot=field("loss_snapshot"),
        collateral=WadLimbs.from_ints(
            [[a.collateral.get(k, 0) for k in assets] for a in accounts], shape=(n, len(assets))
        ),
        now_s=now_s,
    )
