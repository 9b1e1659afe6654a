"""Queue a live event; it is sent only once the transaction that queued it commits.

`emit(session, room, event, data)` adds a `realtime.emit` job (payload `{room, event,
data}`, expiring after `ttl`, `REALTIME_TTL` by default). The process that commits it sends
it at once and marks the job done (`realtime.outbox`); the worker's handler
(`realtime.jobs`) sends only what a crash left behind, and never after the expiry.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.jobs import REALTIME_TTL, enqueue

REALTIME_JOB = "realtime.emit"


def user_room(user_id: uuid.UUID | str) -> str:
    return f"user:{user_id}"


def conversation_room(conversation_id: uuid.UUID | str) -> str:
    return f"conversation:{conversation_id}"


def request_room(request_id: uuid.UUID | str) -> str:
    return f"request:{request_id}"


def payment_room(payment_id: uuid.UUID | str) -> str:
    return f"payment:{payment_id}"


ADMIN_ROOM = "admin"


async def emit(
    session: AsyncSession,
    room: str,
    event: str,
    data: dict[str, Any],
    *,
    ttl: timedelta | None = None,
) -> None:
    """Queue `event` with `data` for the sockets in `room`, sent after commit."""
    payload = {"room": room, "event": event, "data": data}
    await enqueue(session, REALTIME_JOB, payload, expires_in=ttl or REALTIME_TTL)
