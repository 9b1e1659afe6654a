"""Every seller offer query."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.pagination import PageParams, paginate
from bazaar.kit.repository import find_by_ref
from bazaar.models import PurchaseRequest, SellerOffer
from bazaar.models.marketplace import LIVE_OFFER_STATUSES

PENDING = "pending"


async def get(
    session: AsyncSession, ref: str | uuid.UUID, *, lock: bool = False
) -> SellerOffer | None:
    """An offer by UUID or legacy id; `lock` takes the row and reloads it."""
    return await find_by_ref(session, SellerOffer, ref, lock=lock)


async def live_offer(
    session: AsyncSession, request_id: uuid.UUID, seller_id: uuid.UUID
) -> SellerOffer | None:
    stmt = sa.select(SellerOffer).where(
        SellerOffer.request_id == request_id,
        SellerOffer.seller_id == seller_id,
        SellerOffer.status.in_(LIVE_OFFER_STATUSES),
    )
    return (await session.execute(stmt)).scalars().first()


def _newest_first(stmt: sa.Select[Any]) -> sa.Select[Any]:
    return stmt.order_by(SellerOffer.created_at.desc(), SellerOffer.id.desc())


async def list_by_seller(
    session: AsyncSession, seller_id: uuid.UUID, status: str | None, params: PageParams
) -> tuple[list[SellerOffer], int]:
    stmt = sa.select(SellerOffer).where(SellerOffer.seller_id == seller_id)
    if status is not None:
        stmt = stmt.where(SellerOffer.status == status)
    return await paginate(session, _newest_first(stmt), params)


async def list_by_request(
    session: AsyncSession,
    request_id: uuid.UUID,
    seller_id: uuid.UUID | None,
    status: str | None,
    params: PageParams,
) -> tuple[list[SellerOffer], int]:
    stmt = sa.select(SellerOffer).where(SellerOffer.request_id == request_id)
    if seller_id is not None:
        stmt = stmt.where(SellerOffer.seller_id == seller_id)
    if status is not None:
        stmt = stmt.where(SellerOffer.status == status)
    return await paginate(session, _newest_first(stmt), params)


async def request_labels(
    session: AsyncSession, request_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, str]]:
    """Title and status of each request, in one query."""
    if not request_ids:
        return {}
    stmt = sa.select(PurchaseRequest.id, PurchaseRequest.title, PurchaseRequest.status).where(
        PurchaseRequest.id.in_(list(request_ids))
    )
    return {row[0]: (row[1], row[2]) for row in (await session.execute(stmt)).all()}


async def due_to_expire(session: AsyncSession, now: datetime, limit: int) -> list[uuid.UUID]:
    """Pending offers past their expiry, claimed (SKIP LOCKED on PostgreSQL)."""
    stmt = (
        sa.select(SellerOffer.id)
        .where(SellerOffer.status == PENDING, SellerOffer.expires_at <= now)
        .order_by(SellerOffer.expires_at, SellerOffer.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(stmt)).scalars())


async def expire(
    session: AsyncSession, offer_ids: list[uuid.UUID], now: datetime
) -> list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]]:
    """pending → expired for those still pending: (offer id, seller id, request id)s.

    The status condition makes a second sweep that raced the first change nothing.
    """
    if not offer_ids:
        return []
    stmt = (
        sa.update(SellerOffer)
        .where(SellerOffer.id.in_(offer_ids), SellerOffer.status == PENDING)
        .values(status="expired", updated_at=now)
        .returning(SellerOffer.id, SellerOffer.seller_id, SellerOffer.request_id)
    )
    return [(row[0], row[1], row[2]) for row in (await session.execute(stmt)).all()]
