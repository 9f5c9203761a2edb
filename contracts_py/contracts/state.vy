# pragma version ~=0.4.3
"""
@title state
@notice All storage of the protocol (mirrors protocol/state.py and the parameters of
        protocol/params.py). Every other module is logic that `uses: state`; the core contract
        and the liquidation engine both `initializes: state` first and declare no storage of
        their own, so their storage layouts are identical and the engine can run by
        DELEGATECALL on the core's storage.
@dev All amounts are WAD integers (1e18) unless the name says token units. Signed quantities
     are int256; arithmetic is checked (reverts on overflow, never wraps).
"""

from . import constants as c


struct Position:
    # signed size in base units (WAD), long > 0
    size: int256
    # signed cost basis in USD (WAD), long > 0
    open_notional: int256
    # market funding index at the last settlement
    funding_snapshot: int256
    # loss index of the position's side at the last settlement
    loss_snapshot: uint256


struct MarketState:
    funding_rate_per_s_wad: int256
    funding_index: int256
    loss_index_long: uint256
    loss_index_short: uint256
    last_accrual_s: uint256
    oi_long: uint256
    oi_short: uint256
    # time of the last funding-rate update: the rate's change is limited per second since
    funding_rate_set_s: uint256


struct FeedState:
    price_wad: uint256
    updated_at_s: uint256
    valid: bool


# the core's move reference of a feed (oracle_adapter.reading_failure)
struct FeedMove:
    accepted_at_s: uint256
    ref_price_wad: uint256
    ref_accepted_at_s: uint256


struct MarketParams:
    listed: bool
    feed_id: uint256
    initial_margin_fraction_wad: uint256
    maintenance_share_wad: uint256
    oi_cap_lower_wad: uint256
    oi_cap_upper_wad: uint256


struct FeedParams:
    listed: bool
    heartbeat_s: uint256
    max_move_wad: uint256
    move_window_s: uint256


struct CollateralParams:
    listed: bool
    token: address
    decimals: uint256
    feed_id: uint256
    haircut_wad: uint256
    liquidation_discount_wad: uint256
    deposit_cap: uint256
    value_cap_wad: uint256
    # largest holding of one account, token units
    account_deposit_cap: uint256


struct ProtocolParams:
    settlement_decimals: uint256
    insurance_fee_share_wad: uint256
    liquidation_penalty_wad: uint256
    keeper_penalty_share_wad: uint256
    liquidation_spread_wad: uint256
    max_liquidation_notional_per_block_wad: uint256
    dust_notional_wad: uint256
    max_fill_deviation_wad: uint256
    max_funding_rate_per_s_wad: uint256
    collateral_liquidation_fee_wad: uint256
    # False: pro_rata, True: adl
    socialized_loss_adl: bool
    # seconds a funding-rate move across the whole +-max range takes at the fastest
    funding_rate_ramp_s: uint256
    # seconds after an unpause before liquidations resume
    liquidation_grace_s: uint256
    # ADL proposal queue: challenge window, then execution window (s)
    adl_window_s: uint256


# a keeper's counterparty list for one bankrupt position (protocol/state.py AdlProposal);
# deadline_s = 0: none
struct AdlProposal:
    counterparties: DynArray[address, c.MAX_ADL_COUNTERPARTIES]
    deadline_s: uint256


# ----------------------------------------------------------------- parameters
protocol_params: public(ProtocolParams)
market_params: public(HashMap[uint256, MarketParams])
feed_params: public(HashMap[uint256, FeedParams])
collateral_params: public(HashMap[uint256, CollateralParams])
# market ids and collateral asset ids in declaration order (the model iterates params.markets)
market_list: public(DynArray[uint256, c.MAX_MARKETS])
collateral_list: public(DynArray[uint256, c.MAX_COLLATERALS])
feed_list: public(DynArray[uint256, c.MAX_FEEDS])
# symbols of the listings (labels for integrators; the protocol never reads them)
feed_symbol: public(HashMap[uint256, String[c.MAX_SYMBOL_BYTES]])
market_symbol: public(HashMap[uint256, String[c.MAX_SYMBOL_BYTES]])
collateral_symbol: public(HashMap[uint256, String[c.MAX_SYMBOL_BYTES]])
settlement_token: public(address)

# ----------------------------------------------------------------- roles
governance: public(address)
# governance proposed by the current one, until it accepts (two-step transfer)
pending_governance: public(address)
matchers: public(HashMap[address, bool])
oracles: public(HashMap[address, bool])
funding_operators: public(HashMap[address, bool])
paused: public(bool)
# liquidations resume at this time: an unpause starts a grace period
liquidations_resume_at_s: public(uint256)
# deployer allowed to list markets/feeds/collateral until `configured`
configurator: public(address)
configured: public(bool)

# ----------------------------------------------------------------- accounts
balances: public(HashMap[address, int256])
collateral: public(HashMap[address, HashMap[uint256, uint256]])
positions: public(HashMap[address, HashMap[uint256, Position]])
# bit m set iff the account holds a position in market m
position_mask: public(HashMap[address, uint256])
realized_pnl: public(HashMap[address, int256])

# ----------------------------------------------------------------- markets and feeds
markets: public(HashMap[uint256, MarketState])
feeds: public(HashMap[uint256, FeedState])
feed_moves: public(HashMap[uint256, FeedMove])

# ----------------------------------------------------------------- protocol buckets
# token units of each asset the vault holds (asset 0 = settlement token)
vault_tokens: public(HashMap[uint256, uint256])
insurance_fund: public(uint256)
fee_pool: public(uint256)
funding_pool: public(int256)
loss_pool: public(int256)
uncovered_loss: public(uint256)
block_liquidated_wad: public(uint256)
block_liquidated_at: public(uint256)

# ----------------------------------------------------------------- signed orders
# filled size (magnitude, WAD) of every order by its EIP-712 hash; max_value(uint256) = cancelled
order_filled: public(HashMap[bytes32, uint256])

# ----------------------------------------------------------------- ADL proposal queue
# pending proposal by (bankrupt account, market id)
adl_proposals: public(HashMap[address, HashMap[uint256, AdlProposal]])
