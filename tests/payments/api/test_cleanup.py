"""`POST /api/admin/cleanup`: one provider's unfunded leftovers go (dry run first), and a
payment any money touched never does."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import sqlalchemy as sa

from bazaar.kit.db import Database, utcnow
from bazaar.marketplace import jobs as marketplace_jobs
from bazaar.models import ChainTransfer, LedgerTransaction, Payment, PurchaseRequest, SellerOffer
from tests.fixtures.payments import FundPayment, MakeDeal
from tests.fixtures.users import Account

URL = "/api/admin/cleanup"


async def set_provider(db: Database, payment_id: uuid.UUID, provider: str) -> None:
    async with db.transaction() as session:
        await session.execute(
            sa.update(Payment).where(Payment.id == payment_id).values(provider=provider)
        )


async def exists(db: Database, model: type, row_id: uuid.UUID) -> bool:
    async with db.session(False) as session:
        return await session.get(model, row_id) is not None


async def test_dry_run_lists_and_the_real_run_removes_only_untouched_leftovers(
    client: httpx.AsyncClient,
    db: Database,
    make_deal: MakeDeal,
    fund_payment: FundPayment,
    admin: Account,
    buyer: Account,
) -> None:
    # B: expired when its request lapsed back to open: the payment goes, the request stays.
    lapsed = await make_deal(price="6")
    await set_provider(db, lapsed.payment_id, "onchain")
    async with db.transaction() as session:
        later = utcnow() + timedelta(days=3)
        assert await marketplace_jobs.lapse_funding_windows(session, later) == 1
    # A: pending, never paid: the payment and its accepted request go.
    pending = await make_deal(price="5")
    await set_provider(db, pending.payment_id, "onchain")
    # C: funded through the ledger: never touched.
    funded = await make_deal(price="7")
    await set_provider(db, funded.payment_id, "onchain")
    await fund_payment(funded.payment_id)
    # D: a transfer was submitted for it (no ledger yet): kept.
    submitted = await make_deal(price="8")
    await set_provider(db, submitted.payment_id, "onchain")
    async with db.transaction() as session:
        now = utcnow()
        session.add(
            ChainTransfer(
                payment_id=submitted.payment_id,
                chain_id=8453,
                tx_hash="0x" + "ab" * 32,
                created_at=now,
                updated_at=now,
            )
        )
    # E: another provider's: kept.
    other = await make_deal(price="9")
    await set_provider(db, other.payment_id, "request_network")

    refused = await client.post(URL, json={"provider": "onchain"}, headers=buyer.headers)
    assert refused.status_code == 403

    dry = await client.post(URL, json={"provider": "onchain"}, headers=admin.headers)
    assert dry.status_code == 200, dry.text
    data = dry.json()["data"]
    assert data["dryRun"] is True
    assert set(data["paymentIds"]) == {str(pending.payment_id), str(lapsed.payment_id)}
    assert data["requestIds"] == [str(pending.request_id)]
    assert await exists(db, Payment, pending.payment_id)
    assert await exists(db, PurchaseRequest, pending.request_id)

    real = await client.post(
        URL, json={"provider": "onchain", "dryRun": False}, headers=admin.headers
    )
    assert real.status_code == 200, real.text
    assert real.json()["data"] == {**data, "dryRun": False}
    assert not await exists(db, Payment, pending.payment_id)
    assert not await exists(db, PurchaseRequest, pending.request_id)
    assert not await exists(db, SellerOffer, pending.offer_id)
    assert not await exists(db, Payment, lapsed.payment_id)
    assert await exists(db, PurchaseRequest, lapsed.request_id)
    for kept in (funded, submitted, other):
        assert await exists(db, Payment, kept.payment_id)
        assert await exists(db, PurchaseRequest, kept.request_id)
    async with db.session(False) as session:
        stmt = sa.select(sa.func.count()).select_from(LedgerTransaction)
        assert (await session.execute(stmt)).scalar_one() == 1  # C's fund, untouched

    again = await client.post(
        URL, json={"provider": "onchain", "dryRun": False}, headers=admin.headers
    )
    assert again.json()["data"]["paymentIds"] == []


async def test_an_unknown_provider_is_refused(client: httpx.AsyncClient, admin: Account) -> None:
    answer = await client.post(URL, json={"provider": "paypal"}, headers=admin.headers)
    assert answer.status_code == 400
