"""Differential harness: the same action records on the reference model and on the contracts.

:class:`Differential` deploys the system on titanoboa from the model's ``Params``, starts a
:class:`protocol.clearing_house.ClearingHouse` at the same clock, and :meth:`Differential.apply`
sends each action to both: it asserts identical revert reasons, identical events (field by
field, to the wei) and identical state afterwards (balances, collateral, positions, cost bases,
funding and loss indexes, open interest, feeds, insurance fund and every pool). ``AdvanceTime``
moves titanoboa's block timestamp and number. This file also holds the harness's own tests.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import boa
import pytest
from eth_abi import decode
from eth_utils import keccak

from contracts_py.deploy import System, deploy_boa, system_abi
from protocol import events as ev
from protocol.actions import (
    Action,
    AdvanceTime,
    AutoDeleverage,
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
    Withdraw,
    WithdrawFees,
)
from protocol.clearing_house import ClearingHouse
from protocol.constants import WAD
from protocol.errors import ProtocolRevert
from protocol.params import Params
from protocol.scenarios import ACTORS, default_params

GOV, MATCHER, ORACLE, FUNDING = ACTORS["governance"], ACTORS["matcher"], ACTORS["oracle"], ACTORS["funding_operator"]
NO_REASON = "evm: revert without reason"


def revert_reason(exc: Exception) -> str:
    """The Error(string) reason of a titanoboa revert (bubbled through DELEGATECALL too)."""
    out = b""
    trace = getattr(exc, "call_trace", None)
    if trace is not None:
        out = bytes(trace.output)
    if out[:4] == bytes.fromhex("08c379a0"):
        return str(decode(["string"], out[4:])[0])
    return NO_REASON


class EventDecoder:
    """Decodes the core's raw logs (its own and the engine's, emitted from the core address)."""

    def __init__(self) -> None:
        self._by_topic: dict[int, dict[str, Any]] = {}
        for e in system_abi():
            if e["type"] != "event":
                continue
            sig = f"{e['name']}({','.join(i['type'] for i in e['inputs'])})"
            self._by_topic[int.from_bytes(keccak(text=sig), "big")] = e

    def decode(self, topics: list[int], data: bytes) -> ev.Event:
        abi = self._by_topic[topics[0]]
        indexed = [i for i in abi["inputs"] if i["indexed"]]
        plain = [i for i in abi["inputs"] if not i["indexed"]]
        values: dict[str, Any] = {}
        for i, t in zip(indexed, topics[1:], strict=True):
            values[i["name"]] = decode([i["type"]], t.to_bytes(32, "big"))[0]
        for i, v in zip(plain, decode([i["type"] for i in plain], data), strict=True):
            values[i["name"]] = v
        cls = getattr(ev, abi["name"])
        kwargs = {}
        for f in dataclasses.fields(cls):
            v = values[f.name]
            kwargs[f.name] = v.lower() if isinstance(v, str) and v.startswith("0x") else v
        return cls(**kwargs)


class Differential:
    """One deployment, one model, the same actions applied to both and compared."""

    def __init__(self, params: Params | None = None, **protocol_overrides: Any) -> None:
        self.params = params or default_params(**protocol_overrides)
        self.system: System = deploy_boa(
            self.params, GOV, matchers=[MATCHER], oracles=[ORACLE], funding_operators=[FUNDING]
        )
        self.core = self.system.core
        self.model = ClearingHouse(
            self.params,
            GOV,
            matchers=[MATCHER],
            oracles=[ORACLE],
            funding_operators=[FUNDING],
            start_time_s=boa.env.evm.patch.timestamp,
        )
        self.block0 = boa.env.evm.patch.block_number
        self.decoder = EventDecoder()
        self.addresses: set[str] = {GOV, MATCHER, ORACLE, FUNDING}
        self.asset_ids = [0] + [c.asset_id for c in self.params.collaterals]
        self.market_ids = [m.market_id for m in self.params.markets]
        self.history: list[Action] = []

    # ------------------------------------------------------------------ chain side
    @property
    def now(self) -> int:
        return int(boa.env.evm.patch.timestamp)

    def _fund(self, who: str, asset_id: int, amount: int) -> None:
        token = self.system.token(asset_id)
        token.mint(who, amount)
        with boa.env.prank(who):
            token.approve(self.core.address, amount)

    def _send(self, action: Action) -> None:
        c = self.core
        a = action
        if isinstance(a, Deposit):
            self._fund(a.account, a.asset_id, a.amount) if a.asset_id in self.asset_ids else None
            with boa.env.prank(a.account):
                c.deposit(a.asset_id, a.amount)
        elif isinstance(a, Withdraw):
            with boa.env.prank(a.account):
                c.withdraw(a.asset_id, a.amount)
        elif isinstance(a, Fill):
            with boa.env.prank(a.sender):
                c.fill(a.maker, a.taker, a.market_id, a.size_wad, a.price_wad, a.maker_fee_wad, a.taker_fee_wad)
        elif isinstance(a, PushPrice):
            with boa.env.prank(a.sender):
                c.push_price(a.feed_id, a.price_wad, a.timestamp_s)
        elif isinstance(a, SetFundingRate):
            with boa.env.prank(a.sender):
                c.set_funding_rate(a.market_id, a.rate_per_s_wad)
        elif isinstance(a, AdvanceTime):
            boa.env.evm.patch.timestamp += a.seconds
            boa.env.evm.patch.block_number += a.blocks
        elif isinstance(a, Liquidate):
            with boa.env.prank(a.keeper):
                c.liquidate(a.account, a.market_id, a.size_wad)
        elif isinstance(a, LiquidateCollateral):
            with boa.env.prank(a.liquidator):
                c.liquidate_collateral(a.account, a.asset_id, a.amount)
        elif isinstance(a, AutoDeleverage):
            with boa.env.prank(a.keeper):
                c.auto_deleverage(a.account, a.market_id, list(a.counterparties))
        elif isinstance(a, FundInsurance):
            self._fund(a.sender, 0, a.amount)
            with boa.env.prank(a.sender):
                c.fund_insurance(a.amount)
        elif isinstance(a, WithdrawFees):
            with boa.env.prank(a.sender):
                c.withdraw_fees(a.to, a.amount)
        elif isinstance(a, SetPaused):
            with boa.env.prank(a.sender):
                c.set_paused(a.paused)
        elif isinstance(a, SetRole):
            with boa.env.prank(a.sender):
                c.set_role(a.role, a.account, a.enabled)
        elif isinstance(a, SetMarketMargin):
            with boa.env.prank(a.sender):
                c.set_market_margin(a.market_id, a.initial_margin_fraction_wad, a.maintenance_share_wad)
        else:  # pragma: no cover - the harness covers every perpetual action
            raise NotImplementedError(type(a).__name__)

    def _chain_events(self) -> list[ev.Event]:
        comp = self.core._computation
        core = bytes.fromhex(str(self.core.address)[2:].lower())
        out = []
        for entry in sorted(comp.get_raw_log_entries()):
            _, address, topics, data = entry
            if bytes(address) == core:
                out.append(self.decoder.decode(list(topics), bytes(data)))
        return out

    # ------------------------------------------------------------------ both
    def apply(self, action: Action) -> list[ev.Event] | str:
        """Apply to both sides; return the events, or the common revert reason."""
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
        try:
            self._send(action)
        except boa.BoaError as exc:
            chain_reason = revert_reason(exc)
        assert chain_reason == model_reason, f"{action}: chain reverted {chain_reason!r}, model {model_reason!r}"
        self.history.append(action)
        if model_reason is not None:
            self._compare_after(action)
            return model_reason
        assert model_events is not None
        expected = [e for e in model_events if not isinstance(e, ev.TimeAdvanced)]
        got = [] if isinstance(action, AdvanceTime) else self._chain_events()
        assert got == expected, f"{action}: events differ\nchain {got}\nmodel {expected}"
        self._compare_after(action)
        return model_events

    def _compare_after(self, action: Action) -> None:
        try:
            self.compare_state()
        except AssertionError as exc:
            steps = "\n".join(repr(a) for a in self.history[-12:])
            import os
            import pickle

            if os.environ.get("NOVATION_DUMP_HISTORY"):
                with open(os.environ["NOVATION_DUMP_HISTORY"], "wb") as fh:
                    pickle.dump(self.history, fh)
            raise AssertionError(f"after {action!r}\n{exc}\nlast actions:\n{steps}") from None

    def apply_all(self, actions: list[Action]) -> None:
        for a in actions:
            self.apply(a)

    def compare_state(self) -> None:
        """Every stored quantity of the model equals the contract's, to the wei."""
        st, c = self.model.state, self.core
        diffs: list[str] = []

        def eq(what: str, chain: Any, model: Any) -> None:
            if chain != model:
                diffs.append(f"{what}: chain {chain!r} != model {model!r}")

        for addr in sorted(self.addresses):
            acct = st.accounts.get(addr)
            if acct is None:
                eq(f"{addr} balance", c.balances(addr), 0)
                eq(f"{addr} mask", c.position_mask(addr), 0)
                continue
            eq(f"{addr} balance", c.balances(addr), acct.balance)
            eq(f"{addr} realized", c.realized_pnl(addr), acct.realized_pnl)
            for asset_id in self.asset_ids[1:]:
                eq(f"{addr} collateral {asset_id}", c.collateral(addr, asset_id), acct.collateral.get(asset_id, 0))
            mask = 0
            for m in self.market_ids:
                pos = acct.positions.get(m)
                chain_pos = tuple(c.positions(addr, m))
                model_pos = (
                    (pos.size, pos.open_notional, pos.funding_snapshot, pos.loss_snapshot) if pos else (0, 0, 0, 0)
                )
                eq(f"{addr} position {m}", chain_pos, model_pos)
                mask |= (1 << m) if pos else 0
            eq(f"{addr} mask", c.position_mask(addr), mask)
            side = c.last_closed_side(addr)
            chain_last = None if side == 0 else (c.last_closed_market(addr), side)
            eq(f"{addr} last_closed", chain_last, acct.last_closed)
        for m in self.market_ids:
            ms = st.markets[m]
            eq(
                f"market {m}",
                tuple(c.markets(m)),
                (
                    ms.funding_rate_per_s_wad,
                    ms.funding_index,
                    ms.loss_index_long,
                    ms.loss_index_short,
                    ms.last_accrual_s,
                    ms.oi_long,
                    ms.oi_short,
                ),
            )
            eq(
                f"market {m} params",
                tuple(c.market_params(m))[2:4],
                (
                    self.model.params.market(m).initial_margin_fraction_wad,
                    self.model.params.market(m).maintenance_share_wad,
                ),
            )
        for f in self.params.feeds:
            fs = st.feeds[f.feed_id]
            eq(f"feed {f.feed_id}", tuple(c.feeds(f.feed_id)), (fs.price_wad, fs.updated_at_s, fs.valid))
        for asset_id in self.asset_ids:
            eq(f"vault_tokens {asset_id}", c.vault_tokens(asset_id), st.vault_tokens.get(asset_id, 0))
            eq(
                f"token balance {asset_id}",
                self.system.token(asset_id).balanceOf(c.address),
                st.vault_tokens.get(asset_id, 0),
            )
        eq("insurance_fund", c.insurance_fund(), st.insurance_fund)
        eq("fee_pool", c.fee_pool(), st.fee_pool)
        eq("funding_pool", c.funding_pool(), st.funding_pool)
        eq("loss_pool", c.loss_pool(), st.loss_pool)
        eq("uncovered_loss", c.uncovered_loss(), st.uncovered_loss)
        eq("block_liquidated_wad", c.block_liquidated_wad(), st.block_liquidated_wad)
        if c.block_liquidated_at() != 0:
            eq("block_liquidated_at", c.block_liquidated_at() - self.block0, st.block_liquidated_at)
        eq("paused", c.paused(), st.paused)
        eq("governance", str(c.governance()).lower(), st.roles.governance)
        for addr in sorted(self.addresses):
            eq(f"matcher {addr}", c.matchers(addr), addr in st.roles.matchers)
            eq(f"oracle {addr}", c.oracles(addr), addr in st.roles.oracles)
            eq(f"funding {addr}", c.funding_operators(addr), addr in st.roles.funding_operators)
        assert not diffs, "state differs:\n" + "\n".join(diffs)


# ---------------------------------------------------------------------- shared scenario bits

USDC = 10**6
BTC, ETH = 0, 1


def prices(diff: Differential, btc: int, eth: int) -> list[Action]:
    """PushPrice actions for both feeds at the current chain time (whole-dollar prices)."""
    return [PushPrice(ORACLE, 0, btc * WAD, diff.now), PushPrice(ORACLE, 1, eth * WAD, diff.now)]


def _reset(d: Differential) -> Differential:
    if not hasattr(d, "_initial_model"):
        d._initial_model = copy.deepcopy(d.model)  # type: ignore[attr-defined]
    d.model = copy.deepcopy(d._initial_model)  # type: ignore[attr-defined]
    d.addresses = {GOV, MATCHER, ORACLE, FUNDING}
    d.history = []
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
