"""The token registry: which tokens Bazaar knows, their decimals, and their contract on each
EVM network. The one source for every token rule (requests, offers, templates, shops,
payments).

Built-in: the common stablecoins on the main EVM chains and their public testnets. The
`TOKEN_CONTRACTS` setting (JSON) adds or overrides deployments, adds tokens, and removes
built-in deployments:

    {"USDC": {"31337": "0x5FbDB2315678afecb367f032d93F642f64180aa3", "137": null},
     "MOCK": {"decimals": 18, "anvil": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"}}

Keys inside a token are chain ids or network names from `kit.wallets.EVM_NETWORKS` (so a
payout wallet can exist on every network a token can be paid on), plus `decimals`, which a
token the registry does not know must give. `null` removes a built-in deployment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from bazaar.kit.errors import ValidationFailed
from bazaar.kit.wallets import EVM_NETWORKS, normalize_evm_address, normalize_network

if TYPE_CHECKING:
    from bazaar.config import Settings

MAX_DECIMALS = 18  # money columns hold 18 fraction digits (kit/money.py)

# symbol -> (decimals, {chain id: contract}). Only deployments issued or recognised by the
# token's issuer; anything else (a bridged variant, a local test token) is configuration.
BUILTIN: dict[str, tuple[int, dict[int, str]]] = {
    "USDC": (
        6,
        {
            1: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
            10: "0x0b2C639c533813f4Aa9D7837CAf62653d097Ff85",
            137: "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359",
            8453: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
            42161: "0xaf88d065e77c8cC2239327C5EDb3A432268e5831",
            43114: "0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E",
            11155111: "0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238",
            84532: "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
        },
    ),
    "USDT": (
        6,
        {
            1: "0xdAC17F958D2ee523a2206206994597C13D831ec7",
            10: "0x94b008aA00579c1307B0EF2c499aD98a8ce58e58",
            137: "0xc2132D05D31c914a87C6611C10748AEb04B58e8F",
            8453: "0xfde4C96c8593536E31F229EA8f37b2ADa2699bb2",
            42161: "0xFd086bC7CD5C481DCC9C85ebE478A1C0b69FCbb9",
        },
    ),
    "DAI": (
        18,
        {
            1: "0x6B175474E89094C44Da98b954EedeAC495271d0F",
            10: "0xDA10009cBd5D07dd0CeCc66161FC93D7c9000da1",
            137: "0x8f3Cf7ad23Cd3CaDbD9735AFf958023239c6A063",
            8453: "0x50c5725949A6F0c72E6C4a641F24049A917DB0Cb",
            42161: "0xDA10009cBd5D07dd0CeCc66161FC93D7c9000da1",
        },
    ),
    "PYUSD": (
        6,
        {
            1: "0x6c3ea9036406852006290770BEdFcAbA0e23A0e8",
            11155111: "0xCaC524BcA292aaade2DF8A05cC58F0a65B1B3bB9",
        },
    ),
    "EURC": (
        6,
        {
            1: "0x1aBaEA1f7C830bD89Acc67eC4af516284b1bC33c",
            8453: "0x60a3E35Cc302bFA44Cb288Bc5a4F316Fdb1adb42",
            43114: "0xC891EB4cbdEFf6e073e859e987815Ed1505c2ACD",
            11155111: "0x08210F9170F89Ab7658F0B5E3fF39b0E03C594D4",
            84532: "0x808456652fdb597867f38412077A9182bf77359F",
        },
    ),
}


@dataclass(frozen=True)
class Deployment:
    """A token on one network: what a payment in it is sent to."""

    symbol: str
    chain_id: int
    contract: str
    decimals: int


@dataclass(frozen=True)
class Token:
    symbol: str
    decimals: int
    deployments: Mapping[int, Deployment] = field(default_factory=dict)

    @property
    def networks(self) -> tuple[int, ...]:
        """Chain ids with a contract, ascending."""
        return tuple(sorted(self.deployments))


def _places(amount: Decimal) -> int:
    exponent = amount.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


class TokenRegistry:
    """Known tokens by symbol. Its checks raise 400 VALIDATION_FAILED on the field named."""

    def __init__(self, tokens: Mapping[str, Token]) -> None:
        self.tokens = dict(tokens)

    @property
    def symbols(self) -> tuple[str, ...]:
        """Built-in tokens first (USDC, USDT, DAI, PYUSD, EURC), then configured ones."""
        return tuple(self.tokens)

    def get(self, symbol: str) -> Token | None:
        return self.tokens.get(symbol.strip().upper())

    def token(self, symbol: str, path: str = "currency") -> Token:
        """The token called `symbol`; unknown symbols are refused."""
        found = self.get(symbol)
        if found is None:
            raise ValidationFailed.on(path, f"unknown token; use one of {', '.join(self.symbols)}")
        return found

    def deployment(
        self,
        symbol: str,
        network: int | None,
        *,
        currency_path: str = "currency",
        network_path: str = "network",
    ) -> Deployment:
        """Where `symbol` is paid on `network`; refused when the registry has no contract
        for it there (or no network is named)."""
        token = self.token(symbol, currency_path)
        where = ", ".join(f"{c} ({EVM_NETWORKS.get(c, c)})" for c in token.networks)
        if network is None:
            raise ValidationFailed.on(
                network_path, f"name the network to be paid on; {token.symbol} is on {where}"
            )
        found = token.deployments.get(network)
        if found is None:
            hint = f"{token.symbol} is on {where}" if where else f"{token.symbol} has no network"
            raise ValidationFailed.on(network_path, f"no {token.symbol} contract here; {hint}")
        return found

    def check_amount(
        self, symbol: str, amount: Decimal | None, path: str, network: int | None = None
    ) -> None:
        """Refuse an amount finer than the token's smallest unit (on `network` when given)."""
        if amount is None:
            return
        token = self.get(symbol)
        if token is None:
            return  # the currency itself is refused by `token()`
        deployment = token.deployments.get(network) if network is not None else None
        decimals = deployment.decimals if deployment else token.decimals
        if _places(amount) > decimals:
            raise ValidationFailed.on(
                path, f"{token.symbol} has {decimals} decimals: at most {decimals} digits after '.'"
            )

    def check_symbols(self, symbols: list[str], path: str) -> list[str]:
        """Every symbol known (upper-cased, in order, duplicates dropped)."""
        result: list[str] = []
        for index, symbol in enumerate(symbols):
            token = self.token(symbol, f"{path}.{index}")
            if token.symbol not in result:
                result.append(token.symbol)
        return result


def _decimals(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DECIMALS:
        raise ValueError(f"{where}.decimals must be an integer from 0 to {MAX_DECIMALS}")
    return value


Contracts = dict[int, tuple[str, int | None]]  # chain id -> (contract, own decimals)


def _deployment(value: Any, where: str) -> tuple[str, int | None]:
    # A deployment whose decimals differ from the token's (USDT on BNB Chain has 18) is
    # written {"contract": "0x...", "decimals": 18}.
    address, own = (
        (value.get("contract"), value.get("decimals"))
        if isinstance(value, Mapping)
        else (value, None)
    )
    try:
        contract = normalize_evm_address(str(address))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return contract, None if own is None else _decimals(own, where)


def _apply(table: dict[str, tuple[int, Contracts]], raw_symbol: str, entry: Any) -> None:
    symbol = str(raw_symbol).strip().upper()
    where = f"TOKEN_CONTRACTS.{raw_symbol}"
    if not symbol.isascii() or not symbol.replace(".", "").isalnum() or len(symbol) > 16:
        raise ValueError(f"{where}: a token symbol is 1-16 letters, digits or dots")
    if not isinstance(entry, Mapping):
        raise ValueError(f'{where} must be an object such as {{"31337": "0x..."}}')
    known = table.get(symbol)
    if "decimals" in entry:
        decimals = _decimals(entry["decimals"], where)
    elif known is not None:
        decimals = known[0]
    else:
        raise ValueError(f"{where}: a token the registry does not know needs `decimals`")
    contracts: Contracts = dict(known[1]) if known is not None else {}
    for key, value in entry.items():
        if key == "decimals":
            continue
        try:
            chain_id = int(normalize_network(str(key)))
        except ValueError as exc:
            raise ValueError(f"{where}.{key}: {exc}") from None
        if value is None:
            contracts.pop(chain_id, None)
        else:
            contracts[chain_id] = _deployment(value, f"{where}.{key}")
    table[symbol] = (decimals, contracts)


def build_registry(overrides: Mapping[str, Any] | None = None) -> TokenRegistry:
    """The built-in tokens with `overrides` (the TOKEN_CONTRACTS setting) applied; a bad
    entry raises ValueError naming it."""
    table: dict[str, tuple[int, Contracts]] = {
        symbol: (decimals, {chain: (address, None) for chain, address in contracts.items()})
        for symbol, (decimals, contracts) in BUILTIN.items()
    }
    for raw_symbol, entry in (overrides or {}).items():
        _apply(table, raw_symbol, entry)
    return TokenRegistry(
        {
            symbol: Token(
                symbol,
                decimals,
                {
                    chain: Deployment(symbol, chain, contract, decimals if own is None else own)
                    for chain, (contract, own) in sorted(contracts.items())
                },
            )
            for symbol, (decimals, contracts) in table.items()
        }
    )


@lru_cache(maxsize=8)
def _cached(overrides_json: str) -> TokenRegistry:
    return build_registry(json.loads(overrides_json))


def registry(settings: Settings) -> TokenRegistry:
    """The registry for these settings (`TOKEN_CONTRACTS`), built once per configuration."""
    return _cached(json.dumps(settings.token_contracts, sort_keys=True))
