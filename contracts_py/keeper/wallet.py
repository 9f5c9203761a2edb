"""Who signs the keeper's transactions.

* :class:`KeystoreWallet` — an encrypted JSON keystore in eth-account's format (the Web3 Secret
  Storage format geth, foundry's ``cast wallet`` and MetaMask export); the password comes from an
  environment variable or a prompt (:func:`read_password`), never from the command line. The key
  stays in memory; transactions are signed here (EIP-1559) and sent raw, so their hash is known
  before they leave.
* :class:`ImpersonatedWallet` — anvil only (tests, forks): the node accepts unsigned transactions
  from the address after ``anvil_impersonateAccount``; the hash is known once the node answers.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address

from contracts_py.rpc import Rpc
from protocol.actions import normalize_address
from protocol.errors import ChainError, InvalidParameter

__all__ = ["ImpersonatedWallet", "KeystoreWallet", "Wallet", "read_password"]


def read_password(env_var: str) -> str:
    """The keystore password from ``env_var``, else from a prompt on a terminal (InvalidParameter
    when neither is available)."""
    value = os.environ.get(env_var)
    if value is not None:
        return value
    if sys.stdin.isatty():
        return getpass.getpass("keystore password: ")
    raise InvalidParameter(f"no keystore password: set the environment variable {env_var} or run in a terminal")


class Wallet(ABC):
    """An account that sends transactions; ``address`` is lower-case hex."""

    address: str

    @abstractmethod
    def send(self, rpc: Rpc, tx: dict[str, int | str]) -> str:
        """Send ``tx`` (to, data, nonce, gas, maxFeePerGas, maxPriorityFeePerGas, chainId as ints
        or hex strings) and return its hash; raises ChainError when the node refuses it."""

    def known_hash(self, tx: dict[str, int | str]) -> str | None:
        """The hash ``tx`` will have, when it can be known before sending (None otherwise)."""
        return None


class KeystoreWallet(Wallet):
    """A key decrypted from an eth-account keystore file with ``password``."""

    def __init__(self, path: str | Path, password: str) -> None:
        from eth_account import Account

        p = Path(path)
        try:
            keystore = json.loads(p.read_text())
        except FileNotFoundError:
            raise InvalidParameter(f"key file {p} does not exist") from None
        except (OSError, ValueError) as exc:
            raise InvalidParameter(f"key file {p} is not a JSON keystore ({exc})") from None
        if not isinstance(keystore, dict) or ("crypto" not in keystore and "Crypto" not in keystore):
            raise InvalidParameter(f"key file {p} is not an eth-account keystore (no 'crypto' section)")
        try:
            self._key = bytes(Account.decrypt(keystore, password))
        except ValueError:
            raise InvalidParameter(f"key file {p} does not open with this password (wrong password)") from None
        except (KeyError, TypeError) as exc:
            raise InvalidParameter(f"key file {p} is not a valid keystore ({exc})") from None
        self.address = Account.from_key(self._key).address.lower()

    def _signed(self, tx: dict[str, int | str]) -> Any:
        from eth_account import Account

        fields = {k: (int(v, 16) if isinstance(v, str) and k != "to" and k != "data" else v) for k, v in tx.items()}
        fields.update(type=2, value=0, to=to_checksum_address(str(tx["to"])))
        return Account.sign_transaction(fields, self._key)

    def known_hash(self, tx: dict[str, int | str]) -> str | None:
        return "0x" + bytes(self._signed(tx).hash).hex()

    def send(self, rpc: Rpc, tx: dict[str, int | str]) -> str:
        raw = "0x" + bytes(self._signed(tx).raw_transaction).hex()
        return str(rpc.request("eth_sendRawTransaction", [raw]))


class ImpersonatedWallet(Wallet):
    """``address`` impersonated on an anvil node (``anvil_impersonateAccount``)."""

    def __init__(self, rpc: Rpc, address: str) -> None:
        self.address = normalize_address(address, "impersonated address")
        try:
            rpc.request("anvil_impersonateAccount", [self.address])
        except ChainError:
            raise ChainError(
                f"{rpc.name} refused anvil_impersonateAccount: --impersonate works on anvil only; "
                "use --key-file on other nodes"
            ) from None

    def send(self, rpc: Rpc, tx: dict[str, int | str]) -> str:
        call = {k: (hex(v) if isinstance(v, int) else v) for k, v in tx.items() if k not in ("chainId", "data")}
        call.update({"from": self.address, "input": str(tx["data"]), "value": "0x0"})
        return str(rpc.request("eth_sendTransaction", [call]))
