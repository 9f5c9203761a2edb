"""The one entry point: a ClearingHouse applies typed action records and returns events.

Every action is applied to a copy of the state (:meth:`~protocol.state.ProtocolState.fork`:
accounts are copied when first touched); if any rule fails the copy is dropped and a
:class:`~protocol.errors.ProtocolRevert` with the module-prefixed reason propagates, so a
failing action changes nothing. After an action, every account it put at risk whose
positions and collateral are gone has its negative balance settled as bad debt.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from protocol import funding, insurance_fund, liquidation, options, oracle_adapter, roles, vault
from protocol.actions import (
    AcceptGovernance,
    Action,
    AdvanceTime,
    AutoDeleverage,
    CancelOrder,
    Deposit,
    Fill,
    FundInsurance,
    Liquidate,
    LiquidateCollateral,
    PushPrice,
    SetFundingRate,
    SetMarketMargin,
    SetPaused,
    SetRole,
    SettleExpired,
    Withdraw,
    WithdrawFees,
    normalize_address,
)
from protocol.adl_queue import auto_deleverage
from protocol.book_setup import BookSetup
from protocol.clearing import cancel_order, fill
from protocol.constants import SETTLEMENT_ASSET_ID
from protocol.context import Context, require
from protocol.errors import InvalidParameter
from protocol.events import Event, TimeAdvanced
from protocol.keeper_block import KeeperBlock
from protocol.margin import Health, account_health
from protocol.orders import MODEL_DOMAIN, OrderDomain
from protocol.params import Params
from protocol.socialized_loss import settle_bad_debt
from protocol.state import Account, FeedState, MarketState, ProtocolState, Roles

__all__ = ["ClearingHouse"]


def _push_price(ctx: Context, action: PushPrice) -> None:
    require(action.sender in ctx.state.roles.oracles, "oracle: caller is not an oracle")
    require(action.feed_id in ctx.state.feeds, "oracle: unknown feed")
    for mp in ctx.params.markets:
        if mp.feed_id == action.feed_id:
            funding.accrue_market(ctx, mp.market_id)
    if oracle_adapter.push_price(ctx, action):
        options.record_settlement(ctx, action.feed_id, action.price_wad, action.timestamp_s)


def _advance_time(ctx: Context, action: AdvanceTime) -> None:
    ctx.state.now_s += action.seconds
    ctx.state.block += action.blocks
    ctx.emit(TimeAdvanced(ctx.state.now_s, ctx.state.block))


Handler = Callable[[Context, Any], None]


def _after_grace(handler: Handler) -> Handler:
    """``handler`` preceded by the liquidation grace check (the contracts check it in the core
    before delegating to the liquidation engine, so it comes first)."""

    def guarded(ctx: Context, action: Any) -> None:
        roles.require_liquidations_resumed(ctx)
        handler(ctx, action)

    return guarded


_HANDLERS: dict[type[Action], Handler] = {
    Deposit: vault.deposit,
    Withdraw: vault.withdraw,
    WithdrawFees: vault.withdraw_fees,
    Fill: fill,
    CancelOrder: cancel_order,
    PushPrice: _push_price,
    SetFundingRate: funding.set_funding_rate,
    AdvanceTime: _advance_time,
    Liquidate: _after_grace(liquidation.liquidate),
    LiquidateCollateral: _after_grace(liquidation.liquidate_collateral),
    AutoDeleverage: _after_grace(auto_deleverage),
    SettleExpired: options.settle_expired_action,
    FundInsurance: insurance_fund.fund_insurance,
    SetPaused: roles.set_paused,
    SetRole: roles.set_role,
    AcceptGovernance: roles.accept_governance,
    SetMarketMargin: roles.set_market_margin,
}


def _at_risk(action: Action) -> tuple[str, ...]:
    """Accounts whose bad debt is settled after ``action``: every account it traded for."""
    if isinstance(action, Fill):
        return (action.maker, action.taker)
    if isinstance(action, Liquidate):
        return (action.account, action.keeper)
    if isinstance(action, LiquidateCollateral):
        return (action.account, action.liquidator)
    if isinstance(action, AutoDeleverage):
        return (action.account, *action.counterparties)
    if isinstance(action, SettleExpired):
        return (action.account,)
    return ()


class ClearingHouse:
    """The reference model of the whole protocol.

    >>> from protocol.scenarios import default_params
    >>> house = ClearingHouse(default_params(), governance="0x" + "11" * 20)
    >>> house.state.paused
    False
    """

    def __init__(
        self,
        params: Params,
        governance: str,
        *,
        matchers: Iterable[str] = (),
        oracles: Iterable[str] = (),
        funding_operators: Iterable[str] = (),
        start_time_s: int = 0,
        order_domain: OrderDomain = MODEL_DOMAIN,
    ) -> None:
        """``order_domain`` is the EIP-712 domain orders must be signed for: the model's own by
        default, a deployment's (:attr:`ChainClearingHouse.order_domain
        <contracts_py.chain_house.ChainClearingHouse.order_domain>`) to run beside it."""
        if not isinstance(params, Params):
            raise InvalidParameter(f"params must be a Params, got {type(params).__name__}")
        if isinstance(start_time_s, bool) or not isinstance(start_time_s, int) or start_time_s < 0:
            raise InvalidParameter(f"start_time_s must be a non-negative integer, got {start_time_s!r}")
        if not isinstance(order_domain, OrderDomain):
            raise InvalidParameter(f"order_domain must be an OrderDomain, got {type(order_domain).__name__}")
        role_set = Roles(
            governance=normalize_address(governance, "governance"),
            matchers={normalize_address(a, "matchers") for a in matchers},
            oracles={normalize_address(a, "oracles") for a in oracles},
            funding_operators={normalize_address(a, "funding_operators") for a in funding_operators},
        )
        self._params = params
        self._state = ProtocolState(
            roles=role_set,
            now_s=start_time_s,
            markets={
                m.market_id: MarketState(last_accrual_s=start_time_s, funding_rate_set_s=start_time_s)
                for m in params.markets
            },
            feeds={f.feed_id: FeedState() for f in params.feeds},
            vault_tokens={SETTLEMENT_ASSET_ID: 0, **{c.asset_id: 0 for c in params.collaterals}},
            order_domain=order_domain,
        )

    @classmethod
    def from_state(cls, params: Params, state: ProtocolState) -> ClearingHouse:
        """A house continuing from ``state`` (e.g. a snapshot); the house takes ownership of it."""
        if not isinstance(params, Params):
            raise InvalidParameter(f"params must be a Params, got {type(params).__name__}")
        if not isinstance(state, ProtocolState):
            raise InvalidParameter(f"state must be a ProtocolState, got {type(state).__name__}")
        missing = {m.market_id for m in params.markets} - set(state.markets)
        if missing:
            raise InvalidParameter(f"state has no market state for markets {sorted(missing)} of params")
        house = cls.__new__(cls)
        house._params, house._state = params, state
        return house

    @property
    def params(self) -> Params:
        """Current parameters (governance may change market margins)."""
        return self._params

    @property
    def state(self) -> ProtocolState:
        """The live state. Treat it as read-only; use :meth:`snapshot` for a copy."""
        return self._state

    def snapshot(self) -> ProtocolState:
        """A deep copy of the state."""
        return copy.deepcopy(self._state)

    def apply(self, action: Action) -> list[Event]:
        """Apply one action atomically and return its events.

        Raises ProtocolRevert (state unchanged) when a protocol rule refuses the action and
        InvalidParameter when ``action`` is not an action record.
        """
        handler = _HANDLERS.get(type(action))
        if handler is None:
            raise InvalidParameter(f"not an action record: {action!r}")
        ctx = Context(self._state.fork(), self._params)
        handler(ctx, action)
        for address in _at_risk(action):
            settle_bad_debt(ctx, address)
        self._state, self._params = ctx.state.commit(), ctx.params
        return ctx.events

    def book_setup(self, *, signatures_verified: bool = False) -> BookSetup:
        """A fresh book's deposits and openings applied in place (the same events and state as
        :meth:`apply`, see :mod:`protocol.book_setup`). ``signatures_verified=True`` is the trusted
        set-up entry: the caller signed every order itself, so signatures are not recovered."""
        return BookSetup(self, signatures_verified=signatures_verified)

    def keeper_block(self) -> KeeperBlock:
        """The keeper actions of one block, applied in place with an undo journal (the same
        events and state as :meth:`apply`, see :mod:`protocol.keeper_block`); use it as a context
        manager and do not use the house directly until it is closed."""
        return KeeperBlock(self)

    def health(self, address: str) -> Health:
        """Equity and requirements of ``address`` at the currently trusted prices.

        Raises ProtocolRevert("margin: price not trusted") if a needed price is untrusted.
        """
        return self._health(address, oracle_adapter.require_account_prices, "margin")

    def liquidation_health(self, address: str) -> Health:
        """Equity and requirements of ``address`` as liquidation and deleveraging value it:
        positions at trusted prices, collateral on an untrusted feed at zero.

        Raises ProtocolRevert("liquidation: price not trusted") if a position's price is untrusted.
        """
        return self._health(address, oracle_adapter.liquidation_prices, "liquidation")

    def _health(
        self, address: str, prices_of: Callable[[Context, Account, str], dict[int, int]], module: str
    ) -> Health:
        ctx = Context(self._state.fork(), self._params)
        addr = normalize_address(address)
        funding.settle_account(ctx, addr)
        acct = ctx.state.account(addr)
        prices = prices_of(ctx, acct, module)
        return account_health(acct, ctx.params, ctx.state.markets, prices, now_s=ctx.state.now_s)

    def settled_account(self, address: str) -> Account:
        """``address``'s account as the next action on it sees it: pending funding settled into
        the balance (USD WAD). A copy; the house is unchanged."""
        ctx = Context(self._state.fork(), self._params)
        addr = normalize_address(address)
        funding.settle_account(ctx, addr)
        return ctx.state.account(addr)

    def max_liquidation_size(self, address: str, market_id: int) -> int:
        """Largest size a keeper may liquidate from ``address`` in ``market_id`` now (0: none)."""
        ctx = Context(self._state.fork(), self._params)
        return liquidation.max_liquidation_size(ctx, normalize_address(address), market_id)
