# pragma version ~=0.4.3
"""
@title socialized_loss
@notice Bad debt: insurance-fund cover first, then socialized loss by the protocol's method
        (loss_allocation), or auto-deleveraging against keeper-ranked counterparties (mirrors
        protocol/socialized_loss.py).
@dev A bankrupt close settles its share of -E in its market (F-15): the fund pays first, the
     rest goes to loss_allocation.allocate for that market and the closed position's side. Bad
     debt of an emptied account beyond the fund is `uncovered_loss`.
     adl: score = floor(floor(upnl * notional / |O|) * WAD / E_cp) (max for O = 0 or E_cp <= 0),
     non-increasing along the keeper's list; the bankrupt position closes at value
     ceil/floor(q p) -+ room, room = E - floor(E MM' / MM), split pro rata to the takes; a
     counterparty's share is never closed beyond its own entry (cost basis). The ADL queue
     (adl_queue.vy) executes at most ceil(|s| * adl_close_fraction) at once (partial ADL).
     gains (Vega): the same queue with the list ranked by unrealized gain (non-increasing); the
     position closes at the oracle price and -room is charged pro rata to the listed
     counterparties' unrealized gains (_charge_gains).
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
from . import loss_allocation

uses: state
uses: margin
uses: oracle_adapter
uses: insurance_fund
uses: funding
uses: clearing
uses: loss_allocation


@internal
def settle_shortfall(account: address, market_id: uint256, side: int256, amount_wad: uint256):
    """
    @notice Settle `amount_wad` of an account's negative equity at the bankrupt close of its
            `side` position in `market_id` (F-15): credited to the account, paid by the
            insurance fund, the rest allocated in that market by the protocol's method.
    @param account The account.
    @param market_id Market of the close.
    @param side +1 (a long closed) or -1.
    @param amount_wad The share (WAD); nothing happens for 0.
    """
    if amount_wad == 0:
        return
    state.balances[account] += units.to_int(amount_wad)
    paid: uint256 = insurance_fund.cover(amount_wad, "shortfall")
    rest: uint256 = amount_wad - paid
    if rest != 0:
        loss_allocation.allocate(market_id, side, rest)
    log events.ShortfallSettled(account=account, market_id=market_id, debt_wad=amount_wad, covered_by_fund_wad=paid, socialized_wad=rest)


@internal
def settle_bad_debt(account: address):
    """
    @notice Resolve the negative balance of an account left with no position and no collateral:
            the insurance fund pays what it can, the rest is uncovered (no close created it).
    @param account The account.
    """
    bal: int256 = state.balances[account]
    if bal >= 0 or state.position_mask[account] != 0 or margin.has_collateral(account):
        return
    debt: uint256 = units.abs_u(bal)
    state.balances[account] = 0
    paid: uint256 = insurance_fund.cover(debt, "bad debt")
    rest: uint256 = debt - paid
    state.uncovered_loss += rest
    log events.BadDebtSettled(account=account, debt_wad=debt, covered_by_fund_wad=paid, socialized_wad=rest)


@internal
@pure
def adl_score(upnl_wad: int256, open_notional_wad: int256, notional_wad: uint256, equity_wad: int256) -> uint256:
    """
    @notice Deleveraging priority (upnl / |cost|) * (notional / equity) in WAD, rounded DOWN.
    @param upnl_wad Unrealized PnL (> 0).
    @param open_notional_wad Cost basis.
    @param notional_wad Position notional.
    @param equity_wad Account equity.
    @return The score; max_value(uint256) for no cost basis or non-positive equity.
    """
    if open_notional_wad == 0 or equity_wad <= 0:
        return max_value(uint256)
    per_cost: uint256 = units.mul_div(convert(upnl_wad, uint256), notional_wad, units.abs_u(open_notional_wad), units.DOWN)
    return units.mul_div(per_cost, c.WAD, convert(equity_wad, uint256), units.DOWN)


struct Bankrupt:
    health: margin.Health
    size: int256
    price: uint256


@internal
def _charge_gains(
    account: address,
    market_id: uint256,
    counterparties: DynArray[address, c.MAX_ADL_COUNTERPARTIES],
    gains: DynArray[uint256, c.MAX_ADL_COUNTERPARTIES],
    owed_wad: uint256,
):
    """
    @notice gains method: charge `owed_wad` (what the bankruptcy price would give the account
            beyond the oracle price) pro rata to the counterparties' unrealized gains, each
            min(g, ceil(owed g / G)); the account receives min(paid, owed), the rounding excess
            goes to the insurance fund.
    @param account The bankrupt account.
    @param market_id Market id.
    @param counterparties Opposite accounts in profit.
    @param gains Their unrealized PnL (> 0), in the same order.
    @param owed_wad Amount to charge (WAD).
    """
    total: uint256 = 0
    for g: uint256 in gains:
        total += g
    paid: uint256 = 0
    for i: uint256 in range(len(gains), bound=c.MAX_ADL_COUNTERPARTIES):
        share: uint256 = min(gains[i], units.mul_div(owed_wad, gains[i], total, units.UP))
        if share != 0:
            state.balances[counterparties[i]] -= units.to_int(share)
            paid += share
            log events.GainsCharged(counterparty=counterparties[i], account=account, market_id=market_id, amount_wad=share)
    credited: uint256 = min(paid, owed_wad)
    state.balances[account] += units.to_int(credited)
    insurance_fund.credit(paid - credited, "gains rounding")


@internal
def bankrupt_position(account: address, market_id: uint256, counterparties: DynArray[address, c.MAX_ADL_COUNTERPARTIES]) -> Bankrupt:
    """
    @notice Check that ADL may close the account's position (method, pause, market, the list's
            addresses, equity below -fund) and return it; the account's funding is settled.
    @param account The bankrupt account.
    @param market_id Market id.
    @param counterparties The keeper's list.
    @return Its health at liquidation prices, position size and oracle price.
    """
    method: uint256 = state.protocol_params.socialized_loss_method
    assert method == c.LOSS_METHOD_ADL or method == c.LOSS_METHOD_GAINS, "socialized_loss: method does not deleverage"
    assert not state.paused, "socialized_loss: paused"
    assert state.market_params[market_id].listed, "socialized_loss: unknown market"
    for i: uint256 in range(len(counterparties), bound=c.MAX_ADL_COUNTERPARTIES):
        assert counterparties[i] != account, "socialized_loss: account is its own counterparty"
    for i: uint256 in range(len(counterparties), bound=c.MAX_ADL_COUNTERPARTIES):
        for j: uint256 in range(i + 1, len(counterparties), bound=c.MAX_ADL_COUNTERPARTIES):
            assert counterparties[i] != counterparties[j], "socialized_loss: repeated counterparty"
    funding.settle_account(account)
    assert state.position_mask[account] & (1 << market_id) != 0, "socialized_loss: no position"
    untrusted: uint256 = oracle_adapter.require_position_prices(account, "socialized_loss: price not trusted")
    health: margin.Health = margin.account_health_at(account, untrusted)
    assert health.equity < 0, "socialized_loss: account not bankrupt"
    assert units.abs_u(health.equity) > state.insurance_fund, "socialized_loss: insurance fund covers shortfall"
    return Bankrupt(health=health, size=state.positions[account][market_id].size, price=margin.price_of_market(market_id))


@internal
def _opposite(cp: address, market_id: uint256, side: int256) -> bool:
    """
    @notice Settle `cp`'s funding; True if its position in `market_id` is opposite to `side`.
    @param cp The counterparty.
    @param market_id Market id.
    @param side Sign of the bankrupt position.
    @return Whether it is opposite.
    """
    funding.settle_account(cp)
    return units.sign(state.positions[cp][market_id].size) == -side


@internal
@view
def _score(cp: address, market_id: uint256, upnl: int256, price: uint256) -> uint256:
    """
    @notice Rank of `cp`'s position in `market_id` with unrealized PnL `upnl` at `price` in a
            counterparty list: `upnl` with the gains method (largest winners first), else its
            ADL score.
    @param cp The counterparty (every position's price trusted for the ADL score).
    @param market_id Market id.
    @param upnl Its unrealized PnL (> 0).
    @param price Oracle price (WAD).
    @return The score.
    """
    if state.protocol_params.socialized_loss_method == c.LOSS_METHOD_GAINS:
        return convert(upnl, uint256)
    pos: state.Position = state.positions[cp][market_id]
    cp_untrusted: uint256 = oracle_adapter.require_position_prices(cp, "socialized_loss: price not trusted")
    cp_health: margin.Health = margin.account_health_at(cp, cp_untrusted)
    return self.adl_score(upnl, pos.open_notional, margin.notional(pos.size, price), cp_health.equity)


@internal
def counterparty_score(cp: address, market_id: uint256, side: int256, price: uint256) -> uint256:
    """
    @notice ADL score of `cp` against a bankrupt `side` position (its funding settled); 0 when it
            holds no opposite position in profit.
    @param cp The counterparty.
    @param market_id Market id.
    @param side Sign of the bankrupt position.
    @param price Oracle price (WAD).
    @return The score.
    """
    if not self._opposite(cp, market_id, side):
        return 0
    upnl: int256 = margin.unrealized_pnl(state.positions[cp][market_id], price)
    if upnl <= 0:
        return 0
    return self._score(cp, market_id, upnl, price)


@internal
def ranked_scores(market_id: uint256, b: Bankrupt, counterparties: DynArray[address, c.MAX_ADL_COUNTERPARTIES]) -> DynArray[uint256, c.MAX_ADL_COUNTERPARTIES]:
    """
    @notice Scores of a list whose every entry is opposite and in profit, non-increasing.
    @param market_id Market id.
    @param b The bankrupt position.
    @param counterparties The list.
    @return Their scores.
    """
    scores: DynArray[uint256, c.MAX_ADL_COUNTERPARTIES] = []
    previous: uint256 = max_value(uint256)
    for cp: address in counterparties:
        assert self._opposite(cp, market_id, units.sign(b.size)), "socialized_loss: counterparty not opposite"
        upnl: int256 = margin.unrealized_pnl(state.positions[cp][market_id], b.price)
        assert upnl > 0, "socialized_loss: counterparty not in profit"
        score: uint256 = self._score(cp, market_id, upnl, b.price)
        assert score <= previous, "socialized_loss: ranking violated"
        previous = score
        scores.append(score)
    return scores


@internal
def deleverage(
    account: address,
    market_id: uint256,
    b: Bankrupt,
    counterparties: DynArray[address, c.MAX_ADL_COUNTERPARTIES],
    size_wad: uint256,
):
    """
    @notice Close up to `size_wad` of the bankrupt position against `counterparties` in order at
            the ratio-preserving bankruptcy price; one no longer opposite or in profit is passed over.
    @param account The bankrupt account.
    @param market_id Market id.
    @param b The bankrupt position.
    @param counterparties The executed list.
    @param size_wad Largest size to close (base units WAD; the queue passes the whole position).
    """
    s: int256 = units.sign(b.size)
    takes: DynArray[uint256, c.MAX_ADL_COUNTERPARTIES] = []
    gains: DynArray[uint256, c.MAX_ADL_COUNTERPARTIES] = []
    total: uint256 = 0
    for cp: address in counterparties:
        take: uint256 = 0
        gain: int256 = 0
        if self._opposite(cp, market_id, s):
            gain = max(margin.unrealized_pnl(state.positions[cp][market_id], b.price), 0)
        if gain > 0:
            take = units.abs_u(state.positions[cp][market_id].size)
        takes.append(take)
        gains.append(convert(gain, uint256))
        total += take
    q: uint256 = min(min(size_wad, units.abs_u(b.size)), total)
    if q == 0:
        return
    after: int256 = b.size - s * units.to_int(q)
    mm_after: uint256 = (b.health.maintenance - margin.position_requirement(market_id, b.size, b.price, True) + margin.position_requirement(market_id, after, b.price, True))
    # equity the close consumes at the bankruptcy price (negative: the account is compensated)
    room: int256 = b.health.equity - units.smul_div(b.health.equity, units.to_int(mm_after), b.health.maintenance, units.FLOOR)
    if state.protocol_params.socialized_loss_method == c.LOSS_METHOD_GAINS:
        self._charge_gains(account, market_id, counterparties, gains, units.abs_u(room))
        room = 0  # the position itself closes at the oracle price
    total_value: uint256 = clearing.close_value(q, b.price, b.size > 0, room)
    remaining: uint256 = q
    value_left: uint256 = total_value
    for i: uint256 in range(len(counterparties), bound=c.MAX_ADL_COUNTERPARTIES):
        take: uint256 = min(remaining, takes[i])
        if take == 0:
            continue
        remaining -= take
        value: uint256 = value_left
        if remaining != 0:
            value = units.mul_div(total_value, take, q, units.DOWN)
        value_left -= value
        # a counterparty gives up at most its profit: never closed beyond its own entry
        cp_pos: state.Position = state.positions[counterparties[i]][market_id]
        entry_cost: uint256 = units.abs_u(units.smul_div(cp_pos.open_notional, units.to_int(take), units.abs_u(cp_pos.size), units.CEIL))
        if b.size > 0:
            value = min(value, entry_cost)
        else:
            value = max(value, entry_cost)
        clearing.apply_trade(account, market_id, -s * units.to_int(take), value)
        clearing.apply_trade(counterparties[i], market_id, s * units.to_int(take), value)
        log events.Deleveraged(account=account, counterparty=counterparties[i], market_id=market_id, size_wad=take, notional_wad=value)
