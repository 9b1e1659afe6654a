"""Payout wallet addresses: EVM networks keyed by chain id, EIP-55 checksummed addresses.

Wallet maps are stored as `{"<chain id>": "<checksummed address>"}`. Callers may name a
network by its chain id (`"8453"`) or by one of the names below (`"base"`); both are stored
under the chain id, so every reader sees one spelling.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from eth_utils import is_checksum_address, to_checksum_address

from bazaar.kit.errors import ValidationFailed

# Chain id -> canonical name. Only networks a payout can actually be sent on are listed;
# 31337 is the local development chain (anvil / hardhat) used by tests and demos.
EVM_NETWORKS: dict[int, str] = {
    1: "ethereum",
    10: "optimism",
    56: "bsc",
    100: "gnosis",
    137: "polygon",
    8453: "base",
    42161: "arbitrum",
    43114: "avalanche",
    11155111: "sepolia",
    84532: "base-sepolia",
    31337: "anvil",
}

NETWORK_ALIASES: dict[str, int] = {
    **{name: chain_id for chain_id, name in EVM_NETWORKS.items()},
    "mainnet": 1,
    "matic": 137,
    "arbitrum-one": 42161,
    "bnb": 56,
    "xdai": 100,
}

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_ZERO_ADDRESS = "0x" + "0" * 40


def normalize_network(key: str) -> str:
    """Return the chain id (as a string) for a chain id or a known network name."""
    text = str(key).strip().lower()
    if text.isdigit():
        chain_id = int(text)
        if chain_id in EVM_NETWORKS:
            return str(chain_id)
    elif text in NETWORK_ALIASES:
        return str(NETWORK_ALIASES[text])
    raise ValueError(
        "unsupported network: use a chain id such as 1, 10, 137, 8453, 42161 or its name"
    )


def normalize_evm_address(value: str) -> str:
    """Return the EIP-55 form of an EVM address, or raise ValueError.

    A mixed-case address carries a checksum and must pass it (a typo is caught here);
    an all-lowercase or all-uppercase one carries none and is converted.
    """
    if not isinstance(value, str) or not _HEX_ADDRESS.match(value):
        raise ValueError("must be a 0x-prefixed 40-hex-digit EVM address")
    digits = value[2:]
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(value):
        raise ValueError("EIP-55 checksum mismatch: check the address for typos")
    if value.lower() == _ZERO_ADDRESS:
        raise ValueError("the zero address cannot receive payouts")
    return str(to_checksum_address(value))


def normalize_payout_wallets(wallets: Mapping[str, str], path: str) -> dict[str, str]:
    """Validate a `{network: address}` map; every problem is reported as `<path>.<network>`."""
    result: dict[str, str] = {}
    details: list[dict[str, str]] = []
    for key, address in wallets.items():
        where = f"{path}.{key}"
        try:
            network = normalize_network(key)
        except ValueError as exc:
            details.append({"path": where, "msg": str(exc)})
            continue
        if network in result:
            details.append({"path": where, "msg": f"network {network} is given twice"})
            continue
        try:
            result[network] = normalize_evm_address(address)
        except ValueError as exc:
            details.append({"path": where, "msg": str(exc)})
    if details:
        raise ValidationFailed(f"{details[0]['path']}: {details[0]['msg']}", details=details)
    return result
