"""Pure-Python parts of the chain package: fast signing and the ABI codec."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode
from eth_account import Account
from eth_utils.address import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts_py.chains.abi import ERROR_SELECTOR, PANIC_SELECTOR, ContractABI, decode_revert, normalize_address
from contracts_py.chains.signing import Signer
from protocol.errors import ChainError, InvalidParameter

KEY = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")  # anvil dev key 0


@pytest.mark.parametrize("nonce", [0, 1, 2**32])
@pytest.mark.parametrize("value", [0, 10**18])
def test_fast_signing_matches_eth_account(nonce: int, value: int) -> None:
    to = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
    data = bytes.fromhex("a9059cbb") + bytes(range(64))
    raw = Signer(KEY).sign_eip1559(
        chain_id=31337,
        nonce=nonce,
        max_priority_fee_per_gas=10**9 + 7,
        max_fee_per_gas=3 * 10**9,
        gas=8_000_000,
        to=to,
        value=value,
        data=data,
    )
    reference = Account.sign_transaction(
        {
            "type": 2,
            "chainId": 31337,
            "nonce": nonce,
            "maxPriorityFeePerGas": 10**9 + 7,
            "maxFeePerGas": 3 * 10**9,
            "gas": 8_000_000,
            "to": to_checksum_address(to),
            "value": value,
            "data": data,
        },
        KEY,
    ).raw_transaction
    assert raw == bytes(reference)


def test_decode_revert() -> None:
    assert decode_revert(ERROR_SELECTOR + encode(["string"], ["vault: paused"])) == "vault: paused"
    assert decode_revert(PANIC_SELECTOR + (0x11).to_bytes(32, "big")) == "panic: 0x11"
    assert decode_revert(b"") is None
    assert decode_revert(ERROR_SELECTOR + b"\x00" * 5) is None


def test_normalize_address() -> None:
    checksum = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert normalize_address(checksum) == checksum.lower()
    assert normalize_address(bytes.fromhex(checksum[2:])) == checksum.lower()
    with pytest.raises(InvalidParameter, match="20 bytes"):
        normalize_address("0x1234")


def test_event_and_call_codec_round_trip() -> None:
    abi = ContractABI(
        [
            {
                "type": "event",
                "name": "Moved",
                "anonymous": False,
                "inputs": [
                    {"name": "who", "type": "address", "indexed": True},
                    {"name": "amount", "type": "int256", "indexed": False},
                ],
            },
            {
                "type": "function",
                "name": "move",
                "stateMutability": "nonpayable",
                "inputs": [{"name": "amount", "type": "int256"}],
                "outputs": [{"name": "", "type": "address"}, {"name": "", "type": "uint8"}],
            },
        ],
        "mover",
    )
    (topic,) = abi.events
    who = "0x" + "ab" * 20
    log = abi.decode_log([topic, bytes(12) + bytes.fromhex("ab" * 20)], encode(["int256"], [-5]))
    assert log == {"event": "Moved", "who": who, "amount": -5}
    assert abi.encode_call("move", (-5,))[4:] == encode(["int256"], [-5])
    out = abi.decode_output("move", 1, encode(["address", "uint8"], [to_checksum_address(who), 7]))
    assert out == (who, 7)
    assert abi.decode_call(abi.encode_call("move", (-5,))) == ("move", (-5,))
    with pytest.raises(ChainError, match="mover has no function with selector 0x00000000"):
        abi.decode_call(bytes(36))
    with pytest.raises(ChainError, match=r"cannot decode the arguments of mover\.move"):
        abi.decode_call(abi.encode_call("move", (-5,))[:20])


def test_event_topics_static_and_hashed_and_malformed_logs() -> None:
    """Static indexed fields are decoded from their topics, dynamic ones stay the 32-byte hash;
    a log with the wrong number of topics or truncated data is a ChainError."""
    abi = ContractABI(
        [
            {
                "type": "event",
                "name": "Noted",
                "anonymous": False,
                "inputs": [
                    {"name": "who", "type": "address", "indexed": True},
                    {"name": "tag", "type": "string", "indexed": True},
                    {"name": "delta", "type": "int128", "indexed": True},
                    {"name": "note", "type": "string", "indexed": False},
                    {"name": "ok", "type": "bool", "indexed": False},
                ],
            }
        ],
        "notes",
    )
    (topic,) = abi.events
    who, tag_hash = "0x" + "cd" * 20, bytes(range(32))
    topics = [topic, bytes(12) + bytes.fromhex("cd" * 20), tag_hash, encode(["int128"], [-7])]
    data = encode(["string", "bool"], ["fee ✓", True])
    assert abi.decode_log(topics, data) == {
        "event": "Noted",
        "who": who,
        "tag": tag_hash,
        "delta": -7,
        "note": "fee ✓",
        "ok": True,
    }
    assert abi.decode_log([bytes(32), *topics[1:]], data) is None  # not this contract's event
    with pytest.raises(ChainError, match=r"cannot decode event notes\.Noted"):
        abi.decode_log(topics[:3], data)
    with pytest.raises(ChainError, match=r"cannot decode event notes\.Noted"):
        abi.decode_log(topics, data[:40])


_ORDER = "(address,uint256,int256,uint256,uint256,uint256,uint256)"
_MIXED_ABI = [
    {
        "type": "function",
        "name": "mixed",
        "stateMutability": "nonpayable",
        "inputs": [
            {
                "name": "order",
                "type": "tuple",
                "components": [{"name": f"c{k}", "type": t} for k, t in enumerate(_ORDER[1:-1].split(","))],
            },
            {"name": "signature", "type": "bytes"},
            {"name": "who", "type": "address[]"},
            {"name": "role", "type": "string"},
            {"name": "flag", "type": "bool"},
            {"name": "size", "type": "int128"},
        ],
        "outputs": [],
    },
    {
        "type": "event",
        "name": "Moved",
        "anonymous": False,
        "inputs": [
            {"name": "who", "type": "address", "indexed": True},
            {"name": "market", "type": "uint256", "indexed": True},
            {"name": "size", "type": "int256", "indexed": False},
            {"name": "ok", "type": "bool", "indexed": False},
        ],
    },
]


@settings(deadline=None)
@given(
    order=st.tuples(
        st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
        *(
            st.integers(0, 2**256 - 1) if t == "uint256" else st.integers(-(2**255), 2**255 - 1)
            for t in _ORDER[1:-1].split(",")[1:]
        ),
    ),
    signature=st.binary(max_size=70),
    who=st.lists(st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()), max_size=4),
    role=st.text(max_size=40),
    flag=st.booleans(),
    size=st.integers(-(2**127), 2**127 - 1),
)
def test_direct_encoder_writes_what_eth_abi_writes(
    order: tuple, signature: bytes, who: list[str], role: str, flag: bool, size: int
) -> None:
    """The direct encoder (tuples, bytes, arrays, strings, words) equals eth_abi byte for byte."""
    abi = ContractABI(_MIXED_ABI, "mixed")
    args = (order, signature, who, role, flag, size)
    types = [_ORDER, "bytes", "address[]", "string", "bool", "int128"]
    assert abi.function("mixed", 6).input_encoders is not None
    assert abi.encode_call("mixed", args)[4:] == encode(types, list(args))


def test_direct_encoder_leaves_odd_values_to_eth_abi() -> None:
    """Values the direct encoders do not take (out of range, checksummed, wrong type) go to
    eth_abi: encoded as eth_abi does, or refused with its typed error."""
    abi = ContractABI(_MIXED_ABI, "mixed")
    good = (("0x" + "ab" * 20, 1, -2, 3, 4, 5, 6), b"\x01", [], "matcher", True, -1)
    checksummed = to_checksum_address("0x" + "ab" * 20)
    with_checksum = (good[0], b"\x01", [checksummed], "matcher", True, -1)
    assert abi.encode_call("mixed", with_checksum) == abi.encode_call(
        "mixed", (*good[:2], ["0x" + "ab" * 20], *good[3:])
    )
    with pytest.raises(InvalidParameter, match=r"bad arguments for mixed\.mixed"):
        abi.encode_call("mixed", (*good[:5], 2**127))
    with pytest.raises(InvalidParameter, match=r"bad arguments for mixed\.mixed"):
        abi.encode_call("mixed", (*good[:4], 1, -1))


def test_word_events_decode_as_eth_abi_does() -> None:
    abi = ContractABI(_MIXED_ABI, "mixed")
    (topic,) = abi.events
    who = "0x" + "cd" * 20
    topics = [topic, bytes(12) + bytes.fromhex("cd" * 20), encode(["uint256"], [7])]
    data = encode(["int256", "bool"], [-3, True])
    assert abi.decode_log(topics, data) == {"event": "Moved", "who": who, "market": 7, "size": -3, "ok": True}
    with pytest.raises(ChainError, match=r"cannot decode event mixed\.Moved"):
        abi.decode_log(topics[:2], data)
    with pytest.raises(ChainError, match=r"cannot decode event mixed\.Moved"):
        abi.decode_log(topics, data[:40])
