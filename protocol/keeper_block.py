"""One block of keeper actions applied in place, with an undo journal instead of a fork per action.

:meth:`ClearingHouse.apply <protocol.clearing_house.ClearingHouse.apply>` forks the state for
every action and :meth:`~protocol.clearing_house.ClearingHouse.max_liquidation_size` /
:meth:`~protocol.clearing_house.ClearingHouse.liquidation_health` fork it again for every
question a keeper asks; each settles the account's pending funding afresh. A crash path asks and
acts thousands of times per path, so :class:`KeeperBlock` does the same work once:

* a question about an account settles it **in the live state**, journaled: the settlement (and
  its events) is kept pending for the account's next action, which would settle it first anyway
  (liquidation, collateral sale and deleveraging all settle their account before anything else
  can change), and is undone when the keeper turns to another account or the block ends;
* an action runs the model's own handler (``liquidation.liquidate``,
  ``liquidation.liquidate_collateral``, ``socialized_loss.auto_deleverage``, then
  ``socialized_loss.settle_bad_debt`` for every account it traded for, exactly as
  :meth:`ClearingHouse.apply` does) on the live state; a revert restores the
  :class:`~protocol.journal.Journal` of what it can touch (the accounts it names, every market,
  the state's scalars: keeper actions write nothing else), so a refused action changes nothing;
* any other action, or one naming an account the state does not hold yet, goes to
  :meth:`ClearingHouse.apply` unchanged;
* in a book without options, :meth:`KeeperBlock.liquidation_health` of an account no question
  has settled does not settle it: settling moves each position's pending funding and loss into
  the balance, term for term what :func:`~protocol.margin.account_health` adds for an unsettled
  position at markets accrued to now (:func:`~protocol.funding.accrued_markets`, taken once per
  run of questions and again after every action), and leaves the positions and collateral, hence
  the prices, as they are (option expiries are the only other settlement, hence the book
  condition).

The result is the model's, action for action: the same state and the same events in the same
order (``tests/differential/test_keeper_block_vs_model.py`` replays the stress studies' keeper
blocks both ways and compares after every block). The house must not be used directly while a
block is open; use it as a context manager (``with house.keeper_block() as block:``) so a
pending settlement is always undone.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from protocol import liquidation
from protocol.actions import Action, AutoDeleverage, Liquidate, LiquidateCollateral, normalize_address
from protocol.context import Context
from protocol.events import Event
from protocol.funding import accrued_markets, settle_account
from protocol.journal import Journal
from protocol.margin import Health, account_health
from protocol.oracle_adapter import liquidation_prices
from protocol.socialized_loss import settle_bad_debt
from protocol.state import Account, MarketState

if TYPE_CHECKING:
    from protocol.clearing_house import ClearingHouse

__all__ = ["KeeperBlock"]

#: Actions a block applies in place; they write accounts they name, markets and scalars only.
KEEPER_ACTIONS: tuple[type[Action], ...] = (Liquidate, LiquidateCollateral, AutoDeleverage)


class KeeperBlock:
    """The keeper actions of one block on ``house``'s live state (see the module docstring).

    Questions (:meth:`max_liquidation_size`, :meth:`liquidation_health`,
    :meth:`settled_account`) answer what the house's methods of the same names answer; actions
    (:meth:`apply`) return the events :meth:`ClearingHouse.apply` returns and leave the same
    state, or raise the same :class:`~protocol.errors.ProtocolRevert` leaving the state as it
    was.
    """

    def __init__(self, house: ClearingHouse) -> None:
        self._house = house
        #: The account settled by the last question, the journal from before its settlement and
        #: the settlement's events: what its next action starts from.
        self._pending: tuple[str, Journal, list[Event]] | None = None
        #: No option market: an account's liquidation health needs no settlement.
        self._perpetuals = not any(mp.is_option for mp in house.params.markets)
        #: The markets accrued to now, while no action has run since they were taken.
        self._accrued: dict[int, MarketState] | None = None

    def __enter__(self) -> KeeperBlock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Undo a settlement no action consumed; the house is then as the model left it."""
        if self._pending is not None:
            self._pending[1].restore()
            self._pending = None

    def _settled(self, address: str) -> Context:
        """A context on the live state in which ``address`` is settled (pending for its action)."""
        pending = self._pending
        if pending is not None and pending[0] == address:
            return Context(self._house.state, self._house.params)
        self.close()
        state = self._house.state
        undo = Journal(state, (address,))
        ctx = Context(state, self._house.params)
        try:
            settle_account(ctx, address)
        except BaseException:
            undo.restore()
            raise
        self._pending = (address, undo, ctx.events)
        return Context(state, self._house.params)

    def max_liquidation_size(self, address: str, market_id: int) -> int:
        """:meth:`ClearingHouse.max_liquidation_size`: the model's rule on the settled account."""
        addr = normalize_address(address)
        if addr not in self._house.state.accounts:
            return self._house.max_liquidation_size(addr, market_id)
        return liquidation.max_liquidation_size(self._settled(addr), addr, market_id)

    def liquidation_health(self, address: str) -> Health:
        """:meth:`ClearingHouse.liquidation_health` of ``address``."""
        addr = normalize_address(address)
        state, params = self._house.state, self._house.params
        if addr not in state.accounts:
            return self._house.liquidation_health(addr)
        if self._perpetuals and (self._pending is None or self._pending[0] != addr):
            if self._accrued is None:
                self._accrued = accrued_markets(state, params)
            acct = state.accounts[addr]
            prices = liquidation_prices(Context(state, params), acct, "liquidation")
            return account_health(acct, params, self._accrued, prices, now_s=state.now_s)
        ctx = self._settled(addr)
        acct = ctx.state.accounts[addr]
        prices = liquidation_prices(ctx, acct, "liquidation")
        return account_health(acct, ctx.params, ctx.state.markets, prices, now_s=ctx.state.now_s)

    def settled_account(self, address: str) -> Account:
        """:meth:`ClearingHouse.settled_account`: a copy of ``address`` with funding settled."""
        addr = normalize_address(address)
        if addr not in self._house.state.accounts:
            return self._house.settled_account(addr)
        return self._settled(addr).state.accounts[addr].clone()

    def apply(self, action: Action) -> list[Event]:
        """Apply ``action`` as :meth:`ClearingHouse.apply` does; keeper actions in place."""
        from protocol.clearing_house import _HANDLERS, _at_risk  # the house imports this module

        state = self._house.state
        self._accrued = None
        touched = _at_risk(action) if isinstance(action, KEEPER_ACTIONS) else ()
        if not touched or any(a not in state.accounts for a in touched):
            self.close()
            return self._house.apply(action)
        primary = touched[0]  # the account the handler settles first
        pending = self._pending
        if pending is not None and pending[0] == primary:
            self._pending = None
            undo, events = pending[1], list(pending[2])
            undo.add(touched)
        else:
            self.close()
            undo, events = Journal(state, touched), []
        ctx = Context(state, self._house.params, events)
        try:
            _HANDLERS[type(action)](ctx, action)
            for address in touched:
                settle_bad_debt(ctx, address)
        except BaseException:
            undo.restore()
            raise
        return ctx.events
