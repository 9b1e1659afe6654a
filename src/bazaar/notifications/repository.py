"""Queries of in-app notifications, always scoped to the viewer in the statement."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.pagination import PageParams, paginate
from bazaar.models import User
from bazaar.models.notifications import Notification


def readable_statement(viewer: User) -> sa.Select[Any]:
    """The notifications `viewer` may read: their own."""
    return sa.select(Notification).where(Notification.user_id == viewer.id)


async def list_readable(
    session: AsyncSession, viewer: User, params: PageParams, *, unread: bool | None
) -> tuple[list[Notification], int]:
    stmt = readable_statement(viewer)
    if unread is True:
        stmt = stmt.where(Notification.read_at.is_(None))
    elif unread is False:
        stmt = stmt.where(Notification.read_at.is_not(None))
    stmt = stmt.order_by(Notification.created_at.desc(), Notification.id.desc())
    return await paginate(session, stmt, params)


async def get_readable(
    session: AsyncSession, viewer: User, notification_id: uuid.UUID
) -> Notification | None:
    stmt = readable_statement(viewer).where(Notification.id == notification_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def unread_count(session: AsyncSession, viewer: User) -> int:
    stmt = (
        sa.select(sa.func.count())
        .select_from(Notification)
        .where(Notification.user_id == viewer.id, Notification.read_at.is_(None))
    )
    return int((await session.execute(stmt)).scalar_one())


async def mark_all_read(session: AsyncSession, viewer: User, now: datetime) -> int:
    stmt = (
        sa.update(Notification)
        .where(Notification.user_id == viewer.id, Notification.read_at.is_(None))
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


async def by_source_job(session: AsyncSession, job_id: uuid.UUID) -> Notification | None:
    stmt = sa.select(Notification).where(Notification.source_job_id == job_id)
    return (await session.execute(stmt)).scalar_one_or_none()
