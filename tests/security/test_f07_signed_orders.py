# ruff: noqa: F811  (fixtures imported from the harness)
"""F-07 (medium): fills carried no authorization by the account.

The attack: a matcher (or whoever holds the role) trades any depositor at the edge of the fill
band with the largest fee (1 % a side), straight into a colluding account. The fix: every side of
a fill is an EIP-712 order its account signed (market, signed size, limit price, largest fee,
expiry, nonce), verified on chain with snekmate's ``ecdsa`` and ``eip712_domain_separator`` and
by the model with the same rules; filled sizes are counted per order hash (partial fills, no
replay) and the account can cancel. Every test runs the model and the contracts (titanoboa) side
by side; the last one sends signed fills through anvil's batched fast path.
"""

from __future__ import annotations

import dataclasses
import shutil

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from security_harness import (  # noqa: F401  (fixtures)
    COLLUDER,
    GOV,
    MAKER,
    MATCHER,
    ORACLE,
    USDC,
    VICTIM,
    Differential,
    deployment,
    diff,
    prices,
)

from contracts_py.chain_house import ChainClearingHouse, Outcome, mint_test_tokens
from contracts_py.chains import AnvilChain, make_chain
from contracts_py.deploy import deploy_system
from protocol.actions import AdvanceTime, CancelOrder, Deposit, Fill, PushPrice, SignedOrder
from protocol.constants import MAX_FEE_RATE, WAD
from protocol.errors import ProtocolRevert
from protocol.events import OrderCancelled, OrderFilled, TimeAdvanced
from protocol.orders import MODEL_DOMAIN, OrderSigner, order_digest, typed_data
from protocol.scenarios import BTC_PERP, ETH_PERP, actor_key, actor_signer, default_params

BTC = BTC_PERP


@pytest.fixture
def funded(diff: Differential) -> Differential:
    """Prices pushed; the market maker, the victim and the colluder have deposited."""
    diff.apply_all(
        [
            *prices(diff, 60_000, 3_000),
            Deposit(MAKER, 0, 1_000_000 * USDC),
            Deposit(VICTIM, 0, 50_000 * USDC),
            Deposit(COLLUDER, 0, 50_000 * USDC),
        ]
    )
    return diff


def _same(chain: Outcome, model: Outcome) -> bool:
    if isinstance(chain, ProtocolRevert) or isinstance(model, ProtocolRevert):
        return isinstance(chain, ProtocolRevert) and isinstance(model, ProtocolRevert) and chain.reason == model.reason
    return chain == model


def forged(signed: SignedOrder, key_of: str) -> SignedOrder:
    """``signed``'s order with a signature by ``key_of``'s key instead of its account's."""
    thief = OrderSigner(MODEL_DOMAIN, [actor_key(key_of)])
    wrong = thief.sign(dataclasses.replace(signed.order, account=thief.accounts[0]))
    return SignedOrder(signed.order, wrong.signature)


def test_matcher_cannot_trade_a_victim_at_the_band_edge(funded: Differential) -> None:
    """Before: the matcher had the victim buy 1 BTC at +5 % with a 1 % fee from its colluder:
    the victim lost 3,630 (3,000 against the oracle and a 630 fee), 2,370 of it to the colluder."""
    band_edge = 63_000 * WAD
    unsigned = funded.signer.fill(MATCHER, COLLUDER, VICTIM, BTC, WAD, band_edge, MAX_FEE_RATE, MAX_FEE_RATE)
    # the matcher cannot produce the victim's signature: it signs with its own key
    attack = dataclasses.replace(unsigned, taker_order=forged(unsigned.taker_order, "matcher"))
    assert funded.apply(attack) == "clearing: order not signed by its account"
    assert funded.model.state.accounts[VICTIM].balance == 50_000 * WAD
    assert funded.model.state.accounts[VICTIM].positions == {}


def test_a_fill_respects_every_term_of_the_order(funded: Differential) -> None:
    victim = funded.signer.order(VICTIM, BTC, WAD, 60_000 * WAD, max_fee_wad=WAD // 2_000, expiry_s=funded.now + 60)
    colluder = funded.signer.order(COLLUDER, BTC, -WAD, 0, max_fee_wad=MAX_FEE_RATE)

    def fill(size: int, price: int, taker_fee: int, taker: SignedOrder = victim) -> Fill:
        return Fill(MATCHER, colluder, taker, size, price, 0, taker_fee)

    assert funded.apply(fill(WAD // 2, 60_001 * WAD, 0)) == "clearing: price beyond order limit"
    assert funded.apply(fill(WAD // 2, 60_000 * WAD, WAD // 1_000)) == "clearing: fee above order maximum"
    assert funded.apply(fill(-WAD // 2, 60_000 * WAD, 0)) == "clearing: order side"
    other_market = funded.signer.order(VICTIM, ETH_PERP, WAD, 60_000 * WAD)
    assert funded.apply(fill(WAD // 2, 60_000 * WAD, 0, other_market)) == "clearing: orders of different markets"
    # partial fills up to the order's size, then no more: an order cannot be replayed
    events = funded.apply(fill(2 * WAD // 5, 59_900 * WAD, WAD // 2_000))
    assert isinstance(events, list)
    assert events[1] == OrderFilled(order_digest(victim.order, funded.house.order_domain), VICTIM, 2 * WAD // 5)
    funded.apply(fill(3 * WAD // 5, 60_000 * WAD, 0))
    assert funded.model.state.accounts[VICTIM].positions[BTC].size == WAD
    assert funded.apply(fill(1, 60_000 * WAD, 0)) == "clearing: order overfilled"
    fresh = funded.signer.order(VICTIM, BTC, WAD, 60_000 * WAD, expiry_s=funded.now + 60)
    colluder = funded.signer.order(COLLUDER, BTC, -WAD, 0)
    funded.apply(AdvanceTime(60, 1))
    funded.apply_all(prices(funded, 60_000, 3_000))
    funded.apply(fill(WAD // 10, 60_000 * WAD, 0, fresh))  # the last second it may fill
    funded.apply(AdvanceTime(1, 1))
    assert funded.apply(fill(WAD // 10, 60_000 * WAD, 0, fresh)) == "clearing: order expired"


def test_the_account_cancels_the_rest_of_its_order(funded: Differential) -> None:
    victim = funded.signer.order(VICTIM, BTC, WAD, 60_000 * WAD)
    colluder = funded.signer.order(COLLUDER, BTC, -2 * WAD, 60_000 * WAD)
    funded.apply(Fill(MATCHER, colluder, victim, WAD // 4, 60_000 * WAD, 0, 0))
    assert funded.apply(CancelOrder(MATCHER, victim.order)) == "clearing: caller is not the order's account"
    digest = order_digest(victim.order, funded.house.order_domain)
    assert funded.apply(CancelOrder(VICTIM, victim.order)) == [OrderCancelled(digest, VICTIM)]
    assert funded.apply(Fill(MATCHER, colluder, victim, WAD // 4, 60_000 * WAD, 0, 0)) == "clearing: order cancelled"
    assert funded.house.order_filled(digest) == 2**256 - 1


def test_an_order_signed_for_another_domain_does_not_fill(funded: Differential) -> None:
    """An order signed for the model (chain id 0) or for another deployment recovers to another
    address on this one: replaying it across deployments fails."""
    elsewhere = actor_signer(MODEL_DOMAIN).fill(MATCHER, COLLUDER, VICTIM, BTC, WAD, 60_000 * WAD)
    assert funded.apply(elsewhere) == "clearing: order not signed by its account"


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda sig: sig[:32] + (2**256 - int.from_bytes(sig[32:64], "big")).to_bytes(32, "big") + sig[64:], "s"),
        (lambda sig: sig[:64] + bytes([sig[64] + 2]), "v"),
        (lambda sig: bytes(32) + sig[32:], "r"),
    ],
    ids=["high s (EIP-2)", "v not 27 or 28", "r zero"],
)
def test_malformed_signatures_are_refused_alike(funded: Differential, tamper, reason: str) -> None:  # type: ignore[no-untyped-def]
    good = funded.signer.fill(MATCHER, COLLUDER, VICTIM, BTC, WAD, 60_000 * WAD)
    bad = dataclasses.replace(good, taker_order=SignedOrder(good.taker_order.order, tamper(good.taker_order.signature)))
    expected = "ecdsa: invalid signature `s` value" if reason == "s" else "ecdsa: invalid signature"
    assert funded.apply(bad) == expected


@settings(max_examples=25)
@given(signature=st.binary(min_size=65, max_size=65), v=st.sampled_from([0, 1, 27, 28, 29]))
def test_any_signature_bytes_get_the_same_verdict(deployment: Differential, signature: bytes, v: int) -> None:
    """Recovery of arbitrary bytes: the model (coincurve) and the contracts (snekmate's ecdsa,
    the ecrecover precompile) refuse or accept alike, with the same reason."""
    deployment.reset()
    good = deployment.signer.fill(MATCHER, COLLUDER, VICTIM, BTC, WAD, 60_000 * WAD)
    order = SignedOrder(good.taker_order.order, signature[:64] + bytes([v]))
    outcome = deployment.apply(dataclasses.replace(good, taker_order=order), compare=False)
    assert isinstance(outcome, str)  # never the victim's consent


def test_eth_account_typed_data_signatures_fill(funded: Differential) -> None:
    """A wallet's or eth-account's ``sign_typed_data`` of :func:`typed_data` is the signature
    the protocol verifies (byte for byte what :class:`OrderSigner` produces)."""
    domain = funded.house.order_domain
    template = funded.signer.order(VICTIM, BTC, WAD, 60_000 * WAD, max_fee_wad=WAD // 2_000)
    signed = Account.sign_typed_data(actor_key("trader_conservative"), full_message=typed_data(template.order, domain))
    assert signed.signature == template.signature
    wallet = SignedOrder(template.order, bytes(signed.signature))
    colluder = funded.signer.order(COLLUDER, BTC, -WAD, 60_000 * WAD)
    funded.apply(Fill(MATCHER, colluder, wallet, WAD, 60_000 * WAD, 0, WAD // 2_000))
    assert funded.model.state.accounts[VICTIM].positions[BTC].size == WAD


def test_signed_fills_on_anvils_batched_fast_path() -> None:
    """The same records through ``apply_batch`` (one pipelined JSON-RPC batch, impersonated
    senders): a signed fill, a forged one and a replay have the model's outcomes."""
    if shutil.which("anvil") is None:
        pytest.fail("anvil is not on PATH: put tools/node_modules/@foundry-rs/anvil-linux-amd64/bin on PATH")
    params = default_params()
    with make_chain("anvil", impersonate=True) as chain:
        assert isinstance(chain, AnvilChain)
        system = deploy_system(chain, params, GOV, matchers=[MATCHER], oracles=[ORACLE])
        traders = [VICTIM, COLLUDER]
        chain.set_balances([MATCHER, ORACLE, *traders], 10**24)
        mint_test_tokens(system, traders)
        house = ChainClearingHouse(chain, system)
        model = house.reference_model(params, GOV, matchers=[MATCHER], oracles=[ORACLE])
        signer = actor_signer(house.order_domain)
        good = signer.fill(MATCHER, COLLUDER, VICTIM, BTC, WAD, 60_000 * WAD)
        other = signer.fill(MATCHER, COLLUDER, VICTIM, BTC, WAD, 60_000 * WAD)
        records = [
            AdvanceTime(1, 1),
            PushPrice(ORACLE, BTC, 60_000 * WAD, house.now_s + 1),
            Deposit(VICTIM, 0, 50_000 * USDC),
            Deposit(COLLUDER, 0, 50_000 * USDC),
            good,
            dataclasses.replace(other, taker_order=forged(other.taker_order, "matcher")),
            good,  # replayed: both orders are used up
        ]
        outcomes = house.apply_batch(records)
        for record, got in zip(records, outcomes, strict=True):
            want: Outcome
            try:
                want = [e for e in model.apply(record) if not isinstance(e, TimeAdvanced)]
            except ProtocolRevert as exc:
                want = exc
            assert _same(got, want), f"{record}: chain {got!r}, model {want!r}"  # AdvanceTime: [] on both
        assert [o.reason for o in outcomes[-2:] if isinstance(o, ProtocolRevert)] == [
            "clearing: order not signed by its account",
            "clearing: order overfilled",
        ]
        assert house.differences(model.state, traders, [BTC]) == []
