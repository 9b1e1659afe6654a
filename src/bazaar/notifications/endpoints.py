"""`/api/notification`: the signed-in user's in-app notifications.

Only your own notifications exist for you: anyone else's id answers 404 like a missing one.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from bazaar.auth.dependencies import CurrentUser
from bazaar.kit.deps import ReadSession, WriteSession
from bazaar.kit.openapi import errors
from bazaar.kit.pagination import Page, Pagination
from bazaar.kit.schemas import Envelope
from bazaar.models.notifications import Notification
from bazaar.notifications import service
from bazaar.notifications.errors import NotificationNotFound
from bazaar.notifications.schemas import (
    MarkedRead,
    NotificationDeleted,
    NotificationOut,
    UnreadCount,
)

router = APIRouter()


def _id(ref: str) -> uuid.UUID:
    try:
        return uuid.UUID(ref)
    except ValueError:
        raise NotificationNotFound() from None


def _out(row: Notification) -> NotificationOut:
    return NotificationOut(
        id=row.id,
        type=row.type,
        title=row.title,
        body=row.body,
        data=row.data or {},
        locale=row.locale,
        read=row.read_at is not None,
        read_at=row.read_at,
        created_at=row.created_at,
    )


@router.get("", response_model=Envelope[Page[NotificationOut]])
async def list_notifications(
    user: CurrentUser,
    session: ReadSession,
    params: Pagination,
    unread: Annotated[
        bool | None,
        Query(description="true: only unread; false: only read; absent: all"),
    ] = None,
) -> Envelope[Page[NotificationOut]]:
    """Your notifications, newest first."""
    rows, total = await service.list_notifications(session, user, params, unread)
    return Envelope(data=Page[NotificationOut].build([_out(r) for r in rows], total, params))


@router.get("/unread-count", response_model=Envelope[UnreadCount])
async def unread_count(user: CurrentUser, session: ReadSession) -> Envelope[UnreadCount]:
    """How many of your notifications are unread."""
    return Envelope(data=UnreadCount(unread=await service.unread_count(session, user)))


@router.post("/read-all", response_model=Envelope[MarkedRead])
async def mark_all_read(user: CurrentUser, session: WriteSession) -> Envelope[MarkedRead]:
    """Mark every unread notification of yours read; `marked` says how many changed."""
    return Envelope(data=MarkedRead(marked=await service.mark_all_read(session, user)))


@router.get(
    "/{notification_id}",
    response_model=Envelope[NotificationOut],
    responses=errors(NotificationNotFound),
)
async def get_notification(
    notification_id: str, user: CurrentUser, session: ReadSession
) -> Envelope[NotificationOut]:
    """One of your notifications."""
    row = await service.get_notification(session, user, _id(notification_id))
    return Envelope(data=_out(row))


@router.post(
    "/{notification_id}/read",
    response_model=Envelope[NotificationOut],
    responses=errors(NotificationNotFound),
)
async def mark_read(
    notification_id: str, user: CurrentUser, session: WriteSession
) -> Envelope[NotificationOut]:
    """Mark one of your notifications read (again is fine: it stays read)."""
    row = await service.mark_read(session, user, _id(notification_id))
    return Envelope(data=_out(row))


@router.delete(
    "/{notification_id}",
    response_model=Envelope[NotificationDeleted],
    responses=errors(NotificationNotFound),
)
async def delete_notification(
    notification_id: str, user: CurrentUser, session: WriteSession
) -> Envelope[NotificationDeleted]:
    """Delete one of your notifications."""
    deleted = await service.delete_notification(session, user, _id(notification_id))
    return Envelope(data=NotificationDeleted(id=deleted))
