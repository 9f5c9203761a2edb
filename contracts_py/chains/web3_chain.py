"""Shared web3.py plumbing of the eth-tester and anvil backends.

Every transaction is dry-run first (``eth_call`` on the pending block, which is the state and
block environment the transaction will execute in), so a revert raises ProtocolRevert with the
exact reason and leaves the chain untouched; then it is sent with a fixed gas limit, which skips
the node's gas estimation (a binary search on eth-tester).
"""

from __future__ import annotations

from typing import Any, Final

from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError

from contracts_py.chains.abi import decode_revert, normalize_address
from contracts_py.chains.base import NO_REASON, Chain, RawLog, TxResult
from protocol.errors import ChainError, ProtocolRevert

__all__ = ["Web3Chain", "revert_from_exception"]

_REVERT_PREFIX: Final = "execution reverted"


def _reason_from_message(message: str) -> str:
    text = message.strip()
    if text.startswith(_REVERT_PREFIX):
        text = text[len(_REVERT_PREFIX) :].removeprefix(":").strip()
    # eth-tester renders reason-less reverts as the repr of their (empty) data
    if not text or text in ("b''", 'b""', "Revert(b'')") or text.startswith("b'"):
        return NO_REASON
    return text


def revert_from_exception(exc: BaseException) -> ProtocolRevert | None:
    """The ProtocolRevert a web3/eth-tester exception stands for, or None if it is no revert."""
    if isinstance(exc, ContractLogicError):
        data = exc.data
        raw: bytes | None = None
        if isinstance(data, str) and data.startswith("0x"):
            try:
                raw = bytes.fromhex(data[2:])
            except ValueError:
                raw = None
        elif isinstance(data, bytes):
            raw = data
        if raw is not None:
            return ProtocolRevert(decode_revert(raw) or NO_REASON)
        return ProtocolRevert(_reason_from_message(exc.message or str(exc)))
    if type(exc).__name__ == "TransactionFailed" and type(exc).__module__.startswith("eth_tester"):
        arg = exc.args[0] if exc.args else ""
        if isinstance(arg, bytes):
            return ProtocolRevert(decode_revert(arg) or NO_REASON)
        return ProtocolRevert(_reason_from_message(str(arg)))
    return None


class Web3Chain(Chain):
    """A chain reached through a :class:`web3.Web3` instance (subclasses build ``self.w3``)."""

    w3: Web3
    #: Poll interval while waiting for a receipt, in seconds.
    _receipt_poll_s: float = 0.002

    def __init__(self, w3: Web3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.w3 = w3
        self._automine = True
        try:
            self._accounts = tuple(normalize_address(a) for a in w3.eth.accounts)
        except Exception as exc:
            raise self._infra_error("list the accounts", exc) from None
        if not self._accounts:
            raise ChainError(f"{self.name} has no unlocked accounts; start the node with dev accounts")
        try:
            self._chain_id = int(w3.eth.chain_id)
        except Exception as exc:
            raise self._infra_error("read the chain id", exc) from None

    @property
    def accounts(self) -> tuple[str, ...]:
        return self._accounts

    @property
    def chain_id(self) -> int:
        return self._chain_id

    # --- errors --------------------------------------------------------------------------------

    def _infra_error(self, what: str, exc: BaseException) -> ChainError:
        text = str(exc).strip() or type(exc).__name__
        return ChainError(f"{self.name}: cannot {what}: {text}")

    def _mapped(self, what: str, exc: BaseException) -> ProtocolRevert | ChainError:
        revert = revert_from_exception(exc)
        return revert if revert is not None else self._infra_error(what, exc)

    # --- primitives ----------------------------------------------------------------------------

    def _tx(self, to: str | None, data: bytes, sender: str, value: int, gas: int) -> dict[str, Any]:
        tx: dict[str, Any] = {"from": to_checksum_address(sender), "data": data, "value": value, "gas": gas}
        if to is not None:
            tx["to"] = to_checksum_address(to)
        return tx

    def _dry_run(self, tx: dict[str, Any]) -> bytes:
        try:
            return bytes(self.w3.eth.call(tx, block_identifier="pending"))  # type: ignore[arg-type]
        except Exception as exc:  # web3 errors, eth-tester's TransactionFailed, connection errors
            raise self._mapped("run eth_call", exc) from None

    def _call(self, to: str, data: bytes, sender: str) -> bytes:
        return self._dry_run(self._tx(to, data, sender, 0, self.gas_limit))

    def _send(self, tx: dict[str, Any]) -> tuple[TxResult, list[RawLog]]:
        self._dry_run(tx)
        try:
            tx_hash = self.w3.eth.send_transaction(tx)  # type: ignore[arg-type]
        except Exception as exc:
            raise self._mapped("send the transaction", exc) from None
        if not self._automine:
            return self._unmined("0x" + bytes(tx_hash).hex(), tx["gas"])
        return self._receipt("0x" + bytes(tx_hash).hex(), gas=tx["gas"])

    def _unmined(self, tx_hash: str, gas: int) -> tuple[TxResult, list[RawLog]]:
        """Result of a transaction sent with automine off: queued, no block yet (eth-tester overrides)."""
        return TxResult(tx_hash, None, 0), []

    def _receipt(self, tx_hash: str, *, gas: int | None = None) -> tuple[TxResult, list[RawLog]]:
        try:
            r = self.w3.eth.wait_for_transaction_receipt(
                tx_hash,  # type: ignore[arg-type]
                timeout=120,
                poll_latency=self._receipt_poll_s,
            )
        except Exception as exc:
            raise self._infra_error(f"get the receipt of {tx_hash}", exc) from None
        logs = [
            RawLog(str(lg["address"]), tuple(bytes(t) for t in lg["topics"]), bytes(lg["data"])) for lg in r["logs"]
        ]
        address = r.get("contractAddress")
        result = TxResult(
            tx_hash,
            int(r["blockNumber"]),
            int(r["gasUsed"]),
            contract_address=normalize_address(str(address)) if address else None,
        )
        if int(r["status"]) != 1:
            reason = self._failure_reason(tx_hash)
            if reason is not None:
                raise ProtocolRevert(reason)
            limit = f" (gas limit {gas})" if gas is not None else ""
            raise ChainError(
                f"{self.name}: transaction {tx_hash} failed after a successful dry run{limit}, most likely out of "
                "gas; pass a larger gas= or gas_limit="
            )
        return result, logs

    def _failure_reason(self, tx_hash: str) -> str | None:
        """Revert reason of a mined, failed transaction if the backend can tell (anvil can)."""
        return None

    def _deploy(self, initcode: bytes, sender: str, value: int) -> tuple[TxResult, list[RawLog]]:
        result, logs = self._send(self._tx(None, initcode, sender, value, self.deploy_gas_limit))
        if result.block_number is None:
            raise ChainError(f"{self.name}: deploy needs automine on (the contract address comes from the receipt)")
        return result, logs

    def _transact(self, to: str, data: bytes, sender: str, value: int, gas: int) -> tuple[TxResult, list[RawLog]]:
        return self._send(self._tx(to, data, sender, value, gas))

    def receipt(self, tx_hash: str) -> TxResult:
        result, logs = self._receipt(tx_hash)
        return self._with_events(result, logs)

    # --- chain state ---------------------------------------------------------------------------

    def _latest_block(self) -> Any:
        try:
            return self.w3.eth.get_block("latest")
        except Exception as exc:
            raise self._infra_error("read the latest block", exc) from None

    def timestamp(self) -> int:
        return int(self._latest_block()["timestamp"])

    def block_number(self) -> int:
        return int(self._latest_block()["number"])

    def get_balance(self, address: str) -> int:
        try:
            return int(self.w3.eth.get_balance(to_checksum_address(normalize_address(address))))
        except Exception as exc:
            raise self._infra_error("read a balance", exc) from None

    def get_code(self, address: str) -> bytes:
        try:
            return bytes(self.w3.eth.get_code(to_checksum_address(normalize_address(address))))
        except Exception as exc:
            raise self._infra_error("read code", exc) from None
