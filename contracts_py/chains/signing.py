"""Fast local signing of EIP-1559 (type 2) transactions for anvil's batch path.

eth-account validates and normalises every field through several layers (about 1-2 ms per
transaction); this builds the RLP payload directly and signs its hash with libsecp256k1
(coincurve), roughly 20x faster. :func:`sign_eip1559` is checked against eth-account in the tests.
"""

from __future__ import annotations

import rlp
from coincurve import PrivateKey
from eth_utils.crypto import keccak

__all__ = ["Signer", "sign_eip1559"]

_TYPE_EIP1559 = b"\x02"


class Signer:
    """A private key ready to sign many transactions."""

    def __init__(self, private_key: bytes) -> None:
        if len(private_key) != 32:
            raise ValueError("a private key is 32 bytes")
        self._key = PrivateKey(private_key)

    def sign_eip1559(
        self,
        *,
        chain_id: int,
        nonce: int,
        max_priority_fee_per_gas: int,
        max_fee_per_gas: int,
        gas: int,
        to: bytes,
        value: int,
        data: bytes,
    ) -> bytes:
        """Raw signed transaction bytes (``0x02 || rlp([...fields, y_parity, r, s])``); fees in wei."""
        fields = [chain_id, nonce, max_priority_fee_per_gas, max_fee_per_gas, gas, to, value, data, []]
        digest = keccak(_TYPE_EIP1559 + rlp.encode(fields))
        sig = self._key.sign_recoverable(digest, hasher=None)
        r, s, y_parity = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
        return _TYPE_EIP1559 + bytes(rlp.encode([*fields, y_parity, r, s]))


def sign_eip1559(private_key: bytes, **fields: int | bytes) -> bytes:
    """One-off form of :meth:`Signer.sign_eip1559`."""
    return Signer(private_key).sign_eip1559(**fields)  # type: ignore[arg-type]
