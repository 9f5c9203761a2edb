"""A ClearingHouse on a chain: the model's action records sent as transactions.

:class:`ChainClearingHouse` has the reference model's entry point, ``apply(action) ->
list[Event]``, on a deployed :class:`~contracts_py.deploy.System`: each record becomes one
transaction of the clearing house, the core's logs come back as :mod:`protocol.events`
dataclasses, and a refused action raises :class:`~protocol.errors.ProtocolRevert` with the
contract's reason (nothing changes). Read methods map the contract's storage onto the model's
state types (:class:`~protocol.state.Account`, :class:`~protocol.state.MarketState`, ...).

Clock. The house keeps the model's clock: ``now_s`` (``block.timestamp``) and ``block`` (counted
from ``block_base``, the chain block of model block 0). ``AdvanceTime`` only moves that clock;
every transaction executes at exactly ``(now_s, block_base + block)``, and the transactions of one
model block share one chain block, as on the model (its per-block liquidation cap included):

* **titanoboa** executes transactions without blocks, so any sequence runs exactly as on the model.
* **eth-tester** executes each transaction into the pending block and keeps it open for the model
  block's next transactions; an ``AdvanceTime`` with ``blocks >= 1`` seals it.
* **anvil** returns a transaction's events only once its block is sealed, so :meth:`apply` mines
  each transaction in its own block (``AdvanceTime`` with ``blocks >= 1`` between transactions);
  :meth:`ChainClearingHouse.apply_batch` sends whole model blocks (the fast path: pipelined
  JSON-RPC batches, one ``evm_mine`` per block; transactions signed locally, or unsigned from
  impersonated senders on an ``AnvilChain(impersonate=True)``).

A model block's first transaction needs a chain block no earlier transaction sealed, and
``seconds >= blocks`` so skipped blocks get distinct timestamps: the house mines the skipped
blocks empty and sets the timestamp. A reverted transaction uses no block. An impossible clock
(two timestamps in one block, a sealed block) raises :class:`~protocol.errors.ChainError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from contracts_py.chains import NO_REASON, BatchCall, Chain, Contract, TxResult
from contracts_py.chains.anvil_chain import AnvilChain
from contracts_py.deploy import System
from contracts_py.house_state import decode_state, state_calls
from protocol import events as ev
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
    Order,
    PushPrice,
    SetFundingRate,
    SetMarketMargin,
    SetPaused,
    SetRole,
    Withdraw,
    WithdrawFees,
    normalize_address,
)
from protocol.clearing_house import ClearingHouse
from protocol.constants import SETTLEMENT_ASSET_ID
from protocol.errors import ChainError, InvalidParameter, ProtocolRevert
from protocol.orders import OrderDomain
from protocol.params import Params
from protocol.state import Account, AdlProposal, FeedState, MarketState, Position, ProtocolState

__all__ = ["EVENT_TYPES", "ChainClearingHouse", "Outcome", "call_of", "mint_test_tokens", "sender_of", "to_event"]

#: Event name -> :mod:`protocol.events` dataclass.
EVENT_TYPES: Final[dict[str, type[ev.Event]]] = {
    name: getattr(ev, name) for name in ev.__all__ if name not in ("Event", "TimeAdvanced")
}
#: Result of one action in :meth:`ChainClearingHouse.apply_batch`: its events or its revert.
Outcome = list[ev.Event] | ProtocolRevert
#: Token units :func:`mint_test_tokens` gives each account of each asset by default.
DEFAULT_TEST_MINT: Final = 2**200
_MAX_UINT256: Final = 2**256 - 1


def to_event(decoded: dict[str, Any]) -> ev.Event:
    """A chain event dict (``{"event": name, field: value, ...}``) as its :mod:`protocol.events` record."""
    cls = EVENT_TYPES.get(str(decoded.get("event")))
    if cls is None:
        raise ChainError(f"the clearing house emitted an event the model does not know: {decoded!r}")
    # an array (AdlProposed's counterparties) is the model's tuple, of lower-case addresses
    fields = {
        k: tuple(str(x).lower() for x in v) if isinstance(v, list | tuple) else v
        for k, v in decoded.items()
        if k != "event"
    }
    try:
        return cls(**fields)
    except TypeError as exc:
        raise ChainError(f"event {decoded['event']} does not match protocol.events: {exc}") from None


def mint_test_tokens(
    system: System,
    accounts: Iterable[str],
    amount: int = DEFAULT_TEST_MINT,
    asset_ids: Iterable[int] | None = None,
) -> None:
    """Test tokens only: mint ``amount`` of each asset's token (default: all) to each account and
    approve the core for all of it.

    Call it before building a :class:`ChainClearingHouse` on an automining backend (these
    transactions use blocks).
    """
    calls: list[BatchCall] = []
    for account in accounts:
        a = normalize_address(account, "account")
        for asset_id in system.tokens if asset_ids is None else asset_ids:
            token = system.token(asset_id)
            calls.append(BatchCall(token, "mint", (a, amount)))
            calls.append(BatchCall(token, "approve", (system.core.address, _MAX_UINT256), sender=a))
    failed = [r.reason for r in system.chain.send_batch(calls) if not r.success]
    if failed:
        raise ChainError(f"minting test tokens failed: {failed[0]}")


def _account_key(acct: Account) -> tuple[Any, ...]:
    """An account's stored quantities, zero collateral entries dropped (the contract keeps none)."""
    return (
        acct.balance,
        acct.realized_pnl,
        acct.profit_withdrawn,
        {k: v for k, v in acct.collateral.items() if v},
        dict(acct.positions),
    )


@dataclass
class _Block:
    """A model block of :meth:`ChainClearingHouse.apply_batch`: its number, timestamp and the
    indexes of its actions."""

    block: int
    now_s: int
    indexes: list[int]


def sender_of(action: Action) -> str:
    """The address that sends the transaction carrying ``action`` (InvalidParameter for a record
    the contracts do not take, e.g. ``AdvanceTime``)."""
    return call_of(action)[0]


def _order(order: Order) -> tuple[Any, ...]:
    """The ``orders.Order`` struct of the contracts, field by field."""
    return (
        order.account,
        order.market_id,
        order.size_wad,
        order.limit_price_wad,
        order.max_fee_wad,
        order.expiry_s,
        order.nonce,
    )


def call_of(action: Action) -> tuple[str, str, tuple[Any, ...]]:
    """(sender, function, arguments) of the transaction that carries ``action``."""
    a = action
    if isinstance(a, Deposit):
        return a.account, "deposit", (a.asset_id, a.amount)
    if isinstance(a, Withdraw):
        return a.account, "withdraw", (a.asset_id, a.amount)
    if isinstance(a, Fill):
        return (
            a.sender,
            "fill",
            (
                _order(a.maker_order.order),
                a.maker_order.signature,
                _order(a.taker_order.order),
                a.taker_order.signature,
                a.size_wad,
                a.price_wad,
                a.maker_fee_wad,
                a.taker_fee_wad,
            ),
        )
    if isinstance(a, CancelOrder):
        return a.sender, "cancel_order", (_order(a.order),)
    if isinstance(a, AcceptGovernance):
        return a.sender, "accept_governance", ()
    if isinstance(a, PushPrice):
        return a.sender, "push_price", (a.feed_id, a.price_wad, a.timestamp_s)
    if isinstance(a, SetFundingRate):
        return a.sender, "set_funding_rate", (a.market_id, a.rate_per_s_wad)
    if isinstance(a, Liquidate):
        return a.keeper, "liquidate", (a.account, a.market_id, a.size_wad)
    if isinstance(a, LiquidateCollateral):
        return a.liquidator, "liquidate_collateral", (a.account, a.asset_id, a.amount)
    if isinstance(a, AutoDeleverage):
        return a.keeper, "auto_deleverage", (a.account, a.market_id, list(a.counterparties))
    if isinstance(a, FundInsurance):
        return a.sender, "fund_insurance", (a.amount,)
    if isinstance(a, WithdrawFees):
        return a.sender, "withdraw_fees", (a.to, a.amount)
    if isinstance(a, SetPaused):
        return a.sender, "set_paused", (a.paused,)
    if isinstance(a, SetRole):
        return a.sender, "set_role", (a.role, a.account, a.enabled)
    if isinstance(a, SetMarketMargin):
        return a.sender, "set_market_margin", (a.market_id, a.initial_margin_fraction_wad, a.maintenance_share_wad)
    raise InvalidParameter(f"{type(a).__name__} cannot be sent to the contracts (perpetual markets only): {a!r}")


def _adl_proposal(stored: Sequence[Any]) -> AdlProposal | None:
    """The :class:`AdlProposal` of the ``adl_proposals`` getter's answer (None: no deadline, none
    pending)."""
    counterparties, deadline_s = stored
    if not int(deadline_s):
        return None
    return AdlProposal(tuple(str(c).lower() for c in counterparties), int(deadline_s))


class ChainClearingHouse:
    """The reference model's interface on a deployed system (see the module docstring).

    The clock starts at the latest block (``now_s`` its timestamp, ``block`` 0), so on an
    automining backend the first transaction needs an ``AdvanceTime`` first; start the model with
    ``ClearingHouse(..., start_time_s=house.now_s)`` to compare the two.
    """

    def __init__(self, chain: Chain, system: System) -> None:
        if not isinstance(chain, Chain):
            raise InvalidParameter(
                f"chain must be a contracts_py.chains.Chain (e.g. make_chain('eth-tester')), got {type(chain).__name__}"
            )
        if not isinstance(system, System):
            raise InvalidParameter(
                "system must be the System that contracts_py.deploy.deploy_system returned, "
                f"got {type(system).__name__}"
            )
        if system.chain is not chain:
            raise InvalidParameter("system was deployed on another chain than the one given")
        self.chain = chain
        self.system = system
        self._core = system.core.address
        #: "boa": no blocks (the clock is set directly); "pending": transactions execute into the
        #: pending block, which stays open for the model block's next ones (eth-tester); "sealed":
        #: every apply mines its own block (anvil).
        self._mode: Final = "boa" if chain.name == "boa" else "pending" if chain.pending_block_results else "sealed"
        #: The chain's pending block holds this house's transactions of model block ``block``.
        self._open = False
        self._chain_block = chain.block_number()
        self._chain_ts = chain.timestamp()
        #: Chain block number of model block 0 (the latest block when the house was made).
        self.block_base = self._chain_block
        #: Model clock: ``block.timestamp`` of the next transaction (Unix seconds).
        self.now_s = self._chain_ts
        #: Model clock: blocks since ``block_base``.
        self.block = 0
        #: Result (gas, hash, block, raw events) and function of the last transaction :meth:`apply` sent.
        self.last_tx: TxResult | None = None
        self.last_tx_function = ""
        self.market_ids = self._listed("list_market")
        self.feed_ids = self._listed("list_feed")
        self.asset_ids = (SETTLEMENT_ASSET_ID, *self._listed("list_collateral"))

    def _listed(self, function: str) -> tuple[int, ...]:
        return tuple(int(c.args[0]) for c in self.system.plan.calls if c.function == function)

    # ------------------------------------------------------------------ actions

    def apply(self, action: Action) -> list[ev.Event]:
        """Send ``action`` as a transaction (``AdvanceTime`` moves the clock); return its events.

        Raises ProtocolRevert with the contract's reason (state unchanged), InvalidParameter for
        a record the contracts do not take, ChainError when the clock cannot be honoured.
        """
        if isinstance(action, AdvanceTime):
            self._advance(action)
            return []
        sender, fn, args = call_of(action)
        result, events = self.transact(self.system.core, fn, *args, sender=sender)
        self.last_tx, self.last_tx_function = result, fn
        return events

    def transact(
        self, contract: Contract, fn: str, *args: Any, sender: str | None = None
    ) -> tuple[TxResult, list[ev.Event]]:
        """Send one transaction to any contract (a feed, an oracle adapter) at the house's clock.

        Returns the receipt and the protocol events the core emitted during it (a poke that
        pushes a price into the core emits them). Raises ProtocolRevert with the callee's reason
        and ChainError when the clock cannot be honoured, as :meth:`apply`.
        """
        self._sync_clock()
        result = self.chain.transact(contract, fn, *args, sender=sender)
        self._mined(result)
        return result, self._events(result)

    def apply_batch(self, actions: Sequence[Action], trace: Callable[[int], bool] | None = None) -> list[Outcome]:
        """Apply ``actions`` in order; each gives its events or its ProtocolRevert (never raised).

        On anvil, each run of consecutive model blocks (one block apart, later in time) goes out
        through :meth:`AnvilChain.send_blocks <contracts_py.chains.anvil_chain.AnvilChain.send_blocks>`
        (pipelined, one ``evm_mine`` per block), so a chain block holds all the transactions of its
        model block; a reverted transaction is mined there with status 0 and changes nothing, as
        on the model. Elsewhere actions are applied one by one. Raises ChainError, with the
        earlier runs sent, at an action the clock rules of the module docstring refuse.
        ``trace(i)`` (anvil; asked once per action, in order) false: a revert of ``actions[i]``
        comes back as ``ProtocolRevert(UNTRACED)``, without the trace that finds its reason.
        """
        if not isinstance(self.chain, AnvilChain):
            return [self._try(a) for a in actions]
        out: list[Outcome] = [[] for _ in actions]
        run: list[_Block] = []
        for i, action in enumerate(actions):
            if isinstance(action, AdvanceTime):
                self._advance(action)
                continue
            last = run[-1] if run else None
            if last is not None and last.block == self.block:
                if last.now_s != self.now_s:
                    self._send_run(self.chain, actions, run, out, trace)
                    raise self._one_timestamp_error(last.now_s)
                last.indexes.append(i)
                continue
            if last is not None and (self.block != last.block + 1 or self.now_s <= last.now_s):
                self._send_run(self.chain, actions, run, out, trace)
                run = []
            run.append(_Block(self.block, self.now_s, [i]))
        self._send_run(self.chain, actions, run, out, trace)
        return out

    def _try(self, action: Action) -> Outcome:
        try:
            return self.apply(action)
        except ProtocolRevert as exc:
            return exc

    def _send_run(
        self,
        chain: AnvilChain,
        actions: Sequence[Action],
        run: list[_Block],
        out: list[Outcome],
        trace: Callable[[int], bool] | None,
    ) -> None:
        """Mine ``run`` (consecutive model blocks) with one ``send_blocks``; store each action's outcome."""
        if not run:
            return
        self._fill_gap(run[0].now_s, run[0].block)
        blocks = []
        for b in run:
            calls = []
            for i in b.indexes:
                sender, fn, args = call_of(actions[i])
                calls.append(BatchCall(self.system.core, fn, args, sender=sender))
            blocks.append((b.now_s, calls))
        flags = None if trace is None else [trace(i) for b in run for i in b.indexes]
        results = chain.send_blocks(blocks, trace=flags)
        k = 0
        for b in run:
            for i in b.indexes:
                r = results[k]
                k += 1
                if r.block_number != self.block_base + b.block:
                    raise ChainError(
                        f"anvil mined batch transaction {k - 1} in block {r.block_number}, expected "
                        f"{self.block_base + b.block}"
                    )
                out[i] = self._events(r) if r.success else ProtocolRevert(r.reason or NO_REASON)
        self._chain_block, self._chain_ts = self.block_base + run[-1].block, run[-1].now_s

    # ------------------------------------------------------------------ clock

    def _advance(self, action: AdvanceTime) -> None:
        if action.blocks and self._mode == "pending":  # the model block ends: seal what it holds
            self.chain.set_automine(True)
            self._open = False
        self.now_s += action.seconds
        self.block += action.blocks

    def _sync_clock(self) -> None:
        """Make the next transaction execute at ``(now_s, block_base + block)``."""
        if self._mode == "boa":
            patch = self.chain.env.evm.patch  # type: ignore[attr-defined]  # BoaChain: set the clock directly
            patch.timestamp, patch.block_number = self.now_s, self.block_base + self.block
            return
        if self._open and self._chain_block == self.block_base + self.block:
            if self.now_s != self._chain_ts:
                raise self._one_timestamp_error(self._chain_ts)
            return  # join the pending block
        self._fill_gap(self.now_s, self.block)
        self.chain.set_next_timestamp(self.now_s)
        if self._mode == "pending":
            self.chain.set_automine(False)  # keep the block open for the model block's next transactions

    def _fill_gap(self, now_s: int, block: int) -> None:
        """Mine the empty blocks between the last chain block and model block ``block`` at ``now_s``."""
        target = self.block_base + block
        gap = target - 1 - self._chain_block
        if gap < 0:
            why = (
                "; anvil returns a transaction's events only once its block is sealed, so apply mines every "
                "transaction in its own block (apply_batch sends a model block's transactions together)"
                if self._mode == "sealed"
                else ""
            )
            raise ChainError(
                f"{self.chain.name}: chain block {target} (model block {block}) is already sealed: "
                f"AdvanceTime(seconds >= 1, blocks >= 1) first{why}"
            )
        if now_s - gap <= self._chain_ts:
            raise ChainError(
                f"{self.chain.name}: {gap + 1} blocks need distinct timestamps after {self._chain_ts} up to "
                f"{now_s}: advance at least as many seconds as blocks"
            )
        for k in range(gap):
            self.chain.set_next_timestamp(now_s - gap + k)
            self.chain.mine(1)
        if gap:
            self._chain_block, self._chain_ts = target - 1, now_s - 1

    def _one_timestamp_error(self, block_ts: int) -> ChainError:
        return ChainError(
            f"{self.chain.name}: model block {self.block} already holds a transaction at {block_ts}, not "
            f"{self.now_s}: a block has one timestamp (advance blocks together with seconds)"
        )

    def _mined(self, result: TxResult) -> None:
        if self._mode == "boa":
            return
        target = self.block_base + self.block
        if result.block_number != target:
            raise ChainError(
                f"{self.chain.name} mined the transaction in block {result.block_number}, expected {target}"
            )
        self._chain_block, self._chain_ts = target, self.now_s
        self._open = self._mode == "pending"

    def _events(self, result: TxResult) -> list[ev.Event]:
        return [to_event(e) for e, src in zip(result.events, result.emitters, strict=True) if src == self._core]

    # ------------------------------------------------------------------ reads

    def _view(self, fn: str, *args: Any) -> Any:
        return self.chain.call(self.system.core, fn, *args)

    def account(self, address: str) -> Account:
        """Balance, collateral (listed assets, zeros omitted), open positions and realized PnL."""
        a = normalize_address(address)
        mask = int(self._view("position_mask", a))
        positions = {}
        for m in range(mask.bit_length()):
            if mask >> m & 1:
                positions[m] = Position(*(int(v) for v in self._view("positions", a, m)))
        collateral = {i: int(self._view("collateral", a, i)) for i in self.asset_ids[1:]}
        return Account(
            balance=int(self._view("balances", a)),
            collateral={i: v for i, v in collateral.items() if v},
            positions=positions,
            realized_pnl=int(self._view("realized_pnl", a)),
            profit_withdrawn=int(self._view("profit_withdrawn", a)),
        )

    def adl_proposal(self, address: str, market_id: int) -> AdlProposal | None:
        """The pending ADL proposal for ``address``'s position in ``market_id`` (None if none)."""
        return _adl_proposal(self._view("adl_proposals", normalize_address(address), market_id))

    def market(self, market_id: int) -> MarketState:
        """Funding rate and index, loss indexes, last accrual and open interest of ``market_id``."""
        return _market_state(self._view("markets", market_id))

    def funding_index(self, market_id: int) -> int:
        """Cumulative funding per unit of size of ``market_id`` (USD WAD) at its last accrual."""
        return self.market(market_id).funding_index

    def feed(self, feed_id: int) -> FeedState:
        """Last accepted price, its timestamp, validity, acceptance time and move reference of
        ``feed_id``."""
        price, updated, valid = self._view("feeds", feed_id)
        accepted, ref_price, ref_accepted = self._view("feed_moves", feed_id)
        return FeedState(int(price), int(updated), bool(valid), int(accepted), int(ref_price), int(ref_accepted))

    def insurance_fund(self) -> int:
        """Insurance fund balance (USD WAD)."""
        return int(self._view("insurance_fund"))

    @property
    def order_domain(self) -> OrderDomain:
        """The EIP-712 domain orders must be signed for on this deployment."""
        return self.system.order_domain

    def order_filled(self, order_hash: bytes) -> int:
        """Filled size of the order with EIP-712 digest ``order_hash`` (magnitude, base units
        WAD; ``protocol.clearing.CANCELLED`` once cancelled)."""
        return int(self._view("order_filled", order_hash))

    def reference_model(
        self,
        params: Params,
        governance: str,
        *,
        matchers: Iterable[str] = (),
        oracles: Iterable[str] = (),
        funding_operators: Iterable[str] = (),
    ) -> ClearingHouse:
        """A fresh reference model in the deployment's state, to run the same records beside this
        house: ``params`` and roles as deployed, the deployment's order domain, the chain's
        clock, and each market's accrual and funding-rate clocks where its listing left them (a
        node lists the markets in successive blocks)."""
        model = ClearingHouse(
            params,
            governance,
            matchers=matchers,
            oracles=oracles,
            funding_operators=funding_operators,
            start_time_s=self.now_s,
            order_domain=self.order_domain,
        )
        listed = self.chain.call_many([BatchCall(self.system.core, "markets", (m,)) for m in model.state.markets])
        for market, values in zip(model.state.markets.values(), listed, strict=True):
            on_chain = _market_state(values)
            market.last_accrual_s, market.funding_rate_set_s = on_chain.last_accrual_s, on_chain.funding_rate_set_s
        return model

    def differences(
        self, model: ProtocolState, addresses: Iterable[str], market_ids: Iterable[int] | None = None
    ) -> list[str]:
        """What differs between the contract and a model state (empty when equal): every stored
        quantity of the accounts of ``addresses`` (balance, realized PnL, collateral, positions,
        liquidation memo), the markets ``market_ids`` (default: all), every feed, the filled size
        of every order the model has seen fill, the insurance fund and the pools.

        On automining backends a market no action touched keeps its listing time as
        ``last_accrual_s`` on chain while the model starts it at its own start time; compare the
        markets the actions touch.
        """
        if not isinstance(model, ProtocolState):
            raise InvalidParameter(
                f"model must be a ProtocolState (e.g. ClearingHouse.state), got {type(model).__name__}"
            )
        markets = list(self.market_ids if market_ids is None else market_ids)
        unknown = sorted((set(markets) - set(self.market_ids)) | (set(markets) - set(model.markets)))
        if unknown:
            raise InvalidParameter(f"market_ids {unknown} are not markets of both the deployment and the model")
        diffs: list[str] = []
        for a in addresses:
            chain_acct = _account_key(self.account(a))
            model_acct = _account_key(model.accounts.get(normalize_address(a), Account()))
            if chain_acct != model_acct:
                diffs.append(f"account {a}: chain {chain_acct} != model {model_acct}")
        for m in markets:
            if self.market(m) != model.markets[m]:
                diffs.append(f"market {m}: chain {self.market(m)} != model {model.markets[m]}")
        for f in self.feed_ids:
            if self.feed(f) != model.feeds[f]:
                diffs.append(f"feed {f}: chain {self.feed(f)} != model {model.feeds[f]}")
        for order_hash, model_filled in model.order_filled.items():
            if self.order_filled(order_hash) != model_filled:
                diffs.append(
                    f"order 0x{order_hash.hex()}: chain {self.order_filled(order_hash)} != model {model_filled}"
                )
        for name in ("insurance_fund", "fee_pool", "funding_pool", "loss_pool", "uncovered_loss"):
            chain_value, model_value = int(self._view(name)), getattr(model, name)
            if chain_value != model_value:
                diffs.append(f"{name}: chain {chain_value} != model {model_value}")
        return diffs

    def state(
        self, addresses: Iterable[str], order_hashes: Iterable[bytes] = (), *, at: tuple[int, int] | None = None
    ) -> ProtocolState:
        """The contract's state as the model's :class:`ProtocolState`, for ``addresses`` and the
        orders ``order_hashes`` only, read in one :meth:`~contracts_py.chains.Chain.call_many`
        (one JSON-RPC batch on anvil).

        ``at = (block, now_s)``: the state after model block ``block`` (anvil keeps past states;
        other backends read the latest), stamped with that clock; default: the latest state at
        the house's clock. Accounts with nothing stored and orders with nothing filled are
        omitted; role sets list the given holders only; ADL proposals are those of the given
        accounts; ``settlement_pool`` (options) is always 0.
        """
        addrs = sorted({normalize_address(a) for a in addresses})
        hashes = list(order_hashes)
        calls = self._state_calls(addrs, hashes)
        block, now_s = (self.block, self.now_s) if at is None else at
        values = self.chain.call_many(calls, block=None if at is None else self.block_base + block)
        return self._state_of(iter(values), addrs, hashes, block, now_s)

    def states_at(
        self, addresses: Iterable[str], ats: Sequence[tuple[int, int]]
    ) -> list[tuple[ProtocolState, dict[int, int]]]:
        """The state (:meth:`state`, ``at=``) and the token holdings (:meth:`token_holdings`)
        after each model block ``(block, now_s)`` of ``ats``, read in one request on anvil
        (:meth:`AnvilChain.call_many_at <contracts_py.chains.anvil_chain.AnvilChain.call_many_at>`:
        every block's ``eth_call`` in one JSON-RPC batch); other backends read the latest state
        for each."""
        addrs = sorted({normalize_address(a) for a in addresses})
        calls = self._state_calls(addrs, []) + self._holding_calls()
        if isinstance(self.chain, AnvilChain):
            per_block = self.chain.call_many_at(calls, [self.block_base + block for block, _ in ats])
        else:
            per_block = [self.chain.call_many(calls) for _ in ats]
        out = []
        for (block, now_s), values in zip(ats, per_block, strict=True):
            it = iter(values)
            state = self._state_of(it, addrs, [], block, now_s)
            out.append((state, {i: int(next(it)) for i in self.asset_ids}))
        return out

    _PER_ACCOUNT: Final = ("position_mask", "balances", "realized_pnl", "profit_withdrawn")
    _ROLE_SETS: Final = ("matchers", "oracles", "funding_operators")

    def _state_calls(self, addrs: Sequence[str], hashes: Sequence[bytes]) -> list[BatchCall]:
        """The reads :meth:`_state_of` decodes, in its order: the house-wide state
        (:func:`~contracts_py.house_state.state_calls`), then each account, its ADL proposals and
        the filled orders."""
        core = self.system.core
        calls = [BatchCall(core, fn, args) for fn, args in state_calls(self.market_ids, self.feed_ids, self.asset_ids)]
        for a in addrs:
            calls += [BatchCall(core, fn, (a,)) for fn in (*self._PER_ACCOUNT, *self._ROLE_SETS)]
            calls += [BatchCall(core, "collateral", (a, i)) for i in self.asset_ids[1:]]
            calls += [BatchCall(core, "positions", (a, m)) for m in self.market_ids]
        calls += [BatchCall(core, "adl_proposals", (a, m)) for a in addrs for m in self.market_ids]
        calls += [BatchCall(core, "order_filled", (h,)) for h in hashes]
        return calls

    def _holding_calls(self) -> list[BatchCall]:
        core = self.system.core.address
        return [BatchCall(self.system.token(i), "balanceOf", (core,)) for i in self.asset_ids]

    def _state_of(
        self, values: Iterator[Any], addrs: Sequence[str], hashes: Sequence[bytes], block: int, now_s: int
    ) -> ProtocolState:
        """The state the values of :meth:`_state_calls` (consumed from ``values``) describe."""
        state = decode_state(
            values,
            self.market_ids,
            self.feed_ids,
            self.asset_ids,
            now_s=now_s,
            block=block,
            order_domain=self.order_domain,
        )
        if state.block_liquidated_at:  # a chain block: the model's block count
            state.block_liquidated_at -= self.block_base
        holders = {
            "matchers": state.roles.matchers,
            "oracles": state.roles.oracles,
            "funding_operators": state.roles.funding_operators,
        }
        for a in addrs:
            mask, balance, realized, withdrawn = (int(next(values)) for _ in self._PER_ACCOUNT)
            for r in self._ROLE_SETS:
                if next(values):
                    holders[r].add(a)
            collateral = {i: int(v) for i in self.asset_ids[1:] if (v := next(values))}
            stored = {m: Position(*(int(v) for v in next(values))) for m in self.market_ids}
            acct = Account(
                balance=balance,
                collateral=collateral,
                positions={m: p for m, p in stored.items() if mask >> m & 1},
                realized_pnl=realized,
                profit_withdrawn=withdrawn,
            )
            if acct != Account():
                state.accounts[a] = acct
        for key in ((a, m) for a in addrs for m in self.market_ids):
            if (proposal := _adl_proposal(next(values))) is not None:
                state.adl_proposals[key] = proposal
        state.order_filled = {h: f for h in hashes if (f := int(next(values)))}
        return state

    def token_holdings(self, at_block: int | None = None) -> dict[int, int]:
        """Token units of each asset the core holds (``balanceOf``), after model block
        ``at_block`` (anvil) or now: what must cover every claim on the vault."""
        calls = self._holding_calls()
        held = self.chain.call_many(calls, block=None if at_block is None else self.block_base + at_block)
        return {i: int(v) for i, v in zip(self.asset_ids, held, strict=True)}


def _market_state(values: Iterable[Any]) -> MarketState:
    """The ``markets`` view's answer as a :class:`MarketState`."""
    return MarketState(*(int(v) for v in values))
