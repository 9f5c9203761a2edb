"""Read a live Novation deployment from any JSON-RPC node: the integrator's client.

>>> client = NovationClient("http://127.0.0.1:8545", "0x...")          # doctest: +SKIP
>>> block = client.block_number()                                       # doctest: +SKIP
>>> client.health("0x...", block=block).liquidatable                    # doctest: +SKIP

:class:`NovationClient` attaches to a clearing house by address alone (or from a
:class:`~contracts_py.manifest.Manifest`): it checks the chain id (against the manifest), that the
address holds code and that the code answers ``HOUSE_VERSION()`` as a Novation house. Every read
returns the reference model's own types (:class:`~protocol.state.Account`,
:class:`~protocol.state.MarketState`, :class:`~protocol.state.FeedState`,
:class:`~protocol.params.Params`, :mod:`protocol.events` records) and takes ``block=`` (default:
the latest block) so that a set of reads is one consistent snapshot.

Health is the model's: the chain's state at ``block`` is loaded into a
:class:`~protocol.clearing_house.ClearingHouse` at the block's timestamp, which settles the
account's funding accrued to that time and values collateral with haircuts and oracle trust
exactly as the contracts do (a differential test holds it to the wei).

Batched reads go through the read-only lens (``contracts/lens.vy``): many accounts in one
``eth_call``, chunked under the node's gas cap. Without a deployed lens the client runs the lens's
code through an ``eth_call`` state override (geth, anvil, reth, erigon), and falls back to one
call per getter where the node has neither.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from contracts_py.build import Builder, house_abi
from contracts_py.chain_house import EVENT_TYPES, to_event
from contracts_py.chains.abi import ContractABI
from contracts_py.deploy import COLLATERAL_STRUCT, MARKET_STRUCT, PROTOCOL_STRUCT
from contracts_py.house_state import decode_state, feed_state, state_calls
from contracts_py.manifest import Manifest, load_manifest
from contracts_py.oracle_deploy import ADAPTER_SOURCE
from contracts_py.rpc import DEFAULT_TIMEOUT_S, Rpc, connect
from protocol import events as ev
from protocol.actions import normalize_address
from protocol.clearing_house import ClearingHouse
from protocol.constants import HOUSE_VERSION, MAX_LENS_ACCOUNTS, SETTLEMENT_ASSET_ID, WAD
from protocol.errors import ChainError, InvalidParameter, NovationError, ProtocolRevert
from protocol.margin import Health
from protocol.orders import OrderDomain
from protocol.params import CollateralParams, FeedParams, MarketParams, Params, ProtocolParams, SocializedLossMethod
from protocol.state import Account, AdlProposal, FeedState, MarketState, Position, ProtocolState

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_LENS_CHUNK",
    "DEFAULT_LOG_PAGE",
    "AccountHealth",
    "ChainEvent",
    "EventList",
    "NovationClient",
    "Snapshot",
]

#: Accounts per lens ``eth_call`` (about 30k gas each: well under a 30M gas cap).
DEFAULT_LENS_CHUNK: Final = 200
#: Blocks per ``eth_getLogs`` page.
DEFAULT_LOG_PAGE: Final = 2_000
#: Gas given to a read (nodes cap ``eth_call`` near the block gas limit).
READ_GAS: Final = 30_000_000
#: Where the lens's code is placed by a state override when no lens is deployed.
_VIRTUAL_LENS: Final = "0x" + "4e" * 19 + "01"
_INT_SIGN: Final = 1 << 255
#: Sender of every read (some nodes require one).
_READER: Final = "0x" + "00" * 20


def _signed(word: int) -> int:
    return word - (1 << 256) if word & _INT_SIGN else word


@dataclass(frozen=True)
class AccountHealth:
    """An account's health as the protocol judges it at a block's timestamp (USD WAD).

    ``margin`` is what trades and withdrawals see (every needed price trusted; None when one is
    not), ``liquidation`` what liquidation and deleveraging see (positions' prices trusted,
    collateral on an untrusted feed at zero; None when a position's price is untrusted: nothing
    can be liquidated then).
    """

    account: str
    margin: Health | None
    liquidation: Health | None

    @property
    def _any(self) -> Health:
        h = self.margin or self.liquidation
        return h if h is not None else Health(0, 0, 0)

    @property
    def equity(self) -> int:
        """Equity (USD WAD): balance, haircut collateral, unrealized PnL, pending funding and loss."""
        return self._any.equity

    @property
    def initial(self) -> int:
        """Initial margin requirement (USD WAD)."""
        return self._any.initial

    @property
    def maintenance(self) -> int:
        """Maintenance margin requirement (USD WAD)."""
        return self._any.maintenance

    @property
    def margin_ratio_wad(self) -> int | None:
        """Equity over maintenance (WAD, floored; 1e18 = at maintenance), None without a requirement."""
        return None if self.maintenance == 0 else self.equity * WAD // self.maintenance

    @property
    def liquidatable(self) -> bool:
        """Strictly below maintenance as liquidation values it."""
        return self.liquidation is not None and self.liquidation.liquidatable

    @property
    def meets_initial(self) -> bool:
        """At or above initial margin with every needed price trusted."""
        return self.margin is not None and self.margin.meets_initial


@dataclass(frozen=True)
class ChainEvent:
    """One log of the house in chain order: ``event`` is its :mod:`protocol.events` record (a dict
    ``{"event": name, ...}`` for an event the model does not define)."""

    block: int
    tx_index: int
    log_index: int
    tx_hash: str
    block_hash: str
    event: ev.Event | dict[str, Any]

    @property
    def kind(self) -> str:
        """The event's name (``Liquidated``, ``FillSettled``, ...)."""
        return str(self.event["event"]) if isinstance(self.event, dict) else type(self.event).__name__

    def fields(self) -> dict[str, Any]:
        """The event's fields by name."""
        if isinstance(self.event, dict):
            return {k: v for k, v in self.event.items() if k != "event"}
        return dataclasses.asdict(self.event)


class EventList(list[ChainEvent]):
    """Events in chain order (block, transaction index, log index)."""

    def to_dataframe(self) -> pd.DataFrame:
        """One row per event: block, tx_index, log_index, tx_hash, kind, then every field
        (integers beyond 64 bits kept as Python ints in object columns)."""
        import pandas as pd

        rows = [
            {
                "block": e.block,
                "tx_index": e.tx_index,
                "log_index": e.log_index,
                "tx_hash": e.tx_hash,
                "kind": e.kind,
                **{k: (v.hex() if isinstance(v, bytes) else v) for k, v in e.fields().items()},
            }
            for e in self
        ]
        return pd.DataFrame(rows, columns=None if rows else ["block", "tx_index", "log_index", "tx_hash", "kind"])


@dataclass(frozen=True)
class Snapshot:
    """The chain's protocol state at one block: the model's :class:`ProtocolState` (accounts of
    the addresses asked for), the parameters rebuilt from the chain, the block and its time."""

    block: int
    timestamp_s: int
    params: Params
    state: ProtocolState


class NovationClient:
    """Typed reads of one Novation clearing house over JSON-RPC.

    ``rpc`` is a URL, an :class:`~contracts_py.rpc.Rpc` or a :class:`web3.Web3`. ``lens`` is a
    deployed lens's address (optional). ``chain_id``, when given (a manifest's), must be the
    node's. Raises ChainError for an unreachable node, a wrong chain, an address without code or
    with code that is not a Novation house.
    """

    def __init__(
        self,
        rpc: str | Rpc | Any,
        house_address: str,
        *,
        lens: str | None = None,
        chain_id: int | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        builder: Builder | None = None,
    ) -> None:
        self.house = normalize_address(house_address, "house address")
        self.lens = None if lens is None else normalize_address(lens, "lens address")
        self.rpc = connect(rpc, timeout_s=timeout_s)
        b = builder or Builder()
        self._abi = ContractABI(house_abi(b), "clearing_house")
        self._lens_abi = ContractABI(b.build("lens").abi, "lens")
        self._adapter_abi = ContractABI(b.build(ADAPTER_SOURCE).abi, "oracle_adapter")
        self._lens_code = "0x" + b.build("lens").runtime_bytecode.hex()
        #: "deployed", "override" or "getters": how batched account reads run (found on first use).
        self._lens_mode: str | None = "deployed" if self.lens else None
        self.chain_id = int(self.rpc.request("eth_chainId", []), 16)
        if chain_id is not None and chain_id != self.chain_id:
            raise ChainError(
                f"{self.rpc.name} serves chain {self.chain_id}, but the deployment is on chain {chain_id}: "
                "point --rpc at the deployment's chain"
            )
        code = self.rpc.request("eth_getCode", [self.house, "latest"])
        if not code or code in ("0x", "0x0"):
            raise ChainError(f"address {self.house} has no code on chain {self.chain_id}: is it the house's address?")
        try:
            version = self._call("HOUSE_VERSION")
        except (NovationError, ValueError):
            version = None
        if version != HOUSE_VERSION:
            raise ChainError(
                f"address {self.house} on chain {self.chain_id} is not a Novation clearing house "
                f"(HOUSE_VERSION() answered {version!r}, expected {HOUSE_VERSION!r})"
            )

    @classmethod
    def from_manifest(
        cls, rpc: str | Rpc | Any, manifest: Manifest | str | Path, *, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> NovationClient:
        """Attach to the deployment a manifest (or a manifest file's path) describes; its chain id
        must be the node's."""
        m = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
        return cls(rpc, m.house, lens=m.lens, chain_id=m.chain_id, timeout_s=timeout_s)

    def close(self) -> None:
        """Close the connection to the node."""
        self.rpc.close()

    # ------------------------------------------------------------------ plumbing

    def block_number(self) -> int:
        """The node's latest block number."""
        return int(self.rpc.request("eth_blockNumber", []), 16)

    def _block(self, block: int | None) -> str:
        if block is None:
            return "latest"
        if isinstance(block, bool) or not isinstance(block, int) or block < 0:
            raise InvalidParameter(f"block must be a non-negative integer, got {block!r}")
        return hex(block)

    def _call_data(self, fn: str, *args: Any) -> dict[str, Any]:
        return self._read(self.house, "0x" + self._abi.encode_call(fn, args).hex())

    @staticmethod
    def _read(to: str, data: str) -> dict[str, Any]:
        return {"from": _READER, "to": to, "data": data, "gas": hex(READ_GAS), "gasPrice": "0x0"}

    def _decode(self, fn: str, n_args: int, raw: str) -> Any:
        return self._abi.decode_output(fn, n_args, bytes.fromhex(raw.removeprefix("0x")))

    def _call(self, fn: str, *args: Any, block: int | None = None) -> Any:
        """One getter of the house at ``block``: one ``eth_call``."""
        raw = self.rpc.request("eth_call", [self._call_data(fn, *args), self._block(block)])
        return self._decode(fn, len(args), raw)

    def _calls(self, calls: Sequence[tuple[str, tuple[Any, ...]]], block: int | None) -> list[Any]:
        """Several getters at ``block`` in one JSON-RPC batch."""
        tag = self._block(block)
        raws = self.rpc.batch([("eth_call", [self._call_data(fn, *args), tag]) for fn, args in calls])
        return [self._decode(fn, len(args), raw) for (fn, args), raw in zip(calls, raws, strict=True)]

    def _header(self, block: int | None) -> tuple[int, int]:
        answer = self.rpc.request("eth_getBlockByNumber", [self._block(block), False])
        if answer is None:
            raise InvalidParameter(f"block {block} is past the head {self.block_number()} of chain {self.chain_id}")
        return int(answer["number"], 16), int(answer["timestamp"], 16)

    # ------------------------------------------------------------------ listings and parameters

    def market_ids(self, *, block: int | None = None) -> list[int]:
        """Listed market ids, in listing order."""
        return list(self._call("listed_markets", block=block))

    def feed_ids(self, *, block: int | None = None) -> list[int]:
        """Listed feed ids, in listing order."""
        return list(self._call("listed_feeds", block=block))

    def asset_ids(self, *, block: int | None = None) -> list[int]:
        """Listed collateral asset ids (the settlement asset 0 aside), in listing order."""
        return list(self._call("listed_collaterals", block=block))

    def params_from_chain(self, *, block: int | None = None) -> Params:
        """The model's :class:`~protocol.params.Params` rebuilt from the house's getters.

        The contracts trade perpetuals only: the option fields of ``ProtocolParams`` keep their
        defaults (no market on chain uses them).
        """
        markets, feeds, assets = self._calls(
            [("listed_markets", ()), ("listed_feeds", ()), ("listed_collaterals", ())], block
        )
        calls: list[tuple[str, tuple[Any, ...]]] = [("protocol_params", ())]
        calls += [c for f in feeds for c in (("feed_params", (f,)), ("feed_symbol", (f,)))]
        calls += [c for m in markets for c in (("market_params", (m,)), ("market_symbol", (m,)))]
        calls += [c for a in assets for c in (("collateral_params", (a,)), ("collateral_symbol", (a,)))]
        out = iter(self._calls(calls, block))
        pp = dict(zip(PROTOCOL_STRUCT, next(out), strict=True))
        adl = pp.pop("socialized_loss_method")
        protocol = ProtocolParams(
            **pp, socialized_loss_method=SocializedLossMethod.ADL if adl else SocializedLossMethod.PRO_RATA
        )
        feed_params = []
        for f in feeds:
            (_, heartbeat, max_move, window), symbol = next(out), next(out)
            feed_params.append(FeedParams(f, symbol, heartbeat, max_move, window))
        market_params = []
        for m in markets:
            values, symbol = dict(zip(MARKET_STRUCT, next(out), strict=True)), next(out)
            del values["listed"]
            market_params.append(MarketParams(market_id=m, symbol=symbol, **values))
        collateral_params = []
        for a in assets:
            values, symbol = dict(zip(COLLATERAL_STRUCT, next(out), strict=True)), next(out)
            del values["listed"], values["token"]
            collateral_params.append(CollateralParams(asset_id=a, symbol=symbol, **values))
        return Params(protocol, tuple(feed_params), tuple(market_params), tuple(collateral_params))

    def token(self, asset_id: int, *, block: int | None = None) -> str:
        """Address of the ERC20 of ``asset_id`` (0 = the settlement token)."""
        if asset_id == SETTLEMENT_ASSET_ID:
            return str(self._call("settlement_token", block=block))
        values = dict(zip(COLLATERAL_STRUCT, self._call("collateral_params", asset_id, block=block), strict=True))
        if not values["listed"]:
            raise InvalidParameter(f"asset_id {asset_id} is not listed; listed: {self.asset_ids(block=block)}")
        return str(values["token"])

    # ------------------------------------------------------------------ markets, feeds, buckets

    def market(self, market_id: int, *, block: int | None = None) -> MarketState:
        """Stored state of ``market_id``: funding rate and index (as last accrued), loss indexes,
        open interest per side."""
        return MarketState(*(int(v) for v in self._call("markets", market_id, block=block)))

    def open_interest(self, market_id: int, *, block: int | None = None) -> tuple[int, int]:
        """Open interest of ``market_id`` (base units WAD): (long, short), equal at all times."""
        ms = self.market(market_id, block=block)
        return ms.oi_long, ms.oi_short

    def feed(self, feed_id: int, *, block: int | None = None) -> FeedState:
        """Last accepted price of ``feed_id`` with its time, validity and move reference."""
        return feed_state(*self._calls([("feeds", (feed_id,)), ("feed_moves", (feed_id,))], block))

    def insurance_fund(self, *, block: int | None = None) -> int:
        """Insurance fund balance (USD WAD)."""
        return int(self._call("insurance_fund", block=block))

    def paused(self, *, block: int | None = None) -> bool:
        """Whether governance paused the protocol."""
        return bool(self._call("paused", block=block))

    def reduce_only_markets(self, *, block: int | None = None) -> list[int]:
        """Markets whose feed is untrusted at ``block``'s time: only fills reducing both sides pass."""
        snap = self.snapshot((), block=block)
        house = ClearingHouse.from_state(snap.params, snap.state)
        from protocol.oracle_adapter import is_trusted

        return [
            m.market_id
            for m in snap.params.markets
            if not is_trusted(snap.state.feeds[m.feed_id], snap.params.feed(m.feed_id), house.state.now_s)
        ]

    # ------------------------------------------------------------------ accounts

    def account(self, address: str, *, block: int | None = None) -> Account:
        """Balance, collateral (zeros omitted), open positions and realized PnL of ``address``,
        one ``eth_call`` per getter (see :meth:`accounts` for many)."""
        a = normalize_address(address, "account")
        mask = int(self._call("position_mask", a, block=block))
        positions = {
            m: Position(*(int(v) for v in self._call("positions", a, m, block=block)))
            for m in range(mask.bit_length())
            if mask >> m & 1
        }
        collateral = {i: int(self._call("collateral", a, i, block=block)) for i in self.asset_ids(block=block)}
        return Account(
            balance=int(self._call("balances", a, block=block)),
            collateral={i: v for i, v in collateral.items() if v},
            positions=positions,
            realized_pnl=int(self._call("realized_pnl", a, block=block)),
        )

    def accounts(
        self, addresses: Iterable[str], *, block: int | None = None, chunk: int = DEFAULT_LENS_CHUNK
    ) -> dict[str, Account]:
        """:meth:`account` of every address, through the lens: ``chunk`` accounts per ``eth_call``,
        every call at the same block (the latest when None), so the answer is one snapshot."""
        if isinstance(chunk, bool) or not isinstance(chunk, int) or not 1 <= chunk <= MAX_LENS_ACCOUNTS:
            raise InvalidParameter(f"chunk must be an integer in [1, {MAX_LENS_ACCOUNTS}], got {chunk!r}")
        addrs = [normalize_address(a, "account") for a in addresses]
        pinned = self.block_number() if block is None else block
        out: dict[str, Account] = {}
        for start in range(0, len(addrs), chunk):
            part = addrs[start : start + chunk]
            out.update(zip(part, self._lens_accounts(part, pinned), strict=True))
        return out

    def _lens_accounts(self, addrs: list[str], block: int) -> list[Account]:
        data = "0x" + self._lens_abi.encode_call("accounts", (self.house, addrs)).hex()
        tag = self._block(block)
        if self._lens_mode in (None, "override"):
            call = self._read(_VIRTUAL_LENS, data)
            try:
                raw = self.rpc.request("eth_call", [call, tag, {_VIRTUAL_LENS: {"code": self._lens_code}}])
                if raw in (None, "0x"):
                    raise ChainError("the node ignored the state override")
                self._lens_mode = "override"
                return _decode_lens(bytes.fromhex(raw[2:]), len(addrs))
            except (ChainError, ProtocolRevert):
                if self._lens_mode == "override":
                    raise
                self._lens_mode = "getters"
        if self._lens_mode == "deployed":
            raw = self.rpc.request("eth_call", [self._read(str(self.lens), data), tag])
            return _decode_lens(bytes.fromhex(raw[2:]), len(addrs))
        return [self.account(a, block=block) for a in addrs]

    # ------------------------------------------------------------------ snapshots and health

    def snapshot(self, addresses: Iterable[str] = (), *, block: int | None = None) -> Snapshot:
        """The protocol state at ``block`` as the model's :class:`ProtocolState` with the accounts
        of ``addresses`` (empty accounts omitted), and the parameters rebuilt from the chain.

        Roles list governance only; orders are not listed (``order_filled`` is empty). With the
        ADL method, the pending ADL proposal of each of their positions is read too (one call per
        position, in the same batch order).
        """
        number, timestamp = self._header(block)
        params = self.params_from_chain(block=number)
        feeds = [f.feed_id for f in params.feeds]
        assets = [SETTLEMENT_ASSET_ID, *(c.asset_id for c in params.collaterals)]
        calls = state_calls(params.market_ids, feeds, assets)
        state = decode_state(
            iter(self._calls(calls, number)),
            params.market_ids,
            feeds,
            assets,
            now_s=timestamp,
            block=number,
            order_domain=OrderDomain(self.chain_id, self.house),
        )
        accounts = {a: acct for a, acct in self.accounts(addresses, block=number).items() if acct != Account()}
        proposals: dict[tuple[str, int], AdlProposal] = {}
        if params.protocol.socialized_loss_method is SocializedLossMethod.ADL:  # the queue of every position
            keys = [(a, m) for a, acct in accounts.items() for m in acct.positions]
            for key, (cps, deadline_s) in zip(
                keys, self._calls([("adl_proposals", k) for k in keys], number), strict=True
            ):
                if int(deadline_s):
                    proposals[key] = AdlProposal(tuple(str(c).lower() for c in cps), int(deadline_s))
        state.accounts = accounts
        state.adl_proposals = proposals
        return Snapshot(number, timestamp, params, state)

    def health(self, address: str, *, block: int | None = None) -> AccountHealth:
        """Health of ``address`` at ``block``'s timestamp, computed by the model on the chain's state."""
        a = normalize_address(address, "account")
        return self.healths([a], block=block)[a]

    def healths(self, addresses: Iterable[str], *, block: int | None = None) -> dict[str, AccountHealth]:
        """:meth:`health` of many accounts from one snapshot (batched through the lens)."""
        addrs = [normalize_address(a, "account") for a in addresses]
        snap = self.snapshot(addrs, block=block)
        return health_of(snap, addrs)

    def events(
        self,
        from_block: int,
        to_block: int | None = None,
        *,
        kinds: Iterable[str] | None = None,
        page: int = DEFAULT_LOG_PAGE,
    ) -> EventList:
        """The house's events from ``from_block`` to ``to_block`` (inclusive; default the head) in
        chain order, ``kinds`` (event names of the house ABI) only when given, read ``page``
        blocks per ``eth_getLogs``."""
        head = self.block_number()
        last = head if to_block is None else to_block
        if isinstance(from_block, bool) or not isinstance(from_block, int) or from_block < 0:
            raise InvalidParameter(f"from_block must be a non-negative integer, got {from_block!r}")
        if last > head or from_block > head:
            raise InvalidParameter(f"block range {from_block}..{last} is past the head {head} of chain {self.chain_id}")
        if last < from_block:
            raise InvalidParameter(f"block range {from_block}..{last} is empty: to_block is before from_block")
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:
            raise InvalidParameter(f"page must be a positive number of blocks, got {page!r}")
        topics = self.event_topics(kinds)
        out = EventList()
        for start in range(from_block, last + 1, page):
            out.extend(self.logs(start, min(start + page - 1, last), topics))
        return out

    def event_topics(self, kinds: Iterable[str] | None) -> list[str] | None:
        """Topic-0 filter of the event names ``kinds`` (None: every event)."""
        if kinds is None:
            return None
        by_name = {e.name: "0x" + topic.hex() for topic, e in self._abi.events.items()}
        wanted = list(kinds)
        unknown = sorted(set(wanted) - set(by_name))
        if unknown:
            raise InvalidParameter(f"unknown event kinds {unknown}; the house emits {sorted(by_name)}")
        return [by_name[k] for k in wanted]

    @property
    def event_kinds(self) -> list[str]:
        """Every event the house emits (from its merged ABI), sorted."""
        return sorted(e.name for e in self._abi.events.values())

    def logs(self, from_block: int, to_block: int, topics: list[str] | None = None) -> list[ChainEvent]:
        """One ``eth_getLogs`` of the house over ``from_block..to_block``, decoded, in chain order."""
        flt: dict[str, Any] = {"address": self.house, "fromBlock": hex(from_block), "toBlock": hex(to_block)}
        if topics is not None:
            flt["topics"] = [topics]
        raw = self.rpc.request("eth_getLogs", [flt])
        out = [self._event(lg, self._abi) for lg in raw]
        out.sort(key=lambda e: (e.block, e.tx_index, e.log_index))
        return out

    def adapter_logs(self, adapters: Sequence[str], from_block: int, to_block: int) -> list[ChainEvent]:
        """The logs of the oracle adapters ``adapters`` (``contracts/oracle/oracle_adapter.vy``:
        ``Poked``, ``StatusChanged``, ...) over ``from_block..to_block`` (one batch of one
        ``eth_getLogs`` per adapter: not every node takes a list of addresses), decoded as dicts
        with the adapter's ``address``, in chain order."""
        if not adapters:
            return []
        span = {"fromBlock": hex(from_block), "toBlock": hex(to_block)}
        answers = self.rpc.batch([("eth_getLogs", [{"address": a, **span}]) for a in adapters])
        out = [self._event(lg, self._adapter_abi) for raw in answers for lg in raw]
        out.sort(key=lambda e: (e.block, e.tx_index, e.log_index))
        return out

    def _event(self, lg: dict[str, Any], abi: ContractABI) -> ChainEvent:
        topics = [bytes.fromhex(t[2:]) for t in lg["topics"]]
        decoded = abi.decode_log(topics, bytes.fromhex(lg["data"][2:]))
        if decoded is None:
            decoded = {"event": "unknown", "topics": [t.hex() for t in topics], "data": lg["data"]}
        record: ev.Event | dict[str, Any]
        if abi is self._abi and decoded["event"] in EVENT_TYPES:
            record = to_event(decoded)
        else:
            record = decoded if abi is self._abi else {**decoded, "address": str(lg["address"]).lower()}
        return ChainEvent(
            int(lg["blockNumber"], 16),
            int(lg["transactionIndex"], 16),
            int(lg["logIndex"], 16),
            str(lg["transactionHash"]),
            str(lg["blockHash"]),
            record,
        )

    def block_hashes(self, blocks: Iterable[int]) -> dict[int, str]:
        """Hash of each block (for reorg checks), one batch."""
        return {b: h for b, (h, _) in self.block_headers(blocks).items()}

    def block_headers(self, blocks: Iterable[int]) -> dict[int, tuple[str, int]]:
        """Hash and timestamp (s) of each block, one batch."""
        wanted = list(blocks)
        answers = self.rpc.batch([("eth_getBlockByNumber", [hex(b), False]) for b in wanted])
        out = {}
        for b, a in zip(wanted, answers, strict=True):
            if a is None:
                raise ChainError(f"block {b} is not on chain {self.chain_id} (past the head?)")
            out[b] = (str(a["hash"]), int(a["timestamp"], 16))
        return out


def health_of(snap: Snapshot, addresses: Iterable[str]) -> dict[str, AccountHealth]:
    """:class:`AccountHealth` of ``addresses`` in a :class:`Snapshot`, by the reference model."""
    house = ClearingHouse.from_state(snap.params, copy.deepcopy(snap.state))
    out = {}
    for a in addresses:
        out[a] = AccountHealth(a, _or_none(house.health, a), _or_none(house.liquidation_health, a))
    return out


def _or_none(fn: Any, address: str) -> Health | None:
    try:
        return fn(address)  # type: ignore[no-any-return]
    except ProtocolRevert:  # a price it needs is untrusted
        return None


def _decode_lens(raw: bytes, n: int) -> list[Account]:
    """Accounts from the lens's answer (contracts/lens.vy documents the word layout)."""
    # ABI of a dynamic uint256[]: offset, length, words
    count = int.from_bytes(raw[32:64], "big")
    words = memoryview(raw)[64 : 64 + 32 * count]

    def word(i: int) -> int:
        return int.from_bytes(words[32 * i : 32 * i + 32], "big")

    n_assets = word(2)
    assets = [word(3 + k) for k in range(n_assets)]
    i = 3 + n_assets
    out = []
    for _ in range(n):
        balance, pnl, mask = _signed(word(i)), _signed(word(i + 1)), word(i + 2)
        i += 3
        collateral = {}
        for a in assets:
            if amount := word(i):
                collateral[a] = amount
            i += 1
        positions = {}
        for m in _bits(mask):
            positions[m] = Position(_signed(word(i)), _signed(word(i + 1)), _signed(word(i + 2)), word(i + 3))
            i += 4
        out.append(Account(balance=balance, collateral=collateral, positions=positions, realized_pnl=pnl))
    if i != count:
        raise ChainError(f"the lens answered {count} words, {i} expected for {n} accounts")
    return out


def _bits(mask: int) -> Iterator[int]:
    m = 0
    while mask:
        if mask & 1:
            yield m
        mask >>= 1
        m += 1
