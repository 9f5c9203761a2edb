"""Mutable protocol state: accounts, positions, markets, feeds and the protocol's own buckets.

All amounts are WAD integers. The :class:`~protocol.clearing_house.ClearingHouse` is the only
writer; everything else reads. ``copy.deepcopy`` of a :class:`ProtocolState` is a snapshot;
:meth:`ProtocolState.fork` is the cheap copy one atomic action works on (accounts are copied
when first touched, so an action costs the same with ten accounts or a million).
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterator, KeysView, Mapping, MutableMapping
from dataclasses import dataclass, field, replace

from protocol.orders import MODEL_DOMAIN, OrderDomain

__all__ = [
    "Account",
    "AccountsOverlay",
    "AdlProposal",
    "FeedState",
    "MarketState",
    "Position",
    "ProtocolState",
    "Roles",
    "read_account",
]


@dataclass
class Position:
    """One account's net position in one market, facing the protocol."""

    #: Signed size in base units (WAD); positive = long.
    size: int = 0
    #: Signed cost basis in USD (WAD); positive for a long. Average entry = open_notional / size.
    open_notional: int = 0
    #: Market funding index at the last settlement (USD per base unit, WAD).
    funding_snapshot: int = 0
    #: Loss index of this position's side at the last settlement (USD per base unit, WAD).
    loss_snapshot: int = 0


@dataclass
class Account:
    """Cross-margined account: settlement balance, collateral and positions."""

    #: Settlement-token balance in USD (WAD); may be negative after losses.
    balance: int = 0
    #: Non-settlement collateral held, asset_id -> amount in base units (WAD).
    collateral: dict[int, int] = field(default_factory=dict)
    positions: dict[int, Position] = field(default_factory=dict)
    #: Cumulative realized trading PnL (USD WAD), for the zero-sum invariant and integrators.
    realized_pnl: int = 0
    #: Realized profit already withdrawn (USD WAD; ``profit_haircut`` method only): what a
    #: later withdrawal can no longer count as profit (protocol.loss_allocation.profit_haircut).
    profit_withdrawn: int = 0

    def has_positions(self) -> bool:
        """True while any position is open."""
        return bool(self.positions)

    def has_collateral(self) -> bool:
        """True while any non-settlement collateral is held."""
        return any(v > 0 for v in self.collateral.values())

    def clone(self) -> Account:
        """An independent copy (what ``copy.deepcopy`` gives, without its bookkeeping)."""
        return Account(
            self.balance,
            dict(self.collateral),
            {
                m: Position(p.size, p.open_notional, p.funding_snapshot, p.loss_snapshot)
                for m, p in self.positions.items()
            },
            self.realized_pnl,
            self.profit_withdrawn,
        )


class AccountsOverlay(MutableMapping[str, Account]):
    """Copy-on-access view of an accounts dict: reading an account returns a private copy.

    Handlers mutate the accounts they read, so every access copies the base account once;
    :meth:`merged` returns the base dict with the copies written back (the base is updated in
    place: the state it belonged to is being replaced).
    """

    __slots__ = ("_base", "_local")

    def __init__(self, base: dict[str, Account]) -> None:
        self._base = base
        self._local: dict[str, Account] = {}

    def __getitem__(self, address: str) -> Account:
        acct = self._local.get(address)
        if acct is None:
            acct = self._local[address] = self._base[address].clone()
        return acct

    def peek(self, address: str) -> Account | None:
        """The account at ``address`` as it stands, without a private copy (None if absent): for
        a reader that never mutates it (see :func:`read_account`)."""
        acct = self._local.get(address)
        return acct if acct is not None else self._base.get(address)

    @property
    def base(self) -> Mapping[str, Account]:
        """The accounts this overlay reads through (it writes none of them before :meth:`merged`)."""
        return self._base

    def written(self) -> KeysView[str]:
        """Addresses copied or created through this overlay; every other account is the base's."""
        return self._local.keys()

    def __setitem__(self, address: str, acct: Account) -> None:
        self._local[address] = acct

    def __delitem__(self, address: str) -> None:
        """Only an account this overlay created may go again (an undo journal removing what a
        refused action created); accounts are never deleted."""
        if address in self._base or address not in self._local:
            raise TypeError("accounts are never deleted")
        del self._local[address]

    def __contains__(self, address: object) -> bool:
        return address in self._local or address in self._base

    def __iter__(self) -> Iterator[str]:
        yield from self._base
        yield from (a for a in self._local if a not in self._base)

    def __len__(self) -> int:
        return len(self._base) + sum(1 for a in self._local if a not in self._base)

    def merged(self) -> dict[str, Account]:
        """The base dict with every copied or new account written back."""
        self._base.update(self._local)
        return self._base


def read_account(accounts: Mapping[str, Account], address: str) -> Account | None:
    """The account at ``address`` for reading only (None if absent): a fork's accounts are read
    without the private copy a handler's access makes (:meth:`AccountsOverlay.peek`), so a reader
    of a whole book does not copy it. The caller must not mutate what it gets."""
    if isinstance(accounts, AccountsOverlay):
        return accounts.peek(address)
    return accounts.get(address)


@dataclass
class MarketState:
    """Per-market accumulators."""

    #: Funding rate, signed fraction of the price per second (WAD); longs pay when positive.
    funding_rate_per_s_wad: int = 0
    #: Cumulative funding per unit of size (USD WAD); longs pay its increase, shorts receive it.
    funding_index: int = 0
    #: Cumulative socialized loss per unit of |size| charged to longs / shorts (USD WAD).
    loss_index_long: int = 0
    loss_index_short: int = 0
    #: Time of the last funding accrual (s).
    last_accrual_s: int = 0
    #: Open interest in base units (WAD) on each side; equal at all times.
    oi_long: int = 0
    oi_short: int = 0
    #: Time of the last funding-rate update (s): the rate's change is limited per second since.
    funding_rate_set_s: int = 0
    #: Options: the oracle price accepted at or after expiry (USD WAD); 0 until then.
    settlement_price_wad: int = 0


@dataclass
class FeedState:
    """What the oracle adapter holds for one feed."""

    #: Last accepted price (USD per base unit, WAD); 0 before the first.
    price_wad: int = 0
    #: Timestamp of that price (s).
    updated_at_s: int = 0
    #: False after a reading failed a guard, until the next accepted reading.
    valid: bool = False
    #: Block time (s) at which ``price_wad`` was accepted.
    accepted_at_s: int = 0
    #: The move guard's reference once a price was accepted in the current second: the last price
    #: accepted before it (USD WAD, 0 = none) and its acceptance time (s).
    ref_price_wad: int = 0
    ref_accepted_at_s: int = 0


@dataclass(frozen=True)
class AdlProposal:
    """A keeper's counterparty list for deleveraging one bankrupt position (F-04, F-10): it may be
    challenged until ``deadline_s``, executes from then until ``deadline_s + adl_window_s`` and
    has expired after that. An empty list proposes a bankrupt close (nobody in profit)."""

    counterparties: tuple[str, ...]
    deadline_s: int


@dataclass
class Roles:
    """Addresses allowed to call privileged actions."""

    governance: str
    matchers: set[str] = field(default_factory=set)
    oracles: set[str] = field(default_factory=set)
    funding_operators: set[str] = field(default_factory=set)
    #: Governance proposed by the current one, until it accepts (two-step transfer).
    pending_governance: str | None = None


@dataclass
class ProtocolState:
    """The whole state the protocol keeps."""

    roles: Roles
    now_s: int = 0
    block: int = 0
    paused: bool = False
    accounts: dict[str, Account] = field(default_factory=dict)
    markets: dict[int, MarketState] = field(default_factory=dict)
    feeds: dict[int, FeedState] = field(default_factory=dict)
    #: Token units of each asset held by the vault (asset 0 = settlement token).
    vault_tokens: dict[int, int] = field(default_factory=dict)
    insurance_fund: int = 0
    fee_pool: int = 0
    #: Funding paid in minus funding paid out (USD WAD); covers unsettled receivers.
    funding_pool: int = 0
    #: Socialized-loss charges collected minus losses credited to bankrupt accounts (USD WAD).
    loss_pool: int = 0
    #: Option expiry payouts: rounding dust between shorts' payments (UP) and longs' receipts (DOWN).
    settlement_pool: int = 0
    #: Bad debt nobody could absorb (no open interest on the side that should), USD WAD.
    uncovered_loss: int = 0
    #: Notional liquidated in the current block (USD WAD) and that block's number.
    block_liquidated_wad: int = 0
    block_liquidated_at: int = 0
    #: Liquidations resume at this time (s): an unpause starts a grace period.
    liquidations_resume_at_s: int = 0
    #: The EIP-712 domain orders are signed for (the deployment's chain id and address).
    order_domain: OrderDomain = MODEL_DOMAIN
    #: Filled size (base units WAD, magnitude) of every order that has filled, by its digest;
    #: :data:`protocol.clearing.CANCELLED` for a cancelled order.
    order_filled: MutableMapping[bytes, int] = field(default_factory=dict)
    #: Pending ADL proposals by (bankrupt account, market id).
    adl_proposals: dict[tuple[str, int], AdlProposal] = field(default_factory=dict)

    def account(self, address: str) -> Account:
        """The account at ``address``, created empty on first use."""
        acct = self.accounts.get(address)
        if acct is None:
            acct = self.accounts[address] = Account()
        return acct

    def fork(self) -> ProtocolState:
        """A copy for one atomic action: everything but the accounts is copied now, each account
        when first read (see :class:`AccountsOverlay`); :meth:`commit` turns it into a plain state.
        Discard either this state or the fork: they share unread accounts."""
        return replace(
            self,
            roles=Roles(
                self.roles.governance,
                set(self.roles.matchers),
                set(self.roles.oracles),
                set(self.roles.funding_operators),
                self.roles.pending_governance,
            ),
            accounts=AccountsOverlay(self.accounts),  # type: ignore[arg-type]
            markets={m: replace(ms) for m, ms in self.markets.items()},
            feeds={f: replace(fs) for f, fs in self.feeds.items()},
            vault_tokens=dict(self.vault_tokens),
            order_filled=ChainMap({}, self.order_filled),  # writes stay in the fork until commit
            adl_proposals=dict(self.adl_proposals),
        )

    def commit(self) -> ProtocolState:
        """This (forked) state with its accounts and order fills merged back into plain dicts."""
        if isinstance(self.accounts, AccountsOverlay):
            self.accounts = self.accounts.merged()
        if isinstance(self.order_filled, ChainMap):
            written, base = self.order_filled.maps
            base.update(written)
            self.order_filled = base
        return self
