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
* on a chain, after every block: each action's events, or its revert reason, equal the model's;
  the same state invariants on the state read from the chain (conservation, open interest long ==
  short, fund >= 0, ...) plus solvency (the core's token holdings cover every claim on the vault);
  and the chain's state equals the model's to the wei (accounts, positions, markets, feeds,
  pools, vault accounting, liquidation cap, pause).

anvil runs through the fast path: the model blocks go out in pipelined JSON-RPC batches (one
``evm_mine`` per block, transactions from impersonated senders) and every block's state is read
back at its block number in one batch of ``eth_call``. titanoboa and eth-tester apply actions
one by one and read the state after each block.

Everything random comes from ``numpy.random.SeedSequence(seed)``: sequence ``i`` draws from
its ``i``-th spawned child, so a sequence replays alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from typing import Any, Final

import numpy as np

from contracts_py.audit.actors import ACTION_KINDS, ACTORS, KEYS, World, draw_block_start, opening_actions
from contracts_py.chain_house import ChainClearingHouse, Outcome, mint_test_tokens
from contracts_py.chains import Chain, make_chain
from contracts_py.chains.anvil_chain import AnvilChain
from contracts_py.deploy import deploy_system
from protocol import events as ev
from protocol.actions import Action, AdvanceTime
from protocol.clearing_house import ClearingHouse
from protocol.errors import InvalidParameter, ProtocolRevert
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
    "generate_sequence",
    "open_target",
    "planted",
    "replay_sequence",
]

#: ``--chain`` choices: the model alone or a backend with the model as twin.
CHAINS: Final = ("model", "boa", "eth-tester", "anvil")
#: Model and chain clock at the start of every sequence (2033-05-18), later than any node's genesis.
T0: Final = 2_000_000_000
#: anvil: model blocks sent (and read back) per batch.
ANVIL_BLOCKS_PER_BATCH: Final = 25
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
    def __init__(self, violation: Violation) -> None:
        super().__init__(violation.detail)
        self.violation = violation


@dataclass
class CampaignStats:
    """Counts of a campaign (or one sequence): protocol actions (``AdvanceTime`` not counted),
    invariant checks run (each invariant on each state or transition it looked at), reverts by
    reason, actions by kind, sequences, blocks."""

    actions: int = 0
    checks: int = 0
    blocks: int = 0
    sequences: int = 0
    reverts: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)

    def add(self, other: CampaignStats) -> None:
        """Add ``other``'s counts to these."""
        self.actions += other.actions
        self.checks += other.checks
        self.blocks += other.blocks
        self.sequences += other.sequences
        self.reverts.update(other.reverts)
        self.kinds.update(other.kinds)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "actions": self.actions,
            "checks": self.checks,
            "blocks": self.blocks,
            "sequences": self.sequences,
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


class Target:
    """Where a sequence runs: the model alone, or a chain (a deployment reverted to its snapshot
    before each sequence) with the model as twin."""

    def __init__(self, params: Params, chain: Chain | None = None) -> None:
        self.params = params
        self.chain = chain
        self.house: ChainClearingHouse | None = None
        self._snapshot: int | None = None
        if chain is not None:
            system = deploy_system(
                chain,
                params,
                ACTORS.governance,
                matchers=[ACTORS.matcher],
                oracles=[ACTORS.oracle],
                funding_operators=[ACTORS.funding],
                deployer=ACTORS.governance,
            )
            mint_test_tokens(system, ACTORS.all)
            chain.set_next_timestamp(T0)
            chain.mine(1)
            if chain.name == "boa":
                chain.env.timestamp = T0  # type: ignore[attr-defined]  # mine() moved titanoboa's clock on
            self._system = system
            self._snapshot = chain.snapshot()

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
def open_target(name: str, params: Params) -> Iterator[Target]:
    """A :class:`Target` for ``--chain name`` (one of :data:`CHAINS`), closed on exit; anvil
    started with the campaign keys and impersonated senders (the batched fast path)."""
    if name not in CHAINS:
        raise InvalidParameter(f"--chain {name!r} is unknown; choose one of {', '.join(CHAINS)}")
    chain: Chain | None = None
    if name == "anvil":
        anvil = make_chain("anvil", extra_args=["--auto-impersonate"], private_keys=list(KEYS), impersonate=True)
        assert isinstance(anvil, AnvilChain)
        anvil.set_balances(list(ACTORS.all), 10**24)
        chain = anvil
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
            self._pending.append(_Block(self._open, len(self.log), _kept(self.model.state)))
            if not isinstance(self.target.chain, AnvilChain) or len(self._pending) >= ANVIL_BLOCKS_PER_BATCH:
                self.flush()
        self._open = None

    def finish(self) -> None:
        self.end_block()
        self.flush()

    # -- chain side

    def flush(self) -> None:
        house = self.target.house
        if house is None or not self._pending:
            return
        blocks, self._pending = self._pending, []
        lo, hi = blocks[0].start, blocks[-1].end
        outcomes = house.apply_batch(self.log[lo:hi])
        anvil = isinstance(self.target.chain, AnvilChain)
        for b in blocks:
            for i in range(b.start, b.end):
                got, want = outcomes[i - lo], self.outcomes[i]
                same = (
                    got.reason == want.reason
                    if isinstance(got, ProtocolRevert) and isinstance(want, ProtocolRevert)
                    else got == want
                )
                if not same:
                    raise _Found(Violation("outcome", "chain", i, f"{self.log[i]!r}: chain {got!r} != model {want!r}"))
            block = b.model_state.block
            at = (block, b.model_state.now_s) if anvil else None
            chain_state = house.state(ACTORS.all, at=at)
            found = self._state_violation(chain_state, "chain", b.end - 1)
            if found is not None:
                raise _Found(found)
            held = house.token_holdings(block if anvil else None)
            self.stats.checks += 2
            short = {i: (h, chain_state.vault_tokens[i]) for i, h in held.items() if h < chain_state.vault_tokens[i]}
            if short:
                raise _Found(
                    Violation("solvency", "chain", b.end - 1, f"token holdings below the vault's claims: {short}")
                )
            diffs = state_differences(chain_state, b.model_state, ACTORS.all)
            if diffs:
                raise _Found(Violation("chain == model", "chain", b.end - 1, "; ".join(diffs[:5])))


def _kind_table() -> tuple[list[str], np.ndarray]:
    weights = np.array([k.weight for k in ACTION_KINDS], dtype=float)
    return [k.name for k in ACTION_KINDS], weights / weights.sum()


def generate_sequence(
    target: Target,
    seed: np.random.SeedSequence,
    length: int,
    per_block: int,
    extra_invariants: Mapping[str, StateCheck] = {},
) -> tuple[list[Action], CampaignStats, Violation | None]:
    """One random sequence of ``length`` protocol actions on ``target`` from ``seed``; returns
    its action log (``AdvanceTime`` steps included), its counts and the first violation (the
    log then ends at the block that showed it)."""
    rng = np.random.default_rng(seed)
    run = _Execution(target, extra_invariants)
    world = World.new(rng, run.model)
    names, probs = _kind_table()
    draws = {k.name: k.draw for k in ACTION_KINDS}
    try:
        run.begin_block(AdvanceTime(1, 1))
        for action in opening_actions(world):
            run.apply(action, "opening")
        while run.stats.actions < length:
            run.begin_block(draw_block_start(rng))
            for _ in range(min(per_block, length - run.stats.actions)):
                world.model = run.model
                name = names[int(rng.choice(len(names), p=probs))]
                run.apply(draws[name](world), name)
        run.finish()
    except _Found as found:
        return run.log, run.stats, found.violation
    return run.log, run.stats, None


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
    try:
        for action in actions:
            run.apply(resign(action, run.model) if resign is not None else action)
        run.finish()
    except _Found as found:
        return run.stats, found.violation
    return run.stats, None
