"""The socket sink: `notification:new` to the user's room (`user:<id>`), sent by the
realtime layer right after commit (or by its worker job if the process is gone)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.jobs import REALTIME_TTL, enqueue
from bazaar.notifications.sinks.base import Delivery, Sink

EVENT = "notification:new"
REALTIME_JOB = "realtime.emit"


def user_room(user_id: object) -> str:
    return f"user:{user_id}"


async def _emit(session: AsyncSession, room: str, event: str, data: dict[str, Any]) -> None:
    try:
        from bazaar.realtime import events
    except ImportError:  # the realtime layer not installed: queue the job kind it handles
        payload = {"room": room, "event": event, "data": data}
        await enqueue(session, REALTIME_JOB, payload, expires_in=REALTIME_TTL)
        return
    await events.emit(session, room, event, data)


class SocketSink(Sink):
    name = "socket"
    channel = "inApp"

    async def queue(self, session: AsyncSession, delivery: Delivery) -> Delivery:
        data = {
            "id": str(delivery.notification_id) if delivery.notification_id else None,
            "type": delivery.type,
            "title": delivery.title,
            "body": delivery.body,
            "data": delivery.data,
            "locale": delivery.locale,
        }
        await _emit(session, user_room(delivery.user.id), EVENT, data)
        return delivery
