"""The transaction-safety settings as data: parsing (used by `config.Settings`, so a bad
value stops the process at startup, naming it) and the pure checks `service.screen` runs.

Nothing here touches the database or imports a domain: `config.py` imports this module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from eth_utils import to_checksum_address

from bazaar.kit.money import format_money, to_decimal
from bazaar.kit.wallets import normalize_network

ANY_TOKEN = "*"
# What an admin may store: more than this is a typo, not a policy (Ethereum finality is
# about 64 blocks; a slow L2 under 1000).
MAX_CONFIRMATIONS = 10_000


def _json_or_text(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("[", "{"):
            try:
                return json.loads(text, parse_float=Decimal)
            except ValueError as exc:
                raise ValueError(f"invalid JSON: {exc}") from None
        return text
    return value


def parse_denylist(value: Any) -> list[str]:
    """Addresses as a JSON list or comma-separated text; EIP-55, sorted, no duplicates. Any
    0x-address is accepted in any case (a deny-list may hold addresses without checksum)."""
    raw = _json_or_text(value)
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        items: list[Any] = [part for part in raw.replace("\n", ",").split(",") if part.strip()]
    elif isinstance(raw, list | tuple | set | frozenset):
        items = list(raw)
    else:
        raise ValueError("TRANSACTION_SAFETY_DENYLIST: a list of addresses or comma-separated")
    found: set[str] = set()
    for item in items:
        text = str(item).strip()
        try:
            found.add(canonical_address(text))
        except ValueError:
            raise ValueError(
                f"TRANSACTION_SAFETY_DENYLIST: {text!r} is not a 0x-prefixed 40-hex address"
            ) from None
    return sorted(found)


def canonical_address(value: str) -> str:
    """EIP-55 form of any 0x-address, whatever its case (deny-list entries and senders are
    compared in this form, so case never lets an address through)."""
    text = value.strip()
    if len(text) != 42 or not text.startswith(("0x", "0X")):
        raise ValueError("not an address")
    int(text[2:], 16)  # ValueError if not hex
    return str(to_checksum_address("0x" + text[2:].lower()))


def _limit(value: Any, where: str) -> Decimal:
    try:
        amount = to_decimal(value if not isinstance(value, Decimal) else value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {value!r} is not a decimal amount such as 10000") from None
    if amount <= 0:
        raise ValueError(f"{where}: a limit must be positive (leave it unset for none)")
    return amount


def parse_limits(value: Any, name: str = "limit") -> dict[str, Decimal]:
    """One amount for every token (`"10000"`), or per token symbol with `*` as the default
    (`{"USDC": "10000", "*": "5000"}`); empty = no limit."""
    raw = _json_or_text(value)
    if raw is None or raw == "" or raw == {}:
        return {}
    if isinstance(raw, Mapping):
        result: dict[str, Decimal] = {}
        for symbol, amount in raw.items():
            key = str(symbol).strip().upper()
            if not key:
                raise ValueError(f"{name}: empty token symbol")
            result[key] = _limit(amount, f"{name}.{key}")
        return result
    if isinstance(raw, bool | float):
        raise ValueError(f"{name}: write the amount as text or an integer, not {raw!r}")
    return {ANY_TOKEN: _limit(raw, name)}


def limit_for(limits: Mapping[str, Decimal], currency: str) -> Decimal | None:
    return limits.get(currency.upper(), limits.get(ANY_TOKEN))


def parse_confirmations(value: Any) -> dict[str, Any]:
    """`{"<chain id or name>": n}` or `{"<chain>": {"<SYMBOL>": n, "*": n}}`; stored with
    chain ids as keys and symbols upper-cased."""
    raw = _json_or_text(value)
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError('TRANSACTION_SAFETY_CONFIRMATIONS: JSON such as {"8453": 10}')
    result: dict[str, Any] = {}
    for chain, entry in raw.items():
        where = f"TRANSACTION_SAFETY_CONFIRMATIONS.{chain}"
        try:
            chain_key = str(int(chain)) if str(chain).strip().isdigit() else None
            if chain_key is None:
                chain_key = normalize_network(str(chain))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        if isinstance(entry, Mapping):
            result[chain_key] = {
                str(symbol).strip().upper(): _count(n, f"{where}.{symbol}")
                for symbol, n in entry.items()
            }
        else:
            result[chain_key] = _count(entry, where)
    return result


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{where}: a whole number of confirmations from 1")
    try:
        count = int(value)
    except ValueError:
        raise ValueError(f"{where}: a whole number of confirmations from 1") from None
    if not 1 <= count <= MAX_CONFIRMATIONS:
        raise ValueError(f"{where}: from 1 to {MAX_CONFIRMATIONS}")
    return count


def configured_confirmations(
    table: Mapping[str, Any], chain_id: int, currency: str, default: int
) -> int:
    """The configured threshold (no admin override): per chain and token, per chain, else
    `default`."""
    entry = table.get(str(chain_id))
    if isinstance(entry, Mapping):
        found = entry.get(currency.upper(), entry.get(ANY_TOKEN))
        return int(found) if found is not None else default
    if entry is not None:
        return int(entry)
    return default


def over(amount: Decimal, limit: Decimal | None) -> bool:
    return limit is not None and amount > limit


def describe(amount: Decimal, currency: str) -> str:
    return f"{format_money(amount)} {currency}"
