"""The actors of an audit campaign and the action kinds they draw: one table, one entry per kind.

Every actor is named by role and holds one of eth-tester's public test keys (1..10; funded on
every backend): ``governance``, ``matcher``, ``oracle``, ``funding`` (the funding operator),
``keeper``, ``liquidator`` and four ``traders``. :data:`ACTION_KINDS` lists what each may do,
with a weight; a draw function looks at the model (prices, balances, what the reference keeper
would liquidate) and returns one action record, valid or not: refused actions are part of the
campaign (their revert reasons are compared on the chain and counted).

Adding an action kind is one :class:`ActionKind` entry in :data:`ACTION_KINDS` (a name, the
acting role, a weight and a draw function of a :class:`World`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

import numpy as np
from eth_keys.datatypes import PrivateKey

from protocol import actions as act
from protocol.clearing_house import ClearingHouse
from protocol.constants import MAX_FEE_RATE, MAX_FUNDING_RATE_PER_S, WAD
from protocol.errors import InvalidParameter, ProtocolRevert
from protocol.keeper import adl_action, adl_counterparties, keeper_actions
from protocol.oracle_adapter import move_reference
from protocol.orders import OrderDomain, OrderSigner

__all__ = [
    "ACTION_KINDS",
    "ACTORS",
    "COVERAGE_KINDS",
    "KEYS",
    "PROFILES",
    "ActionKind",
    "Actors",
    "KindDraw",
    "World",
    "draw_block_start",
    "kind_weights",
    "opening_actions",
    "resign",
]

#: Token units of one settlement token (USDC, 6 decimals).
USDC: Final = 10**6
#: Asset id of the campaign's non-settlement collateral (WETH in the default parameters).
WETH: Final = 1
#: Price a feed starts from before its first reading (USD WAD).
START_PRICE: Final = {0: 60_000 * WAD, 1: 3_000 * WAD}


def _key(i: int) -> bytes:
    return i.to_bytes(32, "big")


def _address(i: int) -> str:
    return "0x" + PrivateKey(_key(i)).public_key.to_canonical_address().hex()


#: The campaign's private keys (eth-tester's, public test keys): 1..10.
KEYS: Final = tuple(_key(i) for i in range(1, 11))


@dataclass(frozen=True)
class Actors:
    """The campaign's accounts by role (eth-tester's keys 1..10)."""

    governance: str = _address(1)
    matcher: str = _address(2)
    oracle: str = _address(3)
    funding: str = _address(4)
    keeper: str = _address(5)
    liquidator: str = _address(6)
    traders: tuple[str, ...] = tuple(_address(i) for i in range(7, 11))

    @property
    def all(self) -> tuple[str, ...]:
        """Every actor's address."""
        return (self.governance, self.matcher, self.oracle, self.funding, self.keeper, self.liquidator, *self.traders)


ACTORS: Final = Actors()


@dataclass
class World:
    """What a draw function sees: the random generator, the model (read-only), the actors and an
    order signer for the model's EIP-712 domain."""

    rng: np.random.Generator
    model: ClearingHouse
    signer: OrderSigner

    @classmethod
    def new(cls, rng: np.random.Generator, model: ClearingHouse) -> World:
        """A world over ``model`` whose signer signs for the model's order domain."""
        return cls(rng, model, campaign_signer(model.state.order_domain))

    def pick(self, options: tuple[str, ...] | list[str]) -> str:
        """One of ``options``, uniformly."""
        return options[int(self.rng.integers(0, len(options)))]

    def trader(self) -> str:
        """A trader, uniformly."""
        return self.pick(ACTORS.traders)

    def market(self) -> int:
        """A market (perpetual markets 0 and 1)."""
        return int(self.rng.integers(0, 2))

    def fresh_feed(self) -> int | None:
        """A feed (0 or 1, a market's) with no reading this second, or None: a second reading
        stamped the same second is rejected and switches the feed off (the rejections have
        kinds of their own)."""
        feeds = [f for f in (0, 1) if self.model.state.feeds[f].updated_at_s < self.now]
        return feeds[int(self.rng.integers(0, len(feeds)))] if feeds else None

    def price(self, feed_id: int) -> int:
        """The feed's last accepted price, or its start price before the first (USD WAD)."""
        return self.model.state.feeds[feed_id].price_wad or START_PRICE[feed_id]

    def scaled(self, value: int, lo: float, hi: float) -> int:
        """``value`` times a uniform factor in ``[lo, hi)``, at least 1."""
        return max(int(value * self.rng.uniform(lo, hi)), 1)

    def governor(self) -> str:
        """The governance as the model has it now (handed over by the campaign now and then)."""
        return self.model.state.roles.governance

    @property
    def now(self) -> int:
        """The model clock (Unix s)."""
        return self.model.state.now_s


def campaign_signer(domain: OrderDomain) -> OrderSigner:
    """An order signer holding every campaign key, for ``domain``."""
    return OrderSigner(domain, KEYS)


# ----------------------------------------------------------------------------- draws


def _deposit(w: World) -> act.Action:
    return act.Deposit(w.trader(), 0, int(w.rng.integers(1_000, 100_000)) * USDC + int(w.rng.integers(0, USDC)))


def _deposit_collateral(w: World) -> act.Action:
    amount = int(w.rng.integers(1, 20_000)) * (WAD // 1_000) + int(w.rng.integers(0, 10**9))
    return act.Deposit(w.trader(), WETH, amount)


def _withdraw(w: World) -> act.Action:
    who = w.trader()
    acct = w.model.state.accounts.get(who)
    if acct is not None and w.rng.random() < 0.25 and acct.collateral.get(WETH, 0) > 0:
        return act.Withdraw(who, WETH, w.scaled(acct.collateral[WETH], 0.05, 1.2))
    usdc = max(acct.balance, 0) // 10**12 if acct is not None else 0  # WAD -> token units
    return act.Withdraw(who, 0, w.scaled(usdc or USDC, 0.02, 1.1))


def _fill(w: World, sender: str | None = None) -> act.Action:
    market = w.market()
    maker, taker = (ACTORS.traders[int(i)] for i in w.rng.choice(len(ACTORS.traders), 2, replace=False))
    px = w.price(market)
    notional = float(w.rng.lognormal(np.log(40_000), 1.2))
    size = max(int(notional * WAD * WAD // px), 10**9) * (1 if w.rng.random() < 0.5 else -1)
    fill_px = px * int(w.rng.integers(990_000, 1_010_001)) // 1_000_000
    fee = int(w.rng.choice([0, WAD // 10_000, WAD // 2_000, MAX_FEE_RATE]))
    return w.signer.fill(sender or ACTORS.matcher, maker, taker, market, size, max(fill_px, 1), fee, fee)


def _fill_by_outsider(w: World) -> act.Action:
    return _fill(w, w.trader())  # not a matcher: refused


def _cancel_order(w: World) -> act.Action:
    who = w.trader()
    order = w.signer.order(who, w.market(), WAD * (1 if w.rng.random() < 0.5 else -1), w.price(0))
    return act.CancelOrder(who, order.order)


def _push(w: World, price: int, timestamp_s: int) -> act.Action:
    return act.PushPrice(ACTORS.oracle, w.market(), price, timestamp_s)


def _price_walk(w: World) -> act.Action:
    feed = w.fresh_feed()
    if feed is None:  # both feeds read this second: a funding-rate update instead
        return _funding_rate(w)
    move = w.rng.normal(0, 0.01)
    return act.PushPrice(ACTORS.oracle, feed, max(int(w.price(feed) * (1 + move)), 1), w.now)


def _price_spike(w: World) -> act.Action:
    feed = w.market()
    factor = float(w.rng.choice([0.3, 0.5, 0.8, 0.9, 1.1, 1.3, 2.0, 3.0]))
    return act.PushPrice(ACTORS.oracle, feed, w.scaled(w.price(feed), factor, factor + 0.01), w.now)


def _price_crash(w: World) -> act.Action:
    """The largest move the feed's guard lets in now (down, now and then up): what drives
    accounts into liquidation and bankruptcy."""
    feed = w.fresh_feed()
    if feed is None:  # both feeds read this second: a funding-rate update instead
        return _funding_rate(w)
    state, fp = w.model.state.feeds[feed], w.model.params.feeds[feed]
    ref_price, ref_at = move_reference(state, w.now)
    if ref_price == 0 or w.now - ref_at > fp.heartbeat_s:
        return act.PushPrice(ACTORS.oracle, feed, w.scaled(w.price(feed), 0.5, 0.6), w.now)
    allowed = fp.max_move_wad * min(w.now - ref_at, fp.move_window_s) * ref_price // (WAD * fp.move_window_s)
    sign = -1 if w.rng.random() < 0.75 else 1
    return act.PushPrice(ACTORS.oracle, feed, max(ref_price + sign * allowed, 1), w.now)


def _fill_leveraged(w: World) -> act.Action:
    """A fill near the taker's initial-margin limit: notional 5 to 20 times its balance."""
    market = w.market()
    maker, taker = (ACTORS.traders[int(i)] for i in w.rng.choice(len(ACTORS.traders), 2, replace=False))
    acct = w.model.state.accounts.get(taker)
    balance = max(acct.balance if acct is not None else 0, 1_000 * WAD)
    px = w.price(market)
    size = max(balance * int(w.rng.integers(5, 21)) // px, 10**9) * (1 if w.rng.random() < 0.5 else -1)
    return w.signer.fill(ACTORS.matcher, maker, taker, market, size, px, 0, 0)


def _price_zero_or_negative(w: World) -> act.Action:
    return _push(w, -int(w.rng.integers(0, 2)) * w.price(0), w.now)


def _price_stale(w: World) -> act.Action:
    feed = w.market()
    return act.PushPrice(ACTORS.oracle, feed, w.price(feed), max(w.now - int(w.rng.choice([3_601, 7_200, 86_400])), 0))


def _price_out_of_order(w: World) -> act.Action:
    feed = w.market()
    last = w.model.state.feeds[feed].updated_at_s
    return act.PushPrice(
        ACTORS.oracle, feed, w.scaled(w.price(feed), 0.98, 1.02), max(last - int(w.rng.integers(0, 30)), 0)
    )


def _price_by_outsider(w: World) -> act.Action:
    return act.PushPrice(w.trader(), w.market(), w.price(0), w.now)


def _funding_rate(w: World) -> act.Action:
    cap = MAX_FUNDING_RATE_PER_S // 20
    return act.SetFundingRate(ACTORS.funding, w.market(), int(w.rng.integers(-cap, cap + 1)))


def _keeper_liquidation(w: World) -> act.Action:
    found = keeper_actions(w.model, ACTORS.keeper, ACTORS.liquidator)
    if found:
        return found[int(w.rng.integers(0, len(found)))]
    return _random_liquidation(w)


def _random_liquidation(w: World) -> act.Action:
    target, market = w.trader(), w.market()
    try:
        q = w.model.max_liquidation_size(target, market)
    except ProtocolRevert:
        q = 0
    q = q or int(w.rng.integers(1, 2 * WAD))
    q = int(w.rng.choice([q, q, max(q // 2, 1), q + 1]))
    return act.Liquidate(ACTORS.keeper, target, market, q)


def _liquidate_collateral(w: World) -> act.Action:
    return act.LiquidateCollateral(ACTORS.liquidator, w.trader(), WETH, int(w.rng.integers(1, 5 * WAD)))


def _deleverage(w: World) -> act.Action:
    """The ADL queue (propose, challenge, execute): mostly the reference keeper's next step for a
    trader's position, else a list of other traders (maybe empty, maybe skipping the top)."""
    target, market = w.trader(), w.market()
    ranked = adl_counterparties(w.model, target, market)
    acct = w.model.state.accounts.get(target)
    if acct is not None and market in acct.positions and w.rng.random() >= 0.3:
        step = adl_action(w.model, ACTORS.keeper, target, market, ranked)
        if step is not None:
            return step
    others = [t for t in ACTORS.traders if t != target]
    return act.AutoDeleverage(ACTORS.keeper, target, market, tuple(others[: int(w.rng.integers(0, len(others) + 1))]))


def _fund_insurance(w: World) -> act.Action:
    return act.FundInsurance(w.trader(), int(w.rng.integers(1, 5_000)) * USDC)


def _withdraw_fees(w: World) -> act.Action:
    return act.WithdrawFees(
        w.governor(), ACTORS.governance, w.scaled(max(w.model.state.fee_pool // 10**12, 1), 0.1, 1.2)
    )


def _pause(w: World) -> act.Action:
    return act.SetPaused(w.governor(), bool(w.rng.random() < 0.3) and not w.model.state.paused)


def _market_margin(w: World) -> act.Action:
    imf = int(w.rng.choice([WAD // 50, WAD // 20, WAD // 10, WAD // 5]))
    return act.SetMarketMargin(w.governor(), w.market(), imf, int(w.rng.choice([WAD // 2, WAD * 6 // 10])))


def _role_toggle(w: World) -> act.Action:
    return act.SetRole(
        w.governor(), str(w.rng.choice(["matcher", "oracle", "funding"])), w.trader(), bool(w.rng.random() < 0.5)
    )


def _governance_proposal(w: World) -> act.Action:
    successor = w.pick((ACTORS.governance, *ACTORS.traders))
    return act.SetRole(w.governor(), "governance", successor, bool(w.rng.random() < 0.9))


def _accept_governance(w: World) -> act.Action:
    pending = w.model.state.roles.pending_governance
    return act.AcceptGovernance(pending if pending is not None and w.rng.random() < 0.8 else w.trader())


# ----------------------------------------------------------------------------- coverage draws
# Refused variants of every contract entry (one revert reason each, drawn at random) and the
# clock steps of the ADL queue: the ``coverage`` profile draws them, the default one does not.

#: An id no market, feed or collateral asset of the campaign's parameters uses.
UNLISTED: Final = 7


def _bad_deposit(w: World) -> act.Action:
    """Unknown asset, above the collateral's deposit cap, above its per-account cap."""
    amount = (int(w.rng.integers(1, 10)) * USDC, 2 * 10**6 * WAD, 2 * 10**5 * WAD)
    choice = int(w.rng.integers(0, 3))
    return act.Deposit(w.trader(), UNLISTED if choice == 0 else WETH, amount[choice])


def _bad_withdraw(w: World) -> act.Action:
    """Unknown asset, more than the balance (settlement or collateral) holds."""
    choice = int(w.rng.integers(0, 3))
    asset = (UNLISTED, 0, WETH)[choice]
    return act.Withdraw(w.trader(), asset, (USDC, 10**15 * USDC, 10**6 * WAD)[choice])


def _bad_fill(w: World) -> act.Action:
    """A matcher's fill refused for one reason of the order checks or the fill checks."""
    good = _fill(w)
    assert isinstance(good, act.Fill)
    maker, taker, market, size, px = good.maker, good.taker, good.market_id, good.size_wad, good.price_wad
    s = w.signer
    variants: tuple[Callable[[], act.Action], ...] = (
        lambda: replace(good, taker_order=s.order(taker, 1 - market, size, px)),
        lambda: s.fill(ACTORS.matcher, maker, maker, market, size, px),
        lambda: s.fill(ACTORS.matcher, maker, taker, UNLISTED, size, px),
        lambda: replace(good, maker_order=act.SignedOrder(good.maker_order.order, good.taker_order.signature)),
        lambda: replace(good, taker_order=s.order(taker, market, size, px, expiry_s=max(w.now - 1, 0))),
        lambda: replace(good, size_wad=-size),
        lambda: replace(good, price_wad=px + px // 500 if size > 0 else max(px - px // 500, 1)),
        lambda: replace(good, taker_fee_wad=good.taker_fee_wad + 1),
        lambda: s.fill(ACTORS.matcher, maker, taker, market, size, px, MAX_FEE_RATE + 1, MAX_FEE_RATE + 1),
        lambda: s.fill(ACTORS.matcher, maker, taker, market, size, px * 3 // 2),
        lambda: replace(good, size_wad=2 * size),
    )
    return variants[int(w.rng.integers(0, len(variants)))]()


def _bad_cancel(w: World) -> act.Action:
    """A trader cancels another trader's order."""
    owner, sender = (ACTORS.traders[int(i)] for i in w.rng.choice(len(ACTORS.traders), 2, replace=False))
    return act.CancelOrder(sender, w.signer.order(owner, w.market(), WAD, w.price(0)).order)


def _bad_oracle_or_funding(w: World) -> act.Action:
    """A reading for an unknown feed; a funding rate for an unknown market or by an outsider."""
    choice = int(w.rng.integers(0, 3))
    if choice == 0:
        return act.PushPrice(ACTORS.oracle, UNLISTED, w.price(0), w.now)
    if choice == 1:
        return act.SetFundingRate(ACTORS.funding, UNLISTED, 0)
    return act.SetFundingRate(w.trader(), w.market(), 0)


def _bad_liquidation(w: World) -> act.Action:
    """Self liquidation, unknown market, no position, more than the position; the same for a
    collateral sale (self, unknown asset, a balance not negative, more than the collateral)."""
    target, market = w.trader(), w.market()
    acct = w.model.state.accounts.get(target)
    pos = acct.positions.get(market) if acct is not None else None
    variants: tuple[Callable[[], act.Action], ...] = (
        lambda: act.Liquidate(target, target, market, WAD),
        lambda: act.Liquidate(ACTORS.keeper, target, UNLISTED, WAD),
        lambda: act.Liquidate(ACTORS.keeper, ACTORS.liquidator, market, WAD),
        lambda: act.Liquidate(ACTORS.keeper, target, market, abs(pos.size) + 1 if pos is not None else WAD),
        lambda: act.LiquidateCollateral(target, target, WETH, WAD),
        lambda: act.LiquidateCollateral(ACTORS.liquidator, target, UNLISTED, WAD),
        lambda: act.LiquidateCollateral(ACTORS.liquidator, ACTORS.keeper, WETH, WAD),
        lambda: act.LiquidateCollateral(ACTORS.liquidator, target, WETH, 10**9 * WAD),
        lambda: act.AutoDeleverage(ACTORS.keeper, target, UNLISTED, ()),
        lambda: act.AutoDeleverage(ACTORS.keeper, ACTORS.liquidator, market, ()),
    )
    return variants[int(w.rng.integers(0, len(variants)))]()


def _bad_governance(w: World) -> act.Action:
    """Governance entries by an outsider, the governance role revoked, margin parameters out of
    bounds or for an unknown market, more fees than the pool holds, an acceptance by someone
    not proposed."""
    outsider, gov = w.trader(), w.governor()
    variants: tuple[Callable[[], act.Action], ...] = (
        lambda: act.SetRole(outsider if outsider != gov else ACTORS.keeper, "matcher", outsider, True),
        lambda: act.SetRole(gov, "governance", gov, False),
        lambda: act.SetMarketMargin(gov, w.market(), WAD, WAD),
        lambda: act.SetMarketMargin(gov, UNLISTED, WAD // 10, WAD // 2),
        lambda: act.SetMarketMargin(ACTORS.keeper, w.market(), WAD // 10, WAD // 2),
        lambda: act.WithdrawFees(ACTORS.keeper, ACTORS.keeper, USDC),
        lambda: act.WithdrawFees(gov, gov, 10**15 * USDC),
        lambda: act.SetPaused(ACTORS.keeper, True),
        lambda: act.AcceptGovernance(ACTORS.keeper),
    )
    return variants[int(w.rng.integers(0, len(variants)))]()


def _outage(w: World) -> act.Action:
    """A clock step past the feeds' heartbeat (an oracle outage): the next reading may move the
    price by half (what drives leveraged accounts past zero equity: bankrupt closes, shortfalls,
    collateral sales, deleveraging)."""
    heartbeat = max(fp.heartbeat_s for fp in w.model.params.feeds)
    return act.AdvanceTime(heartbeat + int(w.rng.integers(1, 600)), 1)


def _adl_clock(w: World) -> act.Action:
    """The ADL queue's next step in time: the reference keeper's execution (the stored list, or
    the bankrupt close of an empty one) of a proposal in its window; else, now and then, the
    stored list of a proposal still open to challenge sent again (a challenge no higher than
    it: refused); else a clock step to a pending proposal's window (now and then past it: the
    proposal expires); else a deleveraging draw."""
    window = w.model.params.protocol.adl_window_s
    for (account, market), p in sorted(w.model.state.adl_proposals.items()):
        if p.deadline_s <= w.now <= p.deadline_s + window:
            step = adl_action(w.model, ACTORS.keeper, account, market, p.counterparties)
            if step is not None:
                return step
    open_ = sorted((key, p) for key, p in w.model.state.adl_proposals.items() if p.deadline_s > w.now)
    if not open_:
        return _deleverage(w)
    if w.rng.random() < 0.5:
        (account, market), p = open_[int(w.rng.integers(0, len(open_)))]
        return act.AutoDeleverage(ACTORS.keeper, account, market, p.counterparties)
    pending = [p.deadline_s for _, p in open_]
    past = w.rng.random() < 0.2
    return act.AdvanceTime(min(pending) - w.now + (window + 1 if past else int(w.rng.integers(0, window // 2))), 1)


@dataclass(frozen=True)
class ActionKind:
    """One kind of action: its name, the protocol action it draws (a type of
    :data:`protocol.actions.ACTION_TYPES`), the role that acts, its weight in the draw, and the
    function drawing one record of it from a :class:`World`."""

    name: str
    action: type[act.Action]
    actor: str
    weight: float
    draw: Callable[[World], act.Action]


#: The coverage kinds: refused variants of every contract entry and clock steps (outages, the
#: ADL queue's windows; every block also opens with one: :func:`draw_block_start`),
#: drawn under the ``coverage`` profile only (weight 0 in the others, listed last in
#: :data:`ACTION_KINDS`: a profile without them draws exactly as before they existed).
COVERAGE_KINDS: Final[tuple[ActionKind, ...]] = (
    ActionKind("bad_deposit", act.Deposit, "trader", 1, _bad_deposit),
    ActionKind("bad_withdraw", act.Withdraw, "trader", 1, _bad_withdraw),
    ActionKind("bad_fill", act.Fill, "matcher", 2, _bad_fill),
    ActionKind("bad_cancel", act.CancelOrder, "trader", 0.3, _bad_cancel),
    ActionKind("bad_oracle_or_funding", act.PushPrice, "oracle", 0.5, _bad_oracle_or_funding),
    ActionKind("bad_liquidation", act.Liquidate, "keeper", 2, _bad_liquidation),
    ActionKind("bad_governance", act.SetRole, "governance", 1.5, _bad_governance),
    ActionKind("outage", act.AdvanceTime, "oracle", 3, _outage),
    ActionKind("adl_clock", act.AdvanceTime, "keeper", 5, _adl_clock),
)

#: Every action kind of the campaign (add one entry to add a kind); every protocol action type
#: is drawn by at least one kind unless :data:`UNDRAWN` says why not.
ACTION_KINDS: Final[tuple[ActionKind, ...]] = (
    ActionKind("deposit", act.Deposit, "trader", 8, _deposit),
    ActionKind("deposit_collateral", act.Deposit, "trader", 3, _deposit_collateral),
    ActionKind("withdraw", act.Withdraw, "trader", 6, _withdraw),
    ActionKind("fill", act.Fill, "matcher", 24, _fill),
    ActionKind("fill_leveraged", act.Fill, "matcher", 4, _fill_leveraged),
    ActionKind("fill_by_outsider", act.Fill, "trader", 0.5, _fill_by_outsider),
    ActionKind("cancel_order", act.CancelOrder, "trader", 1, _cancel_order),
    ActionKind("price_walk", act.PushPrice, "oracle", 12, _price_walk),
    ActionKind("price_spike", act.PushPrice, "oracle", 3, _price_spike),
    ActionKind("price_crash", act.PushPrice, "oracle", 3, _price_crash),
    ActionKind("price_zero_or_negative", act.PushPrice, "oracle", 0.5, _price_zero_or_negative),
    ActionKind("price_stale", act.PushPrice, "oracle", 0.5, _price_stale),
    ActionKind("price_out_of_order", act.PushPrice, "oracle", 0.5, _price_out_of_order),
    ActionKind("price_by_outsider", act.PushPrice, "trader", 0.3, _price_by_outsider),
    ActionKind("funding_rate", act.SetFundingRate, "funding", 3, _funding_rate),
    ActionKind("keeper_liquidation", act.Liquidate, "keeper", 5, _keeper_liquidation),
    ActionKind("random_liquidation", act.Liquidate, "keeper", 2, _random_liquidation),
    ActionKind("liquidate_collateral", act.LiquidateCollateral, "liquidator", 1.5, _liquidate_collateral),
    ActionKind("deleverage", act.AutoDeleverage, "keeper", 1.5, _deleverage),
    ActionKind("fund_insurance", act.FundInsurance, "trader", 2, _fund_insurance),
    ActionKind("withdraw_fees", act.WithdrawFees, "governance", 0.7, _withdraw_fees),
    ActionKind("pause", act.SetPaused, "governance", 0.7, _pause),
    ActionKind("market_margin", act.SetMarketMargin, "governance", 0.5, _market_margin),
    ActionKind("role_toggle", act.SetRole, "governance", 0.3, _role_toggle),
    ActionKind("governance_proposal", act.SetRole, "governance", 0.2, _governance_proposal),
    ActionKind("accept_governance", act.AcceptGovernance, "pending governance", 0.2, _accept_governance),
    *COVERAGE_KINDS,
)

#: Weight profiles (``novation audit --profile``): factors over the kinds' weights (1 if unnamed).
#: ``coverage`` aims at the code a default campaign seldom reaches: liquidations of every kind
#: (the largest moves the guard lets in, leveraged fills, collateral sales, deleveraging) and
#: governance handovers; fewer pauses and rejected readings (a paused protocol and a feed
#: switched off by a rejected reading refuse most actions).
PROFILES: Final[dict[str, dict[str, float]]] = {
    "default": {k.name: 0.0 for k in COVERAGE_KINDS},
    "coverage": {
        "price_crash": 4,
        "fill_leveraged": 4,
        "keeper_liquidation": 4,
        "random_liquidation": 2,
        "liquidate_collateral": 4,
        "deleverage": 4,
        "deposit_collateral": 3,
        "withdraw_fees": 2,
        "pause": 0.2,
        "market_margin": 2,
        "governance_proposal": 3,
        "accept_governance": 3,
        "price_spike": 0.3,
        "price_zero_or_negative": 0.3,
        "price_stale": 0.3,
        "price_out_of_order": 0.3,
    },
}


def kind_weights(profile: str) -> tuple[list[str], np.ndarray]:
    """The kinds' names and their draw probabilities under weight profile ``profile``."""
    if profile not in PROFILES:
        raise InvalidParameter(f"--profile {profile!r} is unknown; profiles: {', '.join(PROFILES)}")
    factors = PROFILES[profile]
    weights = np.array([k.weight * factors.get(k.name, 1.0) for k in ACTION_KINDS], dtype=float)
    return [k.name for k in ACTION_KINDS], weights / weights.sum()


class KindDraw:
    """Draws a kind's index with probabilities ``probs``: the index ``rng.choice(len(probs),
    p=probs)`` gives, from the same random stream (one ``rng.random()`` looked up in the
    cumulative distribution, computed as ``Generator.choice`` computes it), without ``choice``'s
    argument checks on every call (about 10 µs of a campaign action's 200-300 µs)."""

    def __init__(self, probs: np.ndarray) -> None:
        cdf = np.asarray(probs, dtype=np.float64).cumsum()
        cdf /= cdf[-1]
        self._cdf = cdf

    def __call__(self, rng: np.random.Generator) -> int:
        """The index of the next kind."""
        return int(self._cdf.searchsorted(rng.random(), side="right"))


#: Protocol action types no kind draws, and why.
UNDRAWN: Final[dict[type[act.Action], str]] = {
    act.SettleExpired: "settles expired options: the campaign lists perpetual markets only",
}


def draw_block_start(rng: np.random.Generator) -> act.AdvanceTime:
    """The step that opens a block: one block and a few seconds, now and then a long gap (an
    oracle outage: no reading for up to two hours, past the feeds' heartbeat)."""
    if rng.random() < 0.02:
        return act.AdvanceTime(int(rng.integers(600, 7_200)), 1)
    return act.AdvanceTime(int(rng.integers(1, 13)), 1)


def opening_actions(w: World) -> list[act.Action]:
    """What every sequence starts with: both feeds priced, traders funded, an insurance fund."""
    out: list[act.Action] = [act.PushPrice(ACTORS.oracle, f, START_PRICE[f], w.now) for f in (0, 1)]
    out += [act.Deposit(t, 0, int(w.rng.integers(20_000, 200_000)) * USDC) for t in ACTORS.traders]
    out += [act.Deposit(ACTORS.keeper, 0, 1_000_000 * USDC), act.Deposit(ACTORS.liquidator, 0, 1_000_000 * USDC)]
    out += [act.FundInsurance(ACTORS.governance, 20_000 * USDC), act.Deposit(ACTORS.traders[0], WETH, 10 * WAD)]
    return out


def resign(action: act.Action, signer: OrderSigner) -> act.Action:
    """``action`` with its orders (a fill's two, a cancellation's none) signed again by
    ``signer`` (another deployment's EIP-712 domain); other actions unchanged."""
    if not isinstance(action, act.Fill):
        return action
    return act.Fill(
        action.sender,
        signer.sign(action.maker_order.order),
        signer.sign(action.taker_order.order),
        action.size_wad,
        action.price_wad,
        action.maker_fee_wad,
        action.taker_fee_wad,
    )
