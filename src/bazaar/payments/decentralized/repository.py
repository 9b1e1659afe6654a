"""The payment reads of on-chain pay-in, scoped to the payment's parties in the query."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.models import Payment


def _party(viewer_id: uuid.UUID) -> sa.ColumnElement[bool]:
    """The viewer is the payment's buyer or seller (everyone else: 404)."""
    return sa.or_(Payment.buyer_id == viewer_id, Payment.seller_id == viewer_id)


async def payment_of_party(
    session: AsyncSession, payment_id: uuid.UUID, viewer_id: uuid.UUID
) -> Payment | None:
    stmt = sa.select(Payment).where(Payment.id == payment_id, _party(viewer_id))
    stmt = stmt.execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def payment_of_buyer_locked(
    session: AsyncSession, payment_id: uuid.UUID, buyer_id: uuid.UUID
) -> Payment | None:
    """The payment if `buyer_id` is its buyer, locked and reloaded."""
    stmt = (
        sa.select(Payment)
        .where(Payment.id == payment_id, Payment.buyer_id == buyer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()
