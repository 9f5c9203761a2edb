"""Differential harness: the same action records on the reference model and on the contracts.

:class:`Differential` deploys the system with :func:`contracts_py.deploy.deploy_system` from the
model's ``Params``, wraps it in a :class:`contracts_py.chain_house.ChainClearingHouse`, starts a
:class:`protocol.clearing_house.ClearingHouse` at the same clock, and :meth:`Differential.apply`
sends each action to both: it asserts identical revert reasons, identical events (field by
field, to the wei) and identical state afterwards (balances, collateral, positions, cost bases,
funding and loss indexes, open interest, feeds, insurance fund, every pool, roles), read through
the house's read methods. The default deployment is on titanoboa's global environment (so
``diff.core`` is a titanoboa contract and the boa pytest plugin isolates tests);
:meth:`Differential.on_chain` runs on any backend with that chain's accounts as actors. This
file also holds the harness's own tests.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi import decode

from contracts_py.chain_house import ChainClearingHouse, mint_test_tokens
from contracts_py.chains import NO_REASON, Chain
from contracts_py.deploy import BoaSystem, System, deploy_boa, deploy_system
from protocol import events as ev
from protocol.actions import Action, AdvanceTime, Deposit, FundInsurance, PushPrice
from protocol.constants import WAD
from protocol.errors import ProtocolRevert
from protocol.orders import OrderSigner
from protocol.params import Params
from protocol.scenarios import ACTORS, actor_signer, default_params
from protocol.state import ProtocolState

GOV, MATCHER, ORACLE, FUNDING = ACTORS["governance"], ACTORS["matcher"], ACTORS["oracle"], ACTORS["funding_operator"]
TRADER_ROLES = ("market_maker", "trader_leveraged", "trader_conservative", "trader_collateral", "trader_short")


def revert_reason(exc: Exception) -> str:
    """The Error(string) reason of a titanoboa revert (bubbled through DELEGATECALL too)."""
    out = b""
    trace = getattr(exc, "call_trace", None)
    if trace is not None:
        out = bytes(trace.output)
    if out[:4] == bytes.fromhex("08c379a0"):
        return str(decode(["string"], out[4:])[0])
    return NO_REASON


@dataclass(frozen=True)
class Actors:
    """Addresses by role: one deployment's governance, matcher, oracle, funding operator, keeper,
    liquidator and traders."""

    governance: str
    matcher: str
    oracle: str
    funding: str
    keeper: str
    liquidator: str
    traders: tuple[str, ...]

    @property
    def roles(self) -> tuple[str, ...]:
        return (self.governance, self.matcher, self.oracle, self.funding)

    @property
    def all(self) -> tuple[str, ...]:
        return (*self.roles, self.keeper, self.liquidator, *self.traders)


#: titanoboa sends from any address: the scenario actors.
BOA_ACTORS = Actors(
    GOV, MATCHER, ORACLE, FUNDING, ACTORS["keeper"], ACTORS["liquidator"], tuple(ACTORS[r] for r in TRADER_ROLES)
)


def chain_actors(chain: Chain) -> Actors:
    """Ten funded accounts of ``chain`` by role (the oracle also operates funding)."""
    a = chain.accounts
    return Actors(a[0], a[1], a[2], a[2], a[3], a[4], tuple(a[5:10]))


class Differential:
    """One deployment, one model, the same actions applied to both and compared."""

    def __init__(self, params: Params | None = None, **protocol_overrides: Any) -> None:
        """Deploy on titanoboa's global environment with the scenario actors."""
        self.params = params or default_params(**protocol_overrides)
        self.actors = BOA_ACTORS
        self.boa: BoaSystem | None = deploy_boa(
            self.params, GOV, matchers=[MATCHER], oracles=[ORACLE], funding_operators=[FUNDING]
        )
        self.system: Any = self.boa
        self.core: Any = self.boa.core
        self._start(self.boa.system)

    @classmethod
    def on_chain(cls, chain: Chain, params: Params | None = None) -> Differential:
        """Deploy on ``chain`` with its own accounts as actors (test tokens minted to all)."""
        params = params or default_params()
        act = chain_actors(chain)
        sys_ = deploy_system(
            chain,
            params,
            act.governance,
            matchers=[act.matcher],
            oracles=[act.oracle],
            funding_operators=[act.funding],
        )
        return cls.attach(sys_, params, act)

    @classmethod
    def attach(cls, system: System, params: Params, actors: Actors) -> Differential:
        """Run beside a deployment made elsewhere (``params`` and the roles of ``actors`` as
        deployed); test tokens are minted to every actor."""
        d = cls.__new__(cls)
        d.params, d.actors, d.boa = params, actors, None
        mint_test_tokens(system, actors.all)
        d.system = system
        d.core = system.core
        d._start(system)
        return d

    def _start(self, system: System) -> None:
        self.chain_system = system
        self.snapshot_id = system.chain.snapshot()
        #: Signs the actors' orders for this deployment's domain.
        self.signer = (
            actor_signer(system.order_domain)
            if self.boa is not None
            else OrderSigner(system.order_domain, system.chain.account_keys().values())
        )

    def reset(self) -> None:
        """Back to the deployment: chain (titanoboa: the plugin's anchor does it), house and model."""
        chain = self.chain_system.chain
        if self.boa is None:  # titanoboa's anchors undo everything a test did
            chain.revert(self.snapshot_id)
        self.house = ChainClearingHouse(chain, self.chain_system)
        act = self.actors
        self.model = self.house.reference_model(
            self.params, act.governance, matchers=[act.matcher], oracles=[act.oracle], funding_operators=[act.funding]
        )
        self.addresses: set[str] = set(act.roles)
        self.history: list[Action] = []

    @property
    def now(self) -> int:
        """The model clock (``block.timestamp`` of the next transaction)."""
        return self.house.now_s

    # ------------------------------------------------------------------ both
    def apply(self, action: Action, *, compare: bool = True) -> list[ev.Event] | str:
        """Apply to both sides; return the events, or the common revert reason.

        ``compare=False`` skips reading the whole state back afterwards (events, reverts and
        the clock are still compared).
        """
        for name in ("account", "maker", "taker", "keeper", "liquidator", "sender", "to"):
            if hasattr(action, name):
                self.addresses.add(getattr(action, name))
        for cp in getattr(action, "counterparties", ()):
            self.addresses.add(cp)
        try:
            model_events: list[ev.Event] | None = self.model.apply(action)
            model_reason = None
        except ProtocolRevert as exc:
            model_events, model_reason = None, exc.reason
        chain_reason = None
        got: list[ev.Event] = []
        if self.boa is not None and isinstance(action, Deposit | FundInsurance):
            # titanoboa uses no blocks for minting: give the depositor exactly the amount, as a user would hold it
            asset_id = action.asset_id if isinstance(action, Deposit) else 0
            if asset_id in self.chain_system.tokens:
                who = action.account if isinstance(action, Deposit) else action.sender
                mint_test_tokens(self.chain_system, [who], action.amount, [asset_id])
        try:
            got = self.house.apply(action)
        except ProtocolRevert as exc:
            chain_reason = exc.reason
        assert chain_reason == model_reason, f"{action}: chain reverted {chain_reason!r}, model {model_reason!r}"
        self.history.append(action)
        if model_reason is None:
            assert model_events is not None
            expected = [e for e in model_events if not isinstance(e, ev.TimeAdvanced)]
            assert got == expected, f"{action}: events differ\nchain {got}\nmodel {expected}"
        assert (self.house.now_s, self.house.block) == (self.model.state.now_s, self.model.state.block)
        if compare:
            self._compare_after(action)
        return model_reason if model_reason is not None else model_events  # type: ignore[return-value]

    def _compare_after(self, action: Action) -> None:
        try:
            self.compare_state()
        except AssertionError as exc:
            steps = "\n".join(repr(a) for a in self.history[-12:])
            if os.environ.get("NOVATION_DUMP_HISTORY"):
                with open(os.environ["NOVATION_DUMP_HISTORY"], "wb") as fh:
                    pickle.dump(self.history, fh)
            raise AssertionError(f"after {action!r}\n{exc}\nlast actions:\n{steps}") from None

    def apply_all(self, actions: list[Action]) -> None:
        for a in actions:
            self.apply(a)

    def expected_state(self) -> ProtocolState:
        """The model's state in the form :meth:`ChainClearingHouse.state` reads it back."""
        st = self.model.snapshot()
        addrs = self.addresses
        for acct in st.accounts.values():
            acct.collateral = {i: v for i, v in acct.collateral.items() if v}
        st.accounts = {a: acct for a, acct in st.accounts.items() if a in addrs and acct != type(acct)()}
        r = st.roles
        r.matchers, r.oracles, r.funding_operators = (
            r.matchers & addrs,
            r.oracles & addrs,
            r.funding_operators & addrs,
        )
        for m in st.markets.values():
            m.settlement_price_wad = 0
        return st

    def compare_state(self) -> None:
        """Every stored quantity of the model equals the contract's, to the wei."""
        got, want = self.house.state(self.addresses, self.model.state.order_filled), self.expected_state()
        diffs: list[str] = []
        for name in (
            "roles",
            "now_s",
            "block",
            "paused",
            "markets",
            "feeds",
            "vault_tokens",
            "insurance_fund",
            "fee_pool",
            "funding_pool",
            "loss_pool",
            "settlement_pool",
            "uncovered_loss",
            "block_liquidated_wad",
            "block_liquidated_at",
            "liquidations_resume_at_s",
            "order_domain",
            "order_filled",
            "adl_proposals",
        ):
            if getattr(got, name) != getattr(want, name):
                diffs.append(f"{name}: chain {getattr(got, name)!r} != model {getattr(want, name)!r}")
        for addr in sorted(set(got.accounts) | set(want.accounts)):
            if got.accounts.get(addr) != want.accounts.get(addr):
                diffs.append(f"{addr}: chain {got.accounts.get(addr)!r} != model {want.accounts.get(addr)!r}")
        chain = self.chain_system.chain
        for asset_id, token in self.chain_system.tokens.items():
            held = chain.call(token, "balanceOf", self.chain_system.core.address)
            if held != want.vault_tokens.get(asset_id, 0):
                diffs.append(f"token balance {asset_id}: chain {held} != model {want.vault_tokens.get(asset_id, 0)}")
        assert not diffs, "state differs:\n" + "\n".join(diffs)


# ---------------------------------------------------------------------- shared scenario bits

USDC = 10**6
BTC, ETH = 0, 1


def prices(diff: Differential, btc: int, eth: int) -> list[Action]:
    """PushPrice actions for both feeds (whole-dollar prices) after a clock step of one move
    window: observation times strictly increase and any move within ``max_move`` is accepted
    (docs/SPEC.md §3)."""
    wait = max(f.move_window_s for f in diff.model.params.feeds)
    t = diff.now + wait
    return [AdvanceTime(wait, 1), PushPrice(ORACLE, 0, btc * WAD, t), PushPrice(ORACLE, 1, eth * WAD, t)]


def _reset(d: Differential) -> Differential:
    d.reset()
    return d


# titanoboa's pytest plugin anchors every fixture: the module-scoped deployment lives for the
# module, and each test's chain changes are rolled back when its function fixture ends.
@pytest.fixture(scope="module")
def deployment():
    """One default-parameter deployment per test module."""
    return _reset(Differential())


@pytest.fixture(scope="module")
def deployment_adl():
    """One deployment with the ADL socialized-loss method per test module."""
    from protocol.params import SocializedLossMethod

    return _reset(Differential(socialized_loss_method=SocializedLossMethod.ADL))


@pytest.fixture
def diff(deployment):
    """The module's default deployment with a fresh model (chain state isolated per test)."""
    return _reset(deployment)


@pytest.fixture
def diff_adl(deployment_adl):
    """The module's ADL deployment with a fresh model."""
    return _reset(deployment_adl)
