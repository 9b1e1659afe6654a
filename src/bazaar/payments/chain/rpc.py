"""JSON-RPC to an EVM node over httpx (one small client; web3.py's provider stack adds
middleware we do not use and hides the timeout we must enforce).

`ChainClient.for_chain(settings, chain_id)` uses RPC_URL_<chainId>. Every call first checks
that the calling task holds no write transaction (`kit/locks.py`): chain calls happen
between a claim and its record, never under a lock. A node that is down, slower than
RPC_TIMEOUT or not configured raises `ChainUnavailable`; a JSON-RPC error answer raises
`ChainRequestRefused`.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import structlog

from bazaar.config import Settings
from bazaar.kit.locks import assert_no_write_transaction
from bazaar.payments.chain.errors import ChainRequestRefused, ChainUnavailable

__all__ = ["ChainClient", "ChainRequestRefused", "ChainUnavailable"]

log = structlog.get_logger("bazaar.chain")

_ids = itertools.count(1)


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


class ChainClient:
    """One EVM node. Use as `async with ChainClient.for_chain(...) as chain:` (or call
    `aclose()`); a client made without a context reuses one HTTP connection."""

    def __init__(self, chain_id: int, url: str | None, *, timeout: float) -> None:
        self.chain_id = chain_id
        self.url = url
        self.timeout = timeout
        self._http: httpx.AsyncClient | None = None
        self._verified_chain = False

    @classmethod
    def for_chain(cls, settings: Settings, chain_id: int) -> ChainClient:
        return cls(chain_id, settings.rpc_urls.get(chain_id), timeout=settings.rpc_timeout)

    async def __aenter__(self) -> ChainClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def call(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call; its `result`."""
        if not self.url:
            raise ChainUnavailable(
                f"No node is configured for chain {self.chain_id} (RPC_URL_{self.chain_id})"
            )
        assert_no_write_transaction("json-rpc")
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout))
        body = {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": list(params)}
        try:
            response = await self._http.post(self.url, json=body)
            response.raise_for_status()
            answer = response.json()
        except httpx.TimeoutException:
            log.warning("chain_rpc_timeout", chain_id=self.chain_id, method=method)
            raise ChainUnavailable(
                f"The node for chain {self.chain_id} did not answer within {self.timeout:g} s"
            ) from None
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("chain_rpc_down", chain_id=self.chain_id, method=method, error=str(exc))
            raise ChainUnavailable(
                f"The node for chain {self.chain_id} is unavailable ({type(exc).__name__})"
            ) from None
        if not isinstance(answer, dict):
            raise ChainUnavailable(f"The node for chain {self.chain_id} answered garbage")
        if answer.get("error") is not None:
            error = answer["error"]
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise ChainRequestRefused(f"The node refused {method}: {str(message)[:300]}")
        return answer.get("result")

    async def verify_chain_id(self) -> None:
        """Refuse a node that serves another chain than the one it is configured for."""
        if self._verified_chain:
            return
        served = _int(await self.call("eth_chainId"))
        if served != self.chain_id:
            raise ChainUnavailable(
                f"RPC_URL_{self.chain_id} points at a node of chain {served}: fix the setting"
            )
        self._verified_chain = True

    async def chain_id_of_node(self) -> int:
        return _int(await self.call("eth_chainId"))

    async def block_number(self) -> int:
        return _int(await self.call("eth_blockNumber"))

    async def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        result = await self.call("eth_getTransactionReceipt", tx_hash)
        return result if isinstance(result, dict) else None

    async def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        result = await self.call("eth_getTransactionByHash", tx_hash)
        return result if isinstance(result, dict) else None

    async def block_hash(self, number: int) -> str | None:
        block = await self.call("eth_getBlockByNumber", hex(number), False)
        if not isinstance(block, dict) or not block.get("hash"):
            return None
        return str(block["hash"]).lower()

    async def send_raw_transaction(self, raw: str | bytes) -> str:
        payload = raw if isinstance(raw, str) else "0x" + raw.hex()
        if not payload.startswith("0x"):
            payload = "0x" + payload
        return str(await self.call("eth_sendRawTransaction", payload)).lower()

    async def nonce(self, address: str) -> int:
        return _int(await self.call("eth_getTransactionCount", address, "pending"))

    async def gas_price(self) -> int:
        return _int(await self.call("eth_gasPrice"))
