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

#: Hard limits governance cannot exceed when setting parameters (all WAD fractions).
MAX_INITIAL_MARGIN_FRACTION: Final = 10 * WAD  # 1000 %, leverage at least 0.1x (docs/SPEC.md §2)
MIN_INITIAL_MARGIN_FRACTION: Final = WAD // 1000  # 0.1 %, leverage at most 1000x
MAX_FEE_RATE: Final = WAD // 100  # 1 % of notional per fill side
MAX_LIQUIDATION_PENALTY: Final = WAD // 10  # 10 % of closed notional
MAX_FUNDING_RATE_PER_S: Final = WAD // 86_400  # 100 % per day, as a fraction per second
MAX_MARKETS: Final = 16
MAX_COLLATERALS: Final = 8
MAX_ADL_COUNTERPARTIES: Final = 16

#: Asset id of the settlement token (USDC-like, 6 decimals) in deposit and withdraw actions.
SETTLEMENT_ASSET_ID: Final = 0
