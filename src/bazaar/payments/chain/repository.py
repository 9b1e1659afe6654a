"""Queries of chain transfers (the inbox of chain observations) and the payment rows the
on-chain provider reads."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.models import ChainTransfer, Payment, Payout, PurchaseRequest

SUBMITTED = "submitted"
CONFIRMING = "confirming"
CONFIRMED = "confirmed"
FAILED = "failed"
OPEN = (SUBMITTED, CONFIRMING)


async def payment_unscoped(session: AsyncSession, payment_id: uuid.UUID) -> Payment | None:
    """For the verification pass and jobs, which act for no viewer."""
    stmt = sa.select(Payment).where(Payment.id == payment_id)
    stmt = stmt.execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_request_of(session: AsyncSession, payment: Payment) -> None:
    """Lock the payment's purchase request first: the lock order of every flow that holds
    both (the request, then its payment), so crediting cannot deadlock with an accept or a
    cancel on PostgreSQL."""
    stmt = sa.select(PurchaseRequest.id).where(PurchaseRequest.id == payment.request_id)
    await session.execute(stmt.with_for_update())


async def by_hash(session: AsyncSession, chain_id: int, tx_hash: str) -> ChainTransfer | None:
    stmt = sa.select(ChainTransfer).where(
        ChainTransfer.chain_id == chain_id, ChainTransfer.tx_hash == tx_hash
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def is_payout_hash(session: AsyncSession, chain_id: int, tx_hash: str) -> bool:
    """A payout (money out of escrow) was sent with this transaction."""
    stmt = sa.select(
        sa.exists().where(Payout.chain_id == chain_id, sa.func.lower(Payout.tx_hash) == tx_hash)
    )
    return bool((await session.execute(stmt)).scalar())


async def of_payment(session: AsyncSession, payment_id: uuid.UUID) -> list[ChainTransfer]:
    stmt = (
        sa.select(ChainTransfer)
        .where(ChainTransfer.payment_id == payment_id)
        .order_by(ChainTransfer.created_at, ChainTransfer.id)
    )
    return list((await session.execute(stmt)).scalars())


async def open_of_payment(session: AsyncSession, payment_id: uuid.UUID) -> list[ChainTransfer]:
    stmt = (
        sa.select(ChainTransfer)
        .where(
            ChainTransfer.payment_id == payment_id,
            ChainTransfer.status.in_(OPEN),
            ChainTransfer.credited.is_(False),
        )
        .order_by(ChainTransfer.created_at, ChainTransfer.id)
    )
    return list((await session.execute(stmt)).scalars())


async def transfer_locked(session: AsyncSession, transfer_id: uuid.UUID) -> ChainTransfer | None:
    stmt = (
        sa.select(ChainTransfer)
        .where(ChainTransfer.id == transfer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def others_confirming(
    session: AsyncSession, payment_id: uuid.UUID, except_id: uuid.UUID
) -> bool:
    stmt = sa.select(
        sa.exists().where(
            ChainTransfer.payment_id == payment_id,
            ChainTransfer.id != except_id,
            ChainTransfer.status == CONFIRMING,
        )
    )
    return bool((await session.execute(stmt)).scalar())


async def claim_due(
    session: AsyncSession, now: datetime, until: datetime, limit: int, backend: str
) -> list[tuple[uuid.UUID, int]]:
    """(payment, chain) of each payment with an open transfer due for a check; those
    transfers are leased until `until` so another worker's pass skips them (PostgreSQL:
    SKIP LOCKED)."""
    due = sa.or_(ChainTransfer.next_check_at.is_(None), ChainTransfer.next_check_at <= now)
    stmt = (
        sa.select(ChainTransfer.id, ChainTransfer.payment_id, ChainTransfer.chain_id)
        .where(ChainTransfer.status.in_(OPEN), ChainTransfer.credited.is_(False), due)
        .order_by(ChainTransfer.next_check_at.is_not(None), ChainTransfer.next_check_at)
        .limit(limit)
    )
    if backend == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = (await session.execute(stmt)).all()
    if not rows:
        return []
    await session.execute(
        sa.update(ChainTransfer)
        .where(ChainTransfer.id.in_([r.id for r in rows]))
        .values(next_check_at=until)
    )
    return list(dict.fromkeys((r.payment_id, r.chain_id) for r in rows))


async def bump_unavailable(
    session: AsyncSession, transfer_ids: Collection[uuid.UUID], retry_at: datetime, now: datetime
) -> None:
    """Count a failed try (node down or slow) and schedule the next one; nothing else."""
    if not transfer_ids:
        return
    await session.execute(
        sa.update(ChainTransfer)
        .where(ChainTransfer.id.in_(list(transfer_ids)), ChainTransfer.status.in_(OPEN))
        .values(attempts=ChainTransfer.attempts + 1, next_check_at=retry_at, updated_at=now)
    )
