# pragma version ~=0.4.3
"""
@title liquidation
@notice Permissionless liquidation of positions and of non-settlement collateral
        (mirrors protocol/liquidation.py).
@dev Collateral sales: only while B < 0 and -B >= trigger * collateral value, each bringing back
     at most ceil(-B * close_factor) (valid only if one token unit less would not reach it).
     For a keeper taking over q of position s of an account with E < MM:
     room(q) = E - ceil(E MM'(q) / MM), slip = floor(room spread), pen = min(ceil(n(q) rate),
     room - slip), restored(q) <=> E - slip - pen >= IM'(q); q is valid iff not restored(q - 1).
     E <= 0 closes the whole position at the oracle price with no penalty; the share of -E the
     position created is settled in its market (F-15, socialized_loss.settle_shortfall).
"""

from . import constants as c
from . import units
from . import events
from . import state
from . import margin
from . import oracle_adapter
from . import insurance_fund
from . import funding
from . import clearing

uses: state
uses: margin
uses: oracle_adapter
uses: insurance_fund
uses: funding
uses: clearing


struct Terms:
    slip: uint256
    penalty: uint256
    restores: bool


struct Sale:
    proceeds: uint256
    fee: uint256


@internal
@view
def liquidation_terms(market_id: uint256, health: margin.Health, size: int256, q: uint256, price_wad: uint256) -> Terms:
    """
    @notice (slip, penalty, restores_initial) of closing `q` of `size` for a solvent account.
    @param market_id Market id.
    @param health The account's health before (E > 0, MM > 0).
    @param size Signed position size.
    @param q Size closed (magnitude, <= |size|).
    @param price_wad Oracle price.
    @return Terms(slip, penalty, restores).
    """
    after: int256 = size - units.sign(size) * units.to_int(q)
    mm_delta: uint256 = margin.position_requirement(market_id, size, price_wad, True) - margin.position_requirement(market_id, after, price_wad, True)
    im_delta: uint256 = margin.position_requirement(market_id, size, price_wad, False) - margin.position_requirement(market_id, after, price_wad, False)
    equity: uint256 = convert(health.equity, uint256)
    mm_after: uint256 = health.maintenance - mm_delta
    room: uint256 = equity - units.mul_div(equity, mm_after, health.maintenance, units.UP)
    pp: state.ProtocolParams = state.protocol_params
    slip: uint256 = units.mul_div(room, pp.liquidation_spread_wad, c.WAD, units.DOWN)
    penalty_full: uint256 = units.mul_div(margin.notional(units.to_int(q), price_wad), pp.liquidation_penalty_wad, c.WAD, units.UP)
    penalty: uint256 = min(penalty_full, room - slip)
    restores: bool = health.equity - units.to_int(slip) - units.to_int(penalty) >= units.to_int(health.initial) - units.to_int(im_delta)
    return Terms(slip=slip, penalty=penalty, restores=restores)


@internal
@view
def collateral_sale(amount_wad: uint256, price_wad: uint256, discount_wad: uint256) -> Sale:
    """
    @notice (proceeds, fee) of selling collateral at price * (1 - discount).
    @param amount_wad Amount (WAD).
    @param price_wad Oracle price.
    @param discount_wad Liquidation discount (WAD fraction).
    @return Sale(proceeds rounded DOWN, insurance fee rounded UP).
    """
    gross: uint256 = units.mul_div(amount_wad, price_wad, c.WAD, units.DOWN)
    proceeds: uint256 = units.mul_div(gross, c.WAD - discount_wad, c.WAD, units.DOWN)
    fee: uint256 = units.mul_div(proceeds, state.protocol_params.collateral_liquidation_fee_wad, c.WAD, units.UP)
    return Sale(proceeds=proceeds, fee=fee)


@internal
def _consume_block_cap(notional_wad: uint256, enforce: bool):
    """
    @notice Count `notional_wad` against the per-block liquidation cap; refuse it only when
            `enforce` (bankrupt accounts close whole even beyond the cap).
    @param notional_wad Oracle notional liquidated (WAD).
    @param enforce False for a bankrupt account's whole close.
    """
    if state.block_liquidated_at != block.number:
        state.block_liquidated_at = block.number
        state.block_liquidated_wad = 0
    assert (not enforce or state.block_liquidated_wad + notional_wad <= state.protocol_params.max_liquidation_notional_per_block_wad), "liquidation: block cap reached"
    state.block_liquidated_wad += notional_wad


@internal
@view
def bankrupt_close_due(account: address, market_id: uint256) -> bool:
    """
    @notice An empty ADL proposal for the position went unchallenged and is in its execution
            window (F-10; protocol/adl_queue.py `bankrupt_close_due`): it may close bankrupt.
    @param account The account.
    @param market_id Market id.
    @return Whether the bankrupt close is due.
    """
    p: state.AdlProposal = state.adl_proposals[account][market_id]
    return (p.deadline_s != 0 and len(p.counterparties) == 0 and block.timestamp >= p.deadline_s and block.timestamp <= p.deadline_s + state.protocol_params.adl_window_s)


@internal
@view
def close_shortfall(account: address, equity: int256, market_id: uint256) -> uint256:
    """
    @notice Share of a bankrupt account's negative equity its position in `market_id` created
            (F-15): floor(-E * loss_m / L), loss_m the position's unrealized loss at the oracle
            price and L the sum of the losses of all its positions; 0 for a position in profit
            or an account still holding collateral (sold first; its rest is bad debt).
    @param account The account (settled; every position's price trusted).
    @param equity Its equity E (<= 0).
    @param market_id Market of the bankrupt close.
    @return The share (WAD).
    """
    total: uint256 = 0
    mine: uint256 = 0
    mask: uint256 = state.position_mask[account]
    for m: uint256 in range(c.MAX_MARKETS):
        if mask & (1 << m) != 0:
            upnl: int256 = margin.unrealized_pnl(state.positions[account][m], margin.price_of_market(m))
            if upnl < 0:
                total += units.abs_u(upnl)
                if m == market_id:
                    mine = units.abs_u(upnl)
    if equity >= 0 or mine == 0 or margin.has_collateral(account):
        return 0
    return units.mul_div(units.abs_u(equity), mine, total, units.DOWN)


@internal
def liquidate(keeper: address, account: address, market_id: uint256, size_wad: uint256) -> (uint256, int256):
    """
    @notice Keeper takes over part or all of an account's position below maintenance.
    @param keeper The keeper (caller).
    @param account The liquidated account.
    @param market_id Market id.
    @param size_wad Size to take over (magnitude, > 0).
    @return (shortfall of a bankrupt close to settle in the market (F-15), side of the closed position).
    """
    assert not state.paused, "liquidation: paused"
    assert keeper != account, "liquidation: self liquidation"
    assert state.market_params[market_id].listed, "liquidation: unknown market"
    assert size_wad != 0, "liquidation: zero size"
    funding.settle_account(account)
    funding.settle_account(keeper)
    assert state.position_mask[account] & (1 << market_id) != 0, "liquidation: no position"
    untrusted: uint256 = oracle_adapter.require_position_prices(account, "liquidation: price not trusted")
    health: margin.Health = margin.account_health_at(account, untrusted)
    assert health.equity < units.to_int(health.maintenance), "liquidation: account healthy"
    size: int256 = state.positions[account][market_id].size
    price: uint256 = margin.price_of_market(market_id)
    assert size_wad <= units.abs_u(size), "liquidation: size exceeds position"

    q: uint256 = size_wad
    slip: uint256 = 0
    penalty: uint256 = 0
    shortfall: uint256 = 0
    if health.equity <= 0:
        # with a deleveraging method (adl, gains) a shortfall beyond the fund is deleveraged
        # first (F-10), unless an empty proposal went unchallenged
        method: uint256 = state.protocol_params.socialized_loss_method
        deleverages: bool = method == c.LOSS_METHOD_ADL or method == c.LOSS_METHOD_GAINS
        due: bool = deleverages and self.bankrupt_close_due(account, market_id)
        assert not deleverages or units.abs_u(health.equity) <= state.insurance_fund or due, ("liquidation: shortfall exceeds insurance fund")
        if due:
            state.adl_proposals[account][market_id] = empty(state.AdlProposal)
        q = units.abs_u(size)
        shortfall = self.close_shortfall(account, health.equity, market_id)
    else:
        before: Terms = self.liquidation_terms(market_id, health, size, q - 1, price)
        assert not before.restores, "liquidation: closes more than needed"
        rest: uint256 = units.abs_u(size) - q
        if rest != 0 and margin.notional(units.to_int(rest), price) < state.protocol_params.dust_notional_wad:
            q = units.abs_u(size)
        terms: Terms = self.liquidation_terms(market_id, health, size, q, price)
        slip = terms.slip
        penalty = terms.penalty
    notional_q: uint256 = margin.notional(units.to_int(q), price)
    self._consume_block_cap(notional_q, health.equity > 0)

    delta: int256 = -units.sign(size) * units.to_int(q)
    value: uint256 = clearing.close_value(q, price, delta < 0, units.to_int(slip))
    keeper_old: int256 = state.positions[keeper][market_id].size
    clearing.apply_trade(account, market_id, delta, value)
    clearing.apply_trade(keeper, market_id, -delta, value)

    reward: uint256 = units.mul_div(penalty, state.protocol_params.keeper_penalty_share_wad, c.WAD, units.DOWN)
    state.balances[account] -= units.to_int(penalty)
    state.balances[keeper] += units.to_int(reward)
    insurance_fund.credit(penalty - reward, "liquidation penalty")
    log events.Liquidated(
        account=account,
        keeper=keeper,
        market_id=market_id,
        size_wad=q,
        notional_wad=value,
        penalty_wad=penalty,
        keeper_reward_wad=reward,
    )
    if not clearing.reduces_risk(keeper_old, -delta):
        clearing.require_initial(keeper, "liquidation: price not trusted")
    return shortfall, units.sign(size)


@internal
@view
def collateral_sale_target(account: address) -> uint256:
    """
    @notice What one collateral sale may bring back of the debt -B: ceil(-B * close_factor), or
            0 unless B < 0 and -B * WAD >= trigger * collateral value (untrusted feeds at zero).
    @param account The account (funding settled).
    @return Target (WAD); 0 if no sale may run.
    """
    bal: int256 = state.balances[account]
    if bal >= 0:
        return 0
    debt: uint256 = units.abs_u(bal)
    trigger: uint256 = state.protocol_params.collateral_debt_ratio_trigger_wad
    if trigger != 0:
        value: uint256 = 0
        for asset_id: uint256 in state.collateral_list:
            feed_id: uint256 = state.collateral_params[asset_id].feed_id
            if oracle_adapter.is_trusted(feed_id):
                value += margin.collateral_value(asset_id, state.collateral[account][asset_id], state.feeds[feed_id].price_wad)
        if debt * c.WAD < trigger * value:
            return 0
    return units.mul_div(debt, state.protocol_params.collateral_close_factor_wad, c.WAD, units.UP)


@internal
def liquidate_collateral(liquidator: address, account: address, asset_id: uint256, amount: uint256):
    """
    @notice Sell an account's collateral to `liquidator` at a discount while its balance is
            negative and the account is below maintenance (F-05).
    @param liquidator The buyer (caller).
    @param account The account whose collateral is sold.
    @param asset_id Collateral asset id.
    @param amount Token units (> 0).
    """
    assert not state.paused, "liquidation: paused"
    assert liquidator != account, "liquidation: self liquidation"
    assert state.collateral_params[asset_id].listed, "liquidation: unknown asset"
    assert amount != 0, "liquidation: zero amount"
    cp: state.CollateralParams = state.collateral_params[asset_id]
    funding.settle_account(account)
    funding.settle_account(liquidator)
    assert state.balances[account] < 0, "liquidation: balance not negative"
    # F-05: only an account below its requirement sells at a discount
    health: margin.Health = margin.account_health_at(account, oracle_adapter.require_position_prices(account, "liquidation: price not trusted"))
    assert health.equity < units.to_int(health.maintenance), "liquidation: account healthy"
    target: uint256 = self.collateral_sale_target(account)
    assert target != 0, "liquidation: debt ratio below trigger"
    price: uint256 = oracle_adapter.trusted_price(cp.feed_id, "liquidation: price not trusted")
    amount_wad: uint256 = units.to_wad(amount, cp.decimals)
    held: uint256 = state.collateral[account][asset_id]
    assert amount_wad <= held, "liquidation: amount exceeds collateral"

    sale: Sale = self.collateral_sale(amount_wad, price, cp.liquidation_discount_wad)
    smaller: Sale = self.collateral_sale(amount_wad - units.to_wad(1, cp.decimals), price, cp.liquidation_discount_wad)
    assert smaller.proceeds - smaller.fee < target, "liquidation: sells more than needed"
    assert state.balances[liquidator] >= units.to_int(sale.proceeds), "liquidation: liquidator balance too low"
    state.balances[liquidator] -= units.to_int(sale.proceeds)
    state.collateral[liquidator][asset_id] += amount_wad
    state.collateral[account][asset_id] = held - amount_wad
    state.balances[account] += units.to_int(sale.proceeds - sale.fee)
    insurance_fund.credit(sale.fee, "collateral liquidation fee")
    log events.CollateralLiquidated(
        account=account,
        liquidator=liquidator,
        asset_id=asset_id,
        amount_wad=amount_wad,
        proceeds_wad=sale.proceeds,
        fee_wad=sale.fee,
    )
    if state.position_mask[liquidator] != 0:
        clearing.require_initial(liquidator, "liquidation: price not trusted")
