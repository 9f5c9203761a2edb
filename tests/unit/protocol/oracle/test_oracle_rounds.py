"""Round records: phase packing, ABI ranges, Pyth exponent conversion."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import InvalidParameter
from protocol.oracle.rounds import (
    MAX_PHASE_ID,
    PythPrice,
    RoundData,
    aggregator_round_of,
    compose_round_id,
    feed_to_wad,
    phase_of,
)


def test_real_round_id_unpacks_into_phase_and_aggregator_round() -> None:
    # USDT/USD depeg round 2022-05-12 from the etherisc history.
    assert phase_of(36893488147419103705) == 2
    assert aggregator_round_of(36893488147419103705) == 473
    assert compose_round_id(2, 473) == 36893488147419103705
    assert compose_round_id(1, 1) == 18446744073709551617


@given(st.integers(0, MAX_PHASE_ID), st.integers(0, 2**64 - 1))
def test_round_id_packing_round_trips(phase_id: int, agg_round: int) -> None:
    rid = compose_round_id(phase_id, agg_round)
    assert (phase_of(rid), aggregator_round_of(rid)) == (phase_id, agg_round)


def test_round_data_properties() -> None:
    rd = RoundData(compose_round_id(3, 9), 100_000_000, 10, 20, compose_round_id(3, 8))
    assert (rd.phase_id, rd.aggregator_round_id) == (3, 9)
    assert rd.is_stale_round is True


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("round_id", {"round_id": 2**80}),
        ("answer", {"answer": 2**255}),
        ("updated_at", {"updated_at": -1}),
        ("answered_in_round", {"answered_in_round": True}),
    ],
)
def test_round_data_rejects_values_outside_abi_types(field: str, kwargs: dict[str, int]) -> None:
    base = {"round_id": 1, "answer": 1, "started_at": 0, "updated_at": 0, "answered_in_round": 1}
    with pytest.raises(InvalidParameter, match=field):
        RoundData(**(base | kwargs))


def test_invalid_records_are_still_representable() -> None:
    # The guards, not the record, reject a zero round or a zero answer.
    rd = RoundData(0, 0, 0, 0, 0)
    assert (rd.round_id, rd.answer) == (0, 0)


def test_feed_answer_converts_exactly() -> None:
    assert feed_to_wad(95_181_623, 8) == 951_816_230_000_000_000
    assert feed_to_wad(-1, 8) == -10_000_000_000


def test_pyth_to_wad_is_exact_for_every_exponent() -> None:
    px = PythPrice(6_512_345_678_901, 1_234_567, -8, 100, 6_500_000_000_000, 1)
    assert px.to_wad(px.price) == 65_123_456_789_010_000_000_000
    assert px.to_wad(px.conf) == 12_345_670_000_000_000
    assert PythPrice(7, 0, -18, 0, 7, 0).to_wad(7) == 7
    assert PythPrice(7, 0, 2, 0, 7, 0).to_wad(7) == 700 * 10**18


def test_pyth_rejects_exponent_outside_exact_range() -> None:
    with pytest.raises(InvalidParameter, match=r"expo must be an integer in \[-18, 18\], got -19"):
        PythPrice(1, 0, -19, 0, 1, 0)
