# pragma version ~=0.4.3
"""
@title clearing_house
@notice Core contract of Novation: one external function per action record of
        protocol/actions.py, with the reference model's checks, events and revert reasons
        (protocol/clearing_house.py is the dispatcher this contract mirrors).
@dev
    Glossary (docs/SPEC.md; every amount is a WAD integer, 1e18, unless named in token units)
    ----------------------------------------------------------------------------------------
    p        oracle price of a feed, USD per base unit
    s        signed position size (long > 0), base units
    O        signed cost basis `open_notional` (long > 0), USD
    B        settlement balance `balance`, USD; may be negative after losses
    a        collateral holding, base units; valued floor(floor(a p) (1 - haircut)), capped
    E        equity = B + collateral value + sum(upnl + pending funding + pending loss)
    IM, MM   initial / maintenance requirement = sum ceil(notional * imf_eff | mmf_eff)
    imf      initial margin fraction (grows with open interest between two caps)
    mmf      maintenance fraction = ceil(imf_eff * maintenance_share)
    F        funding index of a market (USD per base unit); longs pay its increase
    L+, L-   socialized-loss index of the long / short side (USD per base unit)
    room     equity a liquidation may consume keeping E / MM from falling
    q        size a keeper takes over (magnitude)
    Rounding: credits to users FLOOR/DOWN, debits CEIL/UP (units.vy names it at every call).

    Time: the chain's clock replaces the model's AdvanceTime; `block.timestamp` is `now_s` and
    `block.number` is `block`.

    Contract split (EIP-170, 24,576 bytes of runtime code per contract): the protocol is four
    deployed contracts along module lines.
      * clearing_house (this contract): vault, funding, oracle adapter, insurance fund, roles,
        configuration; holds every token and all storage.
      * trading_engine: fills of signed orders (clearing, orders) and order cancellation.
      * liquidation_engine: liquidation (positions and collateral).
      * adl_engine: auto-deleveraging through the ADL proposal queue (adl_queue, socialized_loss).
      This contract forwards `fill` and `cancel_order` to the trading engine, `liquidate` and
      `liquidate_collateral` to the liquidation engine and `auto_deleverage` to the ADL engine
      by DELEGATECALL, so they run on this contract's storage, emit their events from this address and see the
      original `msg.sender`. All four contracts `initializes: state` first and declare no
      other storage, so their storage layouts are identical (tests/chain compares them); the
      engines refuse to be called directly. The engine addresses are immutables of this
      contract. Orders are signed for this contract's EIP-712 domain (`eip712Domain`).
    Reentrancy: every state-changing entry point is `@nonreentrant` (one lock, transient
    storage); the engine runs inside that lock.
"""

from . import constants as c
from . import units
from . import events
from . import state
from . import margin
from . import oracle_adapter
from . import insurance_fund as insurance_fund_module  # `insurance_fund` is the exported balance
from . import funding
from . import clearing
from . import vault
from . import roles
from . import loss_allocation
from . import socialized_loss
from . import orders
from snekmate.utils import eip712_domain_separator as eip712

initializes: state
initializes: margin[state := state]
initializes: oracle_adapter[state := state]
initializes: insurance_fund_module[state := state]
initializes: funding[state := state]
initializes: clearing[state := state, margin := margin, oracle_adapter := oracle_adapter, insurance_fund := insurance_fund_module, funding := funding]
initializes: roles[state := state]
initializes: loss_allocation[state := state]
initializes: vault[state := state, funding := funding, clearing := clearing, loss_allocation := loss_allocation]
initializes: socialized_loss[state := state, margin := margin, oracle_adapter := oracle_adapter, insurance_fund := insurance_fund_module, funding := funding, clearing := clearing, loss_allocation := loss_allocation]
initializes: eip712

exports: (
    eip712.eip712Domain,
    state.protocol_params,
    state.market_params,
    state.feed_params,
    state.collateral_params,
    state.settlement_token,
    state.governance,
    state.pending_governance,
    state.matchers,
    state.oracles,
    state.funding_operators,
    state.paused,
    state.liquidations_resume_at_s,
    state.configured,
    state.balances,
    state.collateral,
    state.positions,
    state.position_mask,
    state.realized_pnl,
    state.profit_withdrawn,
    state.markets,
    state.feeds,
    state.feed_moves,
    state.vault_tokens,
    state.insurance_fund,
    state.fee_pool,
    state.funding_pool,
    state.loss_pool,
    state.uncovered_loss,
    state.block_liquidated_wad,
    state.block_liquidated_at,
    state.order_filled,
    state.adl_proposals,
    state.feed_symbol,
    state.market_symbol,
    state.collateral_symbol,
)

# what integrators check before reading: this code is a Novation clearing house
HOUSE_VERSION: public(constant(String[32])) = c.HOUSE_VERSION

# the liquidation engine this contract delegates liquidation and ADL to
ENGINE: public(immutable(address))
# the trading engine this contract delegates fills and order cancellation to
TRADING_ENGINE: public(immutable(address))
# the ADL engine this contract delegates auto-deleveraging (the proposal queue) to
ADL_ENGINE: public(immutable(address))


@deploy
def __init__(
    engine: address,
    trading_engine: address,
    adl_engine: address,
    settlement_token: address,
    protocol_params: state.ProtocolParams,
):
    """
    @notice Deploy the core; the deployer configures feeds, markets and collateral, then
            hands over to governance with `finish_configuration`.
    @param engine The liquidation engine (delegate target).
    @param trading_engine The trading engine (delegate target).
    @param adl_engine The ADL engine (delegate target).
    @param settlement_token The settlement ERC20 (asset 0).
    @param protocol_params Protocol-wide parameters, within protocol.params' bounds.
    """
    assert engine.is_contract and trading_engine.is_contract and adl_engine.is_contract, "roles: engine has no code"
    assert settlement_token.is_contract, "roles: token has no code"
    assert roles.protocol_in_bounds(protocol_params), "roles: protocol parameters out of bounds"
    ENGINE = engine
    TRADING_ENGINE = trading_engine
    ADL_ENGINE = adl_engine
    eip712.__init__(c.ORDER_DOMAIN_NAME, c.ORDER_DOMAIN_VERSION)
    state.settlement_token = settlement_token
    state.protocol_params = protocol_params
    state.configurator = msg.sender


# ------------------------------------------------------------------ configuration


@internal
@view
def _configuring():
    assert msg.sender == state.configurator and not state.configured, "roles: configuration closed"


@external
def list_feed(
    feed_id: uint256,
    heartbeat_s: uint256,
    max_move_wad: uint256,
    move_window_s: uint256,
    symbol: String[c.MAX_SYMBOL_BYTES] = "",
):
    """
    @notice Deployment only: list a price feed.
    @param feed_id Feed id.
    @param heartbeat_s Largest age of a trusted price (s).
    @param max_move_wad Largest accepted move against the move reference (WAD).
    @param move_window_s Seconds over which the allowed move grows to max_move_wad.
    @param symbol Its symbol (a label for integrators).
    """
    self._configuring()
    assert not state.feed_params[feed_id].listed, "roles: feed listed"
    assert len(state.feed_list) < c.MAX_FEEDS, "roles: too many feeds"
    assert roles.feed_in_bounds(heartbeat_s, max_move_wad, move_window_s), "roles: feed parameters out of bounds"
    state.feed_params[feed_id] = state.FeedParams(listed=True, heartbeat_s=heartbeat_s, max_move_wad=max_move_wad, move_window_s=move_window_s)
    state.feed_list.append(feed_id)
    state.feed_symbol[feed_id] = symbol


@external
def list_market(market_id: uint256, params: state.MarketParams, symbol: String[c.MAX_SYMBOL_BYTES] = ""):
    """
    @notice Deployment only: list a perpetual market on a listed feed.
    @param market_id Market id (< MAX_MARKETS).
    @param params Its parameters (`listed` is set here).
    @param symbol Its symbol (a label for integrators).
    """
    self._configuring()
    assert market_id < c.MAX_MARKETS and not state.market_params[market_id].listed, "roles: bad market"
    assert state.feed_params[params.feed_id].listed, "roles: unknown feed"
    assert roles.market_in_bounds(params), "roles: market parameters out of bounds"
    p: state.MarketParams = params
    p.listed = True
    state.market_params[market_id] = p
    state.market_list.append(market_id)
    state.market_symbol[market_id] = symbol
    state.markets[market_id].last_accrual_s = block.timestamp
    state.markets[market_id].funding_rate_set_s = block.timestamp


@external
def list_collateral(asset_id: uint256, params: state.CollateralParams, symbol: String[c.MAX_SYMBOL_BYTES] = ""):
    """
    @notice Deployment only: list a collateral asset on a listed feed.
    @param asset_id Asset id in [1, MAX_COLLATERALS].
    @param params Its parameters (`listed` is set here).
    @param symbol Its symbol (a label for integrators).
    """
    self._configuring()
    assert asset_id >= 1 and asset_id <= c.MAX_COLLATERALS and not state.collateral_params[asset_id].listed, "roles: bad asset"
    assert state.feed_params[params.feed_id].listed, "roles: unknown feed"
    assert roles.collateral_in_bounds(params), "roles: collateral parameters out of bounds"
    assert params.token.is_contract, "roles: token has no code"
    p: state.CollateralParams = params
    p.listed = True
    state.collateral_params[asset_id] = p
    state.collateral_list.append(asset_id)
    state.collateral_symbol[asset_id] = symbol


@external
def finish_configuration(
    governance: address,
    matchers: DynArray[address, 16],
    oracles: DynArray[address, 16],
    funding_operators: DynArray[address, 16],
):
    """
    @notice Deployment only: grant the initial roles and close configuration for good.
    @param governance The governance address.
    @param matchers Initial matchers.
    @param oracles Initial oracles.
    @param funding_operators Initial funding operators.
    """
    self._configuring()
    assert len(state.market_list) != 0, "roles: no market"
    state.governance = governance
    for a: address in matchers:
        state.matchers[a] = True
    for a: address in oracles:
        state.oracles[a] = True
    for a: address in funding_operators:
        state.funding_operators[a] = True
    state.configured = True


# ------------------------------------------------------------------ listings


@external
@view
def listed_markets() -> DynArray[uint256, c.MAX_MARKETS]:
    """
    @notice Ids of the listed markets, in listing order.
    @return Market ids.
    """
    return state.market_list


@external
@view
def listed_feeds() -> DynArray[uint256, c.MAX_FEEDS]:
    """
    @notice Ids of the listed price feeds, in listing order.
    @return Feed ids.
    """
    return state.feed_list


@external
@view
def listed_collaterals() -> DynArray[uint256, c.MAX_COLLATERALS]:
    """
    @notice Asset ids of the listed collateral assets (the settlement asset 0 aside), in listing order.
    @return Asset ids.
    """
    return state.collateral_list


# ------------------------------------------------------------------ actions


@external
@nonreentrant
def deposit(asset_id: uint256, amount: uint256):
    """
    @notice Deposit action: the caller deposits `amount` token units of an asset.
    @param asset_id 0 = settlement token, else a collateral asset id.
    @param amount Token units (the vault must be approved).
    """
    vault.deposit(msg.sender, asset_id, amount)


@external
@nonreentrant
def withdraw(asset_id: uint256, amount: uint256):
    """
    @notice Withdraw action: the caller withdraws `amount` token units of an asset.
    @param asset_id Asset id.
    @param amount Token units.
    """
    vault.withdraw(msg.sender, asset_id, amount)


@external
@nonreentrant
def fill(
    maker_order: orders.Order,
    maker_signature: Bytes[65],
    taker_order: orders.Order,
    taker_signature: Bytes[65],
    size_wad: int256,
    price_wad: uint256,
    maker_fee_wad: uint256,
    taker_fee_wad: uint256,
):
    """
    @notice Fill action (matcher only): novate a matched trade of two signed orders; the taker
            buys `size_wad` > 0.
    @dev Runs trading_engine.fill by DELEGATECALL.
    @param maker_order The maker's order (its account signs it for this contract's domain).
    @param maker_signature Its signature r || s || v.
    @param taker_order The taker's order.
    @param taker_signature Its signature.
    @param size_wad Signed size (WAD).
    @param price_wad Fill price (WAD).
    @param maker_fee_wad Maker fee rate (WAD).
    @param taker_fee_wad Taker fee rate (WAD).
    """
    raw_call(TRADING_ENGINE, msg.data, is_delegate_call=True)


@external
@nonreentrant
def cancel_order(order: orders.Order):
    """
    @notice CancelOrder action: the order's account cancels the rest of it (also while paused).
    @dev Runs trading_engine.cancel_order by DELEGATECALL.
    @param order The order.
    """
    raw_call(TRADING_ENGINE, msg.data, is_delegate_call=True)


@external
@nonreentrant
def push_price(feed_id: uint256, price_wad: int256, timestamp_s: uint256):
    """
    @notice PushPrice action (oracle only): a reading is accepted or makes the feed untrusted.
    @dev Funding of the feed's markets accrues at the old price first.
    @param feed_id Feed id.
    @param price_wad Price (WAD).
    @param timestamp_s Observation time.
    """
    assert state.oracles[msg.sender], "oracle: caller is not an oracle"
    assert state.feed_params[feed_id].listed, "oracle: unknown feed"
    for market_id: uint256 in state.market_list:
        if state.market_params[market_id].feed_id == feed_id:
            funding.accrue_market(market_id)
    oracle_adapter.push_price(feed_id, price_wad, timestamp_s)


@external
@nonreentrant
def set_funding_rate(market_id: uint256, rate_per_s_wad: int256):
    """
    @notice SetFundingRate action (funding operator only); the rate is clamped.
    @param market_id Market id.
    @param rate_per_s_wad Signed rate (WAD fraction of the price per second).
    """
    funding.set_funding_rate(msg.sender, market_id, rate_per_s_wad)


@external
@nonreentrant
def liquidate(account: address, market_id: uint256, size_wad: uint256):
    """
    @notice Liquidate action: the caller (keeper) takes over `size_wad` of a position.
    @dev Runs liquidation_engine.liquidate by DELEGATECALL after the grace period.
    @param account The account below maintenance.
    @param market_id Market id.
    @param size_wad Size (magnitude).
    """
    roles.require_liquidations_resumed()
    raw_call(ENGINE, msg.data, is_delegate_call=True)


@external
@nonreentrant
def liquidate_collateral(account: address, asset_id: uint256, amount: uint256):
    """
    @notice LiquidateCollateral action: the caller buys collateral of an account in debt.
    @dev Runs liquidation_engine.liquidate_collateral by DELEGATECALL after the grace period.
    @param account The account with a negative balance.
    @param asset_id Collateral asset id.
    @param amount Token units.
    """
    roles.require_liquidations_resumed()
    raw_call(ENGINE, msg.data, is_delegate_call=True)


@external
@nonreentrant
def auto_deleverage(account: address, market_id: uint256, counterparties: DynArray[address, c.MAX_ADL_COUNTERPARTIES]):
    """
    @notice AutoDeleverage action: propose, challenge or execute the counterparty list a
            bankrupt position closes against (the ADL proposal queue, F-04/F-10).
    @dev Runs adl_engine.auto_deleverage by DELEGATECALL after the grace period.
    @param account The bankrupt account.
    @param market_id Market id.
    @param counterparties Ranked opposite accounts in profit (may be empty).
    """
    roles.require_liquidations_resumed()
    raw_call(ADL_ENGINE, msg.data, is_delegate_call=True)


@external
@nonreentrant
def fund_insurance(amount: uint256):
    """
    @notice FundInsurance action: the caller pays settlement tokens into the insurance fund.
    @param amount Token units.
    """
    assert amount != 0, "vault: zero amount"
    insurance_fund_module.fund_insurance(amount)
    vault.pull_tokens(c.SETTLEMENT_ASSET_ID, msg.sender, amount)


@external
@nonreentrant
def withdraw_fees(to: address, amount: uint256):
    """
    @notice WithdrawFees action (governance only): pay out of the fee pool.
    @param to Recipient.
    @param amount Token units.
    """
    vault.withdraw_fees(msg.sender, to, amount)


@external
@nonreentrant
def set_paused(paused: bool):
    """
    @notice SetPaused action (governance only).
    @param paused New switch position.
    """
    roles.set_paused(msg.sender, paused)


@external
@nonreentrant
def set_role(role: String[16], account: address, enabled: bool):
    """
    @notice SetRole action (governance only); granting "governance" proposes a successor.
    @param role "governance", "matcher", "oracle" or "funding".
    @param account The account.
    @param enabled Grant or revoke.
    """
    roles.set_role(msg.sender, role, account, enabled)


@external
@nonreentrant
def accept_governance():
    """
    @notice AcceptGovernance action: the proposed governance takes over.
    """
    roles.accept_governance(msg.sender)


@external
@nonreentrant
def set_market_margin(market_id: uint256, initial_margin_fraction_wad: uint256, maintenance_share_wad: uint256):
    """
    @notice SetMarketMargin action (governance only), within the parameter bounds.
    @param market_id Market id.
    @param initial_margin_fraction_wad Initial fraction (WAD).
    @param maintenance_share_wad Maintenance share (WAD).
    """
    roles.set_market_margin(msg.sender, market_id, initial_margin_fraction_wad, maintenance_share_wad)
