# pragma version ~=0.4.3
"""
@title Pyth-style price feed mock (test only)
@notice Settable price, confidence, exponent, publish time and EMA per price id, read through
        getPriceUnsafe / getEmaPriceUnsafe as the OracleAdapter does. Not for production.
"""


struct PythPrice:
    price: int64
    conf: uint64
    expo: int32
    publish_time: uint256


prices: HashMap[bytes32, PythPrice]
emas: HashMap[bytes32, PythPrice]
# while set, both getters revert (as Pyth does for an unknown price id)
reverting: public(bool)


@external
def set_reverting(_reverting: bool):
    """
    @notice Make the getters revert (true) or answer again (false).
    @param _reverting Whether reads revert.
    """
    self.reverting = _reverting


@external
def set_price(id: bytes32, price: int64, conf: uint64, expo: int32, publish_time: uint256, ema_price: int64, ema_conf: uint64):
    """
    @notice Store a price verbatim (no validation: the guards are under test).
    @param id Price id.
    @param price Price at `expo`.
    @param conf Confidence at `expo`.
    @param expo Decimal exponent.
    @param publish_time Publish time, Unix seconds.
    @param ema_price EMA price at `expo`.
    @param ema_conf EMA confidence at `expo`.
    """
    self.prices[id] = PythPrice(price=price, conf=conf, expo=expo, publish_time=publish_time)
    self.emas[id] = PythPrice(price=ema_price, conf=ema_conf, expo=expo, publish_time=publish_time)


@external
@view
def getPriceUnsafe(id: bytes32) -> PythPrice:
    """
    @notice The stored price of `id`.
    @param id Price id.
    @return The price record.
    """
    assert not self.reverting, "mock_pyth: reverting"
    return self.prices[id]


@external
@view
def getEmaPriceUnsafe(id: bytes32) -> PythPrice:
    """
    @notice The stored EMA price of `id`.
    @param id Price id.
    @return The EMA record.
    """
    assert not self.reverting, "mock_pyth: reverting"
    return self.emas[id]
