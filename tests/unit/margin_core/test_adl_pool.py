"""adl_pool: the float pool of deleveraging counterparties holds the model's exact top ranking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.constants import UINT256_MAX, WAD
from protocol.errors import InvalidParameter
from protocol.margin import notional, unrealized_pnl
from protocol.margin_core import adl_pool
from protocol.socialized_loss import adl_score
from protocol.state import Position

PRICE = 40_000 * WAD


def exact_ranking(sizes: list[int], costs: list[int], equities: list[int], side: int) -> list[int]:
    """Rows the protocol would accept as counterparties of a bankrupt ``side``, best first."""
    ranked = [
        (_score(s, o, e), i)
        for i, (s, o, e) in enumerate(zip(sizes, costs, equities, strict=True))
        if s * side < 0 and _profit(s, o) > 0
    ]
    ranked.sort(key=lambda t: (-t[0], t[1]))
    return [i for _, i in ranked]


accounts = st.lists(
    st.tuples(
        st.integers(-5 * WAD, 5 * WAD),  # size
        st.integers(10_000, 70_000),  # entry price (USD)
        st.integers(-1_000, 200_000),  # equity (USD)
    ),
    min_size=1,
    max_size=60,
)


def _profit(size: int, cost: int) -> int:
    return unrealized_pnl(Position(size=size, open_notional=cost), PRICE)


def _score(size: int, cost: int, equity: int) -> int:
    return adl_score(_profit(size, cost), cost, notional(size, PRICE), equity)


def _pool(sizes: list[int], costs: list[int], equities: list[int], side: int, pool: int) -> list[int]:
    return adl_pool(
        np.asarray(sizes, dtype=np.float64) / WAD,
        np.asarray(costs, dtype=np.float64) / WAD,
        np.asarray(equities, dtype=np.float64) / WAD,
        price=PRICE / WAD,
        side=side,
        pool=pool,
    ).tolist()


@settings(max_examples=300, deadline=None)
@given(book=accounts, side=st.sampled_from([1, -1]), pool=st.integers(1, 10))
def test_pool_holds_the_exact_top_of_the_ranking(book: list[tuple[int, int, int]], side: int, pool: int) -> None:
    sizes = [s for s, _, _ in book]
    costs = [s * entry for s, entry, _ in book]  # open notional = size x entry (USD WAD)
    equities = [e * WAD for _, _, e in book]
    exact = exact_ranking(sizes, costs, equities, side)
    everything = _pool(sizes, costs, equities, side, len(book))
    # every row the protocol would accept is proposed; any other proposed row is on the right
    # side with a profit within the float slack of zero
    assert set(exact) <= set(everything)
    for i in set(everything) - set(exact):
        assert sizes[i] * side < 0
        assert abs(_profit(sizes[i], costs[i])) <= 1e-9 * abs(costs[i]) + WAD // 10**6
    # the best ``pool`` are proposed whenever the ranking is not a near-tie at the pool's edge
    got = _pool(sizes, costs, equities, side, pool)
    if len(exact) > pool:
        edge, after = (
            _score(*_args(exact[pool - 1], sizes, costs, equities)),
            _score(*_args(exact[pool], sizes, costs, equities)),
        )
        if edge > after * (1 + 1e-6) + 1:
            assert set(exact[:pool]) <= set(got)
    else:
        assert set(exact) <= set(got)


def _args(i: int, sizes: list[int], costs: list[int], equities: list[int]) -> tuple[int, int, int]:
    return sizes[i], costs[i], equities[i]


def test_bankrupt_or_costless_counterparties_rank_first_and_the_pool_is_capped() -> None:
    size = np.array([-1.0, -1.0, 1.0, 1.0, -2.0])
    cost = np.array([-50_000.0, -45_000.0, 0.0, 30_000.0, -30_000.0])  # row 4 sold at 15,000: a loss
    equity = np.array([20_000.0, -10.0, 5_000.0, 10_000.0, 100.0])
    # a bankrupt long: shorts in profit; the bankrupt short first (no positive equity)
    assert adl_pool(size, cost, equity, price=40_000.0, side=1, pool=10).tolist() == [1, 0]
    assert adl_pool(size, cost, equity, price=40_000.0, side=1, pool=1).tolist() == [1]
    # a bankrupt short: longs in profit; the one with no cost basis first
    assert adl_pool(size, cost, equity, price=40_000.0, side=-1, pool=5).tolist() == [2, 3]
    assert _score(WAD, 0, WAD) == UINT256_MAX


def test_by_gain_ranks_by_unrealized_profit() -> None:
    """The gains method ranks lists by unrealized gain: equity and cost basis do not matter."""
    size = np.array([-1.0, -1.0, 1.0, 1.0, -2.0])
    cost = np.array([-50_000.0, -45_000.0, 0.0, 30_000.0, -30_000.0])
    equity = np.array([20_000.0, -10.0, 5_000.0, 10_000.0, 100.0])
    # shorts' gains at 40,000: row 0 10,000, row 1 5,000 (bankrupt, first by ADL score), row 4 a loss
    assert adl_pool(size, cost, equity, price=40_000.0, side=1, pool=10).tolist() == [1, 0]
    assert adl_pool(size, cost, equity, price=40_000.0, side=1, pool=10, by_gain=True).tolist() == [0, 1]
    assert adl_pool(size, cost, equity, price=40_000.0, side=-1, pool=1, by_gain=True).tolist() == [2]


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"price": 0.0}, "price"),
        ({"price": float("nan")}, "price"),
        ({"side": 0}, "side"),
        ({"pool": 0}, "pool"),
        ({"equity": np.zeros(2)}, "equity"),
        ({"open_notional": np.array([np.nan, 1.0, 2.0])}, "open_notional"),
        ({"by_gain": 1}, "by_gain"),
    ],
)
def test_bad_input_names_the_argument(kwargs: dict[str, object], named: str) -> None:
    args: dict[str, object] = {
        "size": np.ones(3),
        "open_notional": np.ones(3),
        "equity": np.ones(3),
        "price": 1.0,
        "side": -1,
        "pool": 3,
    } | kwargs
    with pytest.raises(InvalidParameter, match=named):
        adl_pool(**args)  # type: ignore[arg-type]
