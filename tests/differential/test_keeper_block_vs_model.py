"""A block of keeper actions applied in place (:class:`protocol.keeper_block.KeeperBlock`) gives
exactly what the reference model gives applying the same actions one by one.

Every liquidation, collateral sale and deleveraging of a simulated path is replayed twice from
the same book: one action at a time through :meth:`ClearingHouse.apply` (each action on a fork),
and block by block through :meth:`ClearingHouse.keeper_block`. Before each keeper action both
sides answer the keeper's questions (largest liquidation size, liquidation health, the settled
account) and every other action is preceded by one the protocol refuses after settling the
account (a size beyond the position, a sale beyond the collateral), so the undo journal runs as
often as the pending settlement is consumed. Answers, events (or revert reasons) are compared per
action and the whole state after every block. The paths are every path of the stress studies
(``simulator/examples/stress.toml`` and the 2020-03-12 replay ``crash_2020.toml``), an ADL
variant and, as a hypothesis property, random books under random shocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from state_views import outcome, state_view

from protocol.actions import Action, AdvanceTime, AutoDeleverage, Liquidate, LiquidateCollateral, SetFundingRate
from protocol.clearing_house import ClearingHouse
from protocol.events import Event
from protocol.keeper_block import KEEPER_ACTIONS, KeeperBlock
from simulator import market_data
from simulator.config import StudyConfig, load_study
from simulator.engine import FUNDING_OPERATOR, Book, build_book, simulate_path

EXAMPLES = Path(__file__).resolve().parents[2] / "simulator" / "examples"


def refused_twin(house: ClearingHouse, action: Action) -> Action | None:
    """An action on the same account the protocol refuses only after settling it."""
    acct = house.state.accounts[action.account]  # type: ignore[attr-defined]
    if isinstance(action, Liquidate) and action.market_id in acct.positions:
        too_big = abs(acct.positions[action.market_id].size) + 1
        return Liquidate(action.keeper, action.account, action.market_id, too_big)
    if isinstance(action, LiquidateCollateral):
        return LiquidateCollateral(action.liquidator, action.account, action.asset_id, 10**40)
    return None


def keeper_step(
    house: ClearingHouse,
    questions: ClearingHouse | KeeperBlock,
    act: Callable[[Action], list[Event]],
    action: Action,
    k: int,
) -> list[Any]:
    """The keeper's questions about ``action``'s account, a refused twin (every other action),
    then ``action`` itself: every answer and outcome, in order."""
    address = action.account  # type: ignore[attr-defined]
    seen: list[Any] = []
    if isinstance(action, Liquidate | AutoDeleverage):
        asks = [
            lambda: questions.max_liquidation_size(address, action.market_id),
            lambda: questions.liquidation_health(address),
        ]
        if k % 3 == 1:  # the health of an account no question has settled yet
            asks.reverse()
        seen.extend(outcome(ask) for ask in asks)
    else:
        seen.append(outcome(lambda: questions.settled_account(address)))
    twin = refused_twin(house, action) if k % 2 else None
    if twin is not None:
        seen.append(outcome(lambda: act(twin)))
    seen.append(outcome(lambda: act(action)))
    return seen


def blocks(log: Sequence[Action]) -> Iterator[tuple[bool, list[Action]]]:
    """The log cut into runs of keeper actions (True) and of everything else (False)."""
    run: list[Action] = []
    keeper = False
    for action in log:
        is_keeper = isinstance(action, KEEPER_ACTIONS)
        if run and is_keeper != keeper:
            yield keeper, run
            run = []
        keeper = is_keeper
        run.append(action)
    if run:
        yield keeper, run


def replay_both_ways(book: Book, log: Sequence[Action]) -> int:
    """Replay ``log`` from ``book`` one by one and block by block; assert they agree after every
    block. Returns the number of keeper actions replayed."""
    model = ClearingHouse.from_state(book.params, book.state())
    fast = ClearingHouse.from_state(book.params, book.state())
    replayed = 0
    for keeper, run in blocks(log):
        if keeper:
            expected = [keeper_step(model, model, model.apply, a, k) for k, a in enumerate(run)]
            with fast.keeper_block() as block:
                got = [keeper_step(fast, block, block.apply, a, k) for k, a in enumerate(run)]
            replayed += len(run)
            assert got == expected
        else:
            for action in run:
                assert outcome(lambda a=action: fast.apply(a)) == outcome(lambda a=action: model.apply(a))  # type: ignore[misc]
        assert state_view(fast.state) == state_view(model.state)
    return replayed


def run_and_replay(config: StudyConfig, paths: Iterable[int]) -> dict[str, int]:
    """Simulate ``paths`` of ``config`` (the engine uses the keeper block) and replay each log
    both ways; counts of what was replayed."""
    book = build_book(config)
    counts = dict.fromkeys(("Liquidate", "LiquidateCollateral", "AutoDeleverage", "keeper actions"), 0)
    for path in paths:
        log: list[Action] = []
        simulate_path(config, path, book=book, log=log)
        counts["keeper actions"] += replay_both_ways(book, log)
        for action in log:
            name = type(action).__name__
            if name in counts:
                counts[name] += 1
    return counts


@pytest.mark.slow
def test_stress_study_keeper_blocks_equal_model() -> None:
    """Every path of the Monte Carlo stress study (64): every keeper action it takes."""
    config = load_study(EXAMPLES / "stress.toml")
    counts = run_and_replay(config, range(config.run.paths))
    assert counts["Liquidate"] > 0
    assert counts["LiquidateCollateral"] > 0


@pytest.mark.slow
def test_crash_2020_replay_keeper_blocks_equal_model() -> None:
    """Every path of the 2020-03-12 replay (8: outages, keeper delays and funding differ)."""
    data = market_data.black_thursday_2020()
    assert data is not None, "the shared market data (../shared/market_data) is needed"
    config = load_study(EXAMPLES / "crash_2020.toml", {"price.csv": str(data.hourly_csv)})
    eth = config.feed_path("ETH/USD")
    config = config.override(
        {"price.feeds": {eth.symbol: {"spot": eth.spot, "sigma": eth.sigma, "csv": str(data.eth_hourly_csv)}}}
    )
    counts = run_and_replay(config, range(config.run.paths))
    assert counts["Liquidate"] > 0


def test_deleveraging_blocks_equal_model() -> None:
    """ADL: bankrupt accounts beyond the fund are deleveraged against ranked counterparties."""
    config = load_study(EXAMPLES / "stress.toml").override(
        {
            "protocol.socialized_loss_method": "adl",
            "protocol.insurance_fund_usd": "20000",
            "protocol.max_liquidation_notional_per_block": "150000",
            "price.model": "bridge",
            "price.shock": -0.5,
            "price.sigma": 1.5,
            "traders.leverage_median": 7.0,
            "liquidity.depth_usd": 2e7,
            "run.accounts": 240,
            "run.steps": 200,
        }
    )
    counts = run_and_replay(config, [0])
    assert counts["AutoDeleverage"] > 0


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shock=st.floats(-0.7, 0.4),
    leverage=st.floats(1.5, 12.0),
    collateral_share=st.sampled_from([0.0, 0.3]),
    markets=st.sampled_from([[0], [0, 1]]),
    method=st.sampled_from(["pro_rata", "adl"]),
    fund_usd=st.sampled_from(["0", "3000", "100000"]),
    jitter=st.sampled_from([0.0, 2.0]),
)
def test_random_books_and_shocks_keeper_blocks_equal_model(
    seed: int, shock: float, leverage: float, collateral_share: float, markets: list[int], method: str,
    fund_usd: str, jitter: float,
) -> None:  # fmt: skip
    config = StudyConfig().override(
        {
            "run.accounts": 40,
            "run.steps": 80,
            "run.seed": seed,
            "price.model": "bridge",
            "price.shock": shock,
            "price.sigma": 1.5,
            "price.feeds": {"ETH/USD": {"spot": 3_000.0, "sigma": 1.2}} if markets != [0] or collateral_share else {},
            "protocol.markets": markets,
            "protocol.socialized_loss_method": method,
            "protocol.insurance_fund_usd": fund_usd,
            "protocol.max_liquidation_notional_per_block": "100000",
            "traders.leverage_median": leverage,
            "traders.collateral_asset_share": collateral_share,
            "traders.cross_market_probability": 0.5,
            "liquidity.depth_usd": 1e6,
            "keepers.jitter_blocks": jitter,
            "oracle.outages_per_day": 10.0,
        }
    )
    run_and_replay(config, [0])


def test_block_left_open_changes_nothing() -> None:
    """Questions alone (no action) settle funding in the live state; closing the block undoes it,
    leaving the house exactly as it was."""
    config = load_study(EXAMPLES / "stress.toml").override({"run.accounts": 60})
    book = build_book(config)
    house = ClearingHouse.from_state(book.params, book.state())
    house.apply(AdvanceTime(1_500, 1))  # the rate may move only as time passes (its ramp)
    house.apply(SetFundingRate(FUNDING_OPERATOR, 0, house.params.protocol.max_funding_rate_per_s_wad))
    house.apply(AdvanceTime(1_500, 1))
    before = state_view(house.state)
    with house.keeper_block() as block:  # the health of accounts no question settled
        assert [block.liquidation_health(a) for a in book.accounts] == [
            house.liquidation_health(a) for a in book.accounts
        ]
    settled = 0
    with house.keeper_block() as block:
        for address in book.accounts[:20]:
            for market_id in house.state.accounts[address].positions:
                assert block.max_liquidation_size(address, market_id) == house.max_liquidation_size(address, market_id)
            assert block.liquidation_health(address) == house.liquidation_health(address)
            settled += block.settled_account(address).balance != before["accounts"][address][0]
    assert settled > 0  # the questions did settle funding in the live state
    assert state_view(house.state) == before
