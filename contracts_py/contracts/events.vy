# pragma version ~=0.4.3
"""
@title events
@notice Every event of the protocol, with the names and fields of protocol/events.py.
@dev Amounts are WAD unless named in token units (`amount`); signed quantities are int256.
"""

from . import constants as c


event Deposited:
    account: indexed(address)
    asset_id: uint256
    amount: uint256
    amount_wad: uint256


event Withdrawn:
    account: indexed(address)
    asset_id: uint256
    amount: uint256
    amount_wad: uint256


event FillSettled:
    maker: indexed(address)
    taker: indexed(address)
    market_id: uint256
    size_wad: int256
    price_wad: uint256
    notional_wad: uint256
    maker_fee_wad: uint256
    taker_fee_wad: uint256


event OrderFilled:
    order_hash: indexed(bytes32)
    account: indexed(address)
    filled_wad: uint256


event OrderCancelled:
    order_hash: indexed(bytes32)
    account: indexed(address)


event PositionChanged:
    account: indexed(address)
    market_id: uint256
    size_wad: int256
    open_notional_wad: int256
    realized_pnl_wad: int256


event InsuranceFundChanged:
    delta_wad: int256
    balance_wad: uint256
    cause: String[32]


event PriceAccepted:
    feed_id: uint256
    price_wad: uint256
    timestamp_s: uint256


event PriceRejected:
    feed_id: uint256
    price_wad: int256
    timestamp_s: uint256
    reason: String[48]


event FundingAccrued:
    market_id: uint256
    funding_index: int256
    elapsed_s: uint256


event FundingRateSet:
    market_id: uint256
    requested_per_s_wad: int256
    applied_per_s_wad: int256


event FundingSettled:
    account: indexed(address)
    market_id: uint256
    amount_wad: int256


event LossCharged:
    account: indexed(address)
    market_id: uint256
    amount_wad: int256


event Liquidated:
    account: indexed(address)
    keeper: indexed(address)
    market_id: uint256
    size_wad: uint256
    notional_wad: uint256
    penalty_wad: uint256
    keeper_reward_wad: uint256


event CollateralLiquidated:
    account: indexed(address)
    liquidator: indexed(address)
    asset_id: uint256
    amount_wad: uint256
    proceeds_wad: uint256
    fee_wad: uint256


event BadDebtSettled:
    account: indexed(address)
    debt_wad: uint256
    covered_by_fund_wad: uint256
    socialized_wad: uint256


event AdlProposed:
    account: indexed(address)
    market_id: uint256
    proposer: address
    counterparties: DynArray[address, c.MAX_ADL_COUNTERPARTIES]
    deadline_s: uint256


event ShortfallSettled:
    account: indexed(address)
    market_id: uint256
    debt_wad: uint256
    covered_by_fund_wad: uint256
    socialized_wad: uint256


event LossSocialized:
    market_id: uint256
    side: int256
    amount_wad: uint256
    loss_index: uint256


event GainsCharged:
    counterparty: indexed(address)
    account: indexed(address)
    market_id: uint256
    amount_wad: uint256


event ProfitHaircut:
    account: indexed(address)
    haircut_wad: uint256
    shortfall_wad: uint256


event Deleveraged:
    account: indexed(address)
    counterparty: indexed(address)
    market_id: uint256
    size_wad: uint256
    notional_wad: uint256


event FeesWithdrawn:
    to: indexed(address)
    amount: uint256
    amount_wad: uint256


event PausedSet:
    paused: bool


event RoleSet:
    role: String[16]
    account: indexed(address)
    enabled: bool


event GovernanceProposed:
    account: indexed(address)


event MarginParamsSet:
    market_id: uint256
    initial_margin_fraction_wad: uint256
    maintenance_share_wad: uint256
