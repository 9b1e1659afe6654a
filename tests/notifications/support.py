"""Helpers: queue a notification as business code does, run the notification jobs."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from bazaar.kit.db import Database
from bazaar.kit.tables import Job
from bazaar.models.notifications import Notification
from bazaar.notifications.service import NOTIFICATION_JOB, SEND_JOB, notify
from bazaar.worker import Worker

REALTIME_JOB = "realtime.emit"
KINDS = {NOTIFICATION_JOB, SEND_JOB}


async def queue(db: Database, user_id: uuid.UUID, type_: str, data: dict[str, Any]) -> None:
    async with db.transaction() as session:
        await notify(session, user_id, type_, data)


async def jobs_of(db: Database, kind: str) -> list[Job]:
    async with db.reading() as session:
        stmt = sa.select(Job).where(Job.kind == kind).order_by(Job.created_at)
        return list((await session.execute(stmt)).scalars())


async def make_notification(client: httpx.AsyncClient, user_id: uuid.UUID) -> uuid.UUID:
    """An in-app notification for `user_id`, made as in production: `notify`, then the
    worker's deliver job; for tests that only have the app's client (the matrix)."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    state = transport.app.state  # type: ignore[attr-defined]
    db: Database = state.db
    await queue(db, user_id, "offer.received", {"title": "Matrix"})
    await Worker(db, state.settings, name="matrix", kinds=KINDS, sweeps=()).run_once()
    async with db.reading() as session:
        stmt = (
            sa.select(Notification.id)
            .where(Notification.user_id == user_id)
            .order_by(Notification.created_at.desc())
        )
        found = (await session.execute(stmt)).scalars().first()
    assert found is not None
    return found
