# pragma version ~=0.4.3
"""
@title lens
@notice Read-only batched reads of a Novation clearing house: many accounts' stored state in one
        `eth_call`, so a set of reads is one consistent snapshot (contracts_py/client.py).
@dev Views only, no storage: one lens serves any house (its address is an argument). The
     answer is a flat word array (cheap to decode for thousands of accounts):

         [block.number, block.timestamp, n_collateral, collateral asset ids...,
          then per account:
            balance, realized_pnl, position_mask,
            one amount per listed collateral asset (token amounts in WAD, listing order),
            per set bit m of the mask, ascending: size, open_notional, funding_snapshot, loss_snapshot]

     Signed quantities are int256 in two's complement. At most MAX_LENS_ACCOUNTS accounts per
     call; the client chunks longer lists under the node's gas cap.
"""

from . import constants as c
from . import state

# largest header: block, timestamp, n_collateral, asset ids
HEADER_WORDS: constant(uint256) = 3 + c.MAX_COLLATERALS
# bound of the answer (the header holds the listed asset ids only)
MAX_WORDS: constant(uint256) = HEADER_WORDS + c.MAX_LENS_ACCOUNTS * c.LENS_ACCOUNT_WORDS


interface House:
    def balances(account: address) -> int256: view
    def realized_pnl(account: address) -> int256: view
    def position_mask(account: address) -> uint256: view
    def collateral(account: address, asset_id: uint256) -> uint256: view
    def positions(account: address, market_id: uint256) -> state.Position: view
    def listed_collaterals() -> DynArray[uint256, c.MAX_COLLATERALS]: view


@internal
@pure
def _word(x: int256) -> uint256:
    """
    @notice The 256 bits of `x` (two's complement) as a word.
    @param x A signed quantity.
    @return The same bits, unsigned.
    """
    return convert(convert(x, bytes32), uint256)


@external
@view
def accounts(house: address, addresses: DynArray[address, c.MAX_LENS_ACCOUNTS]) -> DynArray[uint256, MAX_WORDS]:
    """
    @notice Stored state of every account of `addresses` on `house`, at this block.
    @param house A Novation clearing house.
    @param addresses The accounts (at most MAX_LENS_ACCOUNTS).
    @return The flat word array described in the contract's @dev.
    """
    h: House = House(house)
    assets: DynArray[uint256, c.MAX_COLLATERALS] = staticcall h.listed_collaterals()
    out: DynArray[uint256, MAX_WORDS] = [block.number, block.timestamp, len(assets)]
    for asset_id: uint256 in assets:
        out.append(asset_id)
    for account: address in addresses:
        mask: uint256 = staticcall h.position_mask(account)
        out.append(self._word(staticcall h.balances(account)))
        out.append(self._word(staticcall h.realized_pnl(account)))
        out.append(mask)
        for asset_id: uint256 in assets:
            out.append(staticcall h.collateral(account, asset_id))
        for market_id: uint256 in range(c.MAX_MARKETS):
            if mask & (1 << market_id) == 0:
                continue
            pos: state.Position = staticcall h.positions(account, market_id)
            out.append(self._word(pos.size))
            out.append(self._word(pos.open_notional))
            out.append(self._word(pos.funding_snapshot))
            out.append(pos.loss_snapshot)
    return out
