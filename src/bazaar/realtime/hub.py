"""How this process sends a live event: through its own Socket.IO server when it serves
one (the API, or a worker running inside it), else through Redis to the servers that do
(a standalone worker with `REDIS_URI`), else not at all (no socket can be listening)."""

from __future__ import annotations

from typing import Any

import socketio

from bazaar.config import Settings
from bazaar.realtime.outbox import Sender

_local: list[Sender] = []
_remote: dict[str, Any] = {}


def serving(send: Sender) -> None:
    _local.append(send)


def stopped(send: Sender) -> None:
    if send in _local:
        _local.remove(send)


def sender_for(settings: Settings) -> Sender | None:
    if _local:
        return _local[-1]
    if not settings.redis_uri:
        return None
    key = f"{settings.redis_uri}|{settings.realtime_channel}"
    manager = _remote.get(key)
    if manager is None:
        manager = socketio.AsyncRedisManager(
            settings.redis_uri, channel=settings.realtime_channel, write_only=True
        )
        _remote[key] = manager

    async def send(room: str, event: str, data: Any) -> None:
        await manager.emit(event, data, room=room, namespace="/")

    return send
