"""Stateful random campaigns over every actor, on the model alone or on a chain with the model as twin.

A campaign runs ``sequences`` of ``sequence_length`` protocol actions, each from a fresh state
(a fresh model; on a chain the deployment snapshot), in blocks of ``per_block`` actions, each
block opened by an :class:`~protocol.actions.AdvanceTime` (one block, a few seconds, now and then
an outage). Every action is drawn from :data:`~contracts_py.audit.actors.ACTION_KINDS` against
the model and applied to it; refused actions stay in the sequence. Checked:

* after every action the model's transition invariants (:data:`protocol.invariants.TRANSITION_INVARIANTS`);
* after every block the model's state invariants (:data:`protocol.invariants.STATE_INVARIANTS`,
  GUIDE §5) plus any ``extra_invariants`` (the test hook: a test plants a deliberately wrong
  invariant there to check that the campaign finds, shrinks and replays it);
* on a chain, after every block: each action's events, or its revert reason, equal the model's
  (on anvil a revert's reason is traced the first time the model gives that reason and whenever
  the model predicted success; later reverts for a confirmed reason are compared by status);
  the same state invariants on the state read from the chain (conservation, open interest long ==
  short, fund >= 0, ...) plus solvency (the core's token holdings cover every claim on the vault);
  and the chain's state equals the model's to the wei (accounts, positions, markets, feeds,
  pools, vault accounting, liquidation cap, pause).

anvil runs through the fast path, in a helper thread while the model draws on: the model blocks
go out in batches (1, 2, 4, ... up to :data:`ANVIL_BLOCKS_PER_BATCH` blocks from a sequence's
start; a batch is checked while the helper sends the next), each in pipelined JSON-RPC batches
(one ``evm_mine`` per block, transactions from impersonated senders), and the states of a batch's
blocks, each at its block number, come back in one JSON-RPC batch (one multicall ``eth_call``
per block: ``ChainClearingHouse.states_at``); the node keeps :data:`ANVIL_HISTORY_BLOCKS` past
states (a batch spanning more chain blocks is sent in parts).
titanoboa and eth-tester apply actions one by one and read the state after each block.

Everything random comes from ``numpy.random.SeedSequence(seed)``: sequence ``i`` draws from
its ``i``-th spawned child, so a sequence replays alone.
"""

from __future__ import annotations

import gc
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from typing import Any, Final

import numpy as np

from contracts_py.audit.actors import (
    ACTION_KINDS,
    ACTORS,
    KEYS,
    KindDraw,
    World,
    draw_block_start,
    kind_weights,
    opening_actions,
)
from contracts_py.chain_house import ChainClearingHouse, Outcome, mint_test_tokens
from contracts_py.chains import UNTRACED, Chain, make_chain
from contracts_py.chains.anvil_chain import AnvilChain
from contracts_py.deploy import System, deploy_system
from protocol import events as ev
from protocol.actions import Action, AdvanceTime
from protocol.clearing_house import ClearingHouse
from protocol.errors import ChainError, InvalidParameter, ProtocolRevert
from protocol.invariants import STATE_INVARIANTS, TRANSITION_INVARIANTS, StateCheck, check_state, check_transition
from protocol.params import Params
from protocol.state import Account, ProtocolState

__all__ = [
    "CHAINS",
    "PLANTED",
    "T0",
    "CampaignStats",
    "Target",
    "Violation",
    "deploy_at_t0",
    "generate_sequence",
    "open_target",
    "planted",
    "replay_sequence",
]

#: ``--chain`` choices: the model alone or a backend with the model as twin.
CHAINS: Final = ("model", "boa", "eth-tester", "anvil")
#: Model and chain clock at the start of every sequence (2033-05-18), later than any node's genesis.
T0: Final = 2_000_000_000
#: anvil: most model blocks sent (and read back) per batch (a sequence ramps up to it).
ANVIL_BLOCKS_PER_BATCH: Final = 10
#: anvil: past states the node keeps (``--prune-history``; the default keeps 500 in memory, then
#: serializes every further block's whole state to disk, a cost that grows with the state). A
#: batch's states are read and its reverts traced right after it is mined; a batch never spans
#: more than half of these chain blocks (:meth:`_Execution.end_block`).
ANVIL_HISTORY_BLOCKS: Final = 256
#: Allocations between two collections of the youngest generation during a sequence (Python's
#: default: 700); see :func:`_collector_for_sequences`.
_GC_GEN0_THRESHOLD: Final = 20_000
#: State fields compared between chain and model after every block.
_COMPARED: Final = tuple(
    f.name
    for f in fields(ProtocolState)
    if f.name not in ("accounts", "now_s", "block", "order_domain", "order_filled", "roles")
)


@dataclass(frozen=True)
class Violation:
    """What broke: ``check`` (an invariant's name, ``chain == model``, ``solvency`` or
    ``outcome``), where (``chain`` or ``model``), the index of the last action executed in the
    sequence's action log, and the details."""

    check: str
    where: str
    action_index: int
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"check": self.check, "where": self.where, "action_index": self.action_index, "detail": self.detail}


class _Found(Exception):
    def __init__(self, violation: Violation, end: int | None = None) -> None:
        super().__init__(violation.detail)
        self.violation = violation
        self.end = end  # length of the log up to the end of the block that showed it (None: all)


@dataclass
class CampaignStats:
    """Counts of a campaign (or one sequence): protocol actions (``AdvanceTime`` not counted),
    invariant checks run (each invariant on each state or transition it looked at), reverts by
    reason, actions by kind, sequences, blocks; ``setup_s``: seconds spent opening targets
    (node start-up, compilation, deployment), summed over the targets opened."""

    actions: int = 0
    checks: int = 0
    blocks: int = 0
    sequences: int = 0
    setup_s: float = 0.0
    reverts: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)

    def add(self, other: CampaignStats) -> None:
        """Add ``other``'s counts to these."""
        self.actions += other.actions
        self.checks += other.checks
        self.blocks += other.blocks
        self.sequences += other.sequences
        self.setup_s += other.setup_s
        self.reverts.update(other.reverts)
        self.kinds.update(other.kinds)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "actions": self.actions,
            "checks": self.checks,
            "blocks": self.blocks,
            "sequences": self.sequences,
            "setup_seconds": round(self.setup_s, 3),
            "reverts": dict(self.reverts.most_common()),
            "kinds": dict(self.kinds.most_common()),
        }


def comparable(state: ProtocolState, addresses: Sequence[str]) -> ProtocolState:
    """``state`` as a chain reads it back: the accounts of ``addresses`` that hold anything, zero
    collateral entries dropped, role sets limited to ``addresses``, no option settlement prices."""
    keep = set(addresses)
    accounts = {}
    for a, acct in state.accounts.items():
        if a not in keep:
            continue
        acct = Account(
            acct.balance,
            {i: v for i, v in acct.collateral.items() if v},
            dict(acct.positions),
            acct.realized_pnl,
            acct.profit_withdrawn,
        )
        if acct != Account():
            accounts[a] = acct
    out = state.fork()
    out.accounts = accounts
    out.markets = {m: replace(ms, settlement_price_wad=0) for m, ms in state.markets.items()}
    return out


def state_differences(chain: ProtocolState, model: ProtocolState, addresses: Sequence[str]) -> list[str]:
    """Where the chain's state (read back) differs from the model's: every compared field and
    every account of ``addresses``."""
    want = comparable(model, addresses)
    diffs = [
        f"{name}: chain {getattr(chain, name)!r} != model {getattr(want, name)!r}"
        for name in _COMPARED
        if getattr(chain, name) != getattr(want, name)
    ]
    for a in sorted(set(chain.accounts) | set(want.accounts)):
        if chain.accounts.get(a) != want.accounts.get(a):
            diffs.append(f"account {a}: chain {chain.accounts.get(a)!r} != model {want.accounts.get(a)!r}")
    r, w = chain.roles, want.roles
    if (r.governance, r.pending_governance, r.matchers, r.oracles, r.funding_operators) != (
        w.governance,
        w.pending_governance,
        w.matchers & set(addresses),
        w.oracles & set(addresses),
        w.funding_operators & set(addresses),
    ):
        diffs.append(f"roles: chain {r!r} != model {w!r}")
    return diffs


def _one_market_per_account(state: ProtocolState, params: Params) -> list[str]:
    """Planted (false: cross-margin allows it): no account holds positions in two markets."""
    return [
        f"account {a} holds positions in markets {sorted(acct.positions)}"
        for a, acct in state.accounts.items()
        if len(acct.positions) > 1
    ]


#: Test hook: deliberately wrong invariants a test plants (``plant=`` of :func:`generate_sequence`
#: and :func:`~contracts_py.audit.reproducer.replay_log`, ``novation audit --plant``) to check that a
#: campaign finds a violation, shrinks it and replays the reproducer. Never part of a real campaign.
PLANTED: Final[dict[str, StateCheck]] = {"one_market_per_account": _one_market_per_account}


def planted(name: str | None) -> dict[str, StateCheck]:
    """The planted invariant ``name`` as an extra-invariant table (empty for None)."""
    if name is None:
        return {}
    if name not in PLANTED:
        raise InvalidParameter(f"--plant {name!r} is unknown; planted invariants: {', '.join(PLANTED)}")
    return {f"planted:{name}": PLANTED[name]}


# ----------------------------------------------------------------------------- targets


def _check_listing(system: System, params: Params) -> None:
    """ChainError unless the deployment lists exactly the feeds, markets and collateral assets of
    ``params``, in their order (the listing views a client reads them through)."""
    chain, core = system.chain, system.core
    expected = {
        "listed_feeds": [f.feed_id for f in params.feeds],
        "listed_markets": [m.market_id for m in params.markets],
        "listed_collaterals": [c.asset_id for c in params.collaterals],
    }
    for view, ids in expected.items():
        listed = list(chain.call(core, view))
        if listed != ids:
            raise ChainError(f"deployment: {view}() returned {listed}, the parameters list {ids}")


def deploy_at_t0(
    chain: Chain,
    params: Params,
    governance: str,
    matcher: str,
    oracle: str,
    funding: str,
    holders: Sequence[str],
) -> System:
    """Deploy the system on ``chain`` (``governance`` deploys and governs; one matcher, oracle
    source and funding operator), mint test tokens to ``holders`` and mine a block at :data:`T0`,
    so that a model started at ``T0`` and the chain share their clock."""
    system = deploy_system(
        chain,
        params,
        governance,
        matchers=[matcher],
        oracles=[oracle],
        funding_operators=[funding],
        deployer=governance,
    )
    _check_listing(system, params)
    mint_test_tokens(system, holders)
    chain.set_next_timestamp(T0)
    chain.mine(1)
    if chain.name == "boa":
        chain.env.timestamp = T0  # type: ignore[attr-defined]  # mine() moved titanoboa's clock on
    return system


class Target:
    """Where a sequence runs: the model alone, or a chain (a deployment reverted to its snapshot
    before each sequence) with the model as twin."""

    def __init__(self, params: Params, chain: Chain | None = None) -> None:
        self.params = params
        self.chain = chain
        self.house: ChainClearingHouse | None = None
        self._snapshot: int | None = None
        self._traced: set[str] = set()  # revert reasons a chain trace has confirmed (see trace)
        if chain is not None:
            self._system = deploy_at_t0(
                chain, params, ACTORS.governance, ACTORS.matcher, ACTORS.oracle, ACTORS.funding, ACTORS.all
            )
            self._snapshot = chain.snapshot()

    def trace(self, predicted: Outcome) -> bool:
        """Whether a chain revert of an action the model answered ``predicted`` needs its reason
        traced (anvil): when the model predicted success (the two disagree: the violation shows
        the chain's reason) or a reason not yet confirmed on this chain; other reverts of an
        already confirmed reason are compared by status only (a trace costs more than the action)."""
        if not isinstance(predicted, ProtocolRevert):
            return True
        if predicted.reason in self._traced:
            return False
        self._traced.add(predicted.reason)
        return True

    @property
    def name(self) -> str:
        """``model`` or the chain backend's name."""
        return "model" if self.chain is None else self.chain.name

    def fresh(self) -> ClearingHouse:
        """Reset to the start of a sequence; returns the model (on a chain, its twin)."""
        if self.chain is None:
            return ClearingHouse(
                self.params,
                ACTORS.governance,
                matchers=[ACTORS.matcher],
                oracles=[ACTORS.oracle],
                funding_operators=[ACTORS.funding],
                start_time_s=T0,
            )
        assert self._snapshot is not None
        self.chain.revert(self._snapshot)
        self.house = ChainClearingHouse(self.chain, self._system)
        return self.house.reference_model(
            self.params,
            ACTORS.governance,
            matchers=[ACTORS.matcher],
            oracles=[ACTORS.oracle],
            funding_operators=[ACTORS.funding],
        )

    def close(self) -> None:
        """Stop the chain (if any)."""
        if self.chain is not None:
            self.chain.close()


@contextmanager
def open_target(name: str, params: Params, *, trace_sources: bool = False) -> Iterator[Target]:
    """A :class:`Target` for ``--chain name`` (one of :data:`CHAINS`), closed on exit; anvil
    started with the campaign keys and impersonated senders (the batched fast path); titanoboa
    with ``trace_sources`` (coverage) if asked."""
    if name not in CHAINS:
        raise InvalidParameter(f"--chain {name!r} is unknown; choose one of {', '.join(CHAINS)}")
    chain: Chain | None = None
    if name == "anvil":
        anvil = make_chain(
            "anvil",
            extra_args=["--auto-impersonate", "--prune-history", str(ANVIL_HISTORY_BLOCKS)],
            private_keys=list(KEYS),
            impersonate=True,
        )
        assert isinstance(anvil, AnvilChain)
        anvil.set_balances(list(ACTORS.all), 10**24)
        chain = anvil
    elif name == "boa":
        chain = make_chain(name, trace_sources=trace_sources)
    elif name != "model":
        chain = make_chain(name)
    try:
        yield Target(params, chain)
    finally:
        if chain is not None:
            chain.close()


# ----------------------------------------------------------------------------- execution


@dataclass
class _Block:
    start: int  # index in the log of the block's AdvanceTime
    end: int  # one past its last action
    model_state: ProtocolState  # the model's state after the block (persistent: later actions copy)


def _kept(state: ProtocolState) -> ProtocolState:
    """``state`` as it is now, kept from the model's next actions at the cost of a shallow copy:
    an action replaces the markets, feeds, roles and vault dicts and copies every account it
    touches, but writes the copies back into the accounts dict it started from."""
    return replace(state, accounts=dict(state.accounts))


@contextmanager
def _collector_for_sequences() -> Iterator[None]:
    """Python's cyclic garbage collector set for a sequence, restored on exit: what is alive at
    its start (imported modules, compiled contracts, the deployment) is frozen out of the
    collections (``gc.freeze``), and the youngest generation is collected every
    :data:`_GC_GEN0_THRESHOLD` allocations, so that a batch's short-lived objects (receipts,
    decoded reads, model copies) die young instead of being promoted and triggering full
    collections. With the defaults, a 20,000-action anvil sequence ran 12 full collections of
    ~500,000 objects: 3 of its 11 s of Python CPU, holding the lock the helper thread needs.
    Nothing is collected that would not have been: only when, and which objects are scanned."""
    if not gc.isenabled():
        yield
        return
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(_GC_GEN0_THRESHOLD, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


class _Execution:
    """One sequence on a target: applies actions to the model, checks, and mirrors them on the chain."""

    def __init__(self, target: Target, extra_invariants: Mapping[str, StateCheck]) -> None:
        self.target = target
        self.model = target.fresh()
        self.extra = dict(extra_invariants)
        self.log: list[Action] = []
        self.outcomes: list[Outcome] = []
        self.stats = CampaignStats(sequences=1)
        self._pending: list[_Block] = []
        # anvil: the thread sending blocks while the model draws on, and the batches it has in
        # hand, oldest first
        self._helper = ThreadPoolExecutor(1) if isinstance(target.chain, AnvilChain) else None
        self._in_flight: deque[tuple[list[_Block], Future[Any]]] = deque()
        self._batches = 0  # batches flushed
        self._open: int | None = None  # log index of the open block's AdvanceTime

    # -- model side

    def begin_block(self, step: AdvanceTime) -> None:
        if self._open is not None:
            self.end_block()
        self._open = len(self.log)
        self.log.append(step)
        self.model.apply(step)
        self.outcomes.append([])  # a clock step sends nothing

    def apply(self, action: Action, kind: str | None = None) -> None:
        if isinstance(action, AdvanceTime):
            if kind is not None:  # a clock step a kind drew (not counted as a protocol action)
                self.stats.kinds[kind] += 1
            self.begin_block(action)
            return
        if self._open is None:  # actions before any AdvanceTime: a block of their own
            self._open = len(self.log)
        before = _kept(self.model.state)
        self.log.append(action)
        self.stats.actions += 1
        self.stats.kinds[kind or type(action).__name__] += 1
        try:
            events = self.model.apply(action)
        except ProtocolRevert as exc:
            self.outcomes.append(exc)
            self.stats.reverts[exc.reason] += 1
            return
        self.outcomes.append([e for e in events if not isinstance(e, ev.TimeAdvanced)])
        self.stats.checks += len(TRANSITION_INVARIANTS)
        violated = check_transition(before, self.model.state, events, self.model.params)
        if violated:
            name, detail = next(iter(violated.items()))
            raise _Found(Violation(name, "model", len(self.log) - 1, "; ".join(detail)))

    def _state_violation(self, state: ProtocolState, where: str, index: int) -> Violation | None:
        self.stats.checks += len(STATE_INVARIANTS) + len(self.extra)
        violated = check_state(state, self.model.params)
        for name, fn in self.extra.items():
            found = fn(state, self.model.params)
            if found:
                violated[name] = found
        if violated:
            name, detail = next(iter(violated.items()))
            return Violation(name, where, index, "; ".join(detail))
        return None

    def end_block(self) -> None:
        if self._open is None:
            return
        self.stats.blocks += 1
        found = self._state_violation(self.model.state, "model", len(self.log) - 1)
        if found is not None:
            raise _Found(found)
        if self.target.house is not None:
            block = _Block(self._open, len(self.log), _kept(self.model.state))
            if self._beyond_history(block):
                self.flush()  # read the earlier blocks while the node still has their states
            self._pending.append(block)
            if not isinstance(self.target.chain, AnvilChain) or len(self._pending) >= self._batch_blocks():
                self.flush()
        self._open = None

    def _batch_blocks(self) -> int:
        """Blocks of the next anvil batch: 1, 2, 4, ... up to :data:`ANVIL_BLOCKS_PER_BATCH`, so
        that the node starts on a sequence's first block at once instead of waiting for a whole
        batch to be drawn."""
        return min(ANVIL_BLOCKS_PER_BATCH, 1 << self._batches)

    def _beyond_history(self, block: _Block) -> bool:
        """Whether ``block`` is more than half of anvil's :data:`ANVIL_HISTORY_BLOCKS` chain
        blocks after the first pending block (model blocks are chain blocks from the base on)."""
        first = self._pending[0].model_state.block if self._pending else block.model_state.block
        return block.model_state.block - first > ANVIL_HISTORY_BLOCKS // 2

    def finish(self) -> None:
        self.end_block()
        self.flush()
        self.collect()

    # -- chain side

    def flush(self) -> None:
        """Send the pending blocks to the chain and read each block's state back. On anvil this
        runs in a helper thread while the model draws the next blocks (anvil and Python work at
        once); the helper takes batches in order, and the batch before this one is checked here
        (:meth:`collect`) while the helper works on this one, so that the node never waits for
        the checks."""
        house = self.target.house
        if house is None or not self._pending:
            return
        blocks, self._pending = self._pending, []
        self._batches += 1
        lo, hi = blocks[0].start, blocks[-1].end
        actions, target = self.log[lo:hi], self.target

        def chain_side() -> tuple[list[Outcome], list[tuple[ProtocolState, dict[int, int]]]]:
            outcomes = house.apply_batch(actions, lambda i: target.trace(self.outcomes[lo + i]))
            return outcomes, house.states_at(ACTORS.all, [(b.model_state.block, b.model_state.now_s) for b in blocks])

        if self._helper is None:
            self._check(blocks, *chain_side())
        else:
            self._in_flight.append((blocks, self._helper.submit(chain_side)))
            self.collect(keep=1)

    def collect(self, keep: int = 0) -> None:
        """Check the batches the helper thread was given, oldest first, each once it is done,
        until ``keep`` are left in its hands."""
        while len(self._in_flight) > keep:
            blocks, future = self._in_flight.popleft()
            self._check(blocks, *future.result())

    def stop(self) -> None:
        """Stop the helper thread: it finishes the batch it is on and drops those not begun."""
        if self._helper is not None:
            self._helper.shutdown(cancel_futures=True)

    def execute(self, steps: Callable[[], None]) -> Violation | None:
        """Run ``steps`` (applying actions), finish, and return the first violation, the log cut
        at the end of the block that showed it: a chain violation of blocks still in flight
        when a later one came up on the model comes first."""
        found: _Found | None = None
        try:
            with _collector_for_sequences():
                try:
                    steps()
                    self.finish()
                except _Found as exc:
                    found = exc
                try:
                    self.collect()
                except _Found as earlier:
                    found = earlier
        finally:
            self.stop()
        if found is None:
            return None
        if found.end is not None:
            del self.log[found.end :]
        return found.violation

    def _check(
        self, blocks: list[_Block], outcomes: list[Outcome], read: list[tuple[ProtocolState, dict[int, int]]]
    ) -> None:
        lo = blocks[0].start
        for b, (chain_state, held) in zip(blocks, read, strict=True):
            for i in range(b.start, b.end):
                got, want = outcomes[i - lo], self.outcomes[i]
                same = (
                    got.reason in (want.reason, UNTRACED)
                    if isinstance(got, ProtocolRevert) and isinstance(want, ProtocolRevert)
                    else got == want
                )
                if not same:
                    detail = f"{self.log[i]!r}: chain {got!r} != model {want!r}"
                    raise _Found(Violation("outcome", "chain", i, detail), b.end)
            found = self._state_violation(chain_state, "chain", b.end - 1)
            if found is not None:
                raise _Found(found, b.end)
            self.stats.checks += 2
            short = {i: (h, chain_state.vault_tokens[i]) for i, h in held.items() if h < chain_state.vault_tokens[i]}
            if short:
                detail = f"token holdings below the vault's claims: {short}"
                raise _Found(Violation("solvency", "chain", b.end - 1, detail), b.end)
            diffs = state_differences(chain_state, b.model_state, ACTORS.all)
            if diffs:
                raise _Found(Violation("chain == model", "chain", b.end - 1, "; ".join(diffs[:5])), b.end)


def generate_sequence(
    target: Target,
    seed: np.random.SeedSequence,
    length: int,
    per_block: int,
    extra_invariants: Mapping[str, StateCheck] = {},
    profile: str = "default",
) -> tuple[list[Action], CampaignStats, Violation | None]:
    """One random sequence of ``length`` protocol actions on ``target`` from ``seed``; returns
    its action log (``AdvanceTime`` steps included), its counts and the first violation (the
    log then ends at the block that showed it). ``profile``: the kinds' weights
    (:data:`~contracts_py.audit.actors.PROFILES`)."""
    rng = np.random.default_rng(seed)
    run = _Execution(target, extra_invariants)
    world = World.new(rng, run.model)
    names, probs = kind_weights(profile)
    next_kind = KindDraw(probs)
    draws = {k.name: k.draw for k in ACTION_KINDS}

    def steps() -> None:
        run.begin_block(AdvanceTime(1, 1))
        for action in opening_actions(world):
            run.apply(action, "opening")
        while run.stats.actions < length:
            run.begin_block(draw_block_start(rng))
            for _ in range(min(per_block, length - run.stats.actions)):
                world.model = run.model
                name = names[next_kind(rng)]
                run.apply(draws[name](world), name)

    violation = run.execute(steps)
    return run.log, run.stats, violation


def replay_sequence(
    target: Target,
    actions: Sequence[Action],
    extra_invariants: Mapping[str, StateCheck] = {},
    resign: Callable[[Action, ClearingHouse], Action] | None = None,
) -> tuple[CampaignStats, Violation | None]:
    """Run a given action log on ``target`` with every check of a campaign (blocks start at each
    ``AdvanceTime``); ``resign`` re-signs a record for the twin model's order domain. Returns
    the counts and the first violation (None: all held)."""
    run = _Execution(target, extra_invariants)

    def steps() -> None:
        for action in actions:
            run.apply(resign(action, run.model) if resign is not None else action)

    return run.stats, run.execute(steps)
