# pragma version ~=0.4.3
"""
@title oracle state machine (module)
@notice Liquity v1 primary/fallback decision table, bit-exact with protocol.oracle.machine.step.
        BOTH_UNTRUSTED is left on the sources' own consecutive agreement (Track), never against
        the last good price frozen while untrusted (F-02).
@dev Status: 0 PRIMARY_WORKING, 1 USING_FALLBACK_PRIMARY_UNTRUSTED, 2 BOTH_UNTRUSTED,
     3 USING_FALLBACK_PRIMARY_FROZEN, 4 USING_PRIMARY_FALLBACK_UNTRUSTED.
     Health: 0 WORKING, 1 JUMPED, 2 FROZEN, 3 BROKEN. Source: 0 none, 1 primary, 2 fallback.
"""

from . import guards

PRIMARY_WORKING: constant(uint8) = 0
USING_FALLBACK_PRIMARY_UNTRUSTED: constant(uint8) = 1
BOTH_UNTRUSTED: constant(uint8) = 2
USING_FALLBACK_PRIMARY_FROZEN: constant(uint8) = 3
USING_PRIMARY_FALLBACK_UNTRUSTED: constant(uint8) = 4

WORKING: constant(uint8) = 0
JUMPED: constant(uint8) = 1
FROZEN: constant(uint8) = 2
BROKEN: constant(uint8) = 3

NO_SOURCE: constant(uint8) = 0
PRIMARY: constant(uint8) = 1
FALLBACK: constant(uint8) = 2

SOFT_GUARDS: constant(uint256) = (1 << guards.G_HEARTBEAT) | (1 << guards.G_MOVE)


struct Track:
    price_wad: uint256
    at: uint256
    agreeing: uint256


@internal
@pure
def classify(v: guards.Verdict) -> uint8:
    """
    @notice BROKEN (a hard guard failed or no price), FROZEN (stale), JUMPED (moved), WORKING.
    @param v The source's verdict.
    @return The health code.
    """
    if v.failed & ~SOFT_GUARDS != 0 or v.price_wad == 0:
        return BROKEN
    if v.failed & (1 << guards.G_HEARTBEAT) != 0:
        return FROZEN
    if v.failed & (1 << guards.G_MOVE) != 0:
        return JUMPED
    return WORKING


@internal
@pure
def track(t: Track, v: guards.Verdict, max_move_wad: uint256) -> Track:
    """
    @notice The source's track after one more reading (protocol.oracle.machine.track): a broken
            or stale reading resets the count, a reading no later than the last live one changes
            nothing, a new live reading is counted when within `max_move_wad` of the last one
            (the first always is) and restarts the count otherwise.
    @param t The source's track.
    @param v The reading's verdict.
    @param max_move_wad The source's own move threshold (WAD fraction).
    @return The new track.
    """
    health: uint8 = self.classify(v)
    if health == BROKEN or health == FROZEN:
        return Track(price_wad=t.price_wad, at=t.at, agreeing=0)
    if t.price_wad != 0 and v.updated_at <= t.at:
        return t
    agreeing: uint256 = 0
    if t.price_wad == 0 or guards.is_within_relative(v.price_wad, t.price_wad, max_move_wad):
        agreeing = t.agreeing + 1
    return Track(price_wad=v.price_wad, at=v.updated_at, agreeing=agreeing)


@internal
@pure
def decide(status: uint8, p: uint8, f: uint8, p_price: uint256, f_price: uint256, max_diff_wad: uint256, pt: Track, ft: Track, n: uint256) -> (uint8, uint8):
    """
    @notice Liquity v1 fetchPrice table: the next status and the source to store a price from.
    @param status Current status.
    @param p Primary health.
    @param f Fallback health.
    @param p_price Primary price (WAD, 0 = none).
    @param f_price Fallback price (WAD, 0 = none).
    @param max_diff_wad Largest relative difference for the two prices to count as similar.
    @param pt The primary's track after this reading.
    @param ft The fallback's track after this reading.
    @param n Consecutive agreeing readings a source needs to lead out of BOTH_UNTRUSTED.
    @return (new status, source) with source 0 when no price is trusted.
    """
    f_broken: bool = f == BROKEN or f == JUMPED
    f_src: uint8 = FALLBACK
    if f == FROZEN:
        f_src = NO_SOURCE
    close: bool = False
    if p_price > 0 and f_price > 0:
        close = guards.is_within_relative(max(p_price, f_price), min(p_price, f_price), max_diff_wad)
    similar: bool = close and (p == WORKING or p == JUMPED) and f == WORKING

    if status == PRIMARY_WORKING:
        if p == BROKEN:
            if f_broken:
                return BOTH_UNTRUSTED, NO_SOURCE
            return USING_FALLBACK_PRIMARY_UNTRUSTED, f_src
        if p == FROZEN:
            if f_broken:
                return USING_PRIMARY_FALLBACK_UNTRUSTED, NO_SOURCE
            return USING_FALLBACK_PRIMARY_FROZEN, f_src
        if p == JUMPED:
            if f_broken:
                return BOTH_UNTRUSTED, NO_SOURCE
            if similar:
                return PRIMARY_WORKING, PRIMARY
            return USING_FALLBACK_PRIMARY_UNTRUSTED, f_src
        if f_broken:
            return USING_PRIMARY_FALLBACK_UNTRUSTED, PRIMARY
        return PRIMARY_WORKING, PRIMARY
    if status == USING_FALLBACK_PRIMARY_UNTRUSTED:
        if similar:
            return PRIMARY_WORKING, PRIMARY
        if f_broken:
            return BOTH_UNTRUSTED, NO_SOURCE
        return USING_FALLBACK_PRIMARY_UNTRUSTED, f_src
    if status == BOTH_UNTRUSTED:
        if pt.agreeing != 0 and ft.agreeing != 0 and close:
            return PRIMARY_WORKING, PRIMARY
        if pt.agreeing >= n:
            return USING_PRIMARY_FALLBACK_UNTRUSTED, PRIMARY
        if ft.agreeing >= n and pt.agreeing == 0:
            return USING_FALLBACK_PRIMARY_UNTRUSTED, FALLBACK
        return BOTH_UNTRUSTED, NO_SOURCE
    if status == USING_FALLBACK_PRIMARY_FROZEN:
        if p == BROKEN or (p == JUMPED and not similar):
            if f_broken:
                return BOTH_UNTRUSTED, NO_SOURCE
            return USING_FALLBACK_PRIMARY_UNTRUSTED, f_src
        if p == FROZEN:
            if f_broken:
                return USING_PRIMARY_FALLBACK_UNTRUSTED, NO_SOURCE
            return USING_FALLBACK_PRIMARY_FROZEN, f_src
        if f_broken:
            return USING_PRIMARY_FALLBACK_UNTRUSTED, PRIMARY
        if f == FROZEN:
            return USING_FALLBACK_PRIMARY_FROZEN, NO_SOURCE
        if similar:
            return PRIMARY_WORKING, PRIMARY
        return USING_FALLBACK_PRIMARY_UNTRUSTED, FALLBACK
    # USING_PRIMARY_FALLBACK_UNTRUSTED
    if p == BROKEN:
        return BOTH_UNTRUSTED, NO_SOURCE
    if p == FROZEN:
        return USING_PRIMARY_FALLBACK_UNTRUSTED, NO_SOURCE
    if similar:
        return PRIMARY_WORKING, PRIMARY
    if p == JUMPED:
        return BOTH_UNTRUSTED, NO_SOURCE
    return USING_PRIMARY_FALLBACK_UNTRUSTED, PRIMARY
