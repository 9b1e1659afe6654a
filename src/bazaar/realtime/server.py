"""The Socket.IO server: who may connect, which rooms they may join.

Connecting needs the access token in the handshake `auth` (`{"token": "<jwt>"}`), checked
as `auth/dependencies.py` checks a bearer token: signature and expiry, the user's token
version, the ban, and (for a token bound to a sign-in session) that the session is not
revoked. A refused handshake gets a `connect_error` whose `message` says why and whose
`data` is `{"code", "message"}`.

Every socket joins `user:<id>`. `join`/`leave` (payload `{"room": "<kind>:<id>"}`) answer
through the acknowledgement: `{"ok": true}` or `{"ok": false, "error": {"code",
"message"}}`. A room the user may not read is refused exactly like one that does not exist
(`NOT_FOUND`), so strangers learn nothing about it.

A socket lives no longer than its token: every `REALTIME_RECHECK_SECONDS` (and at once when
this process commits a ban, a token-version bump or a revoked sign-in session) the
connected sockets' tokens are checked again in two statements, and those that no longer
stand (expired, banned, logged out) are disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import socketio
import sqlalchemy as sa
import structlog

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.kit.errors import NotFound
from bazaar.kit.security import AccessClaims, decode_access_token
from bazaar.models import RefreshToken, User
from bazaar.realtime import events

log = structlog.get_logger("bazaar.realtime")

_SESSION_LIVE = (
    sa.exists()
    .where(
        RefreshToken.family_id == sa.bindparam("session_id"),
        RefreshToken.revoked_at.is_(None),
    )
    .label("live")
)


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str

    def data(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


BAD_TOKEN = Refusal("INVALID_TOKEN", "Invalid or expired access token")
BANNED = Refusal("ACCOUNT_BANNED", "This account has been banned")
NOT_FOUND = Refusal("NOT_FOUND", "No such room")
BAD_ROOM = Refusal("VALIDATION_ERROR", 'Send {"room": "<kind>:<id>"}')


async def authenticate(
    db: Database, settings: Settings, token: object
) -> tuple[User, AccessClaims] | Refusal:
    """The user a token belongs to, or why it is refused."""
    if not isinstance(token, str) or not token:
        return BAD_TOKEN
    claims = decode_access_token(settings, token)
    if claims is None:
        return BAD_TOKEN
    user = await current_user(db, claims)
    if user is None:
        return BAD_TOKEN
    if user.banned_at is not None:
        return BANNED
    return user, claims


async def current_user(db: Database, claims: AccessClaims) -> User | None:
    """The token's user if the token still stands (version, live session); bans are the
    caller's to check."""
    async with db.reading() as session:
        if claims.session_id is None:
            stmt = sa.select(User).where(User.id == claims.user_id)
            user = (await session.execute(stmt)).scalar_one_or_none()
            live = True
        else:
            stmt2 = sa.select(User, _SESSION_LIVE).where(User.id == claims.user_id)
            params = {"session_id": claims.session_id}
            row = (await session.execute(stmt2, params)).one_or_none()
            user, live = (row[0], bool(row[1])) if row is not None else (None, False)
    if user is None or not live or user.token_version != claims.token_version:
        return None
    return user


def _room_of(data: object) -> tuple[str, str] | None:
    room = data.get("room") if isinstance(data, dict) else data
    if not isinstance(room, str) or len(room) > 100:
        return None
    if room == events.ADMIN_ROOM:
        return room, ""
    kind, _, ident = room.partition(":")
    if kind not in {"request", "payment", "conversation"} or not ident:
        return None
    return kind, ident


async def may_join(db: Database, user: User, kind: str, ident: str) -> bool:
    """Whether `user` may read the object the room is about."""
    if kind == events.ADMIN_ROOM:
        return user.has_role("admin")
    try:
        object_id = uuid.UUID(ident)
    except ValueError:
        return False
    async with db.reading() as session:
        if kind == "request":
            from bazaar.marketplace.requests import service as requests

            try:
                await requests.get_readable(session, object_id, user)
            except NotFound:
                return False
            return True
        if kind == "payment":
            from bazaar.payments import service as payments

            try:
                await payments.get_readable(session, object_id, user)
            except NotFound:
                return False
            return True
        # CHAT's service; until it exists no conversation room can be joined.
        try:
            chat: Any = importlib.import_module("bazaar.chat.service")
        except ImportError:
            return False
        check = getattr(chat, "is_participant", None)
        return check is not None and bool(await check(session, user.id, object_id))


class Realtime:
    """One process's Socket.IO server and its handlers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db: Database | None = None  # set by the app's lifespan
        manager: Any = None
        if settings.redis_uri:
            manager = socketio.AsyncRedisManager(
                settings.redis_uri, channel=settings.realtime_channel
            )
        origins = [o.strip() for o in settings.frontend_url.split(",") if o.strip()]
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            client_manager=manager,
            cors_allowed_origins=origins or [],
            logger=False,
            engineio_logger=False,
        )
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        self.sio.on("join", self._join)
        self.sio.on("leave", self._leave)
        # This process's sockets and the token each connected with, re-checked by `_recheck`.
        self.sockets: dict[str, AccessClaims] = {}
        self.nudge = asyncio.Event()

    def asgi_app(self) -> socketio.ASGIApp:
        return socketio.ASGIApp(self.sio, socketio_path="socket.io")

    def _database(self) -> Database:
        if self.db is None:
            raise socketio.exceptions.ConnectionRefusedError(
                "Starting up", {"code": "UNAVAILABLE", "message": "Starting up"}
            )
        return self.db

    async def _connect(self, sid: str, environ: dict[str, Any], auth: object = None) -> None:
        db = self._database()
        token = auth.get("token") if isinstance(auth, dict) else None
        result = await authenticate(db, self.settings, token)
        if isinstance(result, Refusal):
            raise socketio.exceptions.ConnectionRefusedError(result.message, result.data())
        user, claims = result
        await self.sio.save_session(sid, {"user_id": str(user.id), "claims": claims})
        await self.sio.enter_room(sid, events.user_room(user.id))
        self.sockets[sid] = claims

    async def _disconnect(self, sid: str, *args: Any) -> None:
        self.sockets.pop(sid, None)

    async def recheck(self) -> int:
        """Disconnect the sockets whose token no longer stands (expired, the user banned or
        all sessions ended, the sign-in session logged out); returns how many."""
        if not self.sockets or self.db is None:
            return 0
        current = dict(self.sockets)
        user_ids = {c.user_id for c in current.values()}
        session_ids = {c.session_id for c in current.values() if c.session_id is not None}
        async with self.db.reading() as session:
            stmt = sa.select(User.id, User.token_version, User.banned_at)
            users = {
                row.id: row
                for row in (await session.execute(stmt.where(User.id.in_(user_ids)))).all()
            }
            live: set[uuid.UUID] = set()
            if session_ids:
                stmt2 = sa.select(RefreshToken.family_id).where(
                    RefreshToken.family_id.in_(session_ids), RefreshToken.revoked_at.is_(None)
                )
                live = set((await session.execute(stmt2)).scalars())
        now = utcnow()
        gone = 0
        for sid, claims in current.items():
            row = users.get(claims.user_id)
            stands = (
                row is not None
                and row.banned_at is None
                and row.token_version == claims.token_version
                and claims.expires_at > now
                and (claims.session_id is None or claims.session_id in live)
            )
            if not stands:
                self.sockets.pop(sid, None)
                await self.sio.disconnect(sid)
                gone += 1
        return gone

    async def _rechecking(self) -> None:
        interval = self.settings.realtime_recheck_seconds
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.nudge.wait(), interval)
            self.nudge.clear()
            try:
                gone = await self.recheck()
            except Exception as exc:  # the next pass tries again
                log.warning("realtime_recheck_failed", error=repr(exc))
                continue
            if gone:
                log.info("realtime_sockets_disconnected", count=gone)

    async def _viewer(self, sid: str) -> User | None:
        session = await self.sio.get_session(sid)
        claims = session.get("claims")
        if claims is None:
            return None
        user = await current_user(self._database(), claims)
        if user is None or user.banned_at is not None:
            return None
        return user

    async def _join(self, sid: str, data: object = None) -> dict[str, Any]:
        parsed = _room_of(data)
        if parsed is None:
            return {"ok": False, "error": BAD_ROOM.data()}
        user = await self._viewer(sid)
        if user is None:
            await self.sio.disconnect(sid)
            return {"ok": False, "error": BAD_TOKEN.data()}
        kind, ident = parsed
        if not await may_join(self._database(), user, kind, ident):
            return {"ok": False, "error": NOT_FOUND.data()}
        room = events.ADMIN_ROOM if kind == events.ADMIN_ROOM else f"{kind}:{ident}"
        await self.sio.enter_room(sid, room)
        return {"ok": True, "room": room}

    async def _leave(self, sid: str, data: object = None) -> dict[str, Any]:
        parsed = _room_of(data)
        if parsed is None:
            return {"ok": False, "error": BAD_ROOM.data()}
        kind, ident = parsed
        room = events.ADMIN_ROOM if kind == events.ADMIN_ROOM else f"{kind}:{ident}"
        await self.sio.leave_room(sid, room)
        return {"ok": True, "room": room}

    async def send(self, room: str, event: str, data: Any) -> None:
        await self.sio.emit(event, data, room=room)

    @contextlib.asynccontextmanager
    async def running(self, db: Database) -> AsyncIterator[None]:
        """Accept sockets on `db`, and send this process's committed events at once."""
        from bazaar.realtime import hub, outbox

        self.db = db
        box = outbox.Outbox(db, self.send)
        outbox.attach(box)
        hub.serving(self.send)
        outbox.access_changed.append(self.nudge.set)
        checker = asyncio.create_task(self._rechecking())
        try:
            yield
        finally:
            checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checker
            outbox.access_changed.remove(self.nudge.set)
            hub.stopped(self.send)
            outbox.detach(box)
            await box.drain()
            self.db = None


def install(app: Any, settings: Settings) -> Realtime:
    """Serve Socket.IO at `/socket.io/` on `app`; `running(db)` in its lifespan."""
    realtime = Realtime(settings)
    app.mount("/socket.io", realtime.asgi_app())
    return realtime
