"""The simulation engine: the protocol's own semantics, screened by the margin core every step.

A study starts from one **book** (:func:`build_book`): cross-margined traders deposit the
settlement token (and, if the study says so, a collateral asset) and open positions in the
traded markets against a market maker through the reference model's
:class:`~protocol.clearing_house.ClearingHouse`; governance seeds the insurance fund, the
keeper and the collateral liquidator deposit their capital. Every path then copies the book and
steps through the grid (one block of ``run.step_s`` seconds per step):

1. each feed's outside price is its reference path (the lead's model, the others following it)
   times the decaying impact of liquidations unwound outside
   (:class:`~simulator.agents.Impact`, one per feed);
2. each feed's push model publishes on deviation or heartbeat unless it is down, and the
   protocol receives publications ``latency_steps`` later as ``PushPrice`` actions — its guards
   may reject them, and a market whose price is not trusted is reduce-only and cannot be
   liquidated;
3. every ``funding.interval_steps`` the funding operator sets each market's rate from its premium;
4. the **screen** finds every account below maintenance (cross-margin: equity over all its
   positions and collateral against the sum of requirements). By default this is the margin
   core's :class:`~protocol.margin_core.LiquidationWatch` over a
   :class:`~protocol.margin_core.LiveBook` that follows the live state: float64 screens with a
   proven error bound and exact re-evaluation of the undecided few, so the set is exactly the
   model's, repeated each step only for the accounts the market could have moved below
   maintenance since the last full pass;
5. keepers see a newly liquidatable account after ``latency_blocks`` plus a Poisson jitter and,
   within the block's gas budget, first landed first served, close its largest position by the
   largest size the protocol accepts (solvent accounts within the block's liquidation cap,
   bankrupt ones whole). With the ADL method, a bankrupt account whose shortfall exceeds the
   insurance fund is deleveraged instead, against the counterparties the margin core's
   :func:`~protocol.margin_core.adl_pool` proposes and the model ranks exactly, through the ADL
   proposal queue (:func:`protocol.keeper.adl_action`: propose, challenge a list its ranking
   dominates, execute after ``adl_window_s``, or close bankrupt after an unchallenged empty
   proposal; hence ``run.step_s <= 2 * adl_window_s``). A collateral
   liquidator buys the collateral of accounts left with a negative settlement balance. What does
   not fit the budget or the cap waits for the next block (counted as deferred); an account that
   is healthy again when its turn comes is dropped (and watched again).

Every state change is an action applied by the reference model itself, so balances, positions,
the insurance fund, bad debt and socialized losses are the protocol's exact integers; the
vectorised part decides *which* accounts to act on, and a test checks it decides exactly as a
plain loop over the model's :func:`~protocol.margin.account_health` does. ``simulate_path`` can
record the actions (``log``) so a run can be replayed on a fresh model or on a chain.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

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
    SignedOrder,
)
from protocol.clearing_house import ClearingHouse
from protocol.constants import MAX_ADL_COUNTERPARTIES, SETTLEMENT_ASSET_ID, WAD
from protocol.errors import InvalidParameter, ProtocolRevert
from protocol.events import (
    BadDebtSettled,
    CollateralLiquidated,
    Deleveraged,
    Event,
    GainsCharged,
    Liquidated,
    LossSocialized,
    PriceAccepted,
    PriceRejected,
    ShortfallSettled,
)
from protocol.funding import accrued_markets
from protocol.keeper import adl_action, adl_counterparties, collateral_for_sale, collateral_to_sell
from protocol.keeper_block import KeeperBlock
from protocol.margin import collateral_value, notional, unrealized_pnl
from protocol.margin_core import (
    LiquidationWatch,
    LiveBook,
    MarginBook,
    adl_pool,
    evaluate,
    evaluate_rows,
    liquidation_sizes,
)
from protocol.oracle_adapter import is_trusted
from protocol.orders import MODEL_DOMAIN, OrderDomain, OrderSigner
from protocol.params import CollateralParams, MarketParams, Params, SocializedLossMethod
from protocol.scenarios import ACTORS, actor_key
from protocol.state import ProtocolState
from protocol.units import to_wad
from simulator.agents import (
    Impact,
    PushFeed,
    outages,
    premium_path,
    price_paths,
    starting_prices,
    trader_orders,
)
from simulator.config import StudyConfig
from simulator.loss_bearers import LossLedger, OpenPositions, bearer_groups
from simulator.paths import price_to_wad
from simulator.results import (
    BAD_DEBT_CAUSES,
    SERIES,
    PathResult,
    asset_bad_debt,
    bearer_metric,
    collateral_series,
    feed_series,
    market_bad_debt,
    market_series,
)

__all__ = ["Book", "Screen", "build_book", "simulate_path", "simulate_paths"]

#: Finds the exactly liquidatable rows of a book at trusted prices (feed_id -> price_wad), told
#: which rows actions changed since its previous call and which rows (a boolean mask by row: the
#: accounts keepers are already after) it may leave out; every row it returns is liquidatable.
Screen = Callable[[MarginBook, Mapping[int, int], Sequence[int], NDArray[np.bool_]], NDArray[np.int64]]

GOVERNANCE, MATCHER, ORACLE = ACTORS["governance"], ACTORS["matcher"], ACTORS["oracle"]
FUNDING_OPERATOR, KEEPER, MARKET_MAKER = ACTORS["funding_operator"], ACTORS["keeper"], ACTORS["market_maker"]
LIQUIDATOR = ACTORS["liquidator"]

#: Revert reasons after which a keeper simply tries again in a later block.
_DEFERRABLE = frozenset(
    {
        "liquidation: block cap reached",
        "margin: below initial",  # the keeper's own margin
        "liquidation: price not trusted",  # a feed the keeper's own positions need
        "liquidation: liquidator balance too low",
    }
)
#: Halvings tried when a trader's opening does not meet initial margin at set-up.
_SETUP_RETRIES = 8
#: Rows the margin core proposes per deleveraging, ranked exactly by the model.
_ADL_POOL = 16 * MAX_ADL_COUNTERPARTIES


@dataclass(frozen=True, eq=False)
class Book:
    """The state every path starts from (after set-up), with its addresses."""

    #: The book's parameters (:meth:`StudyConfig.book_params`): traded markets (lead first),
    #: the feeds they and the collateral asset read (lead first), that asset.
    params: Params
    #: The set-up state; never mutated (paths work on :meth:`state` views).
    setup_state: ProtocolState
    #: Screened accounts in row order: the traders, then the market maker and the keeper.
    accounts: tuple[str, ...]
    #: The margin core's rows of ``accounts`` at set-up (each path works on a copy).
    live: LiveBook
    #: Set-up actions applied and trader openings (one per position) the protocol refused even
    #: when halved.
    setup_actions: int
    refused_openings: int
    #: Groups of each account for who bears a socialized loss (:func:`~simulator.loss_bearers.bearer_groups`).
    groups: Mapping[str, tuple[str, ...]]
    #: The open positions of ``accounts`` at set-up, for the charges pending at a path's end
    #: (:meth:`~simulator.loss_bearers.LossLedger.close`); derived from the state.
    held: OpenPositions = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "held", OpenPositions.of(self.setup_state.accounts, self.accounts))

    @property
    def lead(self) -> MarketParams:
        """The lead market (``protocol.markets[0]``), whose prices the path series record."""
        return self.params.markets[0]

    @cached_property
    def rows(self) -> dict[str, int]:
        """Row of every address of ``accounts``."""
        return {a: i for i, a in enumerate(self.accounts)}

    def spot_wad(self, feed_id: int) -> int:
        """The feed's starting price (USD WAD): what the set-up pushed."""
        return self.setup_state.feeds[feed_id].price_wad

    def state(self) -> ProtocolState:
        """A path's own state: a copy-on-access view of the set-up state (accounts are copied when
        the path first reads them, so a path costs what it touches, not the book's size)."""
        return self.setup_state.fork()


def _check_log(log: object) -> None:
    if log is not None and not isinstance(log, list):
        raise InvalidParameter(f"log must be a list the actions are appended to, or None; got {type(log).__name__}")


def build_book(
    config: StudyConfig, *, log: list[Action] | None = None, order_domain: OrderDomain = MODEL_DOMAIN
) -> Book:
    """Set up the book of ``config`` on the reference model (deterministic: ``config.book_seed()``).

    Every set-up action applied is appended to ``log`` when given (all in model block 0 at time
    0, as the paths assume), so the book can be rebuilt on a fresh model or on a chain. The
    openings are fills of orders signed with the actors' keys
    (:func:`protocol.scenarios.actor_key`) for ``order_domain``: a deployment's domain to send the
    log to it. Each trader signs one order per position (a refused opening is retried with half
    the size of the same order) and the market maker one standing order per market and side.
    """
    if not isinstance(config, StudyConfig):
        raise InvalidParameter(f"config must be a StudyConfig, got {type(config).__name__}")
    _check_log(log)
    if not isinstance(order_domain, OrderDomain):
        raise InvalidParameter(f"order_domain must be an OrderDomain, got {type(order_domain).__name__}")
    params = config.book_params()
    decimals = params.protocol.settlement_decimals
    spots = {f: price_to_wad(p) for f, p in starting_prices(config, params).items()}
    house = ClearingHouse(
        params,
        GOVERNANCE,
        matchers=[MATCHER],
        oracles=[ORACLE],
        funding_operators=[FUNDING_OPERATOR],
        order_domain=order_domain,
    )
    applied = 0
    setup = house.book_setup(signatures_verified=True)  # every order below is signed here

    def apply(action: Action) -> list[Event]:
        nonlocal applied
        events = setup.apply(action)
        applied += 1
        if log is not None:
            log.append(action)
        return events

    for fp in params.feeds:
        events = apply(PushPrice(ORACLE, fp.feed_id, spots[fp.feed_id], 0))
        if not any(isinstance(e, PriceAccepted) for e in events):
            raise InvalidParameter(f"feed {fp.symbol} refused the starting price {spots[fp.feed_id] / WAD}")

    def usd_units(usd: float | Decimal) -> int:
        """Settlement-token units of a USD amount, rounded down (a float by its shortest form)."""
        return int(Decimal(str(usd)) * 10**decimals)

    if fund := usd_units(config.protocol.insurance_fund_usd):
        apply(FundInsurance(GOVERNANCE, fund))
    if keeper := usd_units(config.keepers.capital_usd):
        apply(Deposit(KEEPER, SETTLEMENT_ASSET_ID, keeper))
    if params.collaterals and (liquidator := usd_units(config.keepers.liquidator_capital_usd)):
        apply(Deposit(LIQUIDATOR, SETTLEMENT_ASSET_ID, liquidator))

    rng = np.random.default_rng(config.book_seed())
    orders = trader_orders(config, params, spots, rng)
    signer = OrderSigner(order_domain, [actor_key("market_maker")])
    traders = tuple(signer.add_key(actor_key(f"trader-{i}")) for i in range(len(orders)))
    feed_of = {mp.market_id: mp.feed_id for mp in params.markets}
    net = {mp.market_id: 0 for mp in params.markets}
    # the market maker takes the other side of every opening: one standing order per market and side
    bought = {mp.market_id: 0 for mp in params.markets}
    for o in orders:
        for m, size in o.sizes:
            net[m] += size
            bought[m] += max(-size, 0)
    maker_orders: dict[tuple[int, bool], SignedOrder] = {}
    for m, total in net.items():
        spot = spots[feed_of[m]]
        if bought[m]:
            maker_orders[m, True] = signer.order(MARKET_MAKER, m, bought[m], spot)
        if total + bought[m]:
            maker_orders[m, False] = signer.order(MARKET_MAKER, m, -(total + bought[m]), spot)
    largest = max(sum(abs(size) * spots[feed_of[m]] for m, size in o.sizes) for o in orders) / WAD**2
    # Enough to carry the net exposure and the largest opening at the initial fractions, which a
    # designer may set above 100 % of notional (below it these are the configured multiples).
    imf = max(mp.initial_margin_fraction_wad for mp in params.markets) / WAD
    capital = max(config.traders.market_maker_capital, imf)
    mm_usd = capital * sum(abs(net[m]) * spots[feed_of[m]] for m in net) / WAD**2
    mm_usd += max(2.0, 1.0 + imf) * largest  # room for the largest opening while the book fills
    apply(Deposit(MARKET_MAKER, SETTLEMENT_ASSET_ID, max(usd_units(mm_usd), 1)))

    # Open in an order that keeps the market maker's net exposure small: the side that reduces it.
    signed = [sum(size * spots[feed_of[m]] for m, size in o.sizes) for o in orders]  # sign of the net notional
    longs = [i for i, v in enumerate(signed) if v > 0]
    shorts = [i for i, v in enumerate(signed) if v <= 0]
    refused, mm_exposure, li, si = 0, 0.0, 0, 0
    asset = params.collaterals[0] if params.collaterals else None
    while li < len(longs) or si < len(shorts):
        take_long = si >= len(shorts) or (li < len(longs) and mm_exposure >= 0)
        i = longs[li] if take_long else shorts[si]
        li, si = (li + 1, si) if take_long else (li, si + 1)
        apply(Deposit(traders[i], SETTLEMENT_ASSET_ID, orders[i].deposit_units))
        if asset is not None and orders[i].collateral_units:
            try:
                apply(Deposit(traders[i], asset.asset_id, orders[i].collateral_units))
            except ProtocolRevert as exc:
                raise InvalidParameter(
                    f"the traders' {asset.symbol} deposits do not fit the protocol ({exc.reason}): lower "
                    "traders.collateral_asset_share or run.accounts, or raise the asset's deposit cap"
                ) from None
        for market_id, size in orders[i].sizes:
            opened = 0
            price = spots[feed_of[market_id]]
            trader_order = signer.order(traders[i], market_id, size, price)
            maker_order = maker_orders[market_id, size < 0]
            for _ in range(_SETUP_RETRIES):
                try:
                    apply(Fill(MATCHER, maker_order, trader_order, size, price, 0, 0))
                except ProtocolRevert:
                    size = size // 2 if size > 0 else -((-size) // 2)
                    if size == 0:
                        break
                    continue
                opened = size
                break
            if opened:
                mm_exposure -= opened * spots[feed_of[market_id]] / WAD**2
            else:
                refused += 1
    accounts = (*traders, MARKET_MAKER, KEEPER)
    live = LiveBook(house.state, params, accounts)
    groups = bearer_groups(house.state, params, traders, MARKET_MAKER, KEEPER)
    return Book(params, house.state, accounts, live, applied, refused, groups)


class _Wait(Enum):
    """Why a keeper action waits for a later block (the value names the cause in the metrics)."""

    #: The block's gas budget is spent: nothing more is sent this block.
    GAS = "gas"
    #: The block's liquidation cap is spent: nothing more is sent this block.
    CAP = "block_cap"
    #: The keeper's or liquidator's own margin, balance or prices stop it this block.
    KEEPER = "keeper"
    #: This account cannot be served now: a price it needs is not trusted; the keeper goes on
    #: with the next one.
    UNTRUSTED = "untrusted"
    #: This account cannot be served now: its deleveraging waits for the ADL queue (a proposed
    #: counterparty list stands until its deadline).
    COUNTERPARTY = "counterparty"

    @property
    def stops_block(self) -> bool:
        """Nothing more is sent this block (else only this account waits)."""
        return self in (_Wait.GAS, _Wait.CAP, _Wait.KEEPER)


#: Why a protocol revert defers a keeper action.
_REVERT_CAUSE = {"liquidation: block cap reached": _Wait.CAP, "liquidation: price not trusted": _Wait.UNTRUSTED}


class _Waits:
    """The accounts a keeper is after: each one's gap when first flagged (how far its equity was
    below zero, ``max(0, -E)``; None when a price it needs was not trusted) and the blocks it has
    waited since, by cause (:data:`BAD_DEBT_CAUSES`).

    Rows, not per-account objects: a crash keeps thousands of accounts waiting, and charging
    every one of them a block at a time in Python was most of the path's time. A block the whole
    due queue waits is one increment of the queue's counters (:meth:`charge_queue`), which a row
    takes the difference of between entering it (:meth:`landed`, :meth:`requeued`) and leaving it
    (:meth:`dequeued`); the latency is not charged step by step at all but counted from the flag
    step when the keeper lands, or up to now when an account is attributed before it landed
    (:meth:`blocks`).
    """

    CAUSES = BAD_DEBT_CAUSES

    def __init__(self, n_rows: int) -> None:
        self._index = {c: i for i, c in enumerate(self.CAUSES)}
        self._latency = self._index["latency"]
        self._blocks = np.zeros((len(self.CAUSES), n_rows), dtype=np.int64)
        #: Step a row was flagged while it has not landed yet, else -1.
        self._since = np.full(n_rows, -1, dtype=np.int64)
        #: Blocks the whole due queue waited so far, by cause; each queued row's counters when it
        #: entered the queue.
        self._queue = np.zeros(len(self.CAUSES), dtype=np.int64)
        self._entered = np.zeros((len(self.CAUSES), n_rows), dtype=np.int64)
        self._queued = np.zeros(n_rows, dtype=np.bool_)
        #: Gap at the flag of every row ever flagged (the latest flag), and how much of it the
        #: attribution has used since that flag (an account settled several times uses it once).
        self.gap_at_flag: dict[int, int | None] = {}
        self._gap_used: dict[int, int] = {}

    def flagged(self, rows: NDArray[np.int64], step: int, gaps: Sequence[int | None]) -> None:
        """``rows`` are flagged at ``step`` with these gaps: their counts start afresh."""
        self._blocks[:, rows] = 0
        self._queued[rows] = False
        self._since[rows] = step
        flagged = rows.tolist()
        self.gap_at_flag.update(zip(flagged, gaps, strict=True))
        for r in flagged:
            self._gap_used.pop(r, None)

    def use_gap(self, row: int, debt_wad: int) -> int:
        """The part of ``debt_wad`` (USD WAD) the gap at ``row``'s latest flag explains and an
        earlier settlement since that flag has not used yet (0 when its gap was unknown)."""
        gap_at_flag = self.gap_at_flag[row]
        used = self._gap_used.get(row, 0)
        gap = min(debt_wad, max(0, gap_at_flag - used)) if gap_at_flag is not None else 0
        self._gap_used[row] = used + gap
        return gap

    def landed(self, rows: NDArray[np.int64], step: int) -> None:
        """The keeper lands on ``rows`` (distinct) at ``step``: every step since their flag was
        latency; they enter the due queue."""
        self._blocks[self._latency, rows] += step - self._since[rows]
        self._since[rows] = -1
        self.requeued(rows)

    def requeued(self, rows: NDArray[np.int64]) -> None:
        """``rows`` (distinct) enter the due queue (again)."""
        self._entered[:, rows] = self._queue[:, None]
        self._queued[rows] = True

    def dequeued(self, row: int) -> None:
        """``row`` leaves the due queue: it keeps the blocks the queue waited meanwhile."""
        self._blocks[:, row] += self._queue - self._entered[:, row]
        self._queued[row] = False

    def charge_queue(self, cause: str) -> None:
        """Every row in the due queue waits one block for ``cause``."""
        self._queue[self._index[cause]] += 1

    def charge(self, rows: Sequence[int], cause: str) -> None:
        """Every row of ``rows`` (distinct, flagged) waits one block for ``cause``."""
        if rows:
            self._blocks[self._index[cause], np.fromiter(rows, dtype=np.int64, count=len(rows))] += 1

    def blocks(self, row: int, step: int) -> dict[str, int]:
        """The blocks ``row`` has waited by cause (those it waited at all), as of ``step``."""
        column = self._blocks[:, row]
        counts = (column + self._queue - self._entered[:, row] if self._queued[row] else column).tolist()
        if self._since[row] >= 0:
            counts[self._latency] += step - int(self._since[row])
        return {c: n for c, n in zip(self.CAUSES, counts, strict=True) if n}


@dataclass
class _Tally:
    """Running totals of one path (USD WAD unless stated)."""

    bad_debt: int = 0
    socialized: int = 0
    socialized_events: int = 0
    liquidations: int = 0
    collateral_liquidations: int = 0
    deleveragings: int = 0
    liquidated_notional: int = 0
    keeper_rewards: int = 0
    deferred: int = 0
    #: Deferred keeper actions by cause (:class:`_Wait` values), summing to ``deferred``.
    deferred_by: dict[str, int] = field(default_factory=lambda: {w.value: 0 for w in _Wait})
    #: Account-blocks spent waiting for a keeper to land (latency and jitter).
    keeper_waits: int = 0
    keeper_gas: int = 0
    backlog_peak: int = 0
    backlog_run_s: int = 0
    backlog_clear_s: int = 0
    liquidations_block_peak: int = 0
    impact_max_bps: int = 0
    #: Liquidated notional (USD WAD) by market id, collateral proceeds (USD WAD) by asset id.
    notional_by_market: dict[int, int] = field(default_factory=dict)
    proceeds_by_asset: dict[int, int] = field(default_factory=dict)
    #: Bad debt (USD WAD) by cause (:data:`BAD_DEBT_CAUSES`), summing to ``bad_debt``.
    bad_debt_by: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BAD_DEBT_CAUSES, 0))
    #: Bad debt (USD WAD) by market: what its bankrupt closes settled plus its share of what was
    #: settled with no position left (:meth:`_PathRun._residual_by_market`); with what no losing
    #: close explains (``bad_debt_no_market``) they sum to ``bad_debt``.
    bad_debt_by_market: dict[int, int] = field(default_factory=dict)
    bad_debt_no_market: int = 0
    #: The collateral cause (USD WAD) by asset id, summing to ``bad_debt_by["collateral"]``.
    bad_debt_by_asset: dict[int, int] = field(default_factory=dict)
    reduce_only_s: int = 0
    oracle_updates: int = 0
    oracle_rejections: int = 0
    fund_depleted: bool = False


class _PathRun:
    """One path: a model house continuing from the book, the agents and the screen."""

    def __init__(self, config: StudyConfig, book: Book, screen: Screen | None, log: list[Action] | None) -> None:
        self.config, self.book, self.log = config, book, log
        self.params = book.params
        self.house = ClearingHouse.from_state(book.params, book.state())
        self.feed_of = {mp.market_id: mp.feed_id for mp in self.params.markets}
        self.live = book.live.copy()
        self.screen = LiquidationWatch(len(book.accounts)) if screen is None else screen
        self.tally = _Tally()
        self.ledger = LossLedger()
        self.liquidated: set[str] = set()
        self.adl = self.params.protocol.socialized_loss_method.deleverages
        #: Accounts a keeper is after: rows not yet landed by landing step (arrays of distinct
        #: rows, one per flagging) and their count, and rows due now in landing order (step,
        #: then row); ``chased`` marks both.
        self.waiting: dict[int, list[NDArray[np.int64]]] = {}
        self.n_waiting = 0
        self.due: deque[int] = deque()
        self.chased = np.zeros(len(book.accounts), dtype=np.bool_)
        #: Accounts with a negative settlement balance whose collateral the liquidator buys.
        self.sales: deque[str] = deque()
        self.keeper_row = self.live.row(KEEPER)
        #: Accounts flagged and the blocks they waited, for the attribution of their bad debt.
        self.waits = _Waits(len(book.accounts))
        self.rows = book.rows
        #: The step being run (the attribution counts latency up to it).
        self.step = 0
        #: Per account and collateral asset, the value (haircut, USD WAD) the units the liquidator
        #: bought had lost to the asset's price since the path began (negative: gained); and the
        #: bad debt already attributed to the account's collateral fall.
        self.sold_fall: dict[str, dict[int, int]] = {}
        self.collateral_used: dict[str, int] = {}
        #: Per account and market, the losses (USD WAD) its liquidations and deleveragings realized.
        self.close_losses: dict[str, dict[int, int]] = {}
        self.impacts: dict[int, Impact] = {fp.feed_id: Impact.from_config(config) for fp in self.params.feeds}
        #: The keepers' block while they act (:meth:`keep`): questions and actions without forks.
        self.block: KeeperBlock | None = None
        #: Accounts the block changed whose margin-core rows are re-read when it ends (at once
        #: with ADL: the counterparty pool reads the rows).
        self.stale: set[str] = set()
        #: While the block's prices are the ones liquidation values at (every feed trusted, no
        #: option market), the margin core's liquidation size of due rows, evaluated a batch at a
        #: time: row -> (market, size or None when the account is solvent and the model sizes it);
        #: the block's margin-core view and prices, taken at its first batch (the rows it reads are
        #: only refreshed when the block ends, or at once with ADL, which drops their sizes).
        self.core_sizes: dict[int, tuple[int, int | None]] | None = None
        self.core_view: tuple[MarginBook, dict[int, int]] | None = None

    def apply(self, action: Action) -> list[Event]:
        events = self.house.apply(action) if self.block is None else self.block.apply(action)
        if self.log is not None:
            self.log.append(action)
        self.ledger.record(events, self._mark)
        return events

    def _mark(self, market_id: int) -> int:
        """The market's last accepted price (USD WAD)."""
        return self.house.state.feeds[self.feed_of[market_id]].price_wad

    def trusted(self) -> set[int]:
        """Feeds whose price the protocol trusts now."""
        st = self.house.state
        return {fp.feed_id for fp in self.params.feeds if is_trusted(st.feeds[fp.feed_id], fp, st.now_s)}

    def prices(self) -> dict[int, int]:
        """Last accepted price of every feed (USD WAD)."""
        st = self.house.state
        return {fp.feed_id: st.feeds[fp.feed_id].price_wad for fp in self.params.feeds}

    def view(self) -> MarginBook:
        """The margin core's book at the live state, funding accrued to now."""
        st = self.house.state
        return self.live.book(st, accrued_markets(st, self.params), st.now_s)

    def flag(self, step: int, keeper_rng: np.random.Generator) -> None:
        """Screen every account; newly liquidatable ones get the keeper's landing step."""
        view, prices = self.view(), self.prices()
        rows = self.screen(view, prices, self.live.take_changed(), self.chased)
        kc = self.config.keepers
        new = rows[~self.chased[rows]]
        new = new[new != self.keeper_row]
        if new.size:
            delay = np.full(new.size, kc.latency_blocks, dtype=np.int64)
            if kc.jitter_blocks:
                delay += keeper_rng.poisson(kc.jitter_blocks, size=new.size)
            self.chased[new] = True
            landing = step + delay
            for s in np.unique(landing).tolist():
                self.waiting.setdefault(s, []).append(new[landing == s])
            self.n_waiting += new.size
            self.waits.flagged(new, step, self._gaps(view, prices, new))

    def _gaps(self, view: MarginBook, prices: Mapping[int, int], rows: NDArray[np.int64]) -> list[int | None]:
        """How far each row's equity is below zero now (``max(0, -E)``, USD WAD, ``E`` as
        liquidation values it), None when a price it needs is not trusted.

        While every feed is trusted, liquidation values an account at the prices the margin core
        screens at, and the core's sign of ``E`` is the model's (:mod:`protocol.margin_core.batch`):
        a row with ``E > 0`` there has no gap, and only the others ask the model (through a keeper
        block: a question needs no fork)."""
        ask = np.ones(rows.size, dtype=np.bool_)
        if len(self.trusted()) == len(self.params.feeds):
            ask = evaluate_rows(view, prices, rows).equity <= 0.0
        gaps: list[int | None] = [0] * rows.size
        with self.house.keeper_block() as block:
            for k in np.flatnonzero(ask).tolist():
                try:
                    gaps[k] = max(0, -block.liquidation_health(self.book.accounts[int(rows[k])]).equity)
                except ProtocolRevert:  # a price it needs is not trusted: its gap is unknown
                    gaps[k] = None
        return gaps

    def _count(self, events: Sequence[Event]) -> None:
        t, prices = self.tally, self.prices()
        deleveraged = False
        for e in events:
            if isinstance(e, Liquidated):
                t.liquidations += 1
                closed = notional(e.size_wad, prices[self.feed_of[e.market_id]])
                t.liquidated_notional += closed
                t.notional_by_market[e.market_id] = t.notional_by_market.get(e.market_id, 0) + closed
                t.keeper_rewards += e.keeper_reward_wad
                self.liquidated.add(e.account)
            elif isinstance(e, Deleveraged):
                # what the counterparty gives up against closing at the oracle price
                mark = notional(e.size_wad, prices[self.feed_of[e.market_id]])
                t.socialized += abs(e.notional_wad - mark)
                deleveraged = True
                self.liquidated.add(e.account)
            elif isinstance(e, CollateralLiquidated):
                t.collateral_liquidations += 1
                t.proceeds_by_asset[e.asset_id] = t.proceeds_by_asset.get(e.asset_id, 0) + e.proceeds_wad
                cp = self.params.collateral(e.asset_id)
                fall = self._fall(cp, e.amount_wad, prices[cp.feed_id])
                sold = self.sold_fall.setdefault(e.account, {})
                sold[e.asset_id] = sold.get(e.asset_id, 0) + fall
            elif isinstance(e, BadDebtSettled | ShortfallSettled):
                t.bad_debt += e.debt_wad
                if isinstance(e, ShortfallSettled):
                    t.bad_debt_by_market[e.market_id] = t.bad_debt_by_market.get(e.market_id, 0) + e.debt_wad
                else:
                    self._residual_by_market(e.account, e.debt_wad)
                self.attribute(e.account, e.debt_wad)
                # what the fund could not pay is socialized (LossSocialized) or left uncovered
                if e.socialized_wad or (e.covered_by_fund_wad and self.house.state.insurance_fund == 0):
                    t.fund_depleted = True
            elif isinstance(e, LossSocialized):
                t.socialized += e.amount_wad
                t.socialized_events += 1
            elif isinstance(e, GainsCharged):
                t.socialized += e.amount_wad
        if deleveraged:
            t.deleveragings += 1
            t.socialized_events += 1

    def _fall(self, cp: CollateralParams, amount_wad: int, price_wad: int) -> int:
        """Collateral value (haircut and cap applied, USD WAD) ``amount_wad`` units of ``cp`` lost
        between the path's starting price and ``price_wad`` (negative: gained)."""
        start = self.book.spot_wad(cp.feed_id)
        return collateral_value(cp, amount_wad, start) - collateral_value(cp, amount_wad, price_wad)

    def collateral_fall(self, address: str) -> dict[int, int]:
        """Per collateral asset, the value the account's collateral lost to that asset's price
        since the path began (USD WAD, 0 when it gained): the units it holds at the protocol's
        last accepted price, the units the liquidator bought at the price of the sale."""
        acct, prices = self.house.state.accounts[address], self.prices()
        sold = self.sold_fall.get(address, {})
        out = {}
        for cp in self.params.collaterals:
            fall = sold.get(cp.asset_id, 0) + self._fall(cp, acct.collateral.get(cp.asset_id, 0), prices[cp.feed_id])
            out[cp.asset_id] = max(fall, 0)
        return out

    def _attribute_collateral(self, address: str, debt_wad: int) -> int:
        """The part of ``debt_wad`` the account's collateral fall explains (not yet attributed to
        it by an earlier settlement of the same account), booked by asset; returns it."""
        falls = self.collateral_fall(address)
        total = sum(falls.values())
        part = min(debt_wad, max(0, total - self.collateral_used.get(address, 0)))
        if not part:
            return 0
        self.collateral_used[address] = self.collateral_used.get(address, 0) + part
        shares = {a: part * f // total for a, f in falls.items()}
        top = max(falls, key=lambda a: (falls[a], -a))
        shares[top] += part - sum(shares.values())
        by_asset = self.tally.bad_debt_by_asset
        for a, amount in shares.items():
            by_asset[a] = by_asset.get(a, 0) + amount
        return part

    def attribute(self, address: str, debt_wad: int) -> None:
        """Split an account's bad debt by cause, in this order. The **collateral** fall comes
        first: the value the account's collateral lost to its prices since the path began
        (:meth:`collateral_fall`), up to the debt; had its collateral kept its value, that much
        of the debt would not exist. The **gap** is the shortfall it already had when first
        flagged (the price moved past its bankruptcy price between two accepted oracle prices, or
        while it was not trusted), up to what is left. The rest built up while it waited, and is
        split over the blocks it waited by what held it: keeper **latency**, the **block cap**,
        the **gas** budget, an **untrusted** price, or **other** (the keeper's own margin, no
        deleveraging counterparty, an account never flagged). An account settled several times
        (one bankrupt close per market, then its residual) uses its collateral fall and its gap
        once. Integer shares; the remainder goes to the cause with the most blocks, so the parts
        sum to the debt exactly."""
        by = self.tally.bad_debt_by
        collateral = self._attribute_collateral(address, debt_wad)
        by["collateral"] += collateral
        debt_wad -= collateral
        row = self.rows.get(address)
        if row is None or row not in self.waits.gap_at_flag:
            by["other"] += debt_wad
            return
        gap = self.waits.use_gap(row, debt_wad)
        by["gap"] += gap
        rest = debt_wad - gap
        blocks = self.waits.blocks(row, self.step)
        waited = sum(blocks.values())
        if not waited:
            by["gap"] += rest  # served in the block it landed: the loss came with the price move
            return
        shares = {cause: rest * n // waited for cause, n in blocks.items()}
        top = max(blocks, key=lambda c: (blocks[c], c))
        shares[top] += rest - sum(shares.values())
        for cause, amount in shares.items():
            by[cause if cause in by else "other"] += amount

    def block_room(self, price_wad: int) -> int:
        """Largest size whose notional still fits this block's liquidation cap."""
        st = self.house.state
        used = st.block_liquidated_wad if st.block_liquidated_at == st.block else 0
        room = self.params.protocol.max_liquidation_notional_per_block_wad - used
        q = max(room, 0) * WAD // price_wad
        while q and notional(q, price_wad) > room:
            q -= 1
        return q

    def _largest_position(self, address: str, prices: Mapping[int, int] | None = None) -> int:
        """Market of the account's largest position by notional at the last prices (``prices``
        when given: they are the last prices; ties: lowest id)."""
        positions = self.house.state.accounts[address].positions
        prices = self.prices() if prices is None else prices
        return max(sorted(positions), key=lambda m: notional(positions[m].size, prices[self.feed_of[m]]))

    def _unwind(self, market_id: int, account_delta: int, price_wad: int) -> None:
        """The keeper unwinds outside what it took over: the account's trade ``account_delta``
        (base units) is the outside market's trade."""
        self.impacts[self.feed_of[market_id]].trade(account_delta * price_wad / WAD**2)

    def _counterparties(self, address: str, market_id: int) -> tuple[str, ...]:
        """Deleveraging counterparties: the margin core's pool, ranked exactly by the model."""
        prices = self.prices()
        batch = evaluate(self.view(), prices)
        size, open_notional = self.live.position_column(market_id)
        side = 1 if self.house.state.accounts[address].positions[market_id].size > 0 else -1
        price = prices[self.feed_of[market_id]] / WAD
        by_gain = self.params.protocol.socialized_loss_method is SocializedLossMethod.GAINS
        rows = adl_pool(size, open_notional, batch.equity, price=price, side=side, pool=_ADL_POOL, by_gain=by_gain)
        pool = [self.book.accounts[r] for r in rows.tolist() if self.book.accounts[r] != address]
        return adl_counterparties(self.house, address, market_id, candidates=pool)

    def _close(self, address: str, gas: int) -> int | _Wait:
        """Send the keeper's next action on a due account: gas used (0: the account is healthy and
        dropped), or why it waits for a later block."""
        kc, block = self.config.keepers, self.block
        assert block is not None, "keepers act inside a block"
        acct = self.house.state.accounts[address]
        if not acct.positions:  # below its requirement on its collateral alone: a sale is due
            if _needs_sale(block, self.house.state, address):
                self.sales.append(address)
            return 0
        market_id = self._largest_position(address)
        size = acct.positions[market_id].size
        price = self.house.state.feeds[self.feed_of[market_id]].price_wad
        try:
            q, solvent = self._liquidation_size(address, market_id, gas)
            if q == 0:
                return 0
            # a partial size means a solvent account; the exact health decides the rest only
            # when it matters: deleveraging a bankrupt account (ADL), or a whole close the block
            # cap would clip if the account is solvent, unless the margin core told already
            room = self.block_room(price)
            if q != abs(size):
                solvent = True
            health = None
            if solvent is not True and (self.adl or (solvent is None and room < q)):
                health = block.liquidation_health(address)
                solvent = health.equity > 0
        except ProtocolRevert:  # a price the account needs is not trusted now
            return _Wait.UNTRUSTED
        side = 1 if size > 0 else -1
        action: Action
        if self.adl and health is not None and health.equity < 0 and -health.equity > self.house.state.insurance_fund:
            if gas < kc.gas_per_deleverage:
                return _Wait.GAS
            # the ADL queue: propose, challenge a lower-ranked list, execute after the deadline,
            # or close bankrupt when an empty proposal went unchallenged (F-04, F-10)
            step = adl_action(self.house, KEEPER, address, market_id, self._counterparties(address, market_id))
            if step is None:  # the stored list stands: wait for its deadline
                return _Wait.COUNTERPARTY
            if isinstance(step, AutoDeleverage):
                action, cost, touched = step, kc.gas_per_deleverage, (address, *step.counterparties)
            else:
                action, cost, touched = step, kc.gas_per_liquidation, (address, KEEPER)
        else:
            if gas < kc.gas_per_liquidation:
                return _Wait.GAS
            if solvent is not False:  # solvent (or a whole close the cap does not clip)
                q = min(q, room)
                if q == 0:  # the block cap is spent
                    return _Wait.CAP
            action, cost, touched = Liquidate(KEEPER, address, market_id, q), kc.gas_per_liquidation, (address, KEEPER)
        before = self._position_pnl(address, market_id, price)
        try:
            events = self.apply(action)
        except ProtocolRevert as exc:
            if exc.reason not in _DEFERRABLE:
                raise
            return _REVERT_CAUSE.get(exc.reason, _Wait.KEEPER)
        loss = self._position_pnl(address, market_id, price) - before  # the closed part's PnL, negated
        if loss > 0:
            losses = self.close_losses.setdefault(address, {})
            losses[market_id] = losses.get(market_id, 0) + loss
        self._count(events)
        for e in events:
            if isinstance(e, Liquidated):
                self._unwind(market_id, -side * e.size_wad, price)
        self._changed(touched)
        if _needs_sale(block, self.house.state, address):
            self.sales.append(address)
        return cost

    def _liquidation_size(self, address: str, market_id: int, gas: int) -> tuple[int, bool | None]:
        """The model's :meth:`KeeperBlock.max_liquidation_size` of the account in ``market_id``,
        and whether it is solvent (None: not known without its exact health). From the margin
        core (:func:`~protocol.margin_core.liquidation_sizes`: exact for healthy and bankrupt
        accounts) while its rows are current, sized for as many due rows as ``gas`` (the block's
        gas left) can still serve and the one after (its size decides whether it waits for gas or
        is dropped); the model sizes solvent accounts below maintenance and everything else."""
        assert self.block is not None, "keepers act inside a block"
        row = self.rows.get(address)
        if self.core_sizes is None or row is None or address in self.stale:
            return self.block.max_liquidation_size(address, market_id), None
        if row not in self.core_sizes:
            self._core_sizes(gas // self.config.keepers.gas_per_liquidation + 1)
        market, q = self.core_sizes.get(row, (-1, None))
        if market != market_id:
            return self.block.max_liquidation_size(address, market_id), None
        if q is None:  # solvent below maintenance: the model's size
            return self.block.max_liquidation_size(address, market_id), True
        return q, (False if q else None)  # a size from the core: the account is bankrupt

    def _core_sizes(self, batch: int) -> None:
        """The margin core's liquidation sizes of the next ``batch`` due rows (at most) whose
        rows are current, at their largest positions."""
        assert self.core_sizes is not None
        if self.core_view is None:
            self.core_view = self.view(), self.prices()
        view, prices = self.core_view
        accounts, state = self.book.accounts, self.house.state.accounts
        rows, markets = [], []
        for r in itertools.islice(self.due, batch):
            address = accounts[r]
            if r not in self.core_sizes and address not in self.stale and state[address].positions:
                rows.append(r)
                markets.append(self._largest_position(address, prices))
        sizes = liquidation_sizes(view, prices, np.array(rows, dtype=np.int64), markets)
        self.core_sizes.update(zip(rows, zip(markets, sizes, strict=True), strict=True))

    def _position_pnl(self, address: str, market_id: int, price_wad: int) -> int:
        """Unrealized PnL (USD WAD) of the account's position in ``market_id`` at ``price_wad`` (0: none)."""
        position = self.house.state.accounts[address].positions.get(market_id)
        return 0 if position is None else unrealized_pnl(position, price_wad)

    def _residual_by_market(self, address: str, debt_wad: int) -> None:
        """Book bad debt settled with no position left (what the collateral sale left) to the
        markets whose closes realized the account's losses, in proportion to those losses (the
        F-15 rule of :func:`protocol.liquidation.close_shortfall`, applied to the residual);
        floor shares, the remainder to the largest loss. With no losing close: no market."""
        t = self.tally
        losses = self.close_losses.get(address, {})
        total = sum(losses.values())
        if not total:
            t.bad_debt_no_market += debt_wad
            return
        shares = {m: debt_wad * loss // total for m, loss in losses.items()}
        top = max(losses, key=lambda m: (losses[m], -m))
        shares[top] += debt_wad - sum(shares.values())
        for m, amount in shares.items():
            t.bad_debt_by_market[m] = t.bad_debt_by_market.get(m, 0) + amount

    def _sell_collateral(self, address: str, gas: int) -> int | _Wait:
        """The liquidator buys collateral of an account with a negative balance: gas used (0:
        nothing is left to buy), or why it waits for a later block."""
        assert self.block is not None, "the liquidator acts inside a block"
        if not _needs_sale(self.block, self.house.state, address):
            return 0
        if gas < self.config.keepers.gas_per_collateral_liquidation:
            return _Wait.GAS
        acct = self.house.state.accounts[address]
        trusted = self.trusted()
        for cp in self.params.collaterals:
            if acct.collateral.get(cp.asset_id, 0) < to_wad(1, cp.decimals):
                continue
            if cp.feed_id not in trusted:
                return _Wait.UNTRUSTED
            price = self.house.state.feeds[cp.feed_id].price_wad
            units = collateral_to_sell(self.house, address, cp.asset_id, price)
            try:
                events = self.apply(LiquidateCollateral(LIQUIDATOR, address, cp.asset_id, units))
            except ProtocolRevert as exc:
                if exc.reason not in _DEFERRABLE:
                    raise
                return _REVERT_CAUSE.get(exc.reason, _Wait.KEEPER)
            self._count(events)
            sold = sum(e.amount_wad for e in events if isinstance(e, CollateralLiquidated))
            self.impacts[cp.feed_id].trade(-sold * price / WAD**2)  # the liquidator sells it outside
            self._changed((address,))
            return self.config.keepers.gas_per_collateral_liquidation
        return 0

    def keep(self, step: int) -> None:
        """Keepers send what is due now within the block's gas budget: liquidations and
        deleveragings first landed first served, then collateral purchases; the rest waits for
        the next block (counted as deferred, by cause)."""
        self.step = step
        steps = sorted(s for s in self.waiting if s <= step)
        if steps:
            landed = np.concatenate([np.sort(np.concatenate(self.waiting.pop(s))) for s in steps])
            self.n_waiting -= landed.size
            self.waits.landed(landed, step)
            self.due.extend(landed.tolist())
        if not self.due and not self.sales:
            return
        exact = len(self.trusted()) == len(self.params.feeds) and not any(mp.is_option for mp in self.params.markets)
        self.core_sizes = {} if exact else None
        self.core_view = None
        with self.house.keeper_block() as self.block:
            self._keep_block()
        self.block = None
        self.core_sizes = None
        self.live.refresh(self.house.state, self.stale)
        self.stale.clear()

    def _changed(self, addresses: Sequence[str]) -> None:
        """Actions changed ``addresses``: their rows are re-read (at the end of the block)."""
        if self.core_sizes is not None:
            for a in addresses:
                self.core_sizes.pop(self.rows.get(a, -1), None)
        if self.adl:
            self.core_view = None
            self.live.refresh(self.house.state, addresses)
        else:
            self.stale.update(addresses)

    def _keep_block(self) -> None:
        """The body of :meth:`keep`, inside the keepers' block."""
        budget = gas = self.config.keepers.gas_budget_per_block
        t = self.tally
        later: list[int] = []  # accounts that cannot be served now; first in line next block
        stop: _Wait | None = None
        while self.due:
            r = self.due[0]
            used = self._close(self.book.accounts[r], gas)
            if isinstance(used, _Wait) and used.stops_block:
                stop = used
                break
            self.due.popleft()
            self.waits.dequeued(r)
            if isinstance(used, _Wait):
                later.append(r)
                t.deferred_by[used.value] += 1
                self.waits.charge((r,), _cause(used))
                continue
            self.chased[r] = False  # the watch flags it again if it is still below maintenance
            gas -= used
        if stop is not None:
            t.deferred_by[stop.value] += len(self.due)
            self.waits.charge_queue(_cause(stop))
        self.due.extendleft(reversed(later))
        if later:
            self.waits.requeued(np.array(later, dtype=np.int64))
        waiting_sales: list[str] = []
        stop = None
        while self.sales:
            sold = self._sell_collateral(self.sales[0], gas)
            if isinstance(sold, _Wait) and sold.stops_block:
                stop = sold
                break
            address = self.sales.popleft()
            if isinstance(sold, _Wait):
                waiting_sales.append(address)
                t.deferred_by[sold.value] += 1
                self._waited_sales((address,), _cause(sold))
                continue
            gas -= sold
        if stop is not None:
            t.deferred_by[stop.value] += len(self.sales)
            self._waited_sales(self.sales, _cause(stop))
        self.sales.extendleft(reversed(waiting_sales))
        t.deferred += len(self.due) + len(self.sales)
        t.keeper_gas += budget - gas

    def _waited_sales(self, addresses: Sequence[str], cause: str) -> None:
        """Accounts owing a collateral sale wait a block for ``cause`` (those ever flagged)."""
        flagged = self.waits.gap_at_flag
        self.waits.charge([r for r in map(self.rows.__getitem__, addresses) if r in flagged], cause)

    def cascade(self, step_s: int, liquidations_before: int, kept: bool) -> int:
        """Record the block's cascade: accounts waiting for a keeper to land, the backlog
        (flagged but not yet served: waiting, due, or owing a collateral sale), its peak and the
        longest time it took to clear, liquidations in the block. Returns the backlog."""
        t = self.tally
        t.keeper_waits += self.n_waiting  # their latency is counted when they land
        if not kept:  # no traded price trusted: nothing was sent this block
            self.waits.charge_queue("untrusted")
            self._waited_sales(self.sales, "untrusted")
        backlog = self.n_waiting + len(self.due) + len(self.sales)
        t.backlog_peak = max(t.backlog_peak, backlog)
        t.backlog_run_s = t.backlog_run_s + step_s if backlog else 0
        t.backlog_clear_s = max(t.backlog_clear_s, t.backlog_run_s)
        t.liquidations_block_peak = max(t.liquidations_block_peak, t.liquidations - liquidations_before)
        return backlog


def _cause(why: _Wait) -> str:
    """The bad-debt cause a wait of ``why`` counts for."""
    return why.value if why.value in BAD_DEBT_CAUSES else "other"


def _needs_sale(block: KeeperBlock, state: ProtocolState, address: str) -> bool:
    """The account holds collateral, its settlement balance (funding settled) is negative and it
    is below its requirement (F-05: a healthy account's debt is left to its owner)."""
    if not state.accounts[address].has_collateral():  # settling funding moves no collateral
        return False
    return collateral_for_sale(block, address)


def _series(steps: int, params: Params) -> dict[str, NDArray[np.float64]]:
    names = [
        *SERIES,
        *(feed_series(fp.feed_id) for fp in params.feeds),
        *(market_series(mp.market_id) for mp in params.markets),
        *(collateral_series(cp.asset_id) for cp in params.collaterals),
    ]
    return {name: np.zeros(steps + 1) for name in names}


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
    benchmarks a numpy one). Every action applied is appended to ``log`` when given. The series
    record the lead market; the metrics cover every market.
    """
    if not isinstance(config, StudyConfig):
        raise InvalidParameter(f"config must be a StudyConfig, got {type(config).__name__}")
    _check_log(log)
    seed = config.path_seed(path_index)
    if book is None:
        book = build_book(config)
    elif not isinstance(book, Book):
        raise InvalidParameter(f"book must be a Book from build_book, got {type(book).__name__}")
    # children 0-3 drive the lead feed and market (as for a one-market book), 4 everything else
    price_seed, outage_seed, keeper_seed, premium_seed, others_seed = seed.spawn(5)
    params, run = book.params, config.run
    feeds, markets = params.feeds, params.markets
    reference = price_paths(config, params, price_seed)
    outage_seeds = [outage_seed, *others_seed.spawn(len(feeds) - 1)]
    down = {fp.feed_id: outages(config, np.random.default_rng(s)) for fp, s in zip(feeds, outage_seeds, strict=True)}
    premium_seeds = [premium_seed, *others_seed.spawn(len(markets) - 1)]
    premium = {
        mp.market_id: premium_path(config, np.random.default_rng(s))
        for mp, s in zip(markets, premium_seeds, strict=True)
    }
    keeper_rng = np.random.default_rng(keeper_seed)

    p = _PathRun(config, book, screen, log)
    push = {fp.feed_id: PushFeed.from_config(config) for fp in feeds}
    for fp in feeds:
        push[fp.feed_id].observe(0, p.house.state.now_s, book.spot_wad(fp.feed_id), down=False)  # the set-up price
        push[fp.feed_id].arrivals(0)
    # a historical path starts at its first close, a follower at its spot: scale to the book's
    scale = {f: book.spot_wad(f) / WAD / reference[f][0] for f in reference}
    lead_feed, traded_feeds = book.lead.feed_id, {mp.feed_id for mp in markets}
    series = _series(run.steps, params)
    start_fund = fund_min = fund_peak = p.house.state.insurance_fund
    start_uncovered = p.house.state.uncovered_loss
    drawdown = 0
    for k in range(run.steps + 1):
        if k:
            p.apply(AdvanceTime(run.step_s, 1))
        st = p.house.state
        outside: dict[int, int] = {}
        impact_bps: dict[int, float] = {}
        liquidations_before = p.tally.liquidations
        for fp in feeds:
            f = fp.feed_id
            impact = p.impacts[f].step()
            impact_bps[f] = (impact - 1) * 1e4
            p.tally.impact_max_bps = max(p.tally.impact_max_bps, round(abs(impact - 1) * 1e4))
            outside[f] = price_to_wad(float(reference[f][k] * scale[f] * impact)) if k else book.spot_wad(f)
            push[f].observe(k, st.now_s, outside[f], down=bool(down[f][k]))
            for price, t_s in push[f].arrivals(k):
                for e in p.apply(PushPrice(ORACLE, f, price, t_s)):
                    p.tally.oracle_updates += isinstance(e, PriceAccepted)
                    p.tally.oracle_rejections += isinstance(e, PriceRejected)
        if k and k % config.funding.interval_steps == 0:
            for mp in markets:
                rate = int(premium[mp.market_id][k] * WAD) // config.funding.premium_period_s
                p.apply(SetFundingRate(FUNDING_OPERATOR, mp.market_id, rate))
        trusted = p.trusted()
        kept = bool(trusted & traded_feeds)
        if kept:
            p.flag(k, keeper_rng)
            p.keep(k)
        if k and not traded_feeds <= trusted:
            p.tally.reduce_only_s += run.step_s
        series["backlog"][k] = p.cascade(run.step_s, liquidations_before, kept)
        st = p.house.state
        fund = st.insurance_fund
        fund_min, fund_peak = min(fund_min, fund), max(fund_peak, fund)
        drawdown = max(drawdown, fund_peak - fund)
        series["market_price"][k] = outside[lead_feed] / WAD
        series["oracle_price"][k] = st.feeds[lead_feed].price_wad / WAD
        series["insurance_fund"][k] = fund / WAD
        series["bad_debt"][k] = p.tally.bad_debt / WAD
        series["liquidated_notional"][k] = p.tally.liquidated_notional / WAD
        series["trusted"][k] = float(lead_feed in trusted)
        series["liquidations"][k] = p.tally.liquidations
        series["impact_bps"][k] = impact_bps[lead_feed]
        for f, price in outside.items():
            series[feed_series(f)][k] = price / WAD
        for mp in markets:
            series[market_series(mp.market_id)][k] = p.tally.notional_by_market.get(mp.market_id, 0) / WAD
        for cp in params.collaterals:
            series[collateral_series(cp.asset_id)][k] = p.tally.proceeds_by_asset.get(cp.asset_id, 0) / WAD

    t, st = p.tally, p.house.state
    p.ledger.close(st, book.held)
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
        "collateral_liquidations": t.collateral_liquidations,
        "deleveragings": t.deleveragings,
        "accounts_liquidated": len(p.liquidated),
        "accounts_deleveraged": len(p.ledger.deleveraged),
        "liquidated_notional_wad": t.liquidated_notional,
        "keeper_rewards_wad": t.keeper_rewards,
        "deferred_liquidations": t.deferred,
        **{f"deferred_{cause}": count for cause, count in t.deferred_by.items()},
        "keeper_waits": t.keeper_waits,
        "keeper_gas": t.keeper_gas,
        "keeper_gas_cost_wad": config.keepers.gas_cost_wad(t.keeper_gas),
        "backlog_peak": t.backlog_peak,
        "backlog_clear_s": t.backlog_clear_s,
        "liquidations_block_peak": t.liquidations_block_peak,
        "liquidation_impact_max_bps": t.impact_max_bps,
        **{f"bad_debt_{cause}_wad": amount for cause, amount in t.bad_debt_by.items()},
        "bad_debt_no_market_wad": t.bad_debt_no_market,
        **{market_bad_debt(mp.market_id): t.bad_debt_by_market.get(mp.market_id, 0) for mp in markets},
        **{asset_bad_debt(cp.asset_id): t.bad_debt_by_asset.get(cp.asset_id, 0) for cp in params.collaterals},
        "reduce_only_s": t.reduce_only_s,
        "oracle_updates": t.oracle_updates,
        "oracle_rejections": t.oracle_rejections,
        **{bearer_metric(g): v for g, v in p.ledger.by_group(book.groups).items()},
    }
    return PathResult(path_index, int(seed.entropy), tuple(seed.spawn_key), metrics, series)  # type: ignore[arg-type]


def simulate_paths(config: StudyConfig, path_indices: Sequence[int]) -> list[PathResult]:
    """Several paths of ``config`` sharing one book (what a worker runs for a chunk)."""
    book = build_book(config)
    return [simulate_path(config, i, book=book) for i in path_indices]
