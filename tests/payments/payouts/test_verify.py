"""Payouts verified on a real chain (anvil, started by the fixtures): the unsigned
transaction is signed with eth-account as an external wallet would, sent, marked sent, and
the verification sweep marks it done (posting the ledger payout) only when the transaction
succeeded and moved exactly the payout's amount of its token to its address, with enough
confirmations. A wrong amount or a reverted transaction goes back to `built`; a
transaction not mined yet or a node that is down leaves it `sent`, checked again later."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from eth_account import Account as EthAccount

from bazaar.config import Settings
from bazaar.dev.chain import SELLER, STRANGER, TREASURY, DevChain, DevKey
from bazaar.kit.db import Database, utcnow
from bazaar.models import ConfirmationThreshold, Payment, Payout, User
from bazaar.payments import ledger
from bazaar.payments.payouts import service as payouts
from bazaar.payments.payouts.transfer import transfer_calldata
from bazaar.payments.safety import service as safety
from bazaar.worker import Worker
from tests.fixtures.chain import CHAIN_ID, Anvil, settings_for_chain
from tests.fixtures.payments import BUYER_WALLET, Deliver, MakeDeal, payouts_of
from tests.fixtures.users import MakeUser
from tests.payments.payouts.support import ledger_payouts, payout_row, released
from tests.payments.safety.support import fund_with, safety_settings

PENNILESS = DevKey("penniless", 9)  # an anvil account no test gives tokens to


@pytest.fixture
def client(chain_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Deals are made on the app configured for the test chain (USDC on 31337 = TestUSD)."""
    return chain_client


async def released_on_chain(
    db: Database, chain_settings: Settings, make_deal: MakeDeal, deliver: Deliver, price: str
) -> Payout:
    _deal, payout = await released(
        db,
        chain_settings,
        make_deal,
        deliver,
        price,
        network=CHAIN_ID,
        payout_wallet=SELLER.address,
    )
    return payout


async def sign_and_send(
    chain: DevChain, key: DevKey, unsigned: dict[str, Any], *, mine: bool = True
) -> str:
    """What the external signer does: fill in nonce and fees, sign, send."""
    latest = await chain.rpc("eth_getBlockByNumber", "latest", False)
    base_fee = int(latest.get("baseFeePerGas") or "0x0", 16)
    tx = {
        **unsigned,
        "nonce": await chain.client.nonce(key.address),
        "maxPriorityFeePerGas": 1_000_000_000,
        "maxFeePerGas": 2 * base_fee + 1_000_000_000,
    }
    signed = EthAccount.sign_transaction(tx, key.key)
    tx_hash = await chain.client.send_raw_transaction(bytes(signed.raw_transaction))
    if mine:
        await chain.mine()
    return tx_hash


async def mark_sent(db: Database, payout_id: uuid.UUID, tx_hash: str) -> None:
    async with db.transaction() as session:
        await payouts.mark_sent(session, payout_id, tx_hash, actor_id=None, now=utcnow())


async def sent_on_chain(
    db: Database, chain: DevChain, anvil: Anvil, payout: Payout, *, mine: bool = True
) -> str:
    """The treasury gets the payout's tokens, signs and sends its transaction, and the
    payout is marked sent with the hash."""
    await chain.mint(anvil.token, TREASURY.address, int(payout.amount_base_units))
    tx_hash = await sign_and_send(chain, TREASURY, payout.unsigned_tx, mine=mine)
    await mark_sent(db, payout.id, tx_hash)
    return tx_hash


async def owed_to_seller(db: Database, payout: Payout) -> Decimal:
    async with db.session(False) as session:
        payment = await session.get_one(Payment, payout.payment_id)
        asset = ledger.asset_of(payment)
        return await ledger.owed(session, "seller_payable", payout.recipient_id, asset)


async def test_a_signed_payout_is_verified_and_done(
    db: Database,
    anvil: Anvil,
    chain: DevChain,
    chain_settings: Settings,
    make_deal: MakeDeal,
    deliver: Deliver,
) -> None:
    payout = await released_on_chain(db, chain_settings, make_deal, deliver, "250")
    units = int(payout.amount_base_units)
    before = await chain.balance(anvil.token, SELLER.address)
    assert await owed_to_seller(db, payout) != 0

    tx_hash = await sent_on_chain(db, chain, anvil, payout)
    counts = await payouts.verify_sent(db, chain_settings, utcnow())

    assert counts["done"] == 1
    row = await payout_row(db, payout.id)
    assert (row.status, row.tx_hash, row.confirmations) == ("done", tx_hash.lower(), 1)
    assert row.done_at is not None and row.failure_reason is None
    assert await chain.balance(anvil.token, SELLER.address) == before + units
    [posted] = await ledger_payouts(db, payout.payment_id)
    assert posted.idempotency_key == f"payout:{payout.id}"
    assert await owed_to_seller(db, payout) == 0
    # Done is final: another pass changes nothing and posts nothing more.
    assert await payouts.verify_sent(db, chain_settings, utcnow() + timedelta(hours=1)) == {
        "done": 0,
        "built": 0,
        "sent": 0,
    }
    assert len(await ledger_payouts(db, payout.payment_id)) == 1


async def test_a_wrong_amount_goes_back_to_built_and_the_right_one_is_done(
    db: Database,
    anvil: Anvil,
    chain: DevChain,
    chain_settings: Settings,
    make_deal: MakeDeal,
    deliver: Deliver,
) -> None:
    payout = await released_on_chain(db, chain_settings, make_deal, deliver, "40")
    units = int(payout.amount_base_units)
    await chain.mint(anvil.token, TREASURY.address, 3 * units)  # three transfers are sent
    short = {**payout.unsigned_tx, "data": transfer_calldata(SELLER.address, units - 1)}
    wrong = await sign_and_send(chain, TREASURY, short)
    await mark_sent(db, payout.id, wrong)
    assert (await payouts.verify_sent(db, chain_settings, utcnow()))["built"] == 1
    row = await payout_row(db, payout.id)
    assert (row.status, row.tx_hash) == ("built", None)
    assert row.failure_reason == (
        f"transaction {wrong.lower()} moved {units - 1} base units to {SELLER.address}, "
        f"the payout is {units}"
    )
    assert await ledger_payouts(db, payout.payment_id) == []

    # To another address: refused too.
    elsewhere = {**payout.unsigned_tx, "data": transfer_calldata(STRANGER.address, units)}
    await mark_sent(db, payout.id, await sign_and_send(chain, TREASURY, elsewhere))
    assert (await payouts.verify_sent(db, chain_settings, utcnow()))["built"] == 1
    assert "moved no USDC" in ((await payout_row(db, payout.id)).failure_reason or "")

    right = await sign_and_send(chain, TREASURY, payout.unsigned_tx)
    await mark_sent(db, payout.id, right)
    assert (await payouts.verify_sent(db, chain_settings, utcnow()))["done"] == 1
    assert (await payout_row(db, payout.id)).status == "done"
    assert len(await ledger_payouts(db, payout.payment_id)) == 1


async def test_a_reverted_transaction_goes_back_to_built(
    db: Database,
    anvil: Anvil,
    chain: DevChain,
    chain_settings: Settings,
    make_deal: MakeDeal,
    deliver: Deliver,
) -> None:
    payout = await released_on_chain(db, chain_settings, make_deal, deliver, "15")
    # Signed by an account without the tokens (anvil gives it gas money only): the
    # transfer reverts on chain.
    assert await chain.balance(anvil.token, PENNILESS.address) < int(payout.amount_base_units)
    reverted = await sign_and_send(chain, PENNILESS, payout.unsigned_tx)
    await mark_sent(db, payout.id, reverted)
    assert (await payouts.verify_sent(db, chain_settings, utcnow()))["built"] == 1
    row = await payout_row(db, payout.id)
    assert row.failure_reason == f"transaction {reverted.lower()} reverted"
    assert row.status == "built" and await ledger_payouts(db, payout.payment_id) == []


async def test_not_mined_or_not_confirmed_enough_stays_sent_until_it_is(
    db: Database,
    anvil: Anvil,
    chain: DevChain,
    chain_settings: Settings,
    make_deal: MakeDeal,
    deliver: Deliver,
) -> None:
    payout = await released_on_chain(db, chain_settings, make_deal, deliver, "12")
    async with db.transaction() as session:  # an admin asks for 3 confirmations on anvil
        session.add(
            ConfirmationThreshold(
                chain_id=CHAIN_ID, currency="USDC", confirmations=3, updated_at=utcnow()
            )
        )
    await sent_on_chain(db, chain, anvil, payout, mine=False)
    now = utcnow()
    assert (await payouts.verify_sent(db, chain_settings, now))["sent"] == 1
    row = await payout_row(db, payout.id)
    assert (row.status, row.checks, row.confirmations) == ("sent", 1, 0)
    assert row.next_check_at is not None and row.next_check_at > now
    # Not due yet: the same moment takes nothing.
    assert (await payouts.verify_sent(db, chain_settings, now))["sent"] == 0

    await chain.mine()
    later = now + payouts.RECHECK
    assert (await payouts.verify_sent(db, chain_settings, later))["sent"] == 1
    assert (await payout_row(db, payout.id)).confirmations == 1
    await chain.mine(2)
    assert (await payouts.verify_sent(db, chain_settings, later + payouts.RECHECK))["done"] == 1
    row = await payout_row(db, payout.id)
    assert (row.status, row.confirmations, row.checks) == ("done", 3, 3)


async def test_a_node_that_is_down_leaves_the_payout_sent_for_later(
    db: Database,
    anvil: Anvil,
    chain: DevChain,
    settings: Settings,
    chain_settings: Settings,
    make_deal: MakeDeal,
    deliver: Deliver,
    dead_rpc_url: str,
) -> None:
    payout = await released_on_chain(db, chain_settings, make_deal, deliver, "9")
    await sent_on_chain(db, chain, anvil, payout)
    down = settings_for_chain(settings, anvil, rpc_urls={CHAIN_ID: dead_rpc_url})
    now = utcnow()
    assert (await payouts.verify_sent(db, down, now))["sent"] == 1
    row = await payout_row(db, payout.id)
    assert row.status == "sent" and row.next_check_at == now + payouts.RETRY_UNAVAILABLE
    # Once the node answers again, the next pass finishes it.
    later = now + payouts.RETRY_UNAVAILABLE
    assert (await payouts.verify_sent(db, chain_settings, later))["done"] == 1


async def test_concurrent_sweeps_and_a_stale_record_post_the_payout_once(
    db: Database,
    anvil: Anvil,
    chain: DevChain,
    chain_settings: Settings,
    make_deal: MakeDeal,
    deliver: Deliver,
) -> None:
    payout = await released_on_chain(db, chain_settings, make_deal, deliver, "33")
    tx_hash = await sent_on_chain(db, chain, anvil, payout)
    now = utcnow()
    # Three workers' sweeps at once: one claims the payout, the others find nothing due.
    passes = await asyncio.gather(*(payouts.verify_sent(db, chain_settings, now) for _ in range(3)))
    assert sum(p["done"] for p in passes) == 1
    assert sum(p["sent"] + p["built"] for p in passes) == 0

    # A worker whose claim ran out records what it saw after another finished: nothing.
    item = payouts.Claimed(
        id=payout.id,
        chain_id=CHAIN_ID,
        currency="USDC",
        tx_hash=tx_hash.lower(),
        token_contract=payout.token_contract,
        to_address=payout.to_address,
        units=int(payout.amount_base_units),
    )
    seen = await payouts.observe(chain_settings, item)
    async with db.transaction() as session:
        assert await payouts.record(session, item, seen, now=now, settings=chain_settings) is None
    assert len(await ledger_payouts(db, payout.payment_id)) == 1
    assert (await payout_row(db, payout.id)).status == "done"


async def test_the_worker_runs_the_verification_sweep(
    db: Database,
    anvil: Anvil,
    chain: DevChain,
    chain_settings: Settings,
    make_deal: MakeDeal,
    deliver: Deliver,
) -> None:
    payout = await released_on_chain(db, chain_settings, make_deal, deliver, "21")
    await sent_on_chain(db, chain, anvil, payout)
    worker = Worker(db, chain_settings, sweeps=["payouts.verify"], kinds=[])
    await worker.run_once(utcnow())
    assert (await payout_row(db, payout.id)).status == "done"


async def test_a_rejected_payments_refund_is_paid_back_on_chain(
    db: Database,
    anvil: Anvil,
    chain: DevChain,
    chain_settings: Settings,
    make_deal: MakeDeal,
    make_user: MakeUser,
) -> None:
    guard = await make_user(["guard"])
    deal = await make_deal(price="70", network=CHAIN_ID, payout_wallet=SELLER.address)
    strict = safety_settings(chain_settings, max_payment="50")
    assert (await fund_with(db, strict, deal.payment_id)).status == "awaiting_review"
    async with db.transaction() as session:
        user = await session.get_one(User, guard.id)
        await safety.reject(
            session,
            deal.payment_id,
            guard=user,
            reason="too large",
            now=utcnow(),
            settings=chain_settings,
        )
    [refund] = await payouts_of(db, deal.payment_id)
    assert (refund.kind, refund.to_address, refund.amount_base_units) == (
        "refund",
        BUYER_WALLET,
        "70000000",
    )
    await chain.mint(anvil.token, TREASURY.address, 70_000_000)
    before = await chain.balance(anvil.token, BUYER_WALLET)
    await mark_sent(db, refund.id, await sign_and_send(chain, TREASURY, refund.unsigned_tx))
    assert (await payouts.verify_sent(db, chain_settings, utcnow()))["done"] == 1
    assert await chain.balance(anvil.token, BUYER_WALLET) == before + 70_000_000
    async with db.session(False) as session:
        payment = await session.get_one(Payment, deal.payment_id)
        owed = await ledger.owed(
            session, "buyer_refundable", deal.buyer.id, ledger.asset_of(payment)
        )
    assert owed == 0 and len(await ledger_payouts(db, deal.payment_id)) == 1
