# pragma version ~=0.4.3
"""
@title OracleAdapter
@notice Guarded primary/fallback price feeds pushed into the clearing house. Anyone may
        `poke(feed_id)`: the adapter reads both sources (Chainlink AggregatorV3 or Pyth-style),
        runs every guard (oracle/guards.vy), moves the Liquity v1 state machine
        (oracle/machine.vy), keeps the last good price and an optional one-hop delayed price
        (OSM), and calls the clearing house's `push_price` as its authorised oracle.
        Bit-exact with protocol.oracle.guards / protocol.oracle.machine (reference: contracts_py.oracle_replay).
@dev When the state machine trusts a source, the released price (the trusted price, or the OSM's
     released value when a delay is set) is pushed with its observation time (the OSM keeps the
     observation time of the value it queues, F-14), if the core has not got it: pushed
     timestamps strictly increase, so an observation no later than the last pushed one is not
     pushed (F-12), except right after a zero push, when it is pushed stamped one second after
     the last pushed timestamp (never later than now). `Poked` reports the status, the source
     trusted, the sources' consecutive agreeing readings and the count needed to leave
     BOTH_UNTRUSTED (F-02), so an indexer follows a feed's trust from events alone. When no source is trusted the adapter
     pushes a zero price, which the core rejects ("oracle: non-positive answer") and which marks
     the feed untrusted at once: the market goes reduce-only until a trusted price is pushed
     again. Sources are called without reverting on failure: a call that reverts or returns
     malformed data makes that source broken (F-11); an uptime feed that cannot be read counts
     as an invalid sequencer status. Prices are WAD (1e18); feed answers are normalised from the
     feed's `decimals()` or the Pyth exponent. Revert strings carry the prefix "oracle:".
"""

from . import guards
from . import machine

KIND_NONE: constant(uint8) = 0
KIND_CHAINLINK: constant(uint8) = 1
KIND_PYTH: constant(uint8) = 2
MAX_HEARTBEAT_S: constant(uint256) = 7 * 86400
MAX_GRACE_S: constant(uint256) = 86400
MAX_RECOVERY_READINGS: constant(uint256) = 100
WAD: constant(uint256) = 10**18


struct PythPrice:
    price: int64
    conf: uint64
    expo: int32
    publish_time: uint256


interface IClearingHouse:
    def push_price(feed_id: uint256, price_wad: int256, timestamp_s: uint256): nonpayable


struct SourceSetup:
    kind: uint8
    feed: address
    pyth_id: bytes32
    guards: guards.GuardConfig


struct FeedSetup:
    listed: bool
    primary: SourceSetup
    fallback: SourceSetup
    sequencer: address
    sequencer_grace_s: uint256
    max_price_difference_wad: uint256
    osm_delay_s: uint256
    recovery_readings: uint256


struct FeedState:
    status: uint8
    last_good_price_wad: uint256
    osm_current_wad: uint256
    osm_current_at: uint256
    osm_queued_wad: uint256
    osm_queued_at: uint256
    osm_last_poke_s: uint256
    osm_poked: bool
    primary: machine.Track
    fallback: machine.Track
    pushed_at: uint256
    zero_pushed: bool


event FeedSet:
    feed_id: indexed(uint256)


event SourceChecked:
    feed_id: indexed(uint256)
    source: uint8
    failed: uint256
    skipped: uint256
    price_wad: uint256
    updated_at: uint256
    reason: String[40]


event StatusChanged:
    feed_id: indexed(uint256)
    old_status: uint8
    new_status: uint8


event LastGoodPriceUpdated:
    feed_id: indexed(uint256)
    price_wad: uint256
    source: uint8


event Poked:
    feed_id: indexed(uint256)
    status: uint8
    source: uint8
    released_price_wad: uint256
    released_at: uint256
    pushed_price_wad: uint256
    pushed_at: uint256
    pushed: bool
    primary_agreeing: uint256
    fallback_agreeing: uint256
    recovery_readings: uint256


event OwnerChanged:
    owner: address


clearing_house: public(immutable(address))
owner: public(address)
setups: public(HashMap[uint256, FeedSetup])
states: public(HashMap[uint256, FeedState])


@deploy
def __init__(_clearing_house: address):
    """
    @notice Create an adapter pushing into `_clearing_house`; the deployer configures feeds.
    @param _clearing_house The core that grants this contract the oracle role.
    """
    assert _clearing_house != empty(address), "oracle: zero clearing house"
    clearing_house = _clearing_house
    self.owner = msg.sender


@external
def set_owner(_owner: address):
    """
    @notice Hand configuration rights to `_owner` (owner only).
    @param _owner New owner.
    """
    assert msg.sender == self.owner, "oracle: caller is not the owner"
    self.owner = _owner
    log OwnerChanged(owner=_owner)


@internal
@pure
def _check_source(s: SourceSetup, required: bool):
    """
    @notice Validate one source as protocol.oracle.guards.FeedConfig does.
    @param s The source.
    @param required Whether the source must be set (primary).
    """
    assert s.kind <= KIND_PYTH, "oracle: bad source kind"
    if s.kind == KIND_NONE:
        assert not required, "oracle: primary source required"
        return
    assert s.feed != empty(address), "oracle: zero feed address"
    g: guards.GuardConfig = s.guards
    assert g.heartbeat_s >= 1 and g.heartbeat_s <= MAX_HEARTBEAT_S, "oracle: bad heartbeat"
    assert g.max_move_wad >= 1 and g.max_move_wad <= WAD, "oracle: bad max move"
    assert g.max_ema_deviation_wad <= WAD, "oracle: bad ema deviation"
    assert g.max_conf_ratio_wad <= WAD, "oracle: bad confidence ratio"


@external
def set_feed(feed_id: uint256, setup: FeedSetup):
    """
    @notice List or replace a feed (owner only); its state restarts (PRIMARY_WORKING, no price).
    @dev Thresholds of 0 switch the EMA and confidence guards off; a zero sequencer address
         switches the sequencer guards off; osm_delay_s 0 switches the delay off.
    @param feed_id Feed id of the clearing house.
    @param setup Sources, guards, sequencer, Liquity's max price difference and the OSM delay.
    """
    assert msg.sender == self.owner, "oracle: caller is not the owner"
    self._check_source(setup.primary, True)
    self._check_source(setup.fallback, False)
    assert setup.sequencer_grace_s <= MAX_GRACE_S, "oracle: bad grace period"
    assert setup.max_price_difference_wad <= WAD, "oracle: bad price difference"
    assert setup.recovery_readings >= 1 and setup.recovery_readings <= MAX_RECOVERY_READINGS, "oracle: bad recovery readings"
    s: FeedSetup = setup
    s.listed = True
    self.setups[feed_id] = s
    self.states[feed_id] = empty(FeedState)
    log FeedSet(feed_id=feed_id)


@internal
@view
def _call(target: address, data: Bytes[36], size: uint256) -> Bytes[160]:
    """
    @notice A static call that never reverts the poke (F-11).
    @param target The source contract.
    @param data Calldata.
    @param size Length of the well-formed return data (longer data is cut, as ABI decoders do).
    @return The return data, or empty when the call reverted or returned less than `size` bytes.
    """
    ok: bool = False
    out: Bytes[160] = b""
    ok, out = raw_call(target, data, max_outsize=160, is_static_call=True, revert_on_failure=False)
    if not ok or len(out) < size:
        return b""
    return out


@internal
@view
def _latest_round(feed: address) -> (bool, uint256, int256, uint256, uint256, uint256):
    """
    @notice latestRoundData of an AggregatorV3, decoded without reverting.
    @param feed The aggregator (proxy).
    @return (well formed, round id, answer, startedAt, updatedAt, answeredInRound).
    """
    out: Bytes[160] = self._call(feed, method_id("latestRoundData()"), 160)
    if len(out) == 0:
        return False, 0, 0, 0, 0, 0
    rid: uint256 = 0
    answer: int256 = 0
    started: uint256 = 0
    updated: uint256 = 0
    air: uint256 = 0
    rid, answer, started, updated, air = abi_decode(slice(out, 0, 160), (uint256, int256, uint256, uint256, uint256))
    return rid < 2**80 and air < 2**80, rid, answer, started, updated, air


@internal
@view
def _word(target: address, data: Bytes[36], limit: uint256) -> (bool, uint256):
    """
    @notice One uint256 returned by a static call, checked against `limit`, without reverting.
    @param target The source contract.
    @param data Calldata.
    @param limit Largest well-formed value.
    @return (well formed, value).
    """
    out: Bytes[160] = self._call(target, data, 32)
    if len(out) == 0:
        return False, 0
    value: uint256 = abi_decode(slice(out, 0, 32), uint256)
    return value <= limit, value


@internal
@view
def _pyth(feed: address, fn: Bytes[4], id: bytes32) -> (bool, PythPrice):
    """
    @notice One Pyth record (getPriceUnsafe / getEmaPriceUnsafe), decoded without reverting.
    @param feed The Pyth contract.
    @param fn The getter's selector.
    @param id Price id.
    @return (well formed, record).
    """
    out: Bytes[160] = self._call(feed, concat(fn, id), 128)
    if len(out) == 0:
        return False, empty(PythPrice)
    price: int256 = 0
    conf: uint256 = 0
    expo: int256 = 0
    publish: uint256 = 0
    price, conf, expo, publish = abi_decode(slice(out, 0, 128), (int256, uint256, int256, uint256))
    ok: bool = (price >= -(2**63) and price < 2**63 and conf < 2**64 and expo >= -(2**31) and expo < 2**31)
    if not ok:
        return False, empty(PythPrice)
    return True, PythPrice(price=convert(price, int64), conf=convert(conf, uint64), expo=convert(expo, int32), publish_time=publish)


@internal
@view
def _sequencer(setup: FeedSetup) -> guards.Sequencer:
    """
    @notice The L2 sequencer status (disabled when no uptime feed is set); an uptime feed that
            cannot be read gives an invalid status (answer -1), so no source is trusted.
    @param setup The feed setup.
    @return The status for the guards.
    """
    if setup.sequencer == empty(address):
        return empty(guards.Sequencer)
    ok: bool = False
    rid: uint256 = 0
    answer: int256 = 0
    started: uint256 = 0
    updated: uint256 = 0
    air: uint256 = 0
    ok, rid, answer, started, updated, air = self._latest_round(setup.sequencer)
    if not ok:
        return guards.Sequencer(enabled=True, answer=-1, started_at=0, grace_s=setup.sequencer_grace_s)
    return guards.Sequencer(enabled=True, answer=answer, started_at=started, grace_s=setup.sequencer_grace_s)


@internal
@view
def _read(s: SourceSetup, last_good: uint256, seq: guards.Sequencer) -> guards.Verdict:
    """
    @notice Read one source and run every guard on it at block.timestamp.
    @param s The source.
    @param last_good Move reference (WAD, 0 = none).
    @param seq Sequencer status.
    @return The verdict (an unset source has no price: BROKEN; a failed call: guards.failed_call).
    """
    if s.kind == KIND_CHAINLINK:
        ok: bool = False
        rid: uint256 = 0
        answer: int256 = 0
        started: uint256 = 0
        updated: uint256 = 0
        air: uint256 = 0
        ok, rid, answer, started, updated, air = self._latest_round(s.feed)
        dec_ok: bool = False
        decimals: uint256 = 0
        dec_ok, decimals = self._word(s.feed, method_id("decimals()"), 18)
        phase_ok: bool = False
        phase: uint256 = 0
        phase_ok, phase = self._word(s.feed, method_id("phaseId()"), 2**16 - 1)
        if not (ok and dec_ok and phase_ok):
            return guards.failed_call(seq, block.timestamp)
        return guards.check_round(
            s.guards,
            convert(rid, uint80),
            answer,
            updated,
            convert(air, uint80),
            convert(decimals, uint8),
            convert(phase, uint16),
            last_good,
            seq,
            block.timestamp,
        )
    if s.kind == KIND_PYTH:
        px_ok: bool = False
        px: PythPrice = empty(PythPrice)
        px_ok, px = self._pyth(s.feed, method_id("getPriceUnsafe(bytes32)"), s.pyth_id)
        ema_ok: bool = False
        ema: PythPrice = empty(PythPrice)
        ema_ok, ema = self._pyth(s.feed, method_id("getEmaPriceUnsafe(bytes32)"), s.pyth_id)
        if not (px_ok and ema_ok):
            return guards.failed_call(seq, block.timestamp)
        return guards.check_pyth(s.guards, px.price, px.conf, px.expo, px.publish_time, ema.price, last_good, seq, block.timestamp)
    return guards.Verdict(failed=0, skipped=guards.ALL_GUARDS, price_wad=0, updated_at=0)


@external
@view
def check(feed_id: uint256, primary: bool) -> (guards.Verdict, String[40]):
    """
    @notice Run the guards on one source now, against the stored last good price (no state change).
    @param feed_id Feed id.
    @param primary True for the primary source, False for the fallback.
    @return The verdict and its first failure reason ("" when every guard passed).
    """
    setup: FeedSetup = self.setups[feed_id]
    assert setup.listed, "oracle: unknown feed"
    src: SourceSetup = setup.fallback
    if primary:
        src = setup.primary
    v: guards.Verdict = self._read(src, self.states[feed_id].last_good_price_wad, self._sequencer(setup))
    return v, guards.first_failure(v.failed)


@external
@view
def require_price(feed_id: uint256, primary: bool) -> uint256:
    """
    @notice One source's WAD price, or revert with the first failed guard's reason.
    @param feed_id Feed id.
    @param primary True for the primary source, False for the fallback.
    @return The price (WAD).
    """
    setup: FeedSetup = self.setups[feed_id]
    assert setup.listed, "oracle: unknown feed"
    src: SourceSetup = setup.fallback
    if primary:
        src = setup.primary
    v: guards.Verdict = self._read(src, self.states[feed_id].last_good_price_wad, self._sequencer(setup))
    assert v.failed == 0, guards.first_failure(v.failed)
    assert v.price_wad > 0, guards.REASON_NON_POSITIVE
    return v.price_wad


@external
@nonreentrant
def poke(feed_id: uint256) -> (uint8, uint256):
    """
    @notice Read, guard, move the state machine and push the released price (or zero) to the core.
    @param feed_id Feed id.
    @return The new status and the pushed price (WAD; 0 = untrusted, or nothing released yet).
    """
    setup: FeedSetup = self.setups[feed_id]
    assert setup.listed, "oracle: unknown feed"
    st: FeedState = self.states[feed_id]
    seq: guards.Sequencer = self._sequencer(setup)
    pv: guards.Verdict = self._read(setup.primary, st.last_good_price_wad, seq)
    fv: guards.Verdict = self._read(setup.fallback, st.last_good_price_wad, seq)
    log SourceChecked(feed_id=feed_id, source=machine.PRIMARY, failed=pv.failed, skipped=pv.skipped, price_wad=pv.price_wad, updated_at=pv.updated_at, reason=guards.first_failure(pv.failed))
    log SourceChecked(feed_id=feed_id, source=machine.FALLBACK, failed=fv.failed, skipped=fv.skipped, price_wad=fv.price_wad, updated_at=fv.updated_at, reason=guards.first_failure(fv.failed))

    st.primary = machine.track(st.primary, pv, setup.primary.guards.max_move_wad)
    st.fallback = machine.track(st.fallback, fv, setup.fallback.guards.max_move_wad)
    new_status: uint8 = 0
    source: uint8 = 0
    new_status, source = machine.decide(
        st.status,
        machine.classify(pv),
        machine.classify(fv),
        pv.price_wad,
        fv.price_wad,
        setup.max_price_difference_wad,
        st.primary,
        st.fallback,
        setup.recovery_readings,
    )
    if new_status != st.status:
        log StatusChanged(feed_id=feed_id, old_status=st.status, new_status=new_status)
    st.status = new_status
    price: uint256 = 0
    at: uint256 = 0
    if source == machine.PRIMARY:
        price = pv.price_wad
        at = pv.updated_at
    elif source == machine.FALLBACK:
        price = fv.price_wad
        at = fv.updated_at
    if price != 0:
        st.last_good_price_wad = price
        log LastGoodPriceUpdated(feed_id=feed_id, price_wad=price, source=source)

    released: uint256 = price
    released_at: uint256 = at
    if setup.osm_delay_s != 0:
        if price != 0 and (not st.osm_poked or st.osm_last_poke_s + setup.osm_delay_s <= block.timestamp):
            st.osm_current_wad = st.osm_queued_wad
            st.osm_current_at = st.osm_queued_at
            st.osm_queued_wad = price
            st.osm_queued_at = at
            st.osm_last_poke_s = block.timestamp
            st.osm_poked = True
        released = st.osm_current_wad
        released_at = st.osm_current_at
    # the push rule: strictly increasing timestamps, never one the core already holds (F-12)
    pushed: uint256 = 0
    pushed_at: uint256 = 0
    did_push: bool = False
    if price == 0:
        st.zero_pushed = True
        pushed_at = block.timestamp
        did_push = True
    elif released != 0 and (released_at > st.pushed_at or st.zero_pushed) and max(released_at, st.pushed_at + 1) <= block.timestamp:
        pushed = released
        pushed_at = max(released_at, st.pushed_at + 1)
        st.pushed_at = pushed_at
        st.zero_pushed = False
        did_push = True
    self.states[feed_id] = st
    if did_push:
        extcall IClearingHouse(clearing_house).push_price(feed_id, convert(pushed, int256), pushed_at)
    log Poked(
        feed_id=feed_id,
        status=new_status,
        source=source,
        released_price_wad=released,
        released_at=released_at,
        pushed_price_wad=pushed,
        pushed_at=pushed_at,
        pushed=did_push,
        primary_agreeing=st.primary.agreeing,
        fallback_agreeing=st.fallback.agreeing,
        recovery_readings=setup.recovery_readings,
    )
    return new_status, pushed
