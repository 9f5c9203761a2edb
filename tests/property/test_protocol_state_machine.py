"""Stateful property test of the reference model.

Roles act at random — traders deposit, withdraw and trade through the matcher; the oracle
moves prices (drifts, crashes, gaps and bad readings); time passes; the funding operator sets
rates; the keeper liquidates positions and collateral and deleverages; governance pauses and
re-parameterizes. After every step every invariant of ``protocol.invariants`` must hold, and
every refused action must leave the state exactly as it was.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from protocol.actions import (
    Action,
    AdvanceTime,
    AutoDeleverage,
    Deposit,
    Liquidate,
    LiquidateCollateral,
    PushPrice,
    SetFundingRate,
    SetMarketMargin,
    SetPaused,
    SettleExpired,
    Withdraw,
)
from protocol.clearing_house import ClearingHouse
from protocol.constants import WAD
from protocol.errors import ProtocolRevert
from protocol.invariants import check_state, check_transition
from protocol.keeper import adl_action, adl_counterparties, keeper_actions
from protocol.params import SocializedLossMethod
from protocol.scenarios import ACTORS, actor_signer, default_params, option_params

TRADERS = [ACTORS[n] for n in ("trader_conservative", "trader_leveraged", "trader_collateral", "trader_short")]
KEEPER, LIQUIDATOR, MARKET_MAKER = ACTORS["keeper"], ACTORS["liquidator"], ACTORS["market_maker"]
ORACLE, MATCHER, GOV, FUNDING = ACTORS["oracle"], ACTORS["matcher"], ACTORS["governance"], ACTORS["funding_operator"]
USDC = 10**6
OPTION_EXPIRY_S = 4_000  # options expire about an hour into a sequence

traders = st.sampled_from(TRADERS)
markets = st.sampled_from([0, 1])


class ProtocolMachine(RuleBasedStateMachine):
    """Shadow-free machine: the model is checked against its own invariants after each step."""

    house: ClearingHouse
    reverts: dict[str, int]

    @initialize(
        method=st.sampled_from(list(SocializedLossMethod)),
        with_options=st.booleans(),
        spread=st.sampled_from([0, WAD // 4, WAD // 2]),
        penalty=st.sampled_from([0, WAD // 100, WAD // 40]),
        dust=st.sampled_from([0, 10 * WAD, 5_000 * WAD]),
    )
    def setup(self, method: SocializedLossMethod, with_options: bool, spread: int, penalty: int, dust: int) -> None:
        make = (lambda **kw: option_params(OPTION_EXPIRY_S, **kw)) if with_options else default_params
        params = make(
            socialized_loss_method=method,
            liquidation_spread_wad=spread,
            liquidation_penalty_wad=penalty,
            dust_notional_wad=dust,
            max_liquidation_notional_per_block_wad=400_000 * WAD,
        )
        self.house = ClearingHouse(params, GOV, matchers=[MATCHER], oracles=[ORACLE], funding_operators=[FUNDING])
        self.orders = actor_signer()
        self.reverts = {}
        self.prices = {0: 60_000 * WAD, 1: 3_000 * WAD}
        self._apply(AdvanceTime(1_000, 1))
        for feed, price in self.prices.items():
            self._apply(PushPrice(ORACLE, feed, price, self.house.state.now_s))
        for who in (KEEPER, LIQUIDATOR, MARKET_MAKER):
            self._apply(Deposit(who, 0, 5_000_000 * USDC))
        for trader in TRADERS:
            self._apply(Deposit(trader, 0, 20_000 * USDC))

    # ------------------------------------------------------------------ helpers

    def _apply(self, action: Action) -> bool:
        before = self.house.snapshot()
        params_before = self.house.params
        try:
            events = self.house.apply(action)
        except ProtocolRevert as exc:
            reason = exc.reason
        else:
            reason = ""
        if reason:
            assert self.house.state == before, f"{action} reverted ({reason}) but changed state"
            assert self.house.params == params_before
            self.reverts[reason] = self.reverts.get(reason, 0) + 1
            return False
        violated = check_transition(before, self.house.state, events, self.house.params)
        assert not violated, f"after {action}: {violated}"
        return True

    # ------------------------------------------------------------------ traders

    @rule(trader=traders, amount=st.integers(1, 200_000))
    def deposit(self, trader: str, amount: int) -> None:
        self._apply(Deposit(trader, 0, amount * USDC))

    @rule(trader=traders, milli_eth=st.integers(1, 20_000))
    def deposit_collateral(self, trader: str, milli_eth: int) -> None:
        self._apply(Deposit(trader, 1, milli_eth * 10**15))

    @rule(trader=traders, asset=st.sampled_from([0, 1]), fraction=st.integers(1, 100))
    def withdraw(self, trader: str, asset: int, fraction: int) -> None:
        acct = self.house.state.accounts.get(trader)
        if acct is None:
            return
        held = acct.balance // 10**12 if asset == 0 else acct.collateral.get(1, 0)
        amount = max(held * fraction // 100, 1)
        self._apply(Withdraw(trader, asset, amount))

    @rule(
        maker=traders,
        taker=traders,
        market=markets,
        milli_size=st.integers(-5_000, 5_000).filter(bool),
        offset_bps=st.integers(-600, 600),
        fee_bps=st.integers(0, 10),
    )
    def trade(self, maker: str, taker: str, market: int, milli_size: int, offset_bps: int, fee_bps: int) -> None:
        price = self.prices[market] * (10_000 + offset_bps) // 10_000
        size = milli_size * WAD // 1_000 // (20 if market == 0 else 1)
        self._apply(
            self.orders.fill(
                MATCHER, maker, taker, market, size, max(price, 1), fee_bps * WAD // 10_000, fee_bps * WAD // 10_000
            )
        )

    @rule(taker=traders, market=markets, long=st.booleans(), use_pct=st.integers(50, 99))
    def leveraged_trade(self, taker: str, market: int, long: bool, use_pct: int) -> None:
        """The taker uses most of its free collateral: the fastest way to liquidations."""
        try:
            free = self.house.health(taker).free_collateral
        except ProtocolRevert:
            return
        imf = self.house.params.market(market).initial_margin_fraction_wad
        size = free * use_pct // 100 * WAD // self.prices[market] * WAD // imf
        if size > 0:
            price = self.prices[market]
            self._apply(self.orders.fill(MATCHER, MARKET_MAKER, taker, market, size if long else -size, price, 0, 0))

    @rule(
        maker=traders,
        taker=traders,
        market=st.sampled_from([2, 3]),
        milli_size=st.integers(-3_000, 3_000).filter(bool),
        premium_bps=st.integers(1, 2_500),
    )
    def option_trade(self, maker: str, taker: str, market: int, milli_size: int, premium_bps: int) -> None:
        """Trade a BTC call or put at a premium quoted in basis points of the spot price."""
        if market not in self.house.state.markets:
            return
        premium = max(self.prices[0] * premium_bps // 10_000, 1)
        self._apply(self.orders.fill(MATCHER, maker, taker, market, milli_size * WAD // 1_000, premium, 0, 0))

    @precondition(lambda self: 2 in self.house.state.markets and self.house.state.now_s < OPTION_EXPIRY_S)
    @rule()
    def pass_expiry(self) -> None:
        """Jump past the options' expiry; the next accepted price fixes their settlement."""
        self.advance(OPTION_EXPIRY_S - self.house.state.now_s, 1, refresh=True)

    @rule(account=traders, market=st.sampled_from([2, 3]))
    def settle_option(self, account: str, market: int) -> None:
        if market in self.house.state.markets:
            self._apply(SettleExpired(KEEPER, account, market))

    # ------------------------------------------------------------------ environment

    @rule(feed=markets, move_bps=st.integers(-4_500, 4_500))
    def move_price(self, feed: int, move_bps: int) -> None:
        price = max(self.prices[feed] * (10_000 + move_bps) // 10_000, 1)
        if self._apply(PushPrice(ORACLE, feed, price, self.house.state.now_s)):
            self.prices[feed] = price

    @rule(feed=markets, move_bps=st.integers(1_000, 4_000), down=st.booleans(), blocks=st.integers(0, 2))
    def crash_then_keeper(self, feed: int, move_bps: int, down: bool, blocks: int) -> None:
        """A crash (or squeeze) followed at once by a keeper pass, possibly in the same block."""
        self.move_price(feed, -move_bps if down else move_bps)
        self._apply(AdvanceTime(0, blocks))
        self.keeper_pass()

    @rule(feed=markets, reading=st.sampled_from(["zero", "future", "spike", "stale"]))
    def bad_reading(self, feed: int, reading: str) -> None:
        now = self.house.state.now_s
        price, ts = {
            "zero": (0, now),
            "future": (self.prices[feed], now + 1),
            "spike": (self.prices[feed] * 3, now),
            "stale": (self.prices[feed], max(now - 10_000, 0)),
        }[reading]
        self._apply(PushPrice(ORACLE, feed, price, ts))

    @rule(feed=markets)
    def recover_price(self, feed: int) -> None:
        self._apply(PushPrice(ORACLE, feed, self.prices[feed], self.house.state.now_s))

    @rule(seconds=st.integers(0, 3_000), blocks=st.integers(0, 3), refresh=st.booleans())
    def advance(self, seconds: int, blocks: int, refresh: bool) -> None:
        """Time passes; usually the oracle republishes (else prices may go stale)."""
        self._apply(AdvanceTime(seconds, blocks))
        if refresh:
            for feed in self.prices:
                self.recover_price(feed)

    @rule(market=markets, rate=st.integers(-(10**12), 10**12))
    def set_funding(self, market: int, rate: int) -> None:
        self._apply(SetFundingRate(FUNDING, market, rate))

    # ------------------------------------------------------------------ keeper

    @rule()
    def keeper_pass(self) -> None:
        for action in keeper_actions(self.house, KEEPER, LIQUIDATOR):
            self._apply(action)

    @rule(account=traders, market=markets, size_pct=st.integers(1, 100))
    def arbitrary_liquidation(self, account: str, market: int, size_pct: int) -> None:
        acct = self.house.state.accounts.get(account)
        if acct is None or market not in acct.positions:
            return
        size = max(abs(acct.positions[market].size) * size_pct // 100, 1)
        self._apply(Liquidate(KEEPER, account, market, size))

    @rule(account=traders, milli_eth=st.integers(1, 5_000))
    def arbitrary_collateral_liquidation(self, account: str, milli_eth: int) -> None:
        self._apply(LiquidateCollateral(LIQUIDATOR, account, 1, milli_eth * 10**15))

    @precondition(lambda self: self.house.params.protocol.socialized_loss_method is SocializedLossMethod.ADL)
    @rule(account=traders, market=markets, reverse=st.booleans())
    def deleverage(self, account: str, market: int, reverse: bool) -> None:
        """The ADL queue's next step for the reference keeper (propose, challenge, execute or the
        bankrupt close of an unchallenged empty proposal), or a proposal in the wrong order."""
        acct = self.house.state.accounts.get(account)
        if acct is None or market not in acct.positions:
            return
        ranked = adl_counterparties(self.house, account, market)
        if reverse and len(ranked) > 1:
            self._apply(AutoDeleverage(KEEPER, account, market, tuple(reversed(ranked))))
            return
        step = adl_action(self.house, KEEPER, account, market, ranked)
        if step is not None:
            self._apply(step)

    # ------------------------------------------------------------------ governance

    @rule(trader=traders)
    def pause_cycle(self, trader: str) -> None:
        """Governance pauses: user actions revert, prices still update; then it unpauses."""
        self._apply(SetPaused(GOV, True))
        assert not self._apply(Deposit(trader, 0, USDC))
        self._apply(SetPaused(GOV, False))

    @rule(market=markets, imf_bps=st.integers(5, 3_000), share_bps=st.integers(1, 9_999))
    def set_margin(self, market: int, imf_bps: int, share_bps: int) -> None:
        self._apply(SetMarketMargin(GOV, market, imf_bps * WAD // 10_000, share_bps * WAD // 10_000))

    # ------------------------------------------------------------------ invariants

    @invariant()
    def state_invariants_hold(self) -> None:
        violated = check_state(self.house.state, self.house.params)
        assert not violated, violated


ProtocolMachine.TestCase.settings = ProtocolMachine.TestCase.settings.__class__(
    ProtocolMachine.TestCase.settings, stateful_step_count=50
)
TestProtocolMachine = ProtocolMachine.TestCase
