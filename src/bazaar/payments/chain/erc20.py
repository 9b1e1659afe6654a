"""ERC-20 on the wire: the `transfer(address,uint256)` call data and the `Transfer` event
in a transaction receipt's logs. Amounts are integer base units, never floats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import keccak, to_checksum_address

# keccak256("Transfer(address,address,uint256)")
TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
# first four bytes of keccak256("transfer(address,uint256)")
TRANSFER_SELECTOR = "0x" + keccak(text="transfer(address,uint256)")[:4].hex()
UINT256_MAX = 2**256 - 1


@dataclass(frozen=True)
class Transfer:
    """One ERC-20 `Transfer` log: addresses EIP-55, amount in base units."""

    token: str
    sender: str
    to: str
    base_units: int
    log_index: int
    removed: bool


def _word(value: int) -> str:
    return f"{value:064x}"


def transfer_calldata(to: str, base_units: int) -> str:
    """`transfer(to, base_units)` ABI-encoded, 0x-prefixed hex."""
    if not 0 <= base_units <= UINT256_MAX:
        raise ValueError("amount out of uint256 range")
    address = int(to_checksum_address(to), 16)
    return TRANSFER_SELECTOR + _word(address) + _word(base_units)


def _topic_address(topic: str) -> str:
    return to_checksum_address("0x" + topic[-40:])


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def transfers_in_receipt(receipt: dict[str, Any]) -> list[Transfer]:
    """Every well-formed ERC-20 `Transfer` log of `receipt` (ERC-721 transfers, which index
    the token id as a fourth topic, and malformed logs are skipped)."""
    found = []
    for log in receipt.get("logs") or []:
        topics = [str(t).lower() for t in log.get("topics") or []]
        if len(topics) != 3 or topics[0] != TRANSFER_TOPIC:
            continue
        data = str(log.get("data") or "0x")
        if len(data) != 66:
            continue
        found.append(
            Transfer(
                token=to_checksum_address(log["address"]),
                sender=_topic_address(topics[1]),
                to=_topic_address(topics[2]),
                base_units=int(data, 16),
                log_index=_int(log.get("logIndex") or 0),
                removed=bool(log.get("removed", False)),
            )
        )
    return found
