"""The one source of protocol constants.

The contract build reads these values (it renders them into the Vyper constants module), so a
number that the model and the contracts share is typed exactly once, here.
"""

from __future__ import annotations

from typing import Final

#: Fixed-point scale for prices (USD per base unit), sizes (base units), values (USD) and ratios.
WAD: Final = 10**18
#: Largest token or feed decimals accepted at the boundary.
MAX_DECIMALS: Final = 18
#: Bounds of a signed 256-bit EVM word; every model quantity must stay inside them.
INT256_MIN: Final = -(2**255)
INT256_MAX: Final = 2**255 - 1
UINT256_MAX: Final = 2**256 - 1

#: Hard limits governance cannot exceed when setting parameters. ``protocol.params`` validates
#: against these names and the contracts check the same names on chain (F-20): WAD fractions
#: unless the name ends in ``_S`` (seconds).
MAX_INITIAL_MARGIN_FRACTION: Final = 10 * WAD  # 1000 %, leverage at least 0.1x (docs/SPEC.md §2)
MIN_INITIAL_MARGIN_FRACTION: Final = WAD // 1000  # 0.1 %, leverage at most 1000x
MAX_FEE_RATE: Final = WAD // 100  # 1 % of notional per fill side
MAX_LIQUIDATION_PENALTY: Final = WAD // 10  # 10 % of closed notional
MAX_LIQUIDATION_SPREAD: Final = WAD // 2  # halfway from the oracle to the bankruptcy price
MAX_COLLATERAL_LIQUIDATION_FEE: Final = WAD // 10  # 10 % of the proceeds
MAX_FILL_DEVIATION: Final = WAD  # 100 % of the oracle price
MAX_FUNDING_RATE_PER_S: Final = WAD // 86_400  # 100 % per day, as a fraction per second
MIN_FUNDING_RATE_RAMP_S: Final = 1
MAX_FUNDING_RATE_RAMP_S: Final = 30 * 86_400
MAX_LIQUIDATION_GRACE_S: Final = 86_400
MIN_ADL_WINDOW_S: Final = 1
MAX_ADL_WINDOW_S: Final = 86_400
MIN_HEARTBEAT_S: Final = 1
MAX_HEARTBEAT_S: Final = 7 * 86_400
MAX_PRICE_MOVE: Final = 10 * WAD  # 1000 % against the last good price
MIN_MOVE_WINDOW_S: Final = 1
MAX_MOVE_WINDOW_S: Final = 7 * 86_400  # the allowed move grows to max_move over at most a week
MAX_MARKETS: Final = 16
MAX_COLLATERALS: Final = 8
MAX_ADL_COUNTERPARTIES: Final = 16
#: Largest number of listed price feeds (every market and collateral asset may have its own).
MAX_FEEDS: Final = MAX_MARKETS + MAX_COLLATERALS
#: Longest symbol of a listed feed, market or collateral asset the contracts store, in bytes.
MAX_SYMBOL_BYTES: Final = 32

#: What a Novation clearing house answers to ``HOUSE_VERSION()``: integrators check it before
#: reading (an address whose code is something else is refused).
HOUSE_VERSION: Final = "novation-clearing-house/1"
#: Largest number of accounts one call of the read-only lens (contracts/lens.vy) returns.
MAX_LENS_ACCOUNTS: Final = 256
#: Words the lens returns per account at most: balance, realized PnL, position mask, one amount
#: per listed collateral asset, four words per open position.
LENS_ACCOUNT_WORDS: Final = 3 + MAX_COLLATERALS + 4 * MAX_MARKETS

#: EIP-712 domain name and version every order is signed for (with the chain id and the
#: clearing house's address).
ORDER_DOMAIN_NAME: Final = "Novation"
ORDER_DOMAIN_VERSION: Final = "1"
#: The EIP-712 type of a signed order (protocol.orders, contracts/orders.vy).
ORDER_TYPE: Final = (
    "Order(address account,uint256 market_id,int256 size_wad,uint256 limit_price_wad,"
    "uint256 max_fee_wad,uint256 expiry_s,uint256 nonce)"
)

#: Asset id of the settlement token (USDC-like, 6 decimals) in deposit and withdraw actions.
SETTLEMENT_ASSET_ID: Final = 0
