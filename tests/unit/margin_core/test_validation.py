"""Every public entry of the margin core refuses bad input with one clear InvalidParameter."""

from __future__ import annotations

import math

import numpy as np
import pytest
from builders import limb_book
from conftest import PRICES, market_states, state_of, trader

from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.margin_core import MarginBook, MarginOutputs, WadLimbs, evaluate, evaluate_rows, liquidation_candidates
from protocol.params import MarketKind, MarketParams, Params
from protocol.state import Position


@pytest.fixture
def book(params: Params) -> MarginBook:
    return MarginBook.from_state(state_of({"0x" + "aa" * 20: trader(10**4 * WAD, btc=WAD)}), params)


@pytest.mark.parametrize(
    ("price", "message"),
    [
        (math.nan, "is NaN"),
        (60_000.0, "float"),
        (np.float64(1.0), "float"),
        (0, "must be positive"),
        (-WAD, "must be positive"),
        (True, "boolean"),
        ("60000", "must be an integer"),
        (2**256, "exceeds int256"),
    ],
)
def test_bad_prices_name_the_feed(book: MarginBook, price: object, message: str) -> None:
    with pytest.raises(InvalidParameter, match=rf"prices\[0\] \(feed of market 0 \(BTC-PERP\)\).*{message}"):
        evaluate(book, {0: price, 1: PRICES[1]})


def test_a_missing_feed_is_named(book: MarginBook) -> None:
    with pytest.raises(InvalidParameter, match="no entry for feed 1, needed by market 1"):
        evaluate(book, {0: PRICES[0]})


def test_prices_must_be_a_mapping(book: MarginBook) -> None:
    with pytest.raises(InvalidParameter, match="mapping"):
        evaluate(book, [PRICES[0], PRICES[1]])  # type: ignore[arg-type]


def test_numpy_integer_prices_are_accepted(book: MarginBook) -> None:
    batch = evaluate(book, {0: np.int64(9 * WAD), 1: np.uint64(2 * WAD)})  # BTC at 9 USD, ETH at 2
    assert bool(batch.liquidatable[0]) is True


def read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@pytest.mark.parametrize(
    ("out", "message"),
    [
        (MarginOutputs.allocate(2), r"shape \(1,\)"),
        (
            MarginOutputs(*(np.empty(1, np.float32) for _ in range(3)), *(np.empty(1, bool) for _ in range(3))),
            "float64",
        ),
        (
            MarginOutputs(*(read_only(np.empty(1)) for _ in range(3)), *(np.empty(1, bool) for _ in range(3))),
            "writable",
        ),
        ("buffers", "MarginOutputs"),
    ],
)
def test_malformed_outputs_are_refused(book: MarginBook, out: object, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        evaluate(book, PRICES, out=out)  # type: ignore[arg-type]


def test_outputs_allocation_checks_the_count() -> None:
    with pytest.raises(InvalidParameter, match="n_accounts"):
        MarginOutputs.allocate(-1)


def test_evaluate_and_candidates_check_their_first_argument() -> None:
    with pytest.raises(InvalidParameter, match="MarginBook"):
        evaluate("book", PRICES)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="MarginBatch"):
        liquidation_candidates("batch")  # type: ignore[arg-type]


def test_account_index_is_checked(book: MarginBook) -> None:
    assert book.account(0).positions[0].size == WAD
    with pytest.raises(InvalidParameter, match="account index"):
        book.account(1)
    assert book.accounts([0, 0]) == [book.account(0), book.account(0)]
    for bad in ([1], [-1], [True], [0.0]):
        with pytest.raises(InvalidParameter, match="account index"):
            book.accounts(bad)
    with pytest.raises(InvalidParameter, match="sequence of row numbers"):
        book.accounts(0)  # type: ignore[arg-type]


def test_accounts_of_a_limb_book_are_gathered_row_by_row(params: Params) -> None:
    rich, poor = trader(10**4 * WAD, btc=WAD), trader(-3 * WAD - 7, btc=-2 * WAD)
    book = limb_book([rich, poor], params, market_states())
    both = book.accounts([1, 0])
    assert both == [book.account(1), book.account(0)]
    assert (both[0].balance, both[0].positions[0].size) == (-3 * WAD - 7, -2 * WAD)
    assert (both[1].balance, both[1].positions[0].size) == (10**4 * WAD, WAD)


def limbs(*shape: int) -> WadLimbs:
    return WadLimbs(np.zeros(shape, np.int64), np.zeros(shape, np.int64))


def test_array_shapes_are_checked(params: Params) -> None:
    fields = {
        "balance": limbs(3),
        "size": limbs(3, 2),
        "open_notional": limbs(3, 2),
        "funding_snapshot": limbs(3, 2),
        "loss_snapshot": limbs(3, 2),
        "collateral": limbs(3, 1),
    }
    assert MarginBook.from_arrays(params, market_states(), **fields).n_accounts == 3  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match=r"size must have shape \(N, M\) = \(3, 2\)"):
        MarginBook.from_arrays(params, market_states(), **{**fields, "size": limbs(3, 3)})  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match=r"collateral must have shape \(N, C\) = \(3, 1\)"):
        MarginBook.from_arrays(params, market_states(), **{**fields, "collateral": limbs(3)})  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match=r"balance must have shape \(N,\)"):
        MarginBook.from_arrays(params, market_states(), **{**fields, "balance": limbs(3, 1)})  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="loss_snapshot must be WadLimbs"):
        MarginBook.from_arrays(params, market_states(), **{**fields, "loss_snapshot": np.zeros((3, 2))})  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="labels must be 3 strings"):
        MarginBook.from_arrays(params, market_states(), **fields, labels=["a"])  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="now_s"):
        MarginBook.from_arrays(params, market_states(), **fields, now_s=-1)  # type: ignore[arg-type]


def test_negative_collateral_is_refused(params: Params) -> None:
    bad = trader(weth=WAD)
    bad.collateral[1] = -1
    with pytest.raises(InvalidParameter, match="collateral amounts must be >= 0"):
        limb_book([bad], params, market_states())
    with pytest.raises(InvalidParameter, match="negative amount"):
        MarginBook.from_state(state_of({"0x" + "aa" * 20: bad}), params)


def test_market_states_are_required(params: Params) -> None:
    with pytest.raises(InvalidParameter, match="no MarketState for market 1"):
        limb_book([trader(btc=WAD)], params, {0: market_states()[0]})


def test_option_positions_are_left_to_portfolio_margin(params: Params) -> None:
    call = MarketParams(
        2,
        "BTC-65000-C",
        0,
        initial_margin_fraction_wad=WAD // 10,
        maintenance_share_wad=WAD // 2,
        kind=MarketKind.CALL,
        strike_wad=65_000 * WAD,
        expiry_s=10**6,
        volatility_wad=WAD // 2,
    )
    with_option = Params(params.protocol, params.feeds, (*params.markets, call), params.collaterals)
    holder = trader(btc=WAD)
    holder.positions[2] = Position(size=WAD, open_notional=1_000 * WAD)
    markets = {**market_states(), 2: market_states()[0]}
    with pytest.raises(InvalidParameter, match="not a perpetual"):
        MarginBook.from_state(state_of({"0x" + "aa" * 20: holder}, markets), with_option)
    perp_only = MarginBook.from_state(state_of({"0x" + "aa" * 20: trader(btc=WAD)}, markets), with_option)
    assert [mp.market_id for mp in perp_only.perpetuals] == [0, 1]
    assert perp_only.screen.size.shape == (1, 2)


def test_screen_arrays_are_read_only(book: MarginBook) -> None:
    with pytest.raises(ValueError, match="read-only"):
        book.screen.balance[0] = 1.0


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([0], "1-D numpy integer array"),
        (np.zeros((1, 1), dtype=np.int64), "1-D numpy integer array"),
        (np.zeros(1), "1-D numpy integer array"),
        (np.asarray([1]), r"in \[0, 1\)"),
        (np.asarray([-1]), r"in \[0, 1\)"),
    ],
)
def test_chosen_rows_are_checked(book: MarginBook, rows: object, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        evaluate_rows(book, PRICES, rows)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="MarginBook"):
        evaluate_rows(object(), PRICES, np.zeros(0, dtype=np.int64))  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="shape"):
        evaluate_rows(book, PRICES, np.zeros(2, dtype=np.int64), out=MarginOutputs.allocate(1))
