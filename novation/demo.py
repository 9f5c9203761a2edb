"""The scripted crash scenario on the reference model, narrated step by step.

Every action is followed by every state and transition invariant; the run stops with a clear
error if one is violated. Output: the events of each step, a keeper reacting to the crash, and
an account-by-account table at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from protocol.actions import Action
from protocol.clearing_house import ClearingHouse
from protocol.constants import WAD
from protocol.errors import NovationError, ProtocolRevert
from protocol.events import Event
from protocol.invariants import STATE_INVARIANTS, TRANSITION_INVARIANTS, check_state, check_transition
from protocol.keeper import keeper_actions
from protocol.scenarios import ACTORS, crash_scenario, default_params

__all__ = ["DemoResult", "run_demo"]

#: Events settling a negative balance: at a bankrupt close (F-15) or once an account is empty.
_DEBT_EVENTS = ("ShortfallSettled", "BadDebtSettled")


@dataclass
class DemoResult:
    """What the demo did: the final house, every event, and how many checks ran."""

    house: ClearingHouse
    events: list[Event] = field(default_factory=list)
    actions: int = 0
    reverts: list[str] = field(default_factory=list)
    checks: int = 0


def _usd(wad: int) -> str:
    return f"{wad / WAD:,.2f}"


def _apply_checked(result: DemoResult, action: Action) -> list[Event]:
    house = result.house
    before = house.snapshot()
    events = house.apply(action)
    violations = check_state(house.state, house.params) | check_transition(before, house.state, events, house.params)
    result.checks += len(STATE_INVARIANTS) + len(TRANSITION_INVARIANTS)
    if violations:
        raise NovationError(f"invariant violated after {action!r}: {violations}")
    result.actions += 1
    result.events.extend(events)
    return events


def _describe(ev: Event) -> str | None:
    name = type(ev).__name__
    names = {v: k for k, v in ACTORS.items()}
    d = ev.to_dict()
    if name in ("PositionChanged", "TimeAdvanced", "PriceAccepted", "FundingAccrued"):
        return None
    parts = []
    for k, v in d.items():
        if k == "event":
            continue
        if isinstance(v, str) and v in names:
            v = names[v]
        elif isinstance(v, int) and not isinstance(v, bool) and k.endswith("_wad"):
            v = _usd(v) if "size" not in k else f"{v / WAD:g}"
        parts.append(f"{k}={v}")
    return f"{name}(" + ", ".join(parts) + ")"


def run_demo(console: Console | None = None) -> DemoResult:
    """Run the crash scenario with a reacting keeper; print a narrative if ``console`` is given."""
    house = ClearingHouse(
        default_params(),
        governance=ACTORS["governance"],
        matchers=[ACTORS["matcher"]],
        oracles=[ACTORS["oracle"]],
        funding_operators=[ACTORS["funding_operator"]],
    )
    result = DemoResult(house)
    for step in crash_scenario():
        if console:
            console.rule(f"[bold]{step.title}")
        for action in step.actions:
            for ev in _apply_checked(result, action):
                line = _describe(ev)
                if console and line:
                    console.print("  " + line)
        for _ in range(10):  # keeper passes until nothing more can be done
            progressed = False
            for action in keeper_actions(house, ACTORS["keeper"], ACTORS["liquidator"]):
                try:
                    events = _apply_checked(result, action)
                except ProtocolRevert as exc:
                    result.reverts.append(exc.reason)
                    continue
                progressed = True
                if console:
                    console.print(f"  [yellow]keeper[/] {type(action).__name__}")
                    for ev in events:
                        line = _describe(ev)
                        if line:
                            console.print("    " + line)
            if not progressed:
                break
    if console:
        console.print(_account_table(house))
        console.print(_protocol_table(house, result))
    return result


def _account_table(house: ClearingHouse) -> Table:
    table = Table(title="Accounts after the crash (USD; sizes in BTC)")
    for col in ("actor", "balance", "WETH", "positions", "realized PnL", "equity", "initial", "maint.", "status"):
        table.add_column(col, justify="right" if col not in ("actor", "positions", "status") else "left")
    names = {v: k for k, v in ACTORS.items()}
    for address, acct in sorted(house.state.accounts.items(), key=lambda kv: names.get(kv[0], kv[0])):
        try:
            h = house.health(address)
            equity, im, mm = _usd(h.equity), _usd(h.initial), _usd(h.maintenance)
            status = "liquidatable" if h.liquidatable else ("ok" if h.meets_initial else "below initial")
        except ProtocolRevert:
            equity = im = mm = "-"
            status = "price untrusted"
        positions = (
            ", ".join(
                f"{house.params.market(m).symbol} {p.size / WAD:+g} @ {abs(p.open_notional) / abs(p.size):,.0f}"
                for m, p in sorted(acct.positions.items())
            )
            or "-"
        )
        weth = sum(acct.collateral.values()) / WAD
        table.add_row(
            names.get(address, address[:10]),
            _usd(acct.balance),
            f"{weth:g}",
            positions,
            _usd(acct.realized_pnl),
            equity,
            im,
            mm,
            status,
        )
    return table


def _protocol_table(house: ClearingHouse, result: DemoResult) -> Table:
    s = house.state
    socialized = sum(ev.to_dict()["socialized_wad"] for ev in result.events if type(ev).__name__ in _DEBT_EVENTS)
    covered = sum(ev.to_dict()["covered_by_fund_wad"] for ev in result.events if type(ev).__name__ in _DEBT_EVENTS)
    table = Table(title="Protocol")
    table.add_column("item")
    table.add_column("value", justify="right")
    for item, value in (
        ("insurance fund", _usd(s.insurance_fund)),
        ("fee pool", _usd(s.fee_pool)),
        ("bad debt paid by the insurance fund", _usd(covered)),
        ("loss socialized to position holders", _usd(socialized)),
        ("uncovered loss", _usd(s.uncovered_loss)),
        ("actions applied", str(result.actions)),
        ("keeper actions refused (stale sizes)", str(len(result.reverts))),
        (
            "invariant checks run (all passed)",
            f"{result.checks:,} ({len(STATE_INVARIANTS)} state + {len(TRANSITION_INVARIANTS)} transition per action)",
        ),
    ):
        table.add_row(item, value)
    return table
