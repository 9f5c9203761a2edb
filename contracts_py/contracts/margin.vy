# pragma version ~=0.4.3
"""
@title margin
@notice Cross-margin: equity, initial and maintenance requirements (mirrors protocol/margin.py).
@dev notional = ceil(|s| p), upnl = floor(s p) - O, pending funding = -ceil(s (F - F_snap)),
     pending loss = -ceil(|s| (L - L_snap)), collateral value = min(floor(floor(a p) (1 - h)), cap);
     requirements ceil(notional * fraction); only the initial fraction grows with open interest.
     Prices are read from the oracle adapter's storage: callers first require them trusted
     (oracle_adapter.require_account_prices), or, for liquidation and deleveraging, the
     positions' prices trusted and untrusted collateral at zero
     (oracle_adapter.require_position_prices, account_health_at).
"""

from . import constants as c
from . import units
from . import state

uses: state


struct Health:
    equity: int256
    initial: uint256
    maintenance: uint256


@internal
@pure
def notional(size: int256, price_wad: uint256) -> uint256:
    """
    @notice |size| * price, rounded UP.
    @param size Signed size (WAD).
    @param price_wad Price (WAD).
    @return Notional in USD (WAD).
    """
    return units.mul_div(units.abs_u(size), price_wad, c.WAD, units.UP)


@internal
@pure
def unrealized_pnl(pos: state.Position, price_wad: uint256) -> int256:
    """
    @notice Mark-to-oracle PnL: floor(size * price) - open_notional.
    @param pos The position.
    @param price_wad Oracle price (WAD).
    @return Signed PnL (WAD).
    """
    return units.smul_div(pos.size, units.to_int(price_wad), c.WAD, units.FLOOR) - pos.open_notional


@internal
@pure
def pending_funding(pos: state.Position, ms: state.MarketState) -> int256:
    """
    @notice Funding not yet settled (credit positive); the charge is rounded CEIL.
    @param pos The position.
    @param ms Its market's state.
    @return Signed funding credit (WAD).
    """
    return -units.smul_div(pos.size, ms.funding_index - pos.funding_snapshot, c.WAD, units.CEIL)


@internal
@pure
def side_loss_index(ms: state.MarketState, size: int256) -> uint256:
    """
    @notice The socialized-loss index of the side of `size` (positive = long).
    @param ms Market state.
    @param size Signed size.
    @return The loss index of that side.
    """
    if size > 0:
        return ms.loss_index_long
    return ms.loss_index_short


@internal
@pure
def pending_loss(pos: state.Position, ms: state.MarketState) -> int256:
    """
    @notice Socialized loss not yet settled (<= 0), magnitude rounded UP.
    @param pos The position.
    @param ms Its market's state.
    @return The (non-positive) charge (WAD).
    """
    charge: uint256 = units.mul_div(units.abs_u(pos.size), self.side_loss_index(ms, pos.size) - pos.loss_snapshot, c.WAD, units.UP)
    return -units.to_int(charge)


@internal
@view
def collateral_value(asset_id: uint256, amount_wad: uint256, price_wad: uint256) -> uint256:
    """
    @notice Haircut value of collateral, capped; rounded DOWN.
    @param asset_id Collateral asset id.
    @param amount_wad Amount in base units (WAD).
    @param price_wad Oracle price (WAD).
    @return Value counted toward equity (WAD).
    """
    cp: state.CollateralParams = state.collateral_params[asset_id]
    gross: uint256 = units.mul_div(amount_wad, price_wad, c.WAD, units.DOWN)
    return min(units.mul_div(gross, c.WAD - cp.haircut_wad, c.WAD, units.DOWN), cp.value_cap_wad)


@internal
@view
def initial_fraction(market_id: uint256, price_wad: uint256) -> uint256:
    """
    @notice Effective initial margin fraction, grown with open-interest notional toward 100 %; a
            base at or above 100 % is not scaled (maintenance never is: `position_requirement`).
    @param market_id Market id.
    @param price_wad Oracle price (WAD).
    @return Fraction (WAD).
    """
    mp: state.MarketParams = state.market_params[market_id]
    base: uint256 = mp.initial_margin_fraction_wad
    if mp.oi_cap_upper_wad == 0 or base >= c.WAD:
        return base
    oi: uint256 = units.mul_div(state.markets[market_id].oi_long, price_wad, c.WAD, units.UP)
    if oi <= mp.oi_cap_lower_wad:
        return base
    if oi >= mp.oi_cap_upper_wad:
        return c.WAD
    return base + units.mul_div(c.WAD - base, oi - mp.oi_cap_lower_wad, mp.oi_cap_upper_wad - mp.oi_cap_lower_wad, units.UP)


@internal
@view
def position_requirement(market_id: uint256, size: int256, price_wad: uint256, maintenance: bool) -> uint256:
    """
    @notice Initial (or maintenance) requirement of a position of `size`, rounded UP; the
            maintenance fraction is ceil(base initial fraction * share), open interest aside.
    @param market_id Market id.
    @param size Signed size (WAD).
    @param price_wad Oracle price (WAD).
    @param maintenance True for maintenance, False for initial.
    @return Requirement (WAD).
    """
    frac: uint256 = 0
    if maintenance:
        mp: state.MarketParams = state.market_params[market_id]
        frac = units.mul_div(mp.initial_margin_fraction_wad, mp.maintenance_share_wad, c.WAD, units.UP)
    else:
        frac = self.initial_fraction(market_id, price_wad)
    return units.mul_div(self.notional(size, price_wad), frac, c.WAD, units.UP)


@internal
@view
def price_of_market(market_id: uint256) -> uint256:
    """
    @notice The stored price of a market's feed (the caller checks it is trusted).
    @param market_id Market id.
    @return Price (WAD).
    """
    return state.feeds[state.market_params[market_id].feed_id].price_wad


@internal
@view
def account_health(account: address) -> Health:
    """
    @notice Equity and requirements of `account` at the stored (trusted) prices.
    @param account The account.
    @return Health(equity, initial, maintenance).
    """
    return self.account_health_at(account, 0)


@internal
@view
def account_health_at(account: address, zero_collateral: uint256) -> Health:
    """
    @notice Equity and requirements of `account` at the stored prices, collateral whose asset
            bit is set in `zero_collateral` counting zero (an untrusted feed, for liquidation).
    @param account The account.
    @param zero_collateral Bit mask of collateral asset ids valued at zero.
    @return Health(equity, initial, maintenance).
    """
    equity: int256 = state.balances[account]
    for asset_id: uint256 in state.collateral_list:
        amount: uint256 = state.collateral[account][asset_id]
        if amount != 0 and zero_collateral & (1 << asset_id) == 0:
            feed_id: uint256 = state.collateral_params[asset_id].feed_id
            equity += units.to_int(self.collateral_value(asset_id, amount, state.feeds[feed_id].price_wad))
    initial: uint256 = 0
    maintenance: uint256 = 0
    mask: uint256 = state.position_mask[account]
    for market_id: uint256 in range(c.MAX_MARKETS):
        if mask & (1 << market_id) == 0:
            continue
        pos: state.Position = state.positions[account][market_id]
        ms: state.MarketState = state.markets[market_id]
        price: uint256 = self.price_of_market(market_id)
        equity += self.unrealized_pnl(pos, price) + self.pending_funding(pos, ms) + self.pending_loss(pos, ms)
        initial += self.position_requirement(market_id, pos.size, price, False)
        maintenance += self.position_requirement(market_id, pos.size, price, True)
    return Health(equity=equity, initial=initial, maintenance=maintenance)


@internal
@view
def has_collateral(account: address) -> bool:
    """
    @notice True while the account holds any non-settlement collateral.
    @param account The account.
    @return Whether any listed collateral balance is non-zero.
    """
    for asset_id: uint256 in state.collateral_list:
        if state.collateral[account][asset_id] != 0:
            return True
    return False
