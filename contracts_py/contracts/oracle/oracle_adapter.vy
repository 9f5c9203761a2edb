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
     released value when a delay is set) is pushed with its observation time. When no source is
     trusted the adapter pushes a zero price, which the core rejects ("oracle: non-positive
     answer") and which marks the feed untrusted at once: the market goes reduce-only until a
     trusted price is pushed again. A source whose contract reverts makes `poke` revert.
     Prices are WAD (1e18); feed answers are normalised from the feed's `decimals()` or the
     Pyth exponent. Revert strings carry the prefix "oracle:".
"""

from interfaces import IAggregatorV3
from . import guards
from . import machine

KIND_NONE: constant(uint8) = 0
KIND_CHAINLINK: constant(uint8) = 1
KIND_PYTH: constant(uint8) = 2
MAX_HEARTBEAT_S: constant(uint256) = 7 * 86400
MAX_GRACE_S: constant(uint256) = 86400
WAD: constant(uint256) = 10**18


struct PythPrice:
    price: int64
    conf: uint64
    expo: int32
    publish_time: uint256


interface IPyth:
    def getPriceUnsafe(id: bytes32) -> PythPrice: view
    def getEmaPriceUnsafe(id: bytes32) -> PythPrice: view


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


struct FeedState:
    status: uint8
    last_good_price_wad: uint256
    osm_current_wad: uint256
    osm_current_at: uint256
    osm_queued_wad: uint256
    osm_queued_at: uint256
    osm_last_poke_s: uint256
    osm_poked: bool


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
    pushed: bool

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
    s: FeedSetup = setup
    s.listed = True
    self.setups[feed_id] = s
    self.states[feed_id] = empty(FeedState)
    log FeedSet(feed_id=feed_id)


@internal
@view
def _sequencer(setup: FeedSetup) -> guards.Sequencer:
    """
    @notice The L2 sequencer status (disabled when no uptime feed is set).
    @param setup The feed setup.
    @return The status for the guards.
    """
    if setup.sequencer == empty(address):
        return empty(guards.Sequencer)
    rid: uint80 = 0
    answer: int256 = 0
    started: uint256 = 0
    updated: uint256 = 0
    air: uint80 = 0
    rid, answer, started, updated, air = staticcall IAggregatorV3(setup.sequencer).latestRoundData()
    return guards.Sequencer(enabled=True, answer=answer, started_at=started, grace_s=setup.sequencer_grace_s)


@internal
@view
def _read(s: SourceSetup, last_good: uint256, seq: guards.Sequencer) -> guards.Verdict:
    """
    @notice Read one source and run every guard on it at block.timestamp.
    @param s The source.
    @param last_good Move reference (WAD, 0 = none).
    @param seq Sequencer status.
    @return The verdict (an unset source has no price: BROKEN).
    """
    if s.kind == KIND_CHAINLINK:
        feed: IAggregatorV3 = IAggregatorV3(s.feed)
        rid: uint80 = 0
        answer: int256 = 0
        started: uint256 = 0
        updated: uint256 = 0
        air: uint80 = 0
        rid, answer, started, updated, air = staticcall feed.latestRoundData()
        return guards.check_round(
            s.guards, rid, answer, updated, air, staticcall feed.decimals(), staticcall feed.phaseId(), last_good, seq, block.timestamp
        )
    if s.kind == KIND_PYTH:
        px: PythPrice = staticcall IPyth(s.feed).getPriceUnsafe(s.pyth_id)
        ema: PythPrice = staticcall IPyth(s.feed).getEmaPriceUnsafe(s.pyth_id)
        return guards.check_pyth(s.guards, px.price, px.conf, px.expo, px.publish_time, ema.price, last_good, seq, block.timestamp)
    return guards.Verdict(failed=0, skipped=guards.ALL_GUARDS, price_wad=0, updated_at=0)


@view
@external
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


@view
@external
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

    new_status: uint8 = 0
    source: uint8 = 0
    new_status, source = machine.decide(
        st.status, machine.classify(pv), machine.classify(fv), pv.price_wad, fv.price_wad, setup.max_price_difference_wad
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
            st.osm_queued_at = block.timestamp
            st.osm_last_poke_s = block.timestamp
            st.osm_poked = True
        released = st.osm_current_wad
        released_at = st.osm_current_at
    self.states[feed_id] = st

    pushed: uint256 = 0
    did_push: bool = True
    if price == 0:
        extcall IClearingHouse(clearing_house).push_price(feed_id, 0, block.timestamp)
    elif released != 0:
        pushed = released
        extcall IClearingHouse(clearing_house).push_price(feed_id, convert(released, int256), released_at)
    else:
        did_push = False
    log Poked(feed_id=feed_id, status=new_status, source=source, released_price_wad=released, released_at=released_at, pushed_price_wad=pushed, pushed=did_push)
    return new_status, pushed
