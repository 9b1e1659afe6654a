"""Every seller offer query.

Who may see an offer is decided in SQL by `readable_statement(viewer)`: its seller, the
buyer of its request and admins. `get_unscoped` is for the timers and for flows that
already decided (re-reading an offer under a lock).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.pagination import PageParams, paginate
from bazaar.kit.repository import find_by_ref
from bazaar.models import PurchaseRequest, SellerOffer, User
from bazaar.models.marketplace import LIVE_OFFER_STATUSES

PENDING = "pending"


def readable_statement(viewer: User | None) -> sa.Select[SellerOffer]:
    """The offers `viewer` may see: their own, those on their requests, all for admins."""
    stmt = sa.select(SellerOffer)
    if viewer is None:
        return stmt.where(sa.false())
    if viewer.has_role("admin"):
        return stmt
    on_own_request = sa.exists().where(
        PurchaseRequest.id == SellerOffer.request_id, PurchaseRequest.buyer_id == viewer.id
    )
    return stmt.where(sa.or_(SellerOffer.seller_id == viewer.id, on_own_request))


async def get_readable(
    session: AsyncSession, ref: str | uuid.UUID, viewer: User, *, lock: bool = False
) -> SellerOffer | None:
    """An offer by UUID or legacy id if `viewer` may see it; `lock` takes the row and
    reloads it."""
    return await find_by_ref(session, readable_statement(viewer), SellerOffer, ref, lock=lock)


async def get_unscoped(
    session: AsyncSession, ref: str | uuid.UUID, *, lock: bool = False
) -> SellerOffer | None:
    """An offer whoever may see it; `lock` takes the row and reloads it."""
    return await find_by_ref(session, sa.select(SellerOffer), SellerOffer, ref, lock=lock)


async def seller_account(session: AsyncSession, seller_id: uuid.UUID) -> User | None:
    """The offer's seller, under a shared row lock (PostgreSQL) until the transaction ends:
    a ban or role change waits for the accept that checked the account."""
    stmt = (
        sa.select(User)
        .where(User.id == seller_id)
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


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


async def list_readable(
    session: AsyncSession,
    viewer: User,
    params: PageParams,
    *,
    seller_id: uuid.UUID | None = None,
    request_id: uuid.UUID | None = None,
    status: str | None = None,
) -> tuple[list[SellerOffer], int]:
    """A page of the offers `viewer` may see, newest first: one seller's, or one request's
    (all of them for its buyer and admins, a seller's own for that seller)."""
    stmt = readable_statement(viewer)
    if seller_id is not None:
        stmt = stmt.where(SellerOffer.seller_id == seller_id)
    if request_id is not None:
        stmt = stmt.where(SellerOffer.request_id == request_id)
    if status is not None:
        stmt = stmt.where(SellerOffer.status == status)
    return await paginate(session, _newest_first(stmt), params)


async def request_labels(
    session: AsyncSession, request_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, str]]:
    """Title and status of each request, in one query (for a seller's own offers, whose
    requests they may see)."""
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
    session: AsyncSession, offer_id: uuid.UUID, now: datetime
) -> tuple[uuid.UUID, uuid.UUID] | None:
    """pending → expired if it still is: (seller id, request id), else None.

    The status condition makes a second sweep that raced the first change nothing.
    """
    stmt = (
        sa.update(SellerOffer)
        .where(SellerOffer.id == offer_id, SellerOffer.status == PENDING)
        .values(status="expired", updated_at=now)
        .returning(SellerOffer.seller_id, SellerOffer.request_id)
    )
    row = (await session.execute(stmt)).first()
    return None if row is None else (row[0], row[1])
