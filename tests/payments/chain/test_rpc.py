"""The chain client, ERC-20 encoding and decoding, and the chain settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_abi import encode
from pydantic import ValidationError

from bazaar.config import ConfigError, Settings
from bazaar.dev import flows
from bazaar.dev.chain import BUYER, SELLER, TREASURY, DevChain
from bazaar.kit.db import Database
from bazaar.kit.locks import SlowWorkUnderLock
from bazaar.payments.chain import erc20
from bazaar.payments.chain.rpc import ChainClient, ChainRequestRefused, ChainUnavailable
from bazaar.payments.providers.onchain import receiver_address
from tests.conftest import base_settings
from tests.fixtures.chain import CHAIN_ID, Anvil


def test_transfer_calldata_is_the_abi_encoding() -> None:
    expected = "0xa9059cbb" + encode(["address", "uint256"], [SELLER.address, 10**30]).hex()
    assert erc20.transfer_calldata(SELLER.address.lower(), 10**30) == expected
    with pytest.raises(ValueError):
        erc20.transfer_calldata(SELLER.address, -1)
    with pytest.raises(ValueError):
        erc20.transfer_calldata(SELLER.address, 2**256)


def _topic(address: str) -> str:
    return "0x" + "0" * 24 + address[2:].lower()


def test_only_well_formed_erc20_transfer_logs_are_read() -> None:
    amount = "0x" + f"{123:064x}"
    good = {
        "address": TREASURY.address.lower(),
        "topics": [erc20.TRANSFER_TOPIC, _topic(BUYER.address), _topic(SELLER.address)],
        "data": amount,
        "logIndex": "0x2",
    }
    nft = {**good, "topics": [*good["topics"], "0x" + "0" * 63 + "7"], "data": "0x"}
    short = {**good, "data": "0x1234"}
    other_event = {**good, "topics": ["0x" + "ab" * 32, *good["topics"][1:]]}
    removed = {**good, "removed": True, "logIndex": 5}
    found = erc20.transfers_in_receipt({"logs": [nft, short, other_event, good, removed]})
    assert [(t.sender, t.to, t.base_units, t.log_index, t.removed) for t in found] == [
        (BUYER.address, SELLER.address, 123, 2, False),
        (BUYER.address, SELLER.address, 123, 5, True),
    ]
    assert found[0].token == TREASURY.address  # EIP-55


async def test_the_client_reads_the_chain(anvil: Anvil, chain: DevChain) -> None:
    async with ChainClient(CHAIN_ID, anvil.url, timeout=5) as client:
        await client.verify_chain_id()
        before = await client.block_number()
        tx_hash = await chain.transfer(BUYER, anvil.token, TREASURY.address, 1)
        assert await client.block_number() == before + 1
        receipt = await client.receipt(tx_hash)
        assert receipt is not None
        assert await client.block_hash(before + 1) == receipt["blockHash"].lower()
        assert await client.block_hash(before + 1000) is None
        transaction = await client.transaction(tx_hash)
        assert transaction is not None and transaction["from"].lower() == BUYER.address.lower()
        assert await client.receipt("0x" + "00" * 32) is None


async def test_the_client_refuses_what_it_cannot_trust(anvil: Anvil) -> None:
    with pytest.raises(ChainUnavailable, match="RPC_URL_8453"):
        await ChainClient(8453, None, timeout=1).block_number()
    async with ChainClient(8453, anvil.url, timeout=5) as wrong_chain:
        with pytest.raises(ChainUnavailable, match="chain 31337"):
            await wrong_chain.verify_chain_id()
    async with ChainClient(CHAIN_ID, anvil.url, timeout=5) as client:
        with pytest.raises(ChainRequestRefused):
            await client.send_raw_transaction("0x1234")


async def test_no_chain_call_inside_a_write_transaction(anvil: Anvil, db: Database) -> None:
    async with ChainClient(CHAIN_ID, anvil.url, timeout=5) as client:
        with pytest.raises(SlowWorkUnderLock):
            async with db.transaction() as session:
                await session.connection()  # the transaction is open
                await client.block_number()
        assert await client.block_number() >= 0  # and fine outside it


def test_rpc_urls_come_from_one_variable_per_chain(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RPC_URL_8453", "https://base.example")
    monkeypatch.setenv("rpc_url_31337", "http://127.0.0.1:8545")
    monkeypatch.setenv("RPC_URL_BASE", "https://not-a-chain-id.example")
    env_file = tmp_path / ".env"
    env_file.write_text("RPC_URL_10=https://op.example\nRPC_URL_8453=https://from-file.example\n")
    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert settings.rpc_urls == {
        8453: "https://base.example",  # the environment wins over .env
        31337: "http://127.0.0.1:8545",
        10: "https://op.example",
    }
    monkeypatch.setenv("RPC_URL_1", "ftp://nope")
    with pytest.raises(ValidationError, match="RPC_URL_1"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_receivers_are_configured_per_chain_and_token(tmp_path: Path) -> None:
    lower = TREASURY.address.lower()
    settings = base_settings(
        tmp_path,
        onchain_receiver_address=lower,
        onchain_receivers={"8453": SELLER.address, "8453:dai": BUYER.address},
    )
    assert settings.onchain_receiver_address == TREASURY.address
    assert receiver_address(settings, 8453, "DAI") == BUYER.address
    assert receiver_address(settings, 8453, "USDC") == SELLER.address
    assert receiver_address(settings, 1, "USDC") == TREASURY.address
    assert receiver_address(base_settings(tmp_path), 1, "USDC") is None
    with pytest.raises(ValidationError):
        base_settings(tmp_path, onchain_receivers={"base": SELLER.address})
    with pytest.raises(ValidationError):
        base_settings(tmp_path, onchain_receiver_address="0x" + "12" * 19)


def test_the_dev_tools_refuse_production(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        flows.refuse_production(base_settings(tmp_path, node_env="production"))
    flows.refuse_production(base_settings(tmp_path))
