"""Helpers shared by the chain tests (this module holds no tests)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import sqlalchemy as sa

from bazaar.kit.db import Database
from bazaar.models import ChainTransfer, LedgerTransaction, Payment, PaymentEvent, PurchaseRequest
from bazaar.payments import ledger
from tests.fixtures.users import Account

DECENTRALIZED = "/api/payment/decentralized"


def base_units(amount: str | Decimal, decimals: int = 6) -> int:
    return int(Decimal(str(amount)).scaleb(decimals))


async def save(
    client: httpx.AsyncClient,
    who: Account,
    payment_id: uuid.UUID,
    tx_hash: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> httpx.Response:
    body = {"paymentId": str(payment_id), "txHash": tx_hash, **extra}
    return await client.post(
        f"{DECENTRALIZED}/save", json=body, headers={**who.headers, **(headers or {})}
    )


async def saved(
    client: httpx.AsyncClient, who: Account, payment_id: uuid.UUID, tx_hash: str, **extra: Any
) -> dict[str, Any]:
    answer = await save(client, who, payment_id, tx_hash, **extra)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


async def verify(client: httpx.AsyncClient, who: Account, payment_id: uuid.UUID) -> httpx.Response:
    return await client.post(
        f"{DECENTRALIZED}/verify", json={"paymentId": str(payment_id)}, headers=who.headers
    )


async def verified(
    client: httpx.AsyncClient, who: Account, payment_id: uuid.UUID
) -> dict[str, Any]:
    answer = await verify(client, who, payment_id)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


async def payment_row(db: Database, payment_id: uuid.UUID) -> Payment:
    async with db.session(False) as session:
        return await session.get_one(Payment, payment_id, populate_existing=True)


async def request_status(db: Database, request_id: uuid.UUID) -> str:
    async with db.session(False) as session:
        request = await session.get_one(PurchaseRequest, request_id, populate_existing=True)
        return request.status


async def transfer_rows(db: Database, payment_id: uuid.UUID) -> list[ChainTransfer]:
    async with db.session(False) as session:
        stmt = (
            sa.select(ChainTransfer)
            .where(ChainTransfer.payment_id == payment_id)
            .order_by(ChainTransfer.created_at, ChainTransfer.id)
        )
        return list((await session.execute(stmt)).scalars())


async def held(db: Database, payment_id: uuid.UUID) -> Decimal:
    async with db.session(False) as session:
        payment = await session.get_one(Payment, payment_id, populate_existing=True)
        return await ledger.held(session, payment)


async def ledger_transactions(db: Database, payment_id: uuid.UUID) -> list[LedgerTransaction]:
    async with db.session(False) as session:
        stmt = (
            sa.select(LedgerTransaction)
            .where(LedgerTransaction.payment_id == payment_id)
            .order_by(LedgerTransaction.created_at)
        )
        return list((await session.execute(stmt)).scalars())


async def events(db: Database, payment_id: uuid.UUID) -> list[tuple[str | None, str, str]]:
    """The payment's moves as (from, to, cause), oldest first."""
    async with db.session(False) as session:
        stmt = (
            sa.select(PaymentEvent)
            .where(PaymentEvent.payment_id == payment_id)
            .order_by(PaymentEvent.created_at, PaymentEvent.id)
        )
        rows = (await session.execute(stmt)).scalars()
        return [(e.from_status, e.to_status, e.cause) for e in rows]
