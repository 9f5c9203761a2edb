"""The simulation engine: the protocol's own semantics, screened by the margin core every step.

A study starts from one **book** (:func:`build_book`): traders deposit and open positions
against a market maker through the reference model's :class:`~protocol.clearing_house.ClearingHouse`,
governance seeds the insurance fund and a keeper deposits its capital. Every path then copies
the book and steps through the grid (one block of ``run.step_s`` seconds per step):

1. the outside price is the path's reference price times the decaying impact of keepers
   unwinding what they liquidated (:class:`~protocol.simulator.agents.Impact`);
2. the push feed publishes on deviation or heartbeat unless it is down, and the protocol
   receives publications ``latency_steps`` later as ``PushPrice`` actions — its guards may
   reject them, and while no price is trusted the market is reduce-only and nothing can be
   liquidated;
3. every ``funding.interval_steps`` the funding operator sets the rate from the premium;
4. the **screen** finds every account below maintenance. By default this is the margin core's
   :class:`~protocol.margin_core.LiquidationWatch` over a :class:`~protocol.margin_core.LiveBook`
   that follows the live state: float64 screens with a proven error bound and exact
   re-evaluation of the undecided few, so the set is exactly the model's, repeated each step
   only for the accounts the market could have moved below maintenance since the last full pass;
5. keepers see a newly liquidatable account after ``latency_blocks`` plus a Poisson jitter,
   and send ``Liquidate`` actions for the largest size the protocol accepts that fits the
   block's liquidation cap, first landed first served, as many per block as their gas budget
   allows; the block cap and the keeper's own margin defer the rest to the next block. An
   account that is healthy again when its turn comes is dropped (and watched again).

Every state change is an action applied by the reference model itself, so balances, positions,
the insurance fund, bad debt and socialized losses are the protocol's exact integers; the
vectorised part decides *which* accounts to act on, and a test checks it decides exactly as a
plain loop over the model's :func:`~protocol.margin.account_health` does. ``simulate_path`` can
record the actions (``log``) so a run can be replayed on a fresh model or on a chain.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from protocol.actions import (
    Action,
    AdvanceTime,
    Deposit,
    Fill,
    FundInsurance,
    Liquidate,
    PushPrice,
    SetFundingRate,
)
from protocol.clearing_house import ClearingHouse
from protocol.constants import SETTLEMENT_ASSET_ID, WAD
from protocol.errors import InvalidParameter, ProtocolRevert
from protocol.events import BadDebtSettled, Event, Liquidated, PriceAccepted, PriceRejected
from protocol.funding import accrued_markets
from protocol.margin import notional
from protocol.margin_core import LiquidationWatch, LiveBook, MarginBook
from protocol.oracle_adapter import is_trusted
from protocol.params import Params, SocializedLossMethod
from protocol.scenarios import ACTORS, actor
from protocol.simulator.agents import Impact, PushFeed, outages, premium_path, price_path, trader_orders
from protocol.simulator.config import StudyConfig
from protocol.simulator.paths import price_to_wad
from protocol.simulator.results import PathResult
from protocol.state import ProtocolState

__all__ = ["Book", "Screen", "build_book", "simulate_path", "simulate_paths"]

#: Finds the exactly liquidatable rows of a book at trusted prices (feed_id -> price_wad), told
#: which rows actions changed since its previous call.
Screen = Callable[[MarginBook, Mapping[int, int], Sequence[int]], NDArray[np.int64]]

GOVERNANCE, MATCHER, ORACLE = ACTORS["governance"], ACTORS["matcher"], ACTORS["oracle"]
FUNDING_OPERATOR, KEEPER, MARKET_MAKER = ACTORS["funding_operator"], ACTORS["keeper"], ACTORS["market_maker"]

#: Revert reasons after which a keeper simply tries again in a later block.
_DEFERRABLE = frozenset({"liquidation: block cap reached", "margin: below initial"})
#: Halvings tried when a trader's opening does not meet initial margin at set-up.
_SETUP_RETRIES = 8


@dataclass(frozen=True, eq=False)
class Book:
    """The state every path starts from (after set-up), with its addresses."""

    params: Params
    market_id: int
    #: The set-up state; never mutated (paths work on :meth:`state` views).
    setup_state: ProtocolState
    #: Screened accounts in row order: the traders, then the market maker and the keeper.
    accounts: tuple[str, ...]
    #: The margin core's rows of ``accounts`` at set-up (each path works on a copy).
    live: LiveBook
    spot_wad: int
    #: Set-up actions applied and trader openings the protocol refused even when halved.
    setup_actions: int
    refused_openings: int

    def state(self) -> ProtocolState:
        """A path's own state: a copy-on-access view of the set-up state (accounts are copied when
        the path first reads them, so a path costs what it touches, not the book's size)."""
        return self.setup_state.fork()


def _spot(config: StudyConfig) -> int:
    if config.price.model == "historical":
        return price_to_wad(float(price_path(config, np.random.SeedSequence(0))[0]))
    return price_to_wad(config.price.spot)


def build_book(config: StudyConfig) -> Book:
    """Set up the book of ``config`` on the reference model (deterministic: ``config.book_seed()``)."""
    if not isinstance(config, StudyConfig):
        raise InvalidParameter(f"config must be a StudyConfig, got {type(config).__name__}")
    params = config.params
    if params.protocol.socialized_loss_method is not SocializedLossMethod.PRO_RATA:
        raise InvalidParameter(
            "protocol.socialized_loss_method must be 'pro_rata' in the simulator (its keepers do not rank "
            "deleveraging counterparties yet)"
        )
    market_id = config.protocol.market_id
    mp = params.market(market_id)
    # One perpetual, its feed, settlement-token collateral: what the book trades and holds.
    params = dataclasses.replace(params, markets=(mp,), feeds=(params.feed(mp.feed_id),), collaterals=())
    decimals = params.protocol.settlement_decimals
    spot = _spot(config)
    house = ClearingHouse(
        params, GOVERNANCE, matchers=[MATCHER], oracles=[ORACLE], funding_operators=[FUNDING_OPERATOR]
    )
    applied = 0

    def apply(action: Action) -> list[Event]:
        nonlocal applied
        events = house.apply(action)
        applied += 1
        return events

    events = apply(PushPrice(ORACLE, mp.feed_id, spot, 0))
    if not any(isinstance(e, PriceAccepted) for e in events):
        raise InvalidParameter(f"the feed of market {market_id} refused the starting price {spot / WAD}")
    fund_units = int(config.protocol.insurance_fund_usd * 10**decimals)
    if fund_units:
        apply(FundInsurance(GOVERNANCE, fund_units))
    keeper_units = int(config.keepers.capital_usd * 10**decimals)
    if keeper_units:
        apply(Deposit(KEEPER, SETTLEMENT_ASSET_ID, keeper_units))

    rng = np.random.default_rng(config.book_seed())
    orders = trader_orders(config, spot, mp.initial_margin_fraction_wad, rng)
    traders = tuple(actor(f"trader-{i}") for i in range(len(orders)))
    net = sum(o.size_wad for o in orders)
    largest = max(abs(o.size_wad) for o in orders)
    mm_usd = config.traders.market_maker_capital * abs(net) * spot / WAD**2
    mm_usd += 2 * largest * spot / WAD**2  # room for the largest opening while the book fills
    apply(Deposit(MARKET_MAKER, SETTLEMENT_ASSET_ID, max(int(mm_usd * 10**decimals), 1)))

    # Open in an order that keeps the market maker's position small: the side that reduces it.
    longs = [i for i, o in enumerate(orders) if o.size_wad > 0]
    shorts = [i for i, o in enumerate(orders) if o.size_wad < 0]
    refused, mm_position, li, si = 0, 0, 0, 0
    while li < len(longs) or si < len(shorts):
        take_long = si >= len(shorts) or (li < len(longs) and mm_position >= 0)
        i = longs[li] if take_long else shorts[si]
        li, si = (li + 1, si) if take_long else (li, si + 1)
        apply(Deposit(traders[i], SETTLEMENT_ASSET_ID, orders[i].deposit_units))
        size, opened = orders[i].size_wad, False
        for _ in range(_SETUP_RETRIES):
            try:
                apply(Fill(MATCHER, MARKET_MAKER, traders[i], market_id, size, spot, 0, 0))
            except ProtocolRevert:
                size = size // 2 if size > 0 else -((-size) // 2)
                if size == 0:
                    break
                continue
            opened = True
            break
        if opened:
            mm_position -= size
        else:
            refused += 1
    accounts = (*traders, MARKET_MAKER, KEEPER)
    live = LiveBook(house.state, params, accounts)
    return Book(params, market_id, house.state, accounts, live, spot, applied, refused)


@dataclass
class _Tally:
    """Running totals of one path (USD WAD unless stated)."""

    bad_debt: int = 0
    socialized: int = 0
    socialized_events: int = 0
    liquidations: int = 0
    liquidated_notional: int = 0
    keeper_rewards: int = 0
    deferred: int = 0
    reduce_only_s: int = 0
    oracle_updates: int = 0
    oracle_rejections: int = 0
    fund_depleted: bool = False


class _PathRun:
    """One path: a model house continuing from the book, the agents and the screen."""

    def __init__(self, config: StudyConfig, book: Book, screen: Screen | None, log: list[Action] | None) -> None:
        self.config, self.book, self.log = config, book, log
        self.house = ClearingHouse.from_state(book.params, book.state())
        self.mp = book.params.market(book.market_id)
        self.feed_params = book.params.feed(self.mp.feed_id)
        self.live = book.live.copy()
        self.screen = LiquidationWatch(len(book.accounts)) if screen is None else screen
        self.tally = _Tally()
        self.liquidated: set[str] = set()
        #: Accounts a keeper is after: ``(landing step, row)`` not yet landed, and rows due now in
        #: landing order; ``chased`` marks both.
        self.waiting: list[tuple[int, int]] = []
        self.due: deque[int] = deque()
        self.chased = np.zeros(len(book.accounts), dtype=np.bool_)
        self.keeper_row = self.live.row(KEEPER)

    def apply(self, action: Action) -> list[Event]:
        events = self.house.apply(action)
        if self.log is not None:
            self.log.append(action)
        return events

    def trusted(self) -> bool:
        st = self.house.state
        return is_trusted(st.feeds[self.mp.feed_id], self.feed_params, st.now_s)

    def flag(self, step: int, keeper_rng: np.random.Generator) -> None:
        """Screen every account; newly liquidatable ones get the keeper's landing step."""
        st = self.house.state
        markets = accrued_markets(st, self.book.params)
        prices = {self.mp.feed_id: st.feeds[self.mp.feed_id].price_wad}
        rows = self.screen(self.live.book(st, markets, st.now_s), prices, self.live.take_changed())
        kc = self.config.keepers
        new = rows[~self.chased[rows]]
        new = new[new != self.keeper_row]
        if new.size:
            delay = np.full(new.size, kc.latency_blocks, dtype=np.int64)
            if kc.jitter_blocks:
                delay += keeper_rng.poisson(kc.jitter_blocks, size=new.size)
            self.chased[new] = True
            for r, d in zip(new.tolist(), delay.tolist(), strict=True):
                heapq.heappush(self.waiting, (step + d, r))

    def _count(self, events: Sequence[Event], price_wad: int) -> None:
        t = self.tally
        for e in events:
            if isinstance(e, Liquidated):
                n = notional(e.size_wad, price_wad)
                t.liquidations += 1
                t.liquidated_notional += n
                t.keeper_rewards += e.keeper_reward_wad
                self.liquidated.add(e.account)
            elif isinstance(e, BadDebtSettled):
                t.bad_debt += e.debt_wad
                if e.socialized_wad:
                    t.socialized += e.socialized_wad
                    t.socialized_events += 1
                    t.fund_depleted = True
                elif e.covered_by_fund_wad and self.house.state.insurance_fund == 0:
                    t.fund_depleted = True

    def block_room(self, price_wad: int) -> int:
        """Largest size whose notional still fits this block's liquidation cap."""
        st = self.house.state
        used = st.block_liquidated_wad if st.block_liquidated_at == st.block else 0
        room = self.book.params.protocol.max_liquidation_notional_per_block_wad - used
        q = max(room, 0) * WAD // price_wad
        while q and notional(q, price_wad) > room:
            q -= 1
        return q

    def liquidate_due(self, step: int, impact: Impact) -> None:
        """Keepers send the liquidations due now, within their gas budget and the block cap;
        what does not fit waits for the next block (counted as deferred)."""
        while self.waiting and self.waiting[0][0] <= step:
            self.due.append(heapq.heappop(self.waiting)[1])
        market_id = self.book.market_id
        for _ in range(self.config.keepers.liquidations_per_block):
            if not self.due:
                break
            r = self.due.popleft()
            address = self.book.accounts[r]
            q = self.house.max_liquidation_size(address, market_id)
            if q == 0:
                self.chased[r] = False
                continue
            price = self.house.state.feeds[self.mp.feed_id].price_wad
            q = min(q, self.block_room(price))
            if q == 0:
                self.due.appendleft(r)  # the block cap is spent: first in line next block
                break
            side = 1 if self.house.state.accounts[address].positions[market_id].size > 0 else -1
            try:
                events = self.apply(Liquidate(KEEPER, address, market_id, q))
            except ProtocolRevert as exc:
                if exc.reason not in _DEFERRABLE:
                    raise
                self.due.appendleft(r)  # first in line next block
                break
            self.chased[r] = False
            self._count(events, price)
            closed = sum(e.size_wad for e in events if isinstance(e, Liquidated))
            impact.trade(-side * closed * price / WAD**2)
            self.live.refresh(self.house.state, (address, KEEPER))
        self.tally.deferred += len(self.due)


def _series(steps: int) -> dict[str, NDArray[np.float64]]:
    return {
        name: np.zeros(steps + 1)
        for name in ("market_price", "oracle_price", "insurance_fund", "bad_debt", "liquidated_notional", "trusted")
    }


def simulate_path(
    config: StudyConfig,
    path_index: int,
    *,
    book: Book | None = None,
    screen: Screen | None = None,
    log: list[Action] | None = None,
) -> PathResult:
    """Run path ``path_index`` of ``config`` (seeded by ``config.path_seed(path_index)``).

    ``book`` is :func:`build_book` of ``config`` (built here when None; pass it to share one
    book between paths). ``screen`` replaces the margin core (tests pass the model's plain loop,
    benchmarks a numpy one). Every action applied is appended to ``log`` when given.
    """
    if not isinstance(config, StudyConfig):
        raise InvalidParameter(f"config must be a StudyConfig, got {type(config).__name__}")
    seed = config.path_seed(path_index)
    if book is None:
        book = build_book(config)
    elif not isinstance(book, Book):
        raise InvalidParameter(f"book must be a Book from build_book, got {type(book).__name__}")
    price_seed, outage_seed, keeper_seed, premium_seed = seed.spawn(4)
    run = config.run
    reference = price_path(config, price_seed)
    down = outages(config, np.random.default_rng(outage_seed))
    premium = premium_path(config, np.random.default_rng(premium_seed))
    keeper_rng = np.random.default_rng(keeper_seed)

    p = _PathRun(config, book, screen, log)
    feed, impact = PushFeed.from_config(config), Impact.from_config(config)
    feed.observe(0, p.house.state.now_s, book.spot_wad, down=False)  # the set-up price
    feed.arrivals(0)
    series = _series(run.steps)
    start_fund = fund_min = fund_peak = p.house.state.insurance_fund
    start_uncovered = p.house.state.uncovered_loss
    drawdown = 0
    scale = book.spot_wad / WAD / reference[0]  # a historical path starts at its first close
    for k in range(run.steps + 1):
        if k:
            p.apply(AdvanceTime(run.step_s, 1))
        st = p.house.state
        market = price_to_wad(float(reference[k] * scale * impact.step())) if k else book.spot_wad
        feed.observe(k, st.now_s, market, down=bool(down[k]))
        for price, t_s in feed.arrivals(k):
            for e in p.apply(PushPrice(ORACLE, p.mp.feed_id, price, t_s)):
                p.tally.oracle_updates += isinstance(e, PriceAccepted)
                p.tally.oracle_rejections += isinstance(e, PriceRejected)
        if k and k % config.funding.interval_steps == 0:
            rate = int(premium[k] * WAD) // config.funding.premium_period_s
            p.apply(SetFundingRate(FUNDING_OPERATOR, book.market_id, rate))
        trusted = p.trusted()
        if trusted:
            p.flag(k, keeper_rng)
            p.liquidate_due(k, impact)
        elif k:
            p.tally.reduce_only_s += run.step_s
        st = p.house.state
        fund = st.insurance_fund
        fund_min, fund_peak = min(fund_min, fund), max(fund_peak, fund)
        drawdown = max(drawdown, fund_peak - fund)
        series["market_price"][k] = market / WAD
        series["oracle_price"][k] = st.feeds[p.mp.feed_id].price_wad / WAD
        series["insurance_fund"][k] = fund / WAD
        series["bad_debt"][k] = p.tally.bad_debt / WAD
        series["liquidated_notional"][k] = p.tally.liquidated_notional / WAD
        series["trusted"][k] = float(trusted)

    t, st = p.tally, p.house.state
    metrics = {
        "bad_debt_wad": t.bad_debt,
        "insurance_fund_start_wad": start_fund,
        "insurance_fund_min_wad": fund_min,
        "insurance_fund_end_wad": st.insurance_fund,
        "insurance_fund_drawdown_wad": drawdown,
        "insurance_fund_depleted": int(t.fund_depleted),
        "socialized_loss_wad": t.socialized,
        "socialized_loss_events": t.socialized_events,
        "uncovered_loss_wad": st.uncovered_loss - start_uncovered,
        "liquidations": t.liquidations,
        "accounts_liquidated": len(p.liquidated),
        "liquidated_notional_wad": t.liquidated_notional,
        "keeper_rewards_wad": t.keeper_rewards,
        "deferred_liquidations": t.deferred,
        "reduce_only_s": t.reduce_only_s,
        "oracle_updates": t.oracle_updates,
        "oracle_rejections": t.oracle_rejections,
    }
    return PathResult(path_index, int(seed.entropy), tuple(seed.spawn_key), metrics, series)  # type: ignore[arg-type]


def simulate_paths(config: StudyConfig, path_indices: Sequence[int]) -> list[PathResult]:
    """Several paths of ``config`` sharing one book (what a worker runs for a chunk)."""
    book = build_book(config)
    return [simulate_path(config, i, book=book) for i in path_indices]
