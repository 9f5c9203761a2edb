# pragma version ~=0.4.3
"""
@title oracle guards (module)
@notice Pure guard predicates on one oracle reading, bit-exact with protocol/oracle/guards.py.
        Every ratio is a WAD fraction, every comparison exact integer cross-multiplication and
        every boundary inclusive on the passing side (a reading exactly `heartbeat_s` old
        passes, one second more fails).
@dev A verdict is two bit masks over the guards, in contract order (bit i = guard i):
     0 sequencer_status, 1 sequencer_up, 2 sequencer_grace, 3 round_id, 4 phase,
     5 answer_positive, 6 not_future, 7 heartbeat, 8 answered_in_round, 9 confidence,
     10 ema_deviation, 11 move, 12 source_call (the source's call returned well-formed
     data; when it did not, every guard on the reading is skipped: `failed_call`).
     A guard is FAILED (bit in `failed`), SKIPPED (bit in
     `skipped`: not configured, no reference yet, or its input already failed) or PASSED.
     The revert reason of guard i is `reason_of(i)`, identical to the REASON_* strings.
"""

WAD: constant(uint256) = 10**18
MAX_DECIMALS: constant(uint256) = 18
PHASE_OFFSET: constant(uint256) = 64
SEQUENCER_UP: constant(int256) = 0
SEQUENCER_DOWN: constant(int256) = 1

G_SEQUENCER_STATUS: constant(uint256) = 0
G_SEQUENCER_UP: constant(uint256) = 1
G_SEQUENCER_GRACE: constant(uint256) = 2
G_ROUND_ID: constant(uint256) = 3
G_PHASE: constant(uint256) = 4
G_ANSWER_POSITIVE: constant(uint256) = 5
G_NOT_FUTURE: constant(uint256) = 6
G_HEARTBEAT: constant(uint256) = 7
G_ANSWERED_IN_ROUND: constant(uint256) = 8
G_CONFIDENCE: constant(uint256) = 9
G_EMA_DEVIATION: constant(uint256) = 10
G_MOVE: constant(uint256) = 11
G_SOURCE_CALL: constant(uint256) = 12
N_GUARDS: constant(uint256) = 13
ALL_GUARDS: constant(uint256) = 2**13 - 1
# the guards on a reading: all but the sequencer's and source_call
READING_GUARDS: constant(uint256) = 2**12 - 8

REASON_SEQUENCER_INVALID: constant(String[40]) = "oracle: sequencer status invalid"
REASON_SEQUENCER_DOWN: constant(String[40]) = "oracle: sequencer down"
REASON_SEQUENCER_GRACE: constant(String[40]) = "oracle: sequencer grace period"
REASON_ROUND_ID_ZERO: constant(String[40]) = "oracle: round id zero"
REASON_OLD_PHASE: constant(String[40]) = "oracle: old phase"
REASON_NON_POSITIVE: constant(String[40]) = "oracle: non-positive answer"
REASON_FUTURE: constant(String[40]) = "oracle: future timestamp"
REASON_STALE: constant(String[40]) = "oracle: stale"
REASON_STALE_ROUND: constant(String[40]) = "oracle: stale round"
REASON_CONFIDENCE: constant(String[40]) = "oracle: confidence too wide"
REASON_EMA_DEVIATION: constant(String[40]) = "oracle: deviates from ema"
REASON_MOVE: constant(String[40]) = "oracle: move too large"
REASON_CALL_FAILED: constant(String[40]) = "oracle: source call failed"


struct GuardConfig:
    heartbeat_s: uint256
    max_move_wad: uint256
    max_ema_deviation_wad: uint256
    max_conf_ratio_wad: uint256


struct Sequencer:
    enabled: bool
    answer: int256
    started_at: uint256
    grace_s: uint256


struct Verdict:
    failed: uint256
    skipped: uint256
    price_wad: uint256
    updated_at: uint256


@internal
@pure
def reason_of(guard: uint256) -> String[40]:
    """
    @notice The revert reason of one guard (the REASON_* string of protocol/oracle/guards.py).
    @param guard Guard index (0..12).
    @return The module-prefixed reason.
    """
    if guard == G_SEQUENCER_STATUS:
        return REASON_SEQUENCER_INVALID
    if guard == G_SEQUENCER_UP:
        return REASON_SEQUENCER_DOWN
    if guard == G_SEQUENCER_GRACE:
        return REASON_SEQUENCER_GRACE
    if guard == G_ROUND_ID:
        return REASON_ROUND_ID_ZERO
    if guard == G_PHASE:
        return REASON_OLD_PHASE
    if guard == G_ANSWER_POSITIVE:
        return REASON_NON_POSITIVE
    if guard == G_NOT_FUTURE:
        return REASON_FUTURE
    if guard == G_HEARTBEAT:
        return REASON_STALE
    if guard == G_ANSWERED_IN_ROUND:
        return REASON_STALE_ROUND
    if guard == G_CONFIDENCE:
        return REASON_CONFIDENCE
    if guard == G_EMA_DEVIATION:
        return REASON_EMA_DEVIATION
    if guard == G_MOVE:
        return REASON_MOVE
    return REASON_CALL_FAILED


@internal
@pure
def first_failure(failed: uint256) -> String[40]:
    """
    @notice The reason of the lowest failed guard (the one a require reverts with), or "".
    @param failed Bit mask of failed guards.
    @return The reason, empty when no guard failed.
    """
    for i: uint256 in range(N_GUARDS):
        if failed & (1 << i) != 0:
            return self.reason_of(i)
    return ""


@internal
@pure
def is_within_relative(x: uint256, reference: uint256, max_ratio_wad: uint256) -> bool:
    """
    @notice |x - reference| * WAD <= max_ratio_wad * reference (exact; reference > 0).
    @param x Compared value (WAD).
    @param reference Reference value (WAD).
    @param max_ratio_wad Largest relative distance (WAD fraction).
    @return Whether x is within the band.
    """
    diff: uint256 = 0
    if x > reference:
        diff = x - reference
    else:
        diff = reference - x
    return diff * WAD <= max_ratio_wad * reference


@internal
@pure
def is_fresh(updated_at: uint256, now: uint256, heartbeat_s: uint256) -> bool:
    """
    @notice now - updated_at <= heartbeat_s, written without overflow or underflow.
    @param updated_at Reading time, Unix seconds.
    @param now Current time.
    @param heartbeat_s Largest accepted age.
    @return Whether the reading is fresh.
    """
    return updated_at >= now or now - updated_at <= heartbeat_s


@internal
@pure
def _flag(failed: uint256, skipped: uint256, guard: uint256, ran: bool, ok: bool) -> (uint256, uint256):
    """
    @notice Record one guard outcome in the masks.
    @param failed Failed mask so far.
    @param skipped Skipped mask so far.
    @param guard Guard index.
    @param ran False when the guard is skipped.
    @param ok Outcome when it ran.
    @return The updated (failed, skipped) masks.
    """
    if not ran:
        return failed, skipped | (1 << guard)
    if not ok:
        return failed | (1 << guard), skipped
    return failed, skipped


@internal
@pure
def _sequencer(seq: Sequencer, now: uint256) -> (uint256, uint256):
    """
    @notice Sequencer guards: status valid (0 or 1, 0 < startedAt <= now), up, grace over.
    @param seq The uptime feed's latest status; `enabled` False on L1 (all skipped).
    @param now Current time.
    @return The (failed, skipped) masks of guards 0..2.
    """
    if not seq.enabled:
        return 0, (1 << G_SEQUENCER_STATUS) | (1 << G_SEQUENCER_UP) | (1 << G_SEQUENCER_GRACE)
    failed: uint256 = 0
    skipped: uint256 = 0
    valid: bool = (seq.answer == SEQUENCER_UP or seq.answer == SEQUENCER_DOWN) and seq.started_at > 0 and seq.started_at <= now
    up: bool = valid and seq.answer == SEQUENCER_UP
    failed, skipped = self._flag(failed, skipped, G_SEQUENCER_STATUS, True, valid)
    failed, skipped = self._flag(failed, skipped, G_SEQUENCER_UP, valid, up)
    failed, skipped = self._flag(failed, skipped, G_SEQUENCER_GRACE, up, up and seq.started_at + seq.grace_s < now)
    return failed, skipped


@internal
@pure
def _price_guards(failed: uint256, skipped: uint256, cfg: GuardConfig, price_wad: uint256, has_ema: bool, ema_wad: int256, last_good_wad: uint256) -> (uint256, uint256):
    """
    @notice EMA-deviation and move guards (skipped without a price, reference or threshold).
    @param failed Failed mask so far.
    @param skipped Skipped mask so far.
    @param cfg Thresholds.
    @param price_wad Reading price (WAD), 0 when the answer was not positive.
    @param has_ema Whether the source has an EMA.
    @param ema_wad EMA price (WAD, signed).
    @param last_good_wad Last good price (WAD), 0 before the first one.
    @return The updated masks.
    """
    f: uint256 = failed
    s: uint256 = skipped
    ema_ran: bool = price_wad > 0 and has_ema and cfg.max_ema_deviation_wad > 0
    ema_ok: bool = False
    if ema_ran and ema_wad > 0:
        ema_ok = self.is_within_relative(price_wad, convert(ema_wad, uint256), cfg.max_ema_deviation_wad)
    f, s = self._flag(f, s, G_EMA_DEVIATION, ema_ran, ema_ok)
    move_ran: bool = price_wad > 0 and last_good_wad > 0
    move_ok: bool = False
    if move_ran:
        move_ok = self.is_within_relative(price_wad, last_good_wad, cfg.max_move_wad)
    f, s = self._flag(f, s, G_MOVE, move_ran, move_ok)
    return f, s


@internal
@pure
def check_round(
    cfg: GuardConfig,
    round_id: uint80,
    answer: int256,
    updated_at: uint256,
    answered_in_round: uint80,
    decimals: uint8,
    current_phase: uint16,
    last_good_wad: uint256,
    seq: Sequencer,
    now: uint256,
) -> Verdict:
    """
    @notice Every guard on one Chainlink round (protocol.oracle.guards.check_round).
    @param cfg Thresholds of this source.
    @param round_id Proxy round id (phase << 64 | aggregator round).
    @param answer Answer in feed units.
    @param updated_at Answer time.
    @param answered_in_round Round the answer was computed in.
    @param decimals Feed decimals (at most 18).
    @param current_phase The proxy's phaseId().
    @param last_good_wad Move reference (WAD), 0 = none yet.
    @param seq Sequencer status.
    @param now Current time.
    @return The verdict; price_wad is the WAD answer when positive, else 0.
    """
    failed: uint256 = 0
    skipped: uint256 = 0
    failed, skipped = self._sequencer(seq, now)
    price_wad: uint256 = 0
    if answer > 0:
        price_wad = convert(answer, uint256) * 10**(MAX_DECIMALS - convert(decimals, uint256))
    rid: uint256 = convert(round_id, uint256)
    failed, skipped = self._flag(failed, skipped, G_ROUND_ID, True, rid > 0)
    failed, skipped = self._flag(failed, skipped, G_PHASE, True, rid >> PHASE_OFFSET == convert(current_phase, uint256))
    failed, skipped = self._flag(failed, skipped, G_ANSWER_POSITIVE, True, answer > 0)
    failed, skipped = self._flag(failed, skipped, G_NOT_FUTURE, True, updated_at <= now)
    failed, skipped = self._flag(failed, skipped, G_HEARTBEAT, True, self.is_fresh(updated_at, now, cfg.heartbeat_s))
    failed, skipped = self._flag(failed, skipped, G_ANSWERED_IN_ROUND, True, answered_in_round >= round_id)
    failed, skipped = self._flag(failed, skipped, G_CONFIDENCE, False, False)
    failed, skipped = self._price_guards(failed, skipped, cfg, price_wad, False, 0, last_good_wad)
    return Verdict(failed=failed, skipped=skipped, price_wad=price_wad, updated_at=updated_at)


@internal
@pure
def check_pyth(
    cfg: GuardConfig,
    price: int64,
    conf: uint64,
    expo: int32,
    publish_time: uint256,
    ema_price: int64,
    last_good_wad: uint256,
    seq: Sequencer,
    now: uint256,
) -> Verdict:
    """
    @notice Every guard on one Pyth price (protocol.oracle.guards.check_pyth); round guards skipped.
    @dev An exponent outside [-18, 18] cannot be normalised: the price counts as non-positive.
    @param cfg Thresholds of this source.
    @param price Price at `expo`.
    @param conf Confidence at `expo`.
    @param expo Decimal exponent.
    @param publish_time Publish time.
    @param ema_price EMA price at `expo` (the deviation reference).
    @param last_good_wad Move reference (WAD), 0 = none yet.
    @param seq Sequencer status.
    @param now Current time.
    @return The verdict.
    """
    failed: uint256 = 0
    skipped: uint256 = 0
    failed, skipped = self._sequencer(seq, now)
    expo_ok: bool = expo >= -18 and expo <= 18
    positive: bool = price > 0 and expo_ok
    price_wad: uint256 = 0
    ema_wad: int256 = 0
    if expo_ok:
        scale: uint256 = 10**convert(convert(expo, int256) + 18, uint256)
        ema_wad = convert(ema_price, int256) * convert(scale, int256)
        if positive:
            price_wad = convert(price, uint256) * scale
    failed, skipped = self._flag(failed, skipped, G_ROUND_ID, False, False)
    failed, skipped = self._flag(failed, skipped, G_PHASE, False, False)
    failed, skipped = self._flag(failed, skipped, G_ANSWER_POSITIVE, True, positive)
    failed, skipped = self._flag(failed, skipped, G_NOT_FUTURE, True, publish_time <= now)
    failed, skipped = self._flag(failed, skipped, G_HEARTBEAT, True, self.is_fresh(publish_time, now, cfg.heartbeat_s))
    failed, skipped = self._flag(failed, skipped, G_ANSWERED_IN_ROUND, False, False)
    conf_ran: bool = positive and cfg.max_conf_ratio_wad > 0
    conf_ok: bool = False
    if conf_ran:
        conf_ok = convert(conf, uint256) * WAD <= cfg.max_conf_ratio_wad * convert(price, uint256)
    failed, skipped = self._flag(failed, skipped, G_CONFIDENCE, conf_ran, conf_ok)
    failed, skipped = self._price_guards(failed, skipped, cfg, price_wad, True, ema_wad, last_good_wad)
    return Verdict(failed=failed, skipped=skipped, price_wad=price_wad, updated_at=publish_time)


@internal
@pure
def failed_call(seq: Sequencer, now: uint256) -> Verdict:
    """
    @notice The verdict of a source whose call reverted or returned malformed data
            (protocol.oracle.guards.check_failed_call): the sequencer guards run, every guard on
            the reading is skipped and source_call fails, so the source counts as broken.
    @param seq Sequencer status.
    @param now Current time.
    @return The verdict (no price).
    """
    failed: uint256 = 0
    skipped: uint256 = 0
    failed, skipped = self._sequencer(seq, now)
    return Verdict(failed=failed | (1 << G_SOURCE_CALL), skipped=skipped | READING_GUARDS, price_wad=0, updated_at=0)
