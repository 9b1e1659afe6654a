"""Paying a payment on chain (anvil): the buyer sends TestUSD to the receiver, saves the tx
hash, and a verification pass checks it and credits the escrow exactly once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bazaar.config import Settings
from bazaar.dev.chain import BUYER, SELLER, STRANGER, TREASURY, DevChain
from bazaar.kit.db import Database, utcnow
from bazaar.payments import funding
from tests.fixtures.chain import CHAIN_ID, Anvil, settings_for_chain
from tests.fixtures.payments import MakeDeal
from tests.fixtures.users import MakeUser
from tests.payments.chain.support import (
    base_units,
    events,
    held,
    ledger_transactions,
    payment_row,
    request_status,
    save,
    saved,
    transfer_rows,
    verified,
    verify,
)


async def pay(chain: DevChain, anvil: Anvil, amount: str, *, to: str | None = None) -> str:
    return await chain.transfer(BUYER, anvil.token, to or TREASURY.address, base_units(amount))


async def test_an_exact_payment_is_held_and_funds_the_request(
    client: httpx.AsyncClient, make_deal: MakeDeal, chain: DevChain, anvil: Anvil, db: Database
) -> None:
    deal = await make_deal(price="99.50", network=CHAIN_ID)
    receiver = await client.get(
        "/api/payment/decentralized/receiver",
        params={"paymentId": str(deal.payment_id)},
        headers=deal.buyer.headers,
    )
    assert receiver.status_code == 200, receiver.text
    to = receiver.json()["data"]
    assert (to["address"], to["chainId"], to["tokenContract"]) == (
        TREASURY.address,
        CHAIN_ID,
        anvil.token,
    )
    assert (to["amountDue"], to["amountDueBaseUnits"], to["decimals"]) == ("99.5", "99500000", 6)

    tx_hash = await chain.transfer(BUYER, to["tokenContract"], to["address"], 99_500_000)
    transfer = await saved(client, deal.buyer, deal.payment_id, tx_hash)
    assert transfer["status"] == "submitted"

    answer = await verified(client, deal.buyer, deal.payment_id)
    assert answer["payment"]["status"] == "held"
    (row,) = answer["transfers"]
    assert (row["status"], row["credited"]) == ("confirmed", True)
    assert row["amountBaseUnits"] == "99500000"
    assert row["fromAddress"] == BUYER.address

    payment = await payment_row(db, deal.payment_id)
    assert (payment.amount_paid, payment.overpaid, payment.provider) == (
        Decimal("99.5"),
        False,
        "onchain",
    )
    # The refund address defaults to the address that paid.
    assert payment.sender_address == payment.refund_address == BUYER.address
    assert await held(db, deal.payment_id) == Decimal("99.5")
    assert await request_status(db, deal.request_id) == "funded"
    assert ("pending", "confirming", "chain.confirmed") in await events(db, deal.payment_id)

    # A second pass finds nothing open and posts nothing more.
    again = await verified(client, deal.buyer, deal.payment_id)
    assert again["payment"]["status"] == "held"
    assert len(await ledger_transactions(db, deal.payment_id)) == 1


async def test_a_partial_payment_then_a_top_up(
    client: httpx.AsyncClient, make_deal: MakeDeal, chain: DevChain, anvil: Anvil, db: Database
) -> None:
    deal = await make_deal(price="100", network=CHAIN_ID)
    await saved(client, deal.buyer, deal.payment_id, await pay(chain, anvil, "60"))
    first = await verified(client, deal.buyer, deal.payment_id)
    assert first["payment"]["status"] == "partially_paid"
    assert await request_status(db, deal.request_id) == "accepted"

    due = await client.get(
        "/api/payment/decentralized/receiver",
        params={"paymentId": str(deal.payment_id)},
        headers=deal.buyer.headers,
    )
    assert due.json()["data"]["amountDue"] == "40"

    await saved(client, deal.buyer, deal.payment_id, await pay(chain, anvil, "40"))
    second = await verified(client, deal.buyer, deal.payment_id)
    assert second["payment"]["status"] == "held"
    assert [t["amountBaseUnits"] for t in second["transfers"]] == ["60000000", "40000000"]
    assert (await payment_row(db, deal.payment_id)).amount_paid == Decimal("100")
    assert await held(db, deal.payment_id) == Decimal("100")
    assert len(await ledger_transactions(db, deal.payment_id)) == 2
    assert await request_status(db, deal.request_id) == "funded"


async def test_an_overpayment_is_held_and_flagged(
    client: httpx.AsyncClient, make_deal: MakeDeal, chain: DevChain, anvil: Anvil, db: Database
) -> None:
    deal = await make_deal(price="10", network=CHAIN_ID)
    await saved(client, deal.buyer, deal.payment_id, await pay(chain, anvil, "12.345678"))
    answer = await verified(client, deal.buyer, deal.payment_id)
    assert answer["payment"]["status"] == "held"
    payment = await payment_row(db, deal.payment_id)
    assert (payment.amount_paid, payment.overpaid) == (Decimal("12.345678"), True)
    assert await held(db, deal.payment_id) == Decimal("12.345678")


@pytest.mark.parametrize("mistake", ["wrong token contract", "wrong recipient", "reverted"])
async def test_a_transfer_that_does_not_pay_fails_with_its_reason(
    mistake: str,
    client: httpx.AsyncClient,
    make_deal: MakeDeal,
    chain: DevChain,
    anvil: Anvil,
    db: Database,
) -> None:
    deal = await make_deal(price="5", network=CHAIN_ID)
    if mistake == "wrong token contract":
        tx_hash = await chain.transfer(BUYER, anvil.other_token, TREASURY.address, 5_000_000)
    elif mistake == "wrong recipient":
        tx_hash = await chain.transfer(BUYER, anvil.token, SELLER.address, 5_000_000)
    else:  # more than the buyer has: the token reverts (gas given, so it is mined)
        tx_hash = await chain.transfer(BUYER, anvil.token, TREASURY.address, 10**30)
    await saved(client, deal.buyer, deal.payment_id, tx_hash)
    answer = await verified(client, deal.buyer, deal.payment_id)
    assert answer["payment"]["status"] == "pending"
    (row,) = answer["transfers"]
    assert (row["status"], row["credited"]) == ("failed", False)
    assert mistake in row["failureReason"]
    assert await held(db, deal.payment_id) == 0
    assert await ledger_transactions(db, deal.payment_id) == []
    # The buyer can still pay properly afterwards.
    await saved(client, deal.buyer, deal.payment_id, await pay(chain, anvil, "5"))
    assert (await verified(client, deal.buyer, deal.payment_id))["payment"]["status"] == "held"


async def test_a_tx_hash_funds_one_payment_ever(
    client: httpx.AsyncClient,
    make_deal: MakeDeal,
    make_user: MakeUser,
    chain: DevChain,
    anvil: Anvil,
    db: Database,
) -> None:
    first = await make_deal(price="7", network=CHAIN_ID)
    second = await make_deal(price="7", network=CHAIN_ID, buyer=first.buyer)
    tx_hash = await pay(chain, anvil, "7")
    stored = await saved(client, first.buyer, first.payment_id, tx_hash)
    # The same hash again for the same payment answers the stored transfer (upper case too).
    again = await saved(client, first.buyer, first.payment_id, "0x" + tx_hash[2:].upper())
    assert again["id"] == stored["id"]
    reused = await save(client, first.buyer, second.payment_id, tx_hash)
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "TX_HASH_USED"
    # Even after the first payment is funded.
    await verified(client, first.buyer, first.payment_id)
    reused = await save(client, first.buyer, second.payment_id, tx_hash)
    assert reused.json()["error"]["code"] == "TX_HASH_USED"
    assert await transfer_rows(db, second.payment_id) == []
    assert (await payment_row(db, second.payment_id)).status == "pending"


async def test_only_the_parties_reach_a_payment(
    client: httpx.AsyncClient,
    make_deal: MakeDeal,
    make_user: MakeUser,
    chain: DevChain,
    anvil: Anvil,
    db: Database,
) -> None:
    deal = await make_deal(price="3", network=CHAIN_ID)
    stranger = await make_user(["buyer"])
    tx_hash = await pay(chain, anvil, "3")
    params = {"paymentId": str(deal.payment_id)}
    url = "/api/payment/decentralized/receiver"
    assert (await client.get(url, params=params, headers=stranger.headers)).status_code == 404
    assert (await client.get(url, params=params, headers=deal.seller.headers)).status_code == 200
    assert (await save(client, stranger, deal.payment_id, tx_hash)).status_code == 404
    by_seller = await save(client, deal.seller, deal.payment_id, tx_hash)
    assert (by_seller.status_code, by_seller.json()["error"]["code"]) == (403, "NOT_THE_BUYER")
    assert (await verify(client, stranger, deal.payment_id)).status_code == 404
    assert await transfer_rows(db, deal.payment_id) == []


async def test_save_takes_an_idempotency_key_and_a_refund_address(
    client: httpx.AsyncClient, make_deal: MakeDeal, chain: DevChain, anvil: Anvil, db: Database
) -> None:
    deal = await make_deal(price="2", network=CHAIN_ID)
    tx_hash = await pay(chain, anvil, "2")
    refund_to = STRANGER.address.lower()
    key = {"Idempotency-Key": "save-1"}
    first = await save(client, deal.buyer, deal.payment_id, tx_hash, key, refundAddress=refund_to)
    replay = await save(client, deal.buyer, deal.payment_id, tx_hash, key, refundAddress=refund_to)
    assert first.status_code == replay.status_code == 200
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first.json()
    bad = await save(client, deal.buyer, deal.payment_id, tx_hash, refundAddress="0x1234")
    assert bad.status_code == 400
    await verified(client, deal.buyer, deal.payment_id)
    payment = await payment_row(db, deal.payment_id)
    # The buyer's refund address wins over the sender; stored EIP-55.
    assert (payment.refund_address, payment.sender_address) == (STRANGER.address, BUYER.address)


async def test_confirmations_below_and_at_the_threshold(
    make_deal: MakeDeal,
    client: httpx.AsyncClient,
    chain: DevChain,
    anvil: Anvil,
    db: Database,
    settings: Settings,
) -> None:
    three = settings_for_chain(settings, anvil, transaction_safety_confirmations={"31337": 3})
    deal = await make_deal(price="4", network=CHAIN_ID)
    await saved(client, deal.buyer, deal.payment_id, await pay(chain, anvil, "4"))

    outcome = await funding.verify_payment(db, deal.payment_id, now=utcnow(), settings=three)
    assert (outcome.credited, outcome.waiting) == (0, 1)
    (row,) = await transfer_rows(db, deal.payment_id)
    assert (row.status, row.confirmations) == ("confirming", 1)
    assert (await payment_row(db, deal.payment_id)).status == "confirming"
    assert await held(db, deal.payment_id) == 0

    await chain.mine(1)  # 2 of 3
    await funding.verify_payment(db, deal.payment_id, now=utcnow(), settings=three)
    (row,) = await transfer_rows(db, deal.payment_id)
    assert (row.status, row.confirmations) == ("confirming", 2)
    assert await held(db, deal.payment_id) == 0

    await chain.mine(1)  # 3 of 3: at the threshold
    outcome = await funding.verify_payment(db, deal.payment_id, now=utcnow(), settings=three)
    assert outcome.credited == 1
    (row,) = await transfer_rows(db, deal.payment_id)
    assert (row.status, row.confirmations, row.credited) == ("confirmed", 3, True)
    assert (await payment_row(db, deal.payment_id)).status == "held"
    assert await held(db, deal.payment_id) == Decimal("4")


async def test_a_reorg_moves_the_payment_back_to_pending(
    make_deal: MakeDeal,
    client: httpx.AsyncClient,
    chain: DevChain,
    anvil: Anvil,
    db: Database,
    settings: Settings,
) -> None:
    three = settings_for_chain(settings, anvil, transaction_safety_confirmations={"31337": 3})
    deal = await make_deal(price="6", network=CHAIN_ID)
    snapshot = await chain.snapshot()
    tx_hash, raw = await chain.sign(
        BUYER, to=anvil.token, data=_transfer_data(TREASURY.address, 6_000_000), gas=100_000
    )
    assert await chain.client.send_raw_transaction(raw) == tx_hash
    await chain.rpc("evm_mine")
    await saved(client, deal.buyer, deal.payment_id, tx_hash)
    await funding.verify_payment(db, deal.payment_id, now=utcnow(), settings=three)
    (row,) = await transfer_rows(db, deal.payment_id)
    first_block = row.block_hash
    assert row.status == "confirming" and first_block is not None
    assert (await payment_row(db, deal.payment_id)).status == "confirming"

    # The chain drops the block (and the transaction) and grows another history.
    assert await chain.revert(snapshot)
    await chain.mine(3)
    await funding.verify_payment(db, deal.payment_id, now=utcnow(), settings=three)
    (row,) = await transfer_rows(db, deal.payment_id)
    assert (row.status, row.block_hash, row.credited) == ("submitted", None, False)
    payment = await payment_row(db, deal.payment_id)
    assert payment.status == "pending"
    assert ("confirming", "pending", "chain.reorg") in await events(db, deal.payment_id)
    assert await held(db, deal.payment_id) == 0

    # The same signed transaction lands again, in another block, and is counted afresh.
    await chain.client.send_raw_transaction(raw)
    await chain.rpc("evm_mine")
    await funding.verify_payment(db, deal.payment_id, now=utcnow(), settings=three)
    (row,) = await transfer_rows(db, deal.payment_id)
    assert row.status == "confirming" and row.block_hash not in (None, first_block)
    await chain.mine(2)
    await funding.verify_payment(db, deal.payment_id, now=utcnow(), settings=three)
    assert (await payment_row(db, deal.payment_id)).status == "held"
    assert await held(db, deal.payment_id) == Decimal("6")


async def test_a_reorg_into_another_block_at_the_threshold(
    make_deal: MakeDeal,
    client: httpx.AsyncClient,
    chain: DevChain,
    anvil: Anvil,
    db: Database,
    settings: Settings,
) -> None:
    """The block the transfer was seen in is replaced while it is confirming: the block
    hash recorded then no longer matches, so nothing is credited on the old count."""
    two = settings_for_chain(settings, anvil, transaction_safety_confirmations={"31337": 2})
    deal = await make_deal(price="1", network=CHAIN_ID)
    snapshot = await chain.snapshot()
    tx_hash, raw = await chain.sign(
        BUYER, to=anvil.token, data=_transfer_data(TREASURY.address, 1_000_000), gas=100_000
    )
    await chain.client.send_raw_transaction(raw)
    await chain.rpc("evm_mine")
    await saved(client, deal.buyer, deal.payment_id, tx_hash)
    await funding.verify_payment(db, deal.payment_id, now=utcnow(), settings=two)
    assert (await transfer_rows(db, deal.payment_id))[0].status == "confirming"
    # Replaced: an empty block first, then the same transaction one block later.
    assert await chain.revert(snapshot)
    await chain.mine(1)
    await chain.client.send_raw_transaction(raw)
    await chain.rpc("evm_mine")
    await chain.mine(1)
    outcome = await funding.verify_payment(db, deal.payment_id, now=utcnow(), settings=two)
    assert outcome.credited == 0
    (row,) = await transfer_rows(db, deal.payment_id)
    assert row.status == "submitted"
    assert await held(db, deal.payment_id) == 0
    await funding.verify_payment(db, deal.payment_id, now=utcnow(), settings=two)
    assert (await payment_row(db, deal.payment_id)).status == "held"


@pytest.mark.parametrize("node", ["down", "silent"])
async def test_an_unavailable_node_changes_nothing_and_is_retried(
    node: str,
    make_deal: MakeDeal,
    client: httpx.AsyncClient,
    chain: DevChain,
    anvil: Anvil,
    db: Database,
    settings: Settings,
    dead_rpc_url: str,
    silent_rpc_url: str,
) -> None:
    deal = await make_deal(price="8", network=CHAIN_ID)
    await saved(client, deal.buyer, deal.payment_id, await pay(chain, anvil, "8"))
    url = dead_rpc_url if node == "down" else silent_rpc_url
    broken = settings_for_chain(settings, anvil, rpc_urls={CHAIN_ID: url}, rpc_timeout=0.3)
    now = utcnow()
    with pytest.raises(funding.ChainUnavailable) as raised:
        await funding.verify_payment(db, deal.payment_id, now=now, settings=broken)
    assert raised.value.code == "CHAIN_UNAVAILABLE"
    assert ("0.3 s" in raised.value.message) is (node == "silent")
    (row,) = await transfer_rows(db, deal.payment_id)
    assert (row.status, row.attempts, row.credited) == ("submitted", 1, False)
    assert row.next_check_at is not None and row.next_check_at > now
    assert (await payment_row(db, deal.payment_id)).status == "pending"

    # The worker's sweep skips it until its retry time, then credits it once the node is back.
    good = settings_for_chain(settings, anvil)
    assert await funding.verify_due(db, now=now, settings=good, backend=db.backend) == 0
    later = row.next_check_at + timedelta(seconds=1)
    assert await funding.verify_due(db, now=later, settings=good, backend=db.backend) == 1
    assert (await payment_row(db, deal.payment_id)).status == "held"


async def test_the_verify_endpoint_answers_503_when_the_node_is_down(
    make_deal: MakeDeal,
    chain: DevChain,
    anvil: Anvil,
    db: Database,
    settings: Settings,
    dead_rpc_url: str,
) -> None:
    from tests.conftest import make_app

    broken = settings_for_chain(settings, anvil, rpc_urls={CHAIN_ID: dead_rpc_url})
    app = make_app(broken, db)
    transport = httpx.ASGITransport(app=app)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
    ):
        deal = await make_deal(price="9", network=CHAIN_ID)
        await saved(http, deal.buyer, deal.payment_id, await pay(chain, anvil, "9"))
        answer = await verify(http, deal.buyer, deal.payment_id)
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "CHAIN_UNAVAILABLE"
    (row,) = await transfer_rows(db, deal.payment_id)
    assert (row.status, row.attempts) == ("submitted", 1)
    assert (await payment_row(db, deal.payment_id)).status == "pending"


async def test_concurrent_passes_credit_a_transfer_once(
    make_deal: MakeDeal,
    client: httpx.AsyncClient,
    chain: DevChain,
    anvil: Anvil,
    db: Database,
    chain_settings: Settings,
) -> None:
    deal = await make_deal(price="11", network=CHAIN_ID)
    await saved(client, deal.buyer, deal.payment_id, await pay(chain, anvil, "11"))
    # Both passes claim and ask the node before either records: line them up after the
    # calls with a barrier of our own, then let both record.
    barrier = asyncio.Barrier(2)
    real_observe_all = funding.observe_all

    async def one_pass() -> object:
        async with db.transaction() as session:
            claimed = await funding.claim(session, deal.payment_id, settings=chain_settings)
        assert claimed is not None
        seen = await real_observe_all(chain_settings, claimed)
        await barrier.wait()
        outcomes = []
        for t, observation in zip(claimed.transfers, seen, strict=True):
            async with db.transaction() as session:
                outcomes.append(
                    await funding.record(
                        session, claimed, t, observation, now=utcnow(), settings=chain_settings
                    )
                )
        return outcomes

    results = await asyncio.gather(one_pass(), one_pass())
    assert sorted(r[0] for r in results) == ["credited", "stale"]  # type: ignore[index]
    assert len(await ledger_transactions(db, deal.payment_id)) == 1
    payment = await payment_row(db, deal.payment_id)
    assert (payment.status, payment.amount_paid) == ("held", Decimal("11"))


def _transfer_data(to: str, amount: int) -> str:
    from bazaar.payments.chain import erc20

    return erc20.transfer_calldata(to, amount)


async def test_money_arriving_after_the_funding_window_waits_for_a_guard(
    client: httpx.AsyncClient,
    make_deal: MakeDeal,
    chain: DevChain,
    anvil: Anvil,
    db: Database,
    chain_settings: Settings,
) -> None:
    from bazaar.marketplace.jobs import lapse_funding_windows

    deal = await make_deal(price="13", network=CHAIN_ID)
    await saved(client, deal.buyer, deal.payment_id, await pay(chain, anvil, "13"))
    # The funding window lapses before anyone verifies: the worker expires the payment.
    payment = await payment_row(db, deal.payment_id)
    assert payment.expires_at is not None
    late = payment.expires_at + timedelta(minutes=1)
    async with db.transaction() as session:
        assert await lapse_funding_windows(session, late) == 1
    assert (await payment_row(db, deal.payment_id)).status == "expired"

    outcome = await funding.verify_payment(db, deal.payment_id, now=late, settings=chain_settings)
    assert outcome.credited == 1
    payment = await payment_row(db, deal.payment_id)
    assert (payment.status, payment.paid_late, payment.amount_paid) == (
        "awaiting_review",
        True,
        Decimal("13"),
    )
    # The money is in escrow, to be returned by a guard's decision.
    assert await held(db, deal.payment_id) == Decimal("13")


async def test_the_worker_advances_submitted_transfers(
    client: httpx.AsyncClient,
    make_deal: MakeDeal,
    chain: DevChain,
    anvil: Anvil,
    db: Database,
    chain_settings: Settings,
) -> None:
    """The sweep is registered with the worker and credits a saved transfer on its own."""
    from bazaar.worker import Worker

    deal = await make_deal(price="14", network=CHAIN_ID)
    await saved(client, deal.buyer, deal.payment_id, await pay(chain, anvil, "14"))
    worker = Worker(db, chain_settings, name="test", kinds=(), sweeps={"payments.chain_verify"})
    await worker.run_once(utcnow())
    assert (await payment_row(db, deal.payment_id)).status == "held"
    assert await request_status(db, deal.request_id) == "funded"


async def test_a_top_up_may_be_sent_while_the_first_transfer_confirms(
    make_deal: MakeDeal,
    client: httpx.AsyncClient,
    chain: DevChain,
    anvil: Anvil,
    db: Database,
    settings: Settings,
) -> None:
    two = settings_for_chain(settings, anvil, transaction_safety_confirmations={"31337": 2})
    deal = await make_deal(price="20", network=CHAIN_ID)
    await saved(client, deal.buyer, deal.payment_id, await pay(chain, anvil, "15"))
    await funding.verify_payment(db, deal.payment_id, now=utcnow(), settings=two)
    assert (await payment_row(db, deal.payment_id)).status == "confirming"
    await saved(client, deal.buyer, deal.payment_id, await pay(chain, anvil, "5"))
    await chain.mine(1)
    outcome = await funding.verify_payment(db, deal.payment_id, now=utcnow(), settings=two)
    assert (outcome.credited, outcome.checked) == (2, 2)
    payment = await payment_row(db, deal.payment_id)
    assert (payment.status, payment.amount_paid) == ("held", Decimal("20"))
    assert len(await ledger_transactions(db, deal.payment_id)) == 2
    # Once held, the payment takes no more transactions.
    refused = await save(client, deal.buyer, deal.payment_id, await pay(chain, anvil, "1"))
    assert refused.json()["error"]["code"] == "PAYMENT_NOT_AWAITING_FUNDS"


async def test_a_dead_node_costs_the_sweep_one_try_per_pass(
    make_deal: MakeDeal,
    client: httpx.AsyncClient,
    chain: DevChain,
    anvil: Anvil,
    db: Database,
    settings: Settings,
    silent_rpc_url: str,
) -> None:
    first = await make_deal(price="1", network=CHAIN_ID)
    second = await make_deal(price="2", network=CHAIN_ID, buyer=first.buyer)
    await saved(client, first.buyer, first.payment_id, await pay(chain, anvil, "1"))
    await saved(client, first.buyer, second.payment_id, await pay(chain, anvil, "2"))
    silent = settings_for_chain(
        settings, anvil, rpc_urls={CHAIN_ID: silent_rpc_url}, rpc_timeout=0.3
    )
    now = utcnow()
    assert await funding.verify_due(db, now=now, settings=silent, backend=db.backend) == 0
    rows = [
        *(await transfer_rows(db, first.payment_id)),
        *(await transfer_rows(db, second.payment_id)),
    ]
    # One payment was tried (and counted), the other skipped: still leased, never asked.
    assert sorted(r.attempts for r in rows) == [0, 1]
    skipped = next(r for r in rows if r.attempts == 0)
    assert skipped.next_check_at == now + funding.LEASE
    good = settings_for_chain(settings, anvil)
    later = now + funding.LEASE + timedelta(seconds=1)
    assert await funding.verify_due(db, now=later, settings=good, backend=db.backend) == 2
