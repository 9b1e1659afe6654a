"""Queries of transaction safety: thresholds, the review queue, a buyer's recent funding."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.pagination import PageParams, paginate
from bazaar.models import (
    ConfirmationThreshold,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payment,
)

ESCROW_HELD = "escrow_held"
FUND = "fund"


async def threshold(session: AsyncSession, chain_id: int, currency: str) -> int | None:
    stmt = sa.select(ConfirmationThreshold.confirmations).where(
        ConfirmationThreshold.chain_id == chain_id,
        ConfirmationThreshold.currency == currency,
    )
    value = (await session.execute(stmt)).scalar_one_or_none()
    return None if value is None else int(value)


async def thresholds(session: AsyncSession) -> list[ConfirmationThreshold]:
    stmt = sa.select(ConfirmationThreshold).order_by(
        ConfirmationThreshold.chain_id, ConfirmationThreshold.currency
    )
    return list((await session.execute(stmt)).scalars())


async def upsert_threshold(
    session: AsyncSession,
    *,
    chain_id: int,
    currency: str,
    confirmations: int,
    updated_by: uuid.UUID,
    now: datetime,
) -> None:
    """Insert or replace one threshold: concurrent writers of the same (chain, token) never
    collide on the primary key; the last one wins."""
    backend = session.get_bind().dialect.name
    insert: Any = postgresql.insert if backend == "postgresql" else sqlite.insert
    values = {
        "chain_id": chain_id,
        "currency": currency,
        "confirmations": confirmations,
        "updated_by": updated_by,
        "updated_at": now,
    }
    stmt = insert(ConfirmationThreshold).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["chain_id", "currency"],
        set_={k: v for k, v in values.items() if k not in ("chain_id", "currency")},
    )
    await session.execute(stmt)


def _review_queue() -> sa.Select[Any]:
    return sa.select(Payment).where(Payment.status == "awaiting_review")


async def awaiting_review(
    session: AsyncSession, params: PageParams, currency: str | None
) -> tuple[list[Payment], int]:
    """The review queue, oldest first (the longest wait is decided first)."""
    stmt = _review_queue()
    if currency:
        stmt = stmt.where(Payment.currency == currency)
    stmt = stmt.order_by(Payment.updated_at, Payment.id)
    return await paginate(session, stmt, params)


async def get_payment_unscoped(session: AsyncSession, payment_id: uuid.UUID) -> Payment | None:
    """Guard/admin code only (the route's role is the scope)."""
    return await session.get(Payment, payment_id)


async def funded_since(
    session: AsyncSession,
    buyer_id: uuid.UUID,
    currency: str,
    since: datetime,
    *,
    exclude_payment_id: uuid.UUID,
) -> Decimal:
    """What the ledger took into escrow for the buyer's other payments in `currency` since
    `since`: the positive escrow entries of their fund transactions (summed in Python:
    exact on both databases, and a buyer's day is a handful of rows)."""
    stmt = (
        sa.select(LedgerEntry.amount)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .join(Payment, Payment.id == LedgerTransaction.payment_id)
        .where(
            LedgerTransaction.kind == FUND,
            LedgerTransaction.created_at >= since,
            LedgerAccount.kind == ESCROW_HELD,
            Payment.buyer_id == buyer_id,
            Payment.currency == currency,
            Payment.id != exclude_payment_id,
        )
    )
    amounts = (await session.execute(stmt)).scalars()
    return sum((a for a in amounts if a > 0), Decimal(0))
