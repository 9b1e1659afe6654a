"""Notifications: business code calls `notify`, which leaves a durable job.

The `notification.deliver` job (notifications/jobs.py) then renders it in the user's
language and hands it to the sinks the user wants (notifications/sinks/). The in-app rows
are read and changed here for `/api/notification`.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit import jobs
from bazaar.kit.db import utcnow
from bazaar.kit.jobs import enqueue
from bazaar.kit.pagination import PageParams, paginate
from bazaar.kit.tables import Job
from bazaar.models import User
from bazaar.models.notifications import Notification
from bazaar.notifications import repository, templates
from bazaar.notifications.errors import DeliveryNotDead, DeliveryNotFound, NotificationNotFound

log = structlog.get_logger("bazaar.notifications")

NOTIFICATION_JOB = "notification.deliver"
SEND_JOB = "notification.send"


async def notify(
    session: AsyncSession,
    user_id: uuid.UUID,
    type: str,
    data: dict[str, Any] | None = None,
) -> Job:
    """Queue a typed notification (e.g. `offer.received`, see registry.py) for one user."""
    return await enqueue(
        session,
        NOTIFICATION_JOB,
        {"userId": str(user_id), "type": type, "data": data or {}},
    )


async def deliver(session: AsyncSession, job_id: uuid.UUID, payload: dict[str, Any]) -> None:
    """Render the notification of a `notification.deliver` job and queue it to each sink
    the user wants (inside the job's transaction; no network I/O here)."""
    from bazaar.notifications.sinks import SINKS, Delivery
    from bazaar.users.preferences import channel_enabled, effective_preferences

    try:
        user_id = uuid.UUID(str(payload.get("userId")))
    except ValueError:
        log.warning("notification_dropped", reason="bad userId", job=str(job_id))
        return
    type_ = str(payload.get("type") or "")
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    user = await session.get(User, user_id)
    if user is None:
        log.info("notification_dropped", reason="no such user", type=type_)
        return
    language = effective_preferences(user.preferences, user.locale or "en")["language"]
    rendered = templates.render(type_, data or {}, language)
    delivery = Delivery(
        job_id=job_id,
        user=user,
        type=type_,
        data=data or {},
        locale=rendered.locale,
        title=rendered.title,
        body=rendered.body,
    )
    for sink in SINKS:
        if channel_enabled(user.preferences, type_, sink.channel):
            delivery = await sink.queue(session, delivery)


# -- in-app rows ------------------------------------------------------------------------


async def list_notifications(
    session: AsyncSession, viewer: User, params: PageParams, unread: bool | None
) -> tuple[list[Notification], int]:
    return await repository.list_readable(session, viewer, params, unread=unread)


async def unread_count(session: AsyncSession, viewer: User) -> int:
    return await repository.unread_count(session, viewer)


async def get_notification(
    session: AsyncSession, viewer: User, notification_id: uuid.UUID
) -> Notification:
    row = await repository.get_readable(session, viewer, notification_id)
    if row is None:
        raise NotificationNotFound()
    return row


async def mark_read(
    session: AsyncSession, viewer: User, notification_id: uuid.UUID
) -> Notification:
    row = await get_notification(session, viewer, notification_id)
    if row.read_at is None:
        row.read_at = utcnow()
        await session.flush()
    return row


async def mark_all_read(session: AsyncSession, viewer: User) -> int:
    return await repository.mark_all_read(session, viewer, utcnow())


async def delete_notification(
    session: AsyncSession, viewer: User, notification_id: uuid.UUID
) -> uuid.UUID:
    row = await get_notification(session, viewer, notification_id)
    await session.delete(row)
    await session.flush()
    return notification_id


# -- deliveries (admin) -----------------------------------------------------------------


def _deliveries() -> sa.Select[Any]:
    return sa.select(Job).where(Job.kind == SEND_JOB)


async def list_deliveries(
    session: AsyncSession, params: PageParams, status: str
) -> tuple[list[Job], int]:
    stmt = _deliveries().where(Job.status == status).order_by(Job.created_at.desc(), Job.id)
    return await paginate(session, stmt, params)


async def rerun_delivery(session: AsyncSession, job_id: uuid.UUID) -> Job:
    """Queue a dead delivery again: fresh attempts, due now."""
    job = (
        await session.execute(_deliveries().where(Job.id == job_id).with_for_update())
    ).scalar_one_or_none()
    if job is None:
        raise DeliveryNotFound()
    if job.status != jobs.DEAD:
        raise DeliveryNotDead()
    job.status = jobs.PENDING
    job.attempts = 0
    job.run_at = utcnow()
    job.finished_at = None
    job.locked_by = None
    job.locked_until = None
    await session.flush()
    return job
