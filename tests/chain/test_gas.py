"""Gas of every external function of the deployed system, compared with a committed snapshot.

One deterministic scenario on eth-tester (real transactions, receipts' ``gasUsed``, intrinsic
gas included) calls every state-changing external function of the clearing house once
successfully (the liquidation engine's two, the trading engine's two and the ADL engine's one
run inside it by DELEGATECALL; ``auto_deleverage`` is measured as a proposal and, labelled
``(execute)``, as the execution after the ADL window), after the deployment's constructors and
configuration calls. The table is printed (``pytest -s``) and must
equal ``gas_snapshot.json`` exactly; after an intended change regenerate it with
``NOVATION_UPDATE_GAS=1 .venv/bin/python -m pytest tests/chain/test_gas.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import vyper
from test_protocol_harness import USDC, Differential

from contracts_py.build import Builder
from contracts_py.chains import make_chain
from protocol.actions import (
    AcceptGovernance,
    Action,
    AdvanceTime,
    AutoDeleverage,
    CancelOrder,
    Deposit,
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
from protocol.constants import WAD
from protocol.events import Deleveraged
from protocol.params import SocializedLossMethod
from protocol.scenarios import default_params

SNAPSHOT = Path(__file__).with_name("gas_snapshot.json")
#: Unix time the measured scenario starts at (2030-03-17), whatever the chain's genesis time.
GAS_CLOCK_S = 1_900_000_000
BTC, ETH = 0, 1


def scenario(d: Differential) -> list[Action]:
    """Every external action once (ADL parameters, so auto-deleveraging is allowed)."""
    a = d.actors
    maker, long_, coll, short = a.traders[0], a.traders[1], a.traders[2], a.traders[3]

    def prices(btc: int, eth: int) -> list[Action]:
        return [PushPrice(a.oracle, BTC, btc * WAD, d.now), PushPrice(a.oracle, ETH, eth * WAD, d.now)]

    return [
        *prices(60_000, 3_000),
        Deposit(maker, 0, 1_000_000 * USDC),
        Deposit(a.keeper, 0, 200_000 * USDC),
        Deposit(a.liquidator, 0, 100_000 * USDC),
        Deposit(long_, 0, 6_500 * USDC),
        Deposit(short, 0, 50_000 * USDC),
        Deposit(coll, 1, WAD // 2),
        d.signer.fill(a.matcher, maker, long_, BTC, WAD, 60_000 * WAD, WAD // 1_000, WAD // 1_000),
        d.signer.fill(a.matcher, maker, coll, BTC, WAD // 10, 60_000 * WAD, 0, 0),
        CancelOrder(maker, d.signer.order(maker, BTC, -WAD, 61_000 * WAD).order),
        SetFundingRate(a.funding, BTC, 10**9),
        Withdraw(a.keeper, 0, USDC),
        WithdrawFees(a.governance, a.governance, USDC),
        SetMarketMargin(a.governance, ETH, WAD // 10, WAD // 2),
        SetRole(a.governance, "matcher", a.keeper, True),
    ]


def crash(d: Differential) -> list[Action]:
    """BTC -25 %, ETH -33 %: propose the deleveraging of the long (the fund is too small)."""
    a = d.actors
    maker, long_ = a.traders[0], a.traders[1]
    return [
        PushPrice(a.oracle, BTC, 45_000 * WAD, d.now),
        PushPrice(a.oracle, ETH, 2_000 * WAD, d.now),
        AutoDeleverage(a.keeper, long_, BTC, (maker,)),
    ]


def after_the_adl_window(d: Differential) -> list[Action]:
    """Execute the proposal, liquidate a position, then the collateral behind it."""
    a = d.actors
    maker, long_, coll = a.traders[0], a.traders[1], a.traders[2]
    return [
        AutoDeleverage(a.keeper, long_, BTC, (maker,)),
        FundInsurance(a.keeper, 50_000 * USDC),
        Liquidate(a.keeper, coll, BTC, WAD // 10),
        LiquidateCollateral(a.liquidator, coll, 1, WAD // 10),
        SetPaused(a.governance, True),
        SetRole(a.governance, "governance", a.keeper, True),
        AcceptGovernance(a.keeper),
    ]


def measure() -> dict[str, int]:
    """Gas per deployment step and per external function (first successful call)."""
    with make_chain("eth-tester") as chain:
        d = Differential.on_chain(chain, default_params(socialized_loss_method=SocializedLossMethod.ADL))
        d.reset()
        table = {label: r.gas_used for label, r in d.chain_system.deployment}
        # a fixed clock: timestamps travel in calldata, whose zero bytes cost less than others, so
        # the genesis wall-clock time would make the snapshot flaky
        d.apply(AdvanceTime(GAS_CLOCK_S - d.now, 1), compare=False)

        def run(actions: list[Action]) -> None:
            for action in actions:
                d.apply(AdvanceTime(1, 1), compare=False)
                out = d.apply(action, compare=False)
                assert not isinstance(out, str), f"{action} reverted: {out}"
                assert d.house.last_tx is not None
                label = d.house.last_tx_function
                if any(isinstance(e, Deleveraged) for e in out):  # the ADL queue's execution
                    label += " (execute)"
                table.setdefault(label, d.house.last_tx.gas_used)

        run(scenario(d))
        d.apply(AdvanceTime(3_600, 10), compare=False)
        run(crash(d))
        d.apply(AdvanceTime(d.params.protocol.adl_window_s, 1), compare=False)
        run(after_the_adl_window(d))
        d.compare_state()
    return table


def external_functions() -> set[str]:
    """State-changing external functions of the clearing house (views excluded)."""
    abi = Builder().build("clearing_house").abi
    return {f["name"] for f in abi if f["type"] == "function" and f.get("stateMutability") not in ("view", "pure")}


def format_table(table: dict[str, int]) -> str:
    width = max(len(k) for k in table)
    lines = [f"{'function':<{width}}  {'gas':>10}", f"{'-' * width}  {'-' * 10}"]
    lines += [f"{k:<{width}}  {v:>10,}" for k, v in table.items()]
    return "\n".join(lines)


def test_gas_table_matches_snapshot():
    table = measure()
    print(f"\ngas on eth-tester (vyper {vyper.__version__}):\n{format_table(table)}")
    missing = external_functions() - set(table)
    assert not missing, f"no successful call measured for {sorted(missing)}"
    current = {"backend": "eth-tester", "vyper": vyper.__version__, "gas": table}
    if os.environ.get("NOVATION_UPDATE_GAS") == "1":
        SNAPSHOT.write_text(json.dumps(current, indent=2) + "\n")
    assert SNAPSHOT.is_file(), f"{SNAPSHOT} missing: run with NOVATION_UPDATE_GAS=1 to create it"
    committed = json.loads(SNAPSHOT.read_text())
    assert committed == current, (
        f"gas differs from {SNAPSHOT.name}:\n"
        + "\n".join(
            f"  {k}: snapshot {committed['gas'].get(k)} now {table.get(k)}"
            for k in sorted(set(committed.get("gas", {})) | set(table))
            if committed.get("gas", {}).get(k) != table.get(k)
        )
        + "\nif intended, regenerate: NOVATION_UPDATE_GAS=1 .venv/bin/python -m pytest tests/chain/test_gas.py"
    )
