"""A fresh book's set-up applied in place: deposits and openings, without a fork per action.

Setting up a simulated book is a long run of :class:`~protocol.actions.Deposit` and
:class:`~protocol.actions.Fill` actions (each trader deposits and opens against a market maker).
:class:`BookSetup` applies them with the reference model's rules and gives, action for action,
the events and the state :meth:`ClearingHouse.apply <protocol.clearing_house.ClearingHouse.apply>`
gives, or raises the same :class:`~protocol.errors.ProtocolRevert` leaving the state unchanged:

* every action runs on the live state instead of on a fork: a deposit of the settlement token
  while not paused (nothing to refuse) credited directly, any other deposit with the vault's own
  handler (all its checks precede its writes; a refused deposit takes back the account it
  created), a lean fill (below) checking everything before it writes, other fills under a
  :class:`~protocol.journal.Journal` (undone on a revert); any other action goes to
  :meth:`ClearingHouse.apply`, and the lean fill reads the parameters that action leaves (a
  governance change between set-up actions);
* **trusted set-up entry** — ``signatures_verified=True`` declares that the caller signed every
  order it passes itself (with an :class:`~protocol.orders.OrderSigner` holding the accounts'
  keys, as :func:`simulator.engine.build_book` does): signatures are then not recovered, and the
  order's account is taken as its signer. Everything else an order must satisfy (expiry,
  cancellation, side, limit, fee, remaining size) is checked. Never use it for orders someone
  else signed; without it every signature is recovered exactly as the model does;
* a fill opening a position for an account that holds none, with no fee, in a book of
  perpetuals whose feeds are all trusted and whose maker has nothing to settle (a fresh book's
  openings), takes a lean path: the model's checks in the model's order, then both trades
  (:func:`protocol.clearing.traded_position`) with both accounts' free collateral summed
  directly over their perpetual positions and collateral (:func:`_perpetual_free_collateral`,
  the formula of :func:`protocol.margin.account_health` for such accounts, initial requirement
  only: the fill needs nothing else); when either then falls short of initial margin, the few
  values the trades wrote are put back and the model's handler decides (under a journal). Any
  other fill runs the model's handler.

``tests/differential/test_book_setup_vs_model.py`` builds books both ways and compares every
event and the final state.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING

from protocol import vault
from protocol.actions import Action, Deposit, Fill, SignedOrder
from protocol.clearing import CANCELLED, fill, record_trade, traded_position
from protocol.constants import SETTLEMENT_ASSET_ID, WAD
from protocol.context import Context, require
from protocol.errors import InvalidParameter, ProtocolRevert
from protocol.events import Deposited, Event, FillSettled, OrderFilled, PositionChanged
from protocol.journal import Journal
from protocol.margin import collateral_value, initial_fraction, notional, side_loss_index
from protocol.oracle_adapter import is_trusted
from protocol.orders import signed_digest
from protocol.params import Params
from protocol.state import Account, MarketState, ProtocolState
from protocol.units import Rounding, mul_div, to_wad

if TYPE_CHECKING:
    from protocol.clearing_house import ClearingHouse

__all__ = ["BookSetup"]

_ZERO_FEE = 0


def _perpetual_free_collateral(
    acct: Account, tables: _Tables, markets: Mapping[int, MarketState], prices: Mapping[int, int]
) -> int:
    """Equity above initial margin (USD WAD, negative when below) of an account holding only
    perpetual positions whose pending funding and loss are settled:
    :func:`protocol.margin.account_health`'s ``free_collateral``, with the same roundings term by
    term (``prices``: feed_id -> price_wad of every feed the account depends on)."""
    free = acct.balance
    for asset_id, amount in acct.collateral.items():
        if amount:
            cp = tables.collaterals[asset_id]
            free += collateral_value(cp, amount, prices[cp.feed_id])
    for market_id, pos in acct.positions.items():
        mp = tables.markets[market_id]
        price = prices[mp.feed_id]
        free += pos.size * price // WAD - pos.open_notional  # FLOOR, as unrealized_pnl
        free -= mul_div(notional(pos.size, price), initial_fraction(mp, markets[market_id], price), WAD, Rounding.UP)
    return free


class _Tables:
    """One :class:`~protocol.params.Params`' markets and collaterals by id."""

    def __init__(self, params: Params) -> None:
        self.params = params
        self.markets = {mp.market_id: mp for mp in params.markets}
        self.collaterals = {cp.asset_id: cp for cp in params.collaterals}
        #: Only perpetual markets: a fill's lean path applies.
        self.perpetual = not any(mp.is_option for mp in params.markets)
        #: WAD per settlement-token unit (:func:`protocol.units.to_wad` of one unit).
        self.settlement_wad = to_wad(1, params.protocol.settlement_decimals)


class BookSetup:
    """Set-up actions on ``house``'s live state (see the module docstring)."""

    def __init__(self, house: ClearingHouse, *, signatures_verified: bool = False) -> None:
        if not isinstance(signatures_verified, bool):
            raise InvalidParameter(f"signatures_verified must be a bool, got {signatures_verified!r}")
        self._house = house
        self._verified = signatures_verified
        self._tables = _Tables(house.params)

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
        writes, but the creation of a new account, which a refusal takes back (if it came to it).
        The settlement token while not paused has nothing to refuse: its credit is written here."""
        state = self._house.state
        if action.asset_id == SETTLEMENT_ASSET_ID and not state.paused:
            amount_wad = action.amount * self._tables_of(self._house.params).settlement_wad
            state.vault_tokens[SETTLEMENT_ASSET_ID] = state.vault_tokens.get(SETTLEMENT_ASSET_ID, 0) + action.amount
            state.account(action.account).balance += amount_wad
            return [Deposited(action.account, SETTLEMENT_ASSET_ID, action.amount, amount_wad)]
        created = action.account not in state.accounts
        ctx = Context(state, self._house.params)
        try:
            vault.deposit(ctx, action)
        except ProtocolRevert:
            if created:
                state.accounts.pop(action.account, None)
            raise
        return ctx.events

    def _tables_of(self, params: Params) -> _Tables:
        """The tables of ``params`` (built anew after an action changed the parameters)."""
        if self._tables.params is not params:
            self._tables = _Tables(params)
        return self._tables

    def _trust(self, signed: SignedOrder, sep: bytes) -> None:
        """Record ``signed``'s account as its signer (the trusted entry), keeping its digest."""
        signed.memo[sep] = (signed_digest(signed, self._house.state.order_domain), signed.order.account)

    def _fill(self, action: Fill) -> list[Event]:
        house = self._house
        state, params = house.state, house.params
        domain = state.order_domain
        maker_digest = signed_digest(action.maker_order, domain)
        taker_digest = signed_digest(action.taker_order, domain)
        if self._verified:
            events = self._lean_fill(state, self._tables_of(params), action, maker_digest, taker_digest)
            if events is not None:
                return events
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

    @staticmethod
    def _lean_prices(
        state: ProtocolState, tables: _Tables, action: Fill, maker: Account | None, taker: Account | None
    ) -> dict[int, int] | None:
        """Every feed's price when ``action`` is a fresh account's opening without fees in a
        perpetual book whose feeds are all trusted and whose market maker has nothing to settle
        (every market it holds accrued to now, its snapshots current): the model's settlement
        and accrual are then no-ops. None otherwise."""
        if not (tables.perpetual and action.maker_fee_wad == action.taker_fee_wad == _ZERO_FEE):
            return None
        if taker is not None and taker.positions:
            return None
        now = state.now_s
        markets = state.markets
        market = markets.get(action.market_id)
        if market is not None and market.last_accrual_s < now:
            return None
        for market_id, pos in maker.positions.items() if maker is not None else ():
            ms = markets[market_id]
            if ms.last_accrual_s < now or pos.funding_snapshot != ms.funding_index:
                return None
            if pos.loss_snapshot != side_loss_index(ms, pos.size):
                return None
        feeds = state.feeds
        prices = {}
        for fp in tables.params.feeds:
            feed = feeds[fp.feed_id]
            if not is_trusted(feed, fp, now):
                return None
            prices[fp.feed_id] = feed.price_wad
        return prices

    @staticmethod
    def _take(signed: SignedOrder, filled: int, now_s: int, delta: int, price_wad: int) -> int:
        """:func:`protocol.clearing.take_order`'s checks for an order whose signer is its account
        and whose filled size is ``filled``; returns its filled size after this fill (nothing
        written)."""
        order = signed.order
        require(now_s <= order.expiry_s, "clearing: order expired")
        require(filled != CANCELLED, "clearing: order cancelled")
        require((order.size_wad > 0) == (delta > 0), "clearing: order side")
        within = price_wad <= order.limit_price_wad if delta > 0 else price_wad >= order.limit_price_wad
        require(within, "clearing: price beyond order limit")
        require(order.max_fee_wad >= _ZERO_FEE, "clearing: fee above order maximum")
        filled += abs(delta)
        require(filled <= abs(order.size_wad), "clearing: order overfilled")
        return filled

    def _lean_fill(
        self, state: ProtocolState, tables: _Tables, action: Fill, maker_digest: bytes, taker_digest: bytes
    ) -> list[Event] | None:
        """:func:`protocol.clearing.fill` of a fresh account's fee-less opening (see
        :meth:`_lean_prices`; None at once for any other fill), checks first: a refusal before
        the trades writes nothing. When both accounts meet initial margin after the trades, the
        fill is done (a maker reducing its position passes the solvency rule then too);
        otherwise the few values the trades wrote are put back and None says the model's
        handler must decide (a refusal, or a reducing maker judged by its margin ratio)."""
        maker_address, taker_address = action.maker, action.taker
        accounts = state.accounts
        maker, taker = accounts.get(maker_address), accounts.get(taker_address)
        prices = self._lean_prices(state, tables, action, maker, taker)
        if prices is None:
            return None
        require(action.sender in state.roles.matchers, "clearing: caller is not a matcher")
        require(not state.paused, "clearing: paused")
        market_id, size, price = action.market_id, action.size_wad, action.price_wad
        ms = state.markets.get(market_id)
        if ms is None:
            raise ProtocolRevert("clearing: unknown market")
        require(action.maker_order.order.market_id == market_id, "clearing: orders of different markets")
        require(maker_address != taker_address, "clearing: self trade")
        order_filled, now = state.order_filled, state.now_s
        maker_was, taker_was = order_filled.get(maker_digest), order_filled.get(taker_digest)
        maker_filled = self._take(action.maker_order, maker_was or 0, now, -size, price)
        taker_filled = self._take(action.taker_order, taker_was or 0, now, size, price)  # another order
        reference = prices[tables.markets[market_id].feed_id]  # trusted: the band's reference
        band = tables.params.protocol.max_fill_deviation_wad
        require(abs(price - reference) * WAD <= band * reference, "clearing: price outside band")
        order_filled[maker_digest], order_filled[taker_digest] = maker_filled, taker_filled
        created = [address for address, acct in ((maker_address, maker), (taker_address, taker)) if acct is None]
        maker, taker = state.account(maker_address), state.account(taker_address)
        maker_pos = maker.positions.get(market_id)
        maker_old = (maker_pos.size, maker_pos.open_notional) if maker_pos is not None else (0, 0)
        notional_wad = mul_div(abs(size), price, WAD, Rounding.DOWN)
        oi_was = (ms.oi_long, ms.oi_short)
        balances_was = (maker.balance, maker.realized_pnl)
        # the taker's trade, then the maker's (apply_trade on settled accounts, market accrued)
        taker_size, taker_notional, _ = traded_position(0, 0, size, notional_wad)
        record_trade(taker, ms, market_id, 0, taker_size, taker_notional, 0)
        new_size, new_notional, realized = traded_position(maker_old[0], maker_old[1], -size, notional_wad)
        record_trade(maker, ms, market_id, maker_old[0], new_size, new_notional, realized)
        markets = state.markets
        if (
            _perpetual_free_collateral(taker, tables, markets, prices) < 0
            or _perpetual_free_collateral(maker, tables, markets, prices) < 0
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
            for address in created:
                del accounts[address]
            return None
        return [
            OrderFilled(maker_digest, maker_address, maker_filled),
            OrderFilled(taker_digest, taker_address, taker_filled),
            PositionChanged(taker_address, market_id, taker_size, taker_notional, 0),
            PositionChanged(maker_address, market_id, new_size, new_notional, realized),
            FillSettled(maker_address, taker_address, market_id, size, price, notional_wad, 0, 0),
        ]


def _put_back(order_filled: MutableMapping[bytes, int], digest: bytes, was: int | None) -> None:
    """Restore an order's filled size as it was (absent: never filled)."""
    if was is None:
        order_filled.pop(digest, None)
    else:
        order_filled[digest] = was
