"""A fresh book's set-up applied in place: deposits and openings, without a fork per action.

Setting up a simulated book is a long run of :class:`~protocol.actions.Deposit` and
:class:`~protocol.actions.Fill` actions (each trader deposits and opens against a market maker).
:class:`BookSetup` applies them with the reference model's rules and gives, action for action,
the events and the state :meth:`ClearingHouse.apply <protocol.clearing_house.ClearingHouse.apply>`
gives, or raises the same :class:`~protocol.errors.ProtocolRevert` leaving the state unchanged:

* every action runs on the live state instead of on a fork: a deposit with the vault's own
  handler (all its checks precede its writes; a refused deposit takes back the account it
  created), a lean fill (below) checking everything before it writes, other fills under a
  :class:`~protocol.journal.Journal` (undone on a revert);
* **trusted set-up entry** — ``signatures_verified=True`` declares that the caller signed every
  order it passes itself (with an :class:`~protocol.orders.OrderSigner` holding the accounts'
  keys, as :func:`simulator.engine.build_book` does): signatures are then not recovered, and the
  order's account is taken as its signer. Everything else an order must satisfy (expiry,
  cancellation, side, limit, fee, remaining size) is checked. Never use it for orders someone
  else signed; without it every signature is recovered exactly as the model does;
* a fill opening a position for an account that holds none, with no fee, in a book of
  perpetuals whose feeds are all trusted and whose maker has nothing to settle (a fresh book's
  openings), takes a lean path: the model's checks in the model's order, then both trades
  (:func:`protocol.clearing.traded_position`) with both accounts' margin summed directly over
  their perpetual positions and collateral (:func:`_perpetual_health`, the formula of
  :func:`protocol.margin.account_health` for such accounts); when either then falls short of
  initial margin, the few values the trades wrote are put back and the model's handler decides
  (under a journal). Any other action runs the model's handler.

``tests/differential/test_book_setup_vs_model.py`` builds books both ways and compares every
event and the final state.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING

from protocol import vault
from protocol.actions import Action, Deposit, Fill, SignedOrder
from protocol.clearing import CANCELLED, fill, record_trade, traded_position
from protocol.constants import WAD
from protocol.context import Context, require
from protocol.errors import InvalidParameter, ProtocolRevert
from protocol.events import Event, FillSettled, OrderFilled, PositionChanged
from protocol.journal import Journal
from protocol.margin import Health, collateral_value, position_requirements, side_loss_index
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
            return self._deposit(action)
        return house.apply(action)

    def _deposit(self, action: Deposit) -> list[Event]:
        """:func:`protocol.vault.deposit` on the live state: every check it makes comes before its
        writes, but the creation of a new account, which a refusal takes back (if it came to it)."""
        state = self._house.state
        created = action.account not in state.accounts
        ctx = Context(state, self._house.params)
        try:
            vault.deposit(ctx, action)
        except ProtocolRevert:
            if created:
                state.accounts.pop(action.account, None)
            raise
        return ctx.events

    def _trust(self, signed: SignedOrder, sep: bytes) -> None:
        """Record ``signed``'s account as its signer (the trusted entry), keeping its digest."""
        signed.memo[sep] = (signed_digest(signed, self._house.state.order_domain), signed.order.account)

    def _fill(self, action: Fill) -> list[Event]:
        house = self._house
        state, params = house.state, house.params
        domain = state.order_domain
        maker_digest = signed_digest(action.maker_order, domain)
        taker_digest = signed_digest(action.taker_order, domain)
        if self._lean(action):
            events = self._lean_fill(action, maker_digest, taker_digest)
            if events is not None:
                return events
        if self._verified:
            self._trust(action.maker_order, domain.separator)
            self._trust(action.taker_order, domain.separator)
        journal = Journal(state, (action.maker, action.taker), orders=(maker_digest, taker_digest))
        ctx = Context(state, params)
        try:
            fill(ctx, action)
        except BaseException:
            journal.restore()
            raise
        return ctx.events

    def _lean(self, action: Fill) -> bool:
        """A fresh account's opening without fees in a perpetual book whose feeds are trusted and
        whose market maker has nothing to settle (every market it holds accrued to now, its
        snapshots current): the model's settlement and accrual are then no-ops."""
        state, params = self._house.state, self._house.params
        if not (self._verified and self._lean_book and action.maker_fee_wad == action.taker_fee_wad == _ZERO_FEE):
            return False
        taker = state.accounts.get(action.taker)
        if taker is not None and taker.positions:
            return False
        now = state.now_s
        markets = state.markets
        market = markets.get(action.market_id)
        if market is not None and market.last_accrual_s < now:
            return False
        maker = state.accounts.get(action.maker)
        for market_id, pos in maker.positions.items() if maker is not None else ():
            ms = markets[market_id]
            if ms.last_accrual_s < now or pos.funding_snapshot != ms.funding_index:
                return False
            if pos.loss_snapshot != side_loss_index(ms, pos.size):
                return False
        return all(is_trusted(state.feeds[fp.feed_id], fp, now) for fp in params.feeds)

    def _take(self, signed: SignedOrder, digest: bytes, delta: int, price_wad: int) -> int:
        """:func:`protocol.clearing.take_order`'s checks for an order whose signer is its account;
        returns the order's filled size after this fill (nothing written)."""
        order = signed.order
        require(self._house.state.now_s <= order.expiry_s, "clearing: order expired")
        filled = self._house.state.order_filled.get(digest, 0)
        require(filled != CANCELLED, "clearing: order cancelled")
        require((order.size_wad > 0) == (delta > 0), "clearing: order side")
        within = price_wad <= order.limit_price_wad if delta > 0 else price_wad >= order.limit_price_wad
        require(within, "clearing: price beyond order limit")
        require(order.max_fee_wad >= _ZERO_FEE, "clearing: fee above order maximum")
        filled += abs(delta)
        require(filled <= abs(order.size_wad), "clearing: order overfilled")
        return filled

    def _lean_fill(self, action: Fill, maker_digest: bytes, taker_digest: bytes) -> list[Event] | None:
        """:func:`protocol.clearing.fill` of a fresh account's fee-less opening (see :meth:`_lean`),
        checks first: a refusal before the trades writes nothing. When both accounts meet
        initial margin after the trades, the fill is done (a maker reducing its position passes
        the solvency rule then too); otherwise the few values the trades wrote are put back and
        None says the model's handler must decide (a refusal, or a reducing maker judged by its
        margin ratio)."""
        state, params = self._house.state, self._house.params
        require(action.sender in state.roles.matchers, "clearing: caller is not a matcher")
        require(not state.paused, "clearing: paused")
        market_id, size, price = action.market_id, action.size_wad, action.price_wad
        require(market_id in state.markets, "clearing: unknown market")
        mp, ms = params.market(market_id), state.markets[market_id]
        require(action.maker_order.order.market_id == market_id, "clearing: orders of different markets")
        require(action.maker != action.taker, "clearing: self trade")
        maker_filled = self._take(action.maker_order, maker_digest, -size, price)
        taker_filled = self._take(action.taker_order, taker_digest, size, price)  # another order (no self trade)
        feed = state.feeds[mp.feed_id]  # trusted (see _lean): the band's reference and the price
        band = params.protocol.max_fill_deviation_wad
        require(abs(price - feed.price_wad) * WAD <= band * feed.price_wad, "clearing: price outside band")
        order_filled = state.order_filled
        maker_was, taker_was = order_filled.get(maker_digest), order_filled.get(taker_digest)
        order_filled[maker_digest], order_filled[taker_digest] = maker_filled, taker_filled
        accounts = state.accounts
        created = [a for a in (action.maker, action.taker) if a not in accounts]
        maker, taker = state.account(action.maker), state.account(action.taker)
        prices = {f: fs.price_wad for f, fs in state.feeds.items()}
        maker_pos = maker.positions.get(market_id)
        maker_old = (maker_pos.size, maker_pos.open_notional) if maker_pos is not None else (0, 0)
        notional = mul_div(abs(size), price, WAD, Rounding.DOWN)
        oi_was = (ms.oi_long, ms.oi_short)
        balances_was = (maker.balance, maker.realized_pnl)
        # the taker's trade, then the maker's (apply_trade on settled accounts, market accrued)
        taker_size, taker_notional, _ = traded_position(0, 0, size, notional)
        record_trade(taker, ms, market_id, 0, taker_size, taker_notional, 0)
        new_size, new_notional, realized = traded_position(maker_old[0], maker_old[1], -size, notional)
        record_trade(maker, ms, market_id, maker_old[0], new_size, new_notional, realized)
        if not (
            _perpetual_health(taker, params, state.markets, prices).meets_initial
            and _perpetual_health(maker, params, state.markets, prices).meets_initial
        ):  # a refusal, or a maker reducing under the solvency rule: the model decides
            del taker.positions[market_id]
            if maker_pos is None:
                maker.positions.pop(market_id, None)
            else:
                maker.positions[market_id] = maker_pos
            maker.balance, maker.realized_pnl = balances_was
            ms.oi_long, ms.oi_short = oi_was
            _put_back(order_filled, maker_digest, maker_was)
            _put_back(order_filled, taker_digest, taker_was)
            for a in created:
                del accounts[a]
            return None
        return [
            OrderFilled(maker_digest, action.maker, maker_filled),
            OrderFilled(taker_digest, action.taker, taker_filled),
            PositionChanged(action.taker, market_id, taker_size, taker_notional, 0),
            PositionChanged(action.maker, market_id, new_size, new_notional, realized),
            FillSettled(action.maker, action.taker, market_id, size, price, notional, 0, 0),
        ]


def _put_back(order_filled: MutableMapping[bytes, int], digest: bytes, was: int | None) -> None:
    """Restore an order's filled size as it was (absent: never filled)."""
    if was is None:
        order_filled.pop(digest, None)
    else:
        order_filled[digest] = was
