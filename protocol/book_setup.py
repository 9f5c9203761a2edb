"""A fresh book's set-up applied in place: deposits and openings, without a fork per action.

Setting up a simulated book is a long run of :class:`~protocol.actions.Deposit` and
:class:`~protocol.actions.Fill` actions (each trader deposits and opens against a market maker).
:class:`BookSetup` applies them with the reference model's rules and gives, action for action,
the events and the state :meth:`ClearingHouse.apply <protocol.clearing_house.ClearingHouse.apply>`
gives, or raises the same :class:`~protocol.errors.ProtocolRevert` leaving the state unchanged:

* every action runs on the live state under a :class:`~protocol.journal.Journal` (undone on a
  revert) instead of on a fork;
* **trusted set-up entry** — ``signatures_verified=True`` declares that the caller signed every
  order it passes itself (with an :class:`~protocol.orders.OrderSigner` holding the accounts'
  keys, as :func:`simulator.engine.build_book` does): signatures are then not recovered, and the
  order's account is taken as its signer. Everything else an order must satisfy (expiry,
  cancellation, side, limit, fee, remaining size) is checked. Never use it for orders someone
  else signed; without it every signature is recovered exactly as the model does;
* a fill opening a position for an account that holds none, with no fee, in a book of
  perpetuals whose feeds are all trusted (a fresh book's openings), takes a lean path: the same
  checks and writes in the model's order, with both accounts' margin summed directly over their
  perpetual positions and collateral (:func:`_perpetual_health`, the formula of
  :func:`protocol.margin.account_health` for such accounts). Any other fill, deposit or action
  runs the model's handler in place.

``tests/differential/test_book_setup_vs_model.py`` builds books both ways and compares every
event and the final state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from protocol import vault
from protocol.actions import Action, Deposit, Fill, SignedOrder
from protocol.clearing import CANCELLED, _keeps_solvency, apply_trade, fill, reduces_risk
from protocol.constants import WAD
from protocol.context import Context, require
from protocol.errors import InvalidParameter, ProtocolRevert
from protocol.events import Event, FillSettled, OrderFilled
from protocol.funding import settle_account
from protocol.journal import Journal
from protocol.margin import Health, collateral_value, position_requirements
from protocol.oracle_adapter import is_trusted
from protocol.orders import signed_digest
from protocol.params import Params
from protocol.state import Account, MarketState
from protocol.units import Rounding, mul_div

if TYPE_CHECKING:
    from protocol.clearing_house import ClearingHouse

__all__ = ["BookSetup"]

_ZERO_FEE = 0


def _perpetual_health(
    acct: Account, params: Params, markets: Mapping[int, MarketState], prices: Mapping[int, int]
) -> Health:
    """:func:`protocol.margin.account_health` of an account holding only perpetual positions
    whose pending funding and loss are settled (the same roundings, term by term)."""
    equity = acct.balance
    for asset_id, amount in acct.collateral.items():
        if amount:
            cp = params.collateral(asset_id)
            equity += collateral_value(cp, amount, prices[cp.feed_id])
    initial = maintenance = 0
    for market_id, pos in acct.positions.items():
        mp = params.market(market_id)
        price = prices[mp.feed_id]
        equity += pos.size * price // WAD - pos.open_notional  # FLOOR, as unrealized_pnl
        im, mm = position_requirements(mp, markets[market_id], pos.size, price)
        initial += im
        maintenance += mm
    return Health(equity=equity, initial=initial, maintenance=maintenance)


class BookSetup:
    """Set-up actions on ``house``'s live state (see the module docstring)."""

    def __init__(self, house: ClearingHouse, *, signatures_verified: bool = False) -> None:
        if not isinstance(signatures_verified, bool):
            raise InvalidParameter(f"signatures_verified must be a bool, got {signatures_verified!r}")
        self._house = house
        self._verified = signatures_verified
        params = house.params
        self._lean_book = not any(mp.is_option for mp in params.markets)

    def apply(self, action: Action) -> list[Event]:
        """Apply ``action`` as :meth:`ClearingHouse.apply` does (set-up actions in place)."""
        house = self._house
        if isinstance(action, Fill):
            return self._fill(action)
        if isinstance(action, Deposit):
            state = house.state
            journal = Journal(state, (action.account,), vault=True)
            ctx = Context(state, house.params)
            try:
                vault.deposit(ctx, action)
            except BaseException:
                journal.restore()
                raise
            return ctx.events
        return house.apply(action)

    def _trust(self, signed: SignedOrder, sep: bytes) -> None:
        """Record ``signed``'s account as its signer (the trusted entry), keeping its digest."""
        signed.memo[sep] = (signed_digest(signed, self._house.state.order_domain), signed.order.account)

    def _fill(self, action: Fill) -> list[Event]:
        house = self._house
        state, params = house.state, house.params
        domain = state.order_domain
        if self._verified:
            self._trust(action.maker_order, domain.separator)
            self._trust(action.taker_order, domain.separator)
        maker_digest = signed_digest(action.maker_order, domain)
        taker_digest = signed_digest(action.taker_order, domain)
        journal = Journal(state, (action.maker, action.taker), orders=(maker_digest, taker_digest))
        ctx = Context(state, params)
        try:
            if self._lean(action):
                self._lean_fill(ctx, action, maker_digest, taker_digest)
            else:
                fill(ctx, action)
        except BaseException:
            journal.restore()
            raise
        return ctx.events

    def _lean(self, action: Fill) -> bool:
        """A fresh account's opening without fees in a perpetual book whose feeds are trusted."""
        state, params = self._house.state, self._house.params
        if not (self._verified and self._lean_book and action.maker_fee_wad == action.taker_fee_wad == _ZERO_FEE):
            return False
        taker = state.accounts.get(action.taker)
        if taker is not None and taker.positions:
            return False
        return all(is_trusted(state.feeds[fp.feed_id], fp, state.now_s) for fp in params.feeds)

    def _take(self, ctx: Context, signed: SignedOrder, digest: bytes, delta: int, price_wad: int) -> None:
        """:func:`protocol.clearing.take_order` for an order whose signer is its account."""
        order = signed.order
        require(ctx.state.now_s <= order.expiry_s, "clearing: order expired")
        filled = ctx.state.order_filled.get(digest, 0)
        require(filled != CANCELLED, "clearing: order cancelled")
        require((order.size_wad > 0) == (delta > 0), "clearing: order side")
        within = price_wad <= order.limit_price_wad if delta > 0 else price_wad >= order.limit_price_wad
        require(within, "clearing: price beyond order limit")
        require(order.max_fee_wad >= _ZERO_FEE, "clearing: fee above order maximum")
        filled += abs(delta)
        require(filled <= abs(order.size_wad), "clearing: order overfilled")
        ctx.state.order_filled[digest] = filled
        ctx.emit(OrderFilled(digest, order.account, filled))

    def _lean_fill(self, ctx: Context, action: Fill, maker_digest: bytes, taker_digest: bytes) -> None:
        """:func:`protocol.clearing.fill` of a fresh account's fee-less opening (see :meth:`_lean`)."""
        state, params = ctx.state, ctx.params
        require(action.sender in state.roles.matchers, "clearing: caller is not a matcher")
        ctx.require_not_paused("clearing")
        market_id, size, price = action.market_id, action.size_wad, action.price_wad
        mp, _ = ctx.market(market_id, "clearing")
        require(action.maker_order.order.market_id == market_id, "clearing: orders of different markets")
        require(action.maker != action.taker, "clearing: self trade")
        self._take(ctx, action.maker_order, maker_digest, -size, price)
        self._take(ctx, action.taker_order, taker_digest, size, price)
        settle_account(ctx, action.maker)
        maker, taker = state.account(action.maker), state.account(action.taker)
        maker_pos = maker.positions.get(market_id)
        maker_adds = not reduces_risk(maker_pos.size if maker_pos else 0, -size)
        feed = state.feeds[mp.feed_id]  # trusted (see _lean): the band's reference and the price
        band = params.protocol.max_fill_deviation_wad
        require(abs(price - feed.price_wad) * WAD <= band * feed.price_wad, "clearing: price outside band")
        prices = {f: fs.price_wad for f, fs in state.feeds.items()}
        maker_before = None if maker_adds else _perpetual_health(maker, params, state.markets, prices)
        notional = mul_div(abs(size), price, WAD, Rounding.DOWN)
        apply_trade(ctx, action.taker, market_id, size, notional)
        apply_trade(ctx, action.maker, market_id, -size, notional)
        ctx.emit(FillSettled(action.maker, action.taker, market_id, size, price, notional, 0, 0))
        if not _perpetual_health(taker, params, state.markets, prices).meets_initial:
            raise ProtocolRevert("margin: below initial")
        maker_after = _perpetual_health(maker, params, state.markets, prices)
        if maker_before is None:
            require(maker_after.meets_initial, "margin: below initial")
        else:
            require(_keeps_solvency(maker_before, maker_after), "clearing: fill worsens margin ratio")
