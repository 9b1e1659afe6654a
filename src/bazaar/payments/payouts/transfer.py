"""The ERC-20 transfer a payout is: exact base units, the unsigned EIP-1559 transaction
(calldata from the chain module's `erc20`, which also reads `Transfer` logs back), and
decoding the calldata. Pure functions, no I/O."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from eth_abi import decode
from eth_utils import to_checksum_address

from bazaar.payments.chain import erc20

TRANSFER_SELECTOR = erc20.TRANSFER_SELECTOR.removeprefix("0x")  # a9059cbb
# An ERC-20 transfer costs 35-65k gas on common tokens; the signer may estimate instead.
GAS_LIMIT = 100_000
UINT256_MAX = erc20.UINT256_MAX


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


transfer_calldata = erc20.transfer_calldata


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
