"""Helpers for the realtime tests: a live Bazaar server (uvicorn subprocess) on the suite's
database, and Socket.IO clients that collect what they receive."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import socketio

from bazaar.config import Settings
from tests.ops.helpers import Server, served

UNLIMITED = "1000000/15 minutes"


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        "DATA_DIR": str(settings.data_dir),
        "JWT_SECRET": settings.jwt_secret,
        "RATE_LIMIT_GLOBAL": UNLIMITED,
        "RATE_LIMIT_AUTH": UNLIMITED,
        "LOG_LEVEL": "WARNING",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST": "1024",
    }
    if settings.pg_url:
        env["PG_URL"] = settings.pg_url
    if settings.redis_uri:
        env["REDIS_URI"] = settings.redis_uri
    env.update(extra)
    return env


@contextlib.asynccontextmanager
async def live_server(settings: Settings, workdir: Path, **extra: str) -> AsyncIterator[Server]:
    async with served(server_env(settings, **extra), workdir) as server:
        yield server


class Listener:
    """A Socket.IO client that queues every event it receives."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.disconnected = asyncio.Event()
        self.refusal: Any = None  # the server's connect_error data
        self.sio.on("connect_error", self._refused)
        self.sio.on("*", self._any)
        self.sio.on("disconnect", self._gone)

    async def _any(self, event: str, data: Any = None) -> None:
        await self.received.put((event, data))

    async def _refused(self, data: Any = None) -> None:
        self.refusal = data

    async def _gone(self, *args: Any) -> None:
        self.disconnected.set()

    async def connect(self, url: str, token: str | None) -> None:
        auth = {"token": token} if token is not None else None
        await self.sio.connect(url, auth=auth, transports=["websocket"], wait_timeout=10)

    async def join(self, room: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self.sio.call("join", {"room": room}, timeout=10)
        return answer

    async def leave(self, room: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self.sio.call("leave", {"room": room}, timeout=10)
        return answer

    async def next(self, seconds: float = 10) -> tuple[str, Any]:
        return await asyncio.wait_for(self.received.get(), seconds)

    async def close(self) -> None:
        await self.sio.disconnect()


@contextlib.asynccontextmanager
async def listening(url: str, token: str) -> AsyncIterator[Listener]:
    listener = Listener()
    await listener.connect(url, token)
    try:
        yield listener
    finally:
        await listener.close()
