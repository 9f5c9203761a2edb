# pragma version ~=0.4.3
"""
@title Clearing-house stand-in recording pushed prices (test only)
@notice Records every push_price call of the OracleAdapter. Not for production.
"""


event PricePushed:
    feed_id: indexed(uint256)
    price_wad: int256
    timestamp_s: uint256


last_price_wad: public(HashMap[uint256, int256])
last_timestamp_s: public(HashMap[uint256, uint256])
pushes: public(HashMap[uint256, uint256])


@external
def push_price(feed_id: uint256, price_wad: int256, timestamp_s: uint256):
    """
    @notice Record one push.
    @param feed_id Feed id.
    @param price_wad Price (WAD).
    @param timestamp_s Observation time.
    """
    self.last_price_wad[feed_id] = price_wad
    self.last_timestamp_s[feed_id] = timestamp_s
    self.pushes[feed_id] += 1
    log PricePushed(feed_id=feed_id, price_wad=price_wad, timestamp_s=timestamp_s)
