"""The local chain for development and tests: anvil from node_modules, TestUSD deployed,
transactions signed with anvil's well-known development keys (eth-account) and sent as raw
transactions over JSON-RPC (`ChainClient`); no foundry `cast` is needed.

The keys below are derived from anvil's default mnemonic ("test test test test test test
test test test test test junk"): published, funded with test ether on every anvil, and
worthless anywhere else. Their roles here:

- account 0, the deployer: deploys TestUSD and owns its `mint`;
- account 1, the development treasury: the on-chain receiver of payments
  (ONCHAIN_RECEIVER_ADDRESS) and the signer of build-only payouts;
- account 2, the development buyer's wallet: funded with TestUSD, pays payments;
- account 3, the development seller's payout wallet.
"""

from __future__ import annotations

import asyncio
import json
import platform
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_utils import to_checksum_address

from bazaar.payments.chain import erc20
from bazaar.payments.chain.rpc import ChainClient

CHAIN_ID = 31337
ROOT = Path(__file__).resolve().parents[3]
ARTIFACT = ROOT / "contracts" / "TestUSD.json"
DECIMALS = 6


MNEMONIC = "test test test test test test test test test test test junk"  # anvil's default


@dataclass(frozen=True)
class DevKey:
    role: str
    index: int  # m/44'/60'/0'/0/<index> of anvil's default mnemonic

    @property
    def key(self) -> str:
        return _derived(self.index)[0]

    @property
    def address(self) -> str:
        return _derived(self.index)[1]


@lru_cache
def _derived(index: int) -> tuple[str, str]:
    Account.enable_unaudited_hdwallet_features()
    account = Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return "0x" + bytes(account.key).hex(), str(account.address)


DEPLOYER = DevKey("deployer", 0)
TREASURY = DevKey("treasury", 1)
BUYER = DevKey("buyer", 2)
SELLER = DevKey("seller", 3)
STRANGER = DevKey("stranger", 4)


class AnvilMissing(RuntimeError):
    """anvil is not installed (run `npm ci` at the repository root; Node.js 20+)."""


def anvil_binary(root: Path = ROOT) -> Path:
    """anvil's native binary from node_modules: the platform package's `bin/anvil`
    (present whether or not npm ran @foundry-rs/anvil's postinstall), else the npm shim."""
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    system = {"linux": "linux", "darwin": "darwin", "windows": "win32"}[platform.system().lower()]
    name = "anvil.exe" if system == "win32" else "anvil"
    native = root / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / name
    if native.is_file():
        return native
    shim = root / "node_modules" / ".bin" / "anvil"
    if shim.exists():
        return shim
    raise AnvilMissing(
        f"anvil not found in {root / 'node_modules'}: run `npm ci` at the repository root "
        "(Node.js 20+)"
    )


_LISTENING = re.compile(r"Listening on ([\d.]+):(\d+)")


@dataclass
class AnvilProcess:
    """A running anvil; its stdout is drained by a thread (a full pipe would stall it)."""

    process: subprocess.Popen[str]
    host: str
    port: int
    lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_anvil(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    chain_id: int = CHAIN_ID,
    binary: Path | None = None,
    automine: bool = True,
) -> AnvilProcess:
    """Start anvil and return once it listens (port 0: a free one, read from its output).
    `automine=False` (`--no-mining`): blocks are made only by `evm_mine` / `anvil_mine`."""
    command = [str(binary or anvil_binary()), "--host", host, "--port", str(port)]
    command += ["--chain-id", str(chain_id)]
    if not automine:
        command.append("--no-mining")
    process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    assert process.stdout is not None
    ready = threading.Event()
    found: dict[str, Any] = {}
    lines: list[str] = []

    def drain() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if len(lines) < 500:
                lines.append(line.rstrip())
            if not ready.is_set():
                match = _LISTENING.search(line)
                if match:
                    found["host"], found["port"] = match.group(1), int(match.group(2))
                    ready.set()
        ready.set()  # the process ended

    threading.Thread(target=drain, name="anvil-stdout", daemon=True).start()
    ready.wait(timeout=60)
    if "port" not in found:
        process.kill()
        raise RuntimeError("anvil did not start:\n" + "\n".join(lines[-20:]))
    return AnvilProcess(process, found["host"], found["port"], lines)


def artifact() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ARTIFACT.read_text(encoding="utf-8"))
    return data


def _selector(signature: str) -> str:
    from eth_utils import keccak

    return "0x" + keccak(text=signature)[:4].hex()


def _word(value: int) -> str:
    return f"{value:064x}"


def mint_calldata(to: str, base_units: int) -> str:
    return _selector("mint(address,uint256)") + _word(int(to, 16)) + _word(base_units)


def balance_calldata(owner: str) -> str:
    return _selector("balanceOf(address)") + _word(int(owner, 16))


class DevChain:
    """Signing and sending on a node with the development keys (async, over JSON-RPC)."""

    def __init__(
        self,
        url: str,
        chain_id: int = CHAIN_ID,
        *,
        timeout: float = 30.0,
        mine_each: bool = False,
    ) -> None:
        """`mine_each`: the node does not mine by itself (anvil `--no-mining`, as in the
        tests): each sent transaction is mined at once with `evm_mine`, so the block it
        lands in is known when `send` returns."""
        self.client = ChainClient(chain_id, url, timeout=timeout)
        self.chain_id = chain_id
        self.mine_each = mine_each

    async def __aenter__(self) -> DevChain:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.client.aclose()

    async def rpc(self, method: str, *params: Any) -> Any:
        return await self.client.call(method, *params)

    async def sign(
        self,
        key: DevKey,
        *,
        to: str | None,
        data: str = "0x",
        value: int = 0,
        gas: int = 200_000,
        nonce: int | None = None,
    ) -> tuple[str, bytes]:
        """A signed EIP-1559 transaction from `key`: (its hash, the raw bytes)."""
        latest = await self.rpc("eth_getBlockByNumber", "latest", False)
        base_fee = int(latest.get("baseFeePerGas") or "0x0", 16)
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": nonce if nonce is not None else await self.client.nonce(key.address),
            "maxPriorityFeePerGas": 1_000_000_000,
            "maxFeePerGas": 2 * base_fee + 1_000_000_000,
            "gas": gas,
            "value": value,
            "data": data,
        }
        if to is not None:
            tx["to"] = to_checksum_address(to)
        signed = Account.sign_transaction(tx, key.key)
        return "0x" + signed.hash.hex().removeprefix("0x"), bytes(signed.raw_transaction)

    async def send(self, key: DevKey, **tx: Any) -> str:
        """Sign, send and return the hash (anvil mines it at once by default)."""
        _, raw = await self.sign(key, **tx)
        tx_hash = await self.client.send_raw_transaction(raw)
        if self.mine_each:
            await self.rpc("evm_mine")
        return tx_hash

    async def receipt(self, tx_hash: str, *, wait: float = 30.0) -> dict[str, Any]:
        """The receipt, waiting up to `wait` seconds for an automining node to include the
        transaction (anvil answers eth_sendRawTransaction before its block is sealed)."""
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            receipt = await self.client.receipt(tx_hash)
            if receipt is not None and receipt.get("blockNumber") is not None:
                return receipt
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"no receipt for {tx_hash} after {wait:g} s: is it mining?")
            await asyncio.sleep(0.05)

    async def deploy_test_usd(self, key: DevKey = DEPLOYER) -> str:
        """Deploy contracts/TestUSD.json; its address (EIP-55)."""
        tx_hash = await self.send(key, to=None, data=artifact()["bytecode"], gas=2_000_000)
        receipt = await self.receipt(tx_hash)
        if int(receipt["status"], 16) != 1 or not receipt.get("contractAddress"):
            raise RuntimeError("TestUSD deployment failed")
        return to_checksum_address(receipt["contractAddress"])

    async def mint(self, token: str, to: str, base_units: int, key: DevKey = DEPLOYER) -> str:
        tx_hash = await self.send(key, to=token, data=mint_calldata(to, base_units))
        await self.receipt(tx_hash)
        return tx_hash

    async def transfer(
        self, key: DevKey, token: str, to: str, base_units: int, *, gas: int = 100_000
    ) -> str:
        """An ERC-20 `transfer` from `key`'s address; the transaction hash."""
        data = erc20.transfer_calldata(to, base_units)
        return await self.send(key, to=token, data=data, gas=gas)

    async def balance(self, token: str, owner: str) -> int:
        call = {"to": token, "data": balance_calldata(owner)}
        return int(await self.rpc("eth_call", call, "latest"), 16)

    async def mine(self, blocks: int = 1) -> None:
        await self.rpc("anvil_mine", hex(blocks))

    async def snapshot(self) -> str:
        return str(await self.rpc("evm_snapshot"))

    async def revert(self, snapshot_id: str) -> bool:
        return bool(await self.rpc("evm_revert", snapshot_id))


def dev_keys() -> Iterator[DevKey]:
    yield from (DEPLOYER, TREASURY, BUYER, SELLER, STRANGER)
