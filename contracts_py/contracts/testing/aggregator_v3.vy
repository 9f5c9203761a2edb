# pragma version ~=0.4.3
"""
@title AggregatorV3 test feed with settable rounds
@notice Test-only Chainlink proxy stand-in. Rounds are set verbatim (any answer, any timestamps,
        stale `answeredInRound`, round id zero) so that every oracle guard can be driven to its
        boundary. Round ids are proxy round ids: phase_id << 64 | aggregator_round_id.
        Answers are in feed units (`decimals`), timestamps in Unix seconds. Not for production.
@dev Anyone may set rounds: test contract. Revert strings carry the prefix "aggregator_v3:".
"""

from interfaces import IAggregatorV3

implements: IAggregatorV3


struct Round:
    answer: int256
    started_at: uint256
    updated_at: uint256
    answered_in_round: uint80
    exists: bool


event RoundSet:
    round_id: indexed(uint80)
    answer: int256
    started_at: uint256
    updated_at: uint256
    answered_in_round: uint80


event PhaseSet:
    phase_id: uint16


PHASE_OFFSET: constant(uint256) = 64
AGGREGATOR_ROUND_MASK: constant(uint256) = 2**64 - 1

decimals: public(uint8)
description: public(String[64])
# while set, latestRoundData reverts (a broken or paused aggregator)
reverting: public(bool)
version: public(uint256)
phaseId: public(uint16)
latest_round_id: public(uint80)
rounds: HashMap[uint80, Round]


@deploy
def __init__(_decimals: uint8, _description: String[64]):
    """
    @notice Create a feed in phase 1 with no rounds (latestRoundData returns zeros).
    @param _decimals Feed decimals (8 for USD pairs, at most 18).
    @param _description Pair description, e.g. "ETH / USD".
    """
    assert _decimals <= 18, "aggregator_v3: decimals above 18"
    self.decimals = _decimals
    self.description = _description
    self.version = 4
    self.phaseId = 1


@internal
def _store(_round_id: uint80, _answer: int256, _started_at: uint256, _updated_at: uint256, _answered_in_round: uint80):
    """
    @notice Store one round and make it the latest.
    @param _round_id Proxy round id.
    @param _answer Answer in feed units.
    @param _started_at Round start, Unix seconds.
    @param _updated_at Answer time, Unix seconds.
    @param _answered_in_round Round in which the answer was computed.
    """
    self.rounds[_round_id] = Round(
        answer=_answer,
        started_at=_started_at,
        updated_at=_updated_at,
        answered_in_round=_answered_in_round,
        exists=True,
    )
    self.latest_round_id = _round_id
    log RoundSet(
        round_id=_round_id,
        answer=_answer,
        started_at=_started_at,
        updated_at=_updated_at,
        answered_in_round=_answered_in_round,
    )


@external
def set_round(_round_id: uint80, _answer: int256, _started_at: uint256, _updated_at: uint256, _answered_in_round: uint80):
    """
    @notice Store a round verbatim and make it the latest (no validation: guards are under test).
    @param _round_id Proxy round id (phase in the top bits); may be zero.
    @param _answer Answer in feed units; may be zero or negative.
    @param _started_at Round start, Unix seconds.
    @param _updated_at Answer time, Unix seconds; may lie in the future.
    @param _answered_in_round Round in which the answer was computed; below `_round_id` = stale.
    """
    self._store(_round_id, _answer, _started_at, _updated_at, _answered_in_round)


@internal
def _push(_answer: int256, _updated_at: uint256) -> uint80:
    """
    @notice Store the next round of the current phase (round 1 after a phase change).
    @param _answer Answer in feed units.
    @param _updated_at Answer time (also the round start), Unix seconds.
    @return The new proxy round id.
    """
    phase: uint256 = convert(self.phaseId, uint256)
    latest: uint256 = convert(self.latest_round_id, uint256)
    next_round: uint256 = 1
    if latest >> PHASE_OFFSET == phase:
        next_round = (latest & AGGREGATOR_ROUND_MASK) + 1
    assert next_round <= AGGREGATOR_ROUND_MASK, "aggregator_v3: round overflow"
    round_id: uint80 = convert((phase << PHASE_OFFSET) | next_round, uint80)
    self._store(round_id, _answer, _updated_at, _updated_at, round_id)
    return round_id


@external
def push_answer(_answer: int256, _updated_at: uint256) -> uint80:
    """
    @notice Publish the next round of the current phase with a given time (replays history).
    @param _answer Answer in feed units.
    @param _updated_at Answer time (also the round start), Unix seconds.
    @return The new proxy round id.
    """
    return self._push(_answer, _updated_at)


@external
def publish(_answer: int256) -> uint80:
    """
    @notice Publish the next round of the current phase at `block.timestamp`, as a live feed does.
    @param _answer Answer in feed units.
    @return The new proxy round id.
    """
    return self._push(_answer, block.timestamp)


@external
def set_phase(_phase_id: uint16):
    """
    @notice Switch the proxy to a new aggregator phase; rounds of older phases stay readable.
    @param _phase_id New phase id (non-zero).
    """
    assert _phase_id != 0, "aggregator_v3: phase zero"
    self.phaseId = _phase_id
    log PhaseSet(phase_id=_phase_id)


@external
def set_decimals(_decimals: uint8):
    """
    @notice Change the feed decimals (to test decimals handling).
    @param _decimals New decimals, at most 18.
    """
    assert _decimals <= 18, "aggregator_v3: decimals above 18"
    self.decimals = _decimals


@external
@view
def getRoundData(_roundId: uint80) -> (uint80, int256, uint256, uint256, uint80):
    """
    @notice One stored round.
    @dev Reverts for a round that was never set, as Chainlink proxies do.
    @param _roundId Proxy round id.
    @return roundId, the requested round id.
    @return answer in feed units.
    @return startedAt, Unix seconds.
    @return updatedAt, Unix seconds.
    @return answeredInRound.
    """
    r: Round = self.rounds[_roundId]
    assert r.exists, "aggregator_v3: no data present"
    return _roundId, r.answer, r.started_at, r.updated_at, r.answered_in_round


@external
def set_reverting(_reverting: bool):
    """
    @notice Make latestRoundData revert (true) or answer again (false).
    @param _reverting Whether reads revert.
    """
    self.reverting = _reverting


@external
@view
def latestRoundData() -> (uint80, int256, uint256, uint256, uint80):
    """
    @notice The latest round; all zeros before the first round is set.
    @dev Reverts "aggregator_v3: reverting" while `reverting` is set.
    @return roundId, proxy round id.
    @return answer in feed units.
    @return startedAt, Unix seconds.
    @return updatedAt, Unix seconds.
    @return answeredInRound.
    """
    assert not self.reverting, "aggregator_v3: reverting"
    rid: uint80 = self.latest_round_id
    r: Round = self.rounds[rid]
    return rid, r.answer, r.started_at, r.updated_at, r.answered_in_round
