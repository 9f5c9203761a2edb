# pragma version ~=0.4.3
"""
@title constants
@notice Protocol constants, GENERATED from protocol/constants.py by contracts_py/constants_gen.py.
        Do not edit: change protocol/constants.py and run `python -m contracts_py.constants_gen`.
"""

WAD: constant(uint256) = 1000000000000000000
MAX_DECIMALS: constant(uint256) = 18
INT256_MIN: constant(int256) = -57896044618658097711785492504343953926634992332820282019728792003956564819968
INT256_MAX: constant(int256) = 57896044618658097711785492504343953926634992332820282019728792003956564819967
UINT256_MAX: constant(uint256) = 115792089237316195423570985008687907853269984665640564039457584007913129639935
MAX_INITIAL_MARGIN_FRACTION: constant(uint256) = 10000000000000000000
MIN_INITIAL_MARGIN_FRACTION: constant(uint256) = 1000000000000000
MAX_FEE_RATE: constant(uint256) = 10000000000000000
MAX_LIQUIDATION_PENALTY: constant(uint256) = 100000000000000000
MAX_LIQUIDATION_SPREAD: constant(uint256) = 500000000000000000
MAX_COLLATERAL_LIQUIDATION_FEE: constant(uint256) = 100000000000000000
MAX_FILL_DEVIATION: constant(uint256) = 1000000000000000000
MAX_FUNDING_RATE_PER_S: constant(uint256) = 11574074074074
MIN_FUNDING_RATE_RAMP_S: constant(uint256) = 1
MAX_FUNDING_RATE_RAMP_S: constant(uint256) = 2592000
MAX_LIQUIDATION_GRACE_S: constant(uint256) = 86400
MIN_ADL_WINDOW_S: constant(uint256) = 1
MAX_ADL_WINDOW_S: constant(uint256) = 86400
MIN_HEARTBEAT_S: constant(uint256) = 1
MAX_HEARTBEAT_S: constant(uint256) = 604800
MAX_PRICE_MOVE: constant(uint256) = 10000000000000000000
MIN_MOVE_WINDOW_S: constant(uint256) = 1
MAX_MOVE_WINDOW_S: constant(uint256) = 604800
MAX_MARKETS: constant(uint256) = 16
MAX_COLLATERALS: constant(uint256) = 8
MAX_ADL_COUNTERPARTIES: constant(uint256) = 16
MAX_FEEDS: constant(uint256) = 24
MAX_SYMBOL_BYTES: constant(uint256) = 32
HOUSE_VERSION: constant(String[25]) = "novation-clearing-house/1"
MAX_LENS_ACCOUNTS: constant(uint256) = 256
LENS_ACCOUNT_WORDS: constant(uint256) = 75
ORDER_DOMAIN_NAME: constant(String[8]) = "Novation"
ORDER_DOMAIN_VERSION: constant(String[1]) = "1"
ORDER_TYPE: constant(String[131]) = "Order(address account,uint256 market_id,int256 size_wad,uint256 limit_price_wad,uint256 max_fee_wad,uint256 expiry_s,uint256 nonce)"
SETTLEMENT_ASSET_ID: constant(uint256) = 0
