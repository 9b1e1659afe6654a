"""The ERC-20 transfer a payout is: its calldata, the unsigned EIP-1559 transaction, and
finding the transfer in a receipt. Pure functions (eth-abi / eth-utils), no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address

# transfer(address,uint256)
TRANSFER_SELECTOR = keccak(text="transfer(address,uint256)")[:4].hex()  # a9059cbb
# Transfer(address indexed from, address indexed to, uint256 value)
TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
# An ERC-20 transfer costs 35-65k gas on common tokens; the signer may estimate instead.
GAS_LIMIT = 100_000
UINT256_MAX = 2**256 - 1


def base_units(amount: Decimal, decimals: int) -> int:
    """`amount` token units as an integer of the token's smallest unit; ValueError when it
    is finer than the token's decimals or not positive."""
    scaled = amount.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than {decimals} decimals")
    units = int(scaled)
    if not 0 < units <= UINT256_MAX:
        raise ValueError("a payout amount must be positive")
    return units


def transfer_calldata(to: str, units: int) -> str:
    """`transfer(to, units)` ABI-encoded, 0x-prefixed."""
    return "0x" + TRANSFER_SELECTOR + encode(["address", "uint256"], [to, units]).hex()


def decode_transfer_calldata(data: str) -> tuple[str, int]:
    """(recipient, units) of a `transfer` call; ValueError for any other call."""
    raw = bytes.fromhex(data.removeprefix("0x"))
    if raw[:4].hex() != TRANSFER_SELECTOR:
        raise ValueError("not an ERC-20 transfer call")
    to, units = decode(["address", "uint256"], raw[4:])
    return str(to_checksum_address(to)), int(units)


def unsigned_transaction(chain_id: int, token_contract: str, to: str, units: int) -> dict[str, Any]:
    """The EIP-1559 transaction as the signer gets it. `nonce`, `maxFeePerGas` and
    `maxPriorityFeePerGas` are left out: they depend on the signing account and the
    network's fees at signing time, which only the signer knows."""
    return {
        "type": 2,
        "chainId": chain_id,
        "to": token_contract,
        "value": 0,
        "data": transfer_calldata(to, units),
        "gas": GAS_LIMIT,
    }


SIGNER_FILLS = ("nonce", "maxFeePerGas", "maxPriorityFeePerGas")


@dataclass(frozen=True)
class LoggedTransfer:
    token: str
    sender: str
    recipient: str
    units: int
    removed: bool


def _hex(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if hasattr(value, "hex") and not isinstance(value, str):
        text = value.hex()
        return text if text.startswith("0x") else "0x" + text
    return str(value)


def transfers_in(receipt: dict[str, Any]) -> list[LoggedTransfer]:
    """Every ERC-20 `Transfer` log of a receipt (JSON-RPC or web3 form)."""
    found = []
    for log in receipt.get("logs") or []:
        topics = [_hex(t).lower() for t in log.get("topics") or []]
        if len(topics) != 3 or topics[0] != TRANSFER_TOPIC:
            continue
        data = _hex(log.get("data") or "0x")
        try:
            units = int(data, 16) if data not in ("0x", "") else 0
        except ValueError:
            continue
        found.append(
            LoggedTransfer(
                token=str(to_checksum_address(_hex(log.get("address")))),
                sender=str(to_checksum_address("0x" + topics[1][-40:])),
                recipient=str(to_checksum_address("0x" + topics[2][-40:])),
                units=units,
                removed=bool(log.get("removed", False)),
            )
        )
    return found
