"""Request and response models of `/api/notification`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from bazaar.kit.schemas import Schema


class NotificationOut(Schema):
    id: uuid.UUID
    type: str
    title: str
    body: str
    data: dict[str, Any]
    locale: str
    read: bool
    read_at: datetime | None
    created_at: datetime


class UnreadCount(Schema):
    unread: int


class MarkedRead(Schema):
    marked: int


class NotificationDeleted(Schema):
    id: uuid.UUID


class DeliveryOut(Schema):
    """One delivery of a notification to a sink (a `notification.send` job)."""

    id: uuid.UUID
    sink: str
    type: str | None
    user_id: str | None
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
