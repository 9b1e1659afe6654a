"""Payout queries (admin code and the verification sweep: no viewer scoping; admin routes
are guarded by the role)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.pagination import PageParams, paginate
from bazaar.models import ChainTransfer, Payout

SENT = "sent"


async def by_ledger_transaction(
    session: AsyncSession, ledger_transaction_id: uuid.UUID, kind: str
) -> Payout | None:
    stmt = sa.select(Payout).where(
        Payout.ledger_transaction_id == ledger_transaction_id, Payout.kind == kind
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_unscoped(
    session: AsyncSession, payout_id: uuid.UUID, *, lock: bool = False
) -> Payout | None:
    stmt = sa.select(Payout).where(Payout.id == payout_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def search(
    session: AsyncSession,
    params: PageParams,
    *,
    status: str | None,
    payment_id: uuid.UUID | None,
    kind: str | None,
) -> tuple[list[Payout], int]:
    stmt = sa.select(Payout)
    if status:
        stmt = stmt.where(Payout.status == status)
    if payment_id:
        stmt = stmt.where(Payout.payment_id == payment_id)
    if kind:
        stmt = stmt.where(Payout.kind == kind)
    stmt = stmt.order_by(Payout.created_at.desc(), Payout.id)
    return await paginate(session, stmt, params)


async def tx_hash_taken(
    session: AsyncSession, chain_id: int, tx_hash: str, payout_id: uuid.UUID
) -> bool:
    """The hash is another payout's, or a funding transfer's on the same chain."""
    other = sa.select(Payout.id).where(Payout.tx_hash == tx_hash, Payout.id != payout_id)
    funding = sa.select(ChainTransfer.id).where(
        ChainTransfer.chain_id == chain_id, sa.func.lower(ChainTransfer.tx_hash) == tx_hash
    )
    found = await session.execute(sa.union_all(other, funding).limit(1))
    return found.first() is not None


async def claim_due(
    session: AsyncSession, now: datetime, until: datetime, limit: int
) -> list[Payout]:
    """Sent payouts due for a check, claimed until `until` (no other sweep takes them
    meanwhile; on PostgreSQL rows another sweep holds are skipped)."""
    stmt: Any = (
        sa.select(Payout)
        .where(
            Payout.status == SENT,
            sa.or_(Payout.next_check_at.is_(None), Payout.next_check_at <= now),
        )
        .order_by(Payout.sent_at, Payout.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = list((await session.execute(stmt)).scalars())
    for row in rows:
        row.next_check_at = until
    await session.flush()
    return rows
