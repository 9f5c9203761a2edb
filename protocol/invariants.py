"""The invariants of GUIDE §5, each a named function returning its violations (empty = holds).

State invariants look at one state; transition invariants look at the state before and after
one action together with the events it emitted. :func:`check_state` and
:func:`check_transition` run them all. Test suites, the demo and (later) the chain campaigns
call them after every step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from protocol.constants import SETTLEMENT_ASSET_ID, WAD
from protocol.events import (
    BadDebtSettled,
    Deleveraged,
    Event,
    GainsCharged,
    InsuranceFundChanged,
    Liquidated,
    LossCharged,
    Withdrawn,
)
from protocol.funding import accrued_state
from protocol.margin import Health, account_health, pending_funding, pending_loss
from protocol.options import payoff
from protocol.oracle_adapter import trusted_prices, untrusted_collateral_at_zero
from protocol.params import Params
from protocol.state import ProtocolState
from protocol.units import Rounding, smul_div, to_wad

__all__ = [
    "STATE_INVARIANTS",
    "TRANSITION_INVARIANTS",
    "check_state",
    "check_transition",
]

StateCheck = Callable[[ProtocolState, Params], list[str]]
TransitionCheck = Callable[[ProtocolState, ProtocolState, Sequence[Event], Params], list[str]]


# ----------------------------------------------------------------------------- state


def conservation(state: ProtocolState, params: Params) -> list[str]:
    """Vault tokens equal the sum of claims, buckets and cost bases, to the wei, per asset."""
    out = []
    settlement = to_wad(state.vault_tokens.get(SETTLEMENT_ASSET_ID, 0), params.protocol.settlement_decimals)
    claims = (
        sum(a.balance for a in state.accounts.values())
        + state.insurance_fund
        + state.fee_pool
        + state.funding_pool
        + state.loss_pool
        + state.settlement_pool
        - sum(p.open_notional for a in state.accounts.values() for p in a.positions.values())
        - state.uncovered_loss
    )
    if settlement != claims:
        out.append(f"settlement token: vault holds {settlement} but claims sum to {claims}")
    for cp in params.collaterals:
        held = to_wad(state.vault_tokens.get(cp.asset_id, 0), cp.decimals)
        owed = sum(a.collateral.get(cp.asset_id, 0) for a in state.accounts.values())
        if held != owed:
            out.append(f"collateral {cp.symbol}: vault holds {held} but accounts own {owed}")
    return out


def open_interest_zero_sum(state: ProtocolState, params: Params) -> list[str]:
    """Per market, open interest matches the positions on each side, and the sides are equal
    (until an expired option market settles its positions one account at a time)."""
    out = []
    for market_id, ms in state.markets.items():
        longs = sum(max(a.positions[market_id].size, 0) for a in state.accounts.values() if market_id in a.positions)
        shorts = sum(max(-a.positions[market_id].size, 0) for a in state.accounts.values() if market_id in a.positions)
        settling = ms.settlement_price_wad > 0  # expired options close one side at a time
        if (ms.oi_long, ms.oi_short) != (longs, shorts) or (not settling and longs != shorts):
            out.append(
                f"market {market_id}: oi_long {ms.oi_long}, oi_short {ms.oi_short}, "
                f"positions long {longs}, short {shorts}"
            )
    return out


def insurance_fund_non_negative(state: ProtocolState, params: Params) -> list[str]:
    """The insurance fund, the fee pool and the uncovered-loss record are never negative."""
    return [
        f"{name} is negative: {value}"
        for name, value in (
            ("insurance_fund", state.insurance_fund),
            ("fee_pool", state.fee_pool),
            ("uncovered_loss", state.uncovered_loss),
        )
        if value < 0
    ]


def rounding_never_creates_value(state: ProtocolState, params: Params) -> list[str]:
    """The funding, loss and option-settlement pools cover every pending credit once all
    positions settle."""
    pending_funding_total = pending_loss_total = 0
    for acct in state.accounts.values():
        for market_id, pos in acct.positions.items():
            ms = state.markets[market_id]
            pending_funding_total += pending_funding(pos, ms)
            pending_loss_total += pending_loss(pos, ms)
    pending_payouts = sum(
        smul_div(pos.size, payoff(params.market(m), state.markets[m].settlement_price_wad), WAD, Rounding.FLOOR)
        for acct in state.accounts.values()
        for m, pos in acct.positions.items()
        if params.market(m).is_option and state.markets[m].settlement_price_wad
    )
    out = []
    if state.settlement_pool - pending_payouts < 0:
        out.append(f"settlement pool {state.settlement_pool} short of pending option payouts {pending_payouts}")
    if state.funding_pool - pending_funding_total < 0:
        out.append(f"funding pool {state.funding_pool} short of pending credits {pending_funding_total}")
    if state.loss_pool - pending_loss_total < 0:
        out.append(f"loss pool {state.loss_pool} plus pending charges {-pending_loss_total} is negative")
    return out


def realized_pnl_zero_sum(state: ProtocolState, params: Params) -> list[str]:
    """Realized PnL (premiums and option payouts included, net of the settlement pool) equals the
    cost basis still open: fills are zero-sum."""
    realized = sum(a.realized_pnl for a in state.accounts.values()) + state.settlement_pool
    open_cost = sum(p.open_notional for a in state.accounts.values() for p in a.positions.values())
    return [] if realized == open_cost else [f"realized PnL {realized} != open cost basis {open_cost}"]


def bad_debt_only_when_empty(state: ProtocolState, params: Params) -> list[str]:
    """An account with no position and no collateral never keeps a negative balance."""
    return [
        f"account {addr} has no position or collateral but balance {a.balance}"
        for addr, a in state.accounts.items()
        if a.balance < 0 and not a.has_positions() and not a.has_collateral()
    ]


STATE_INVARIANTS: dict[str, StateCheck] = {
    "conservation": conservation,
    "open_interest_zero_sum": open_interest_zero_sum,
    "insurance_fund_non_negative": insurance_fund_non_negative,
    "rounding_never_creates_value": rounding_never_creates_value,
    "realized_pnl_zero_sum": realized_pnl_zero_sum,
    "bad_debt_only_when_empty": bad_debt_only_when_empty,
}


# ----------------------------------------------------------------------------- transitions


def _health(state: ProtocolState, params: Params, address: str) -> Health | None:
    acct = state.accounts.get(address)
    if acct is None:
        return None
    prices = untrusted_collateral_at_zero(acct, params, trusted_prices(state, params))
    try:
        return account_health(acct, params, state.markets, prices, now_s=state.now_s)
    except KeyError:
        return None


def no_healthy_account_liquidated(
    before: ProtocolState, after: ProtocolState, events: Sequence[Event], params: Params
) -> list[str]:
    """Every liquidated or deleveraged account was below maintenance when it happened."""
    hit = [ev for ev in events if isinstance(ev, Liquidated | Deleveraged)]
    if not hit:
        return []  # no copy of the state for the (many) actions that liquidate nothing
    seen = accrued_state(before, params, after.now_s)
    out = []
    for ev in hit:
        h = _health(seen, params, ev.account)
        if h is None or not h.liquidatable:
            out.append(f"{type(ev).__name__} of {ev.account} with health {h}")
    return out


def withdrawal_keeps_initial_margin(
    before: ProtocolState, after: ProtocolState, events: Sequence[Event], params: Params
) -> list[str]:
    """After a withdrawal the account still meets initial margin (or needs none)."""
    out = []
    for ev in events:
        if isinstance(ev, Withdrawn):
            acct = after.accounts[ev.account]
            if not acct.has_positions() and acct.balance >= 0:
                continue
            h = _health(after, params, ev.account)
            if h is None or not h.meets_initial:
                out.append(f"withdrawal by {ev.account} left health {h}")
    return out


def liquidation_never_worsens_ratio(
    before: ProtocolState, after: ProtocolState, events: Sequence[Event], params: Params
) -> list[str]:
    """A solvent account that keeps positions after a liquidation has a ratio E/MM no worse."""
    hit = [ev for ev in events if isinstance(ev, Liquidated) and after.accounts[ev.account].has_positions()]
    if not hit:
        return []
    seen = accrued_state(before, params, after.now_s)
    out = []
    for ev in hit:
        hb, ha = _health(seen, params, ev.account), _health(after, params, ev.account)
        if hb is None or ha is None or hb.equity <= 0:
            continue
        if ha.equity * hb.maintenance < hb.equity * ha.maintenance:
            out.append(f"liquidation of {ev.account} worsened E/MM from {hb} to {ha}")
    return out


def bad_debt_settled_only_when_empty(
    before: ProtocolState, after: ProtocolState, events: Sequence[Event], params: Params
) -> list[str]:
    """Bad debt is recognised only after all positions and collateral are gone."""
    return [
        f"bad debt settled for {ev.account} while it still holds positions or collateral"
        for ev in events
        if isinstance(ev, BadDebtSettled)
        and (after.accounts[ev.account].has_positions() or after.accounts[ev.account].has_collateral())
    ]


def no_loss_without_position(
    before: ProtocolState, after: ProtocolState, events: Sequence[Event], params: Params
) -> list[str]:
    """Socialized-loss charges hit only accounts that held a position in that market."""
    return [
        f"{ev.account} charged {ev.amount_wad} of socialized loss without a position in {ev.market_id}"
        for ev in events
        if isinstance(ev, LossCharged)
        and (ev.account not in before.accounts or ev.market_id not in before.accounts[ev.account].positions)
    ] + [
        f"{ev.counterparty} charged {ev.amount_wad} of gains without a position in {ev.market_id}"
        for ev in events
        if isinstance(ev, GainsCharged)
        and (ev.counterparty not in before.accounts or ev.market_id not in before.accounts[ev.counterparty].positions)
    ]


def no_untrusted_price_used(
    before: ProtocolState, after: ProtocolState, events: Sequence[Event], params: Params
) -> list[str]:
    """Liquidations and deleveraging happen only at trusted prices."""
    trusted = trusted_prices(after, params)
    return [
        f"{type(ev).__name__} in market {ev.market_id} at an untrusted price"
        for ev in events
        if isinstance(ev, Liquidated | Deleveraged) and params.market(ev.market_id).feed_id not in trusted
    ]


def insurance_fund_deltas(
    before: ProtocolState, after: ProtocolState, events: Sequence[Event], params: Params
) -> list[str]:
    """Every insurance-fund change is reported, and the reported changes add up."""
    deltas = [ev for ev in events if isinstance(ev, InsuranceFundChanged)]
    out = [f"insurance fund reported negative: {ev}" for ev in deltas if ev.balance_wad < 0]
    if before.insurance_fund + sum(ev.delta_wad for ev in deltas) != after.insurance_fund:
        out.append(
            f"insurance fund moved {before.insurance_fund} -> {after.insurance_fund} "
            f"but events report {sum(ev.delta_wad for ev in deltas)}"
        )
    return out


TRANSITION_INVARIANTS: dict[str, TransitionCheck] = {
    "no_healthy_account_liquidated": no_healthy_account_liquidated,
    "withdrawal_keeps_initial_margin": withdrawal_keeps_initial_margin,
    "liquidation_never_worsens_ratio": liquidation_never_worsens_ratio,
    "bad_debt_settled_only_when_empty": bad_debt_settled_only_when_empty,
    "no_loss_without_position": no_loss_without_position,
    "no_untrusted_price_used": no_untrusted_price_used,
    "insurance_fund_deltas": insurance_fund_deltas,
}


def check_state(state: ProtocolState, params: Params) -> dict[str, list[str]]:
    """Run every state invariant; returns only the violated ones, name -> violations."""
    results = {name: fn(state, params) for name, fn in STATE_INVARIANTS.items()}
    return {name: v for name, v in results.items() if v}


def check_transition(
    before: ProtocolState, after: ProtocolState, events: Sequence[Event], params: Params
) -> dict[str, list[str]]:
    """Run every transition invariant; returns only the violated ones, name -> violations."""
    results = {name: fn(before, after, events, params) for name, fn in TRANSITION_INVARIANTS.items()}
    return {name: v for name, v in results.items() if v}
