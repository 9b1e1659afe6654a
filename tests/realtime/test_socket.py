"""Socket.IO against a live server: handshake auth, rooms checked against access, events
sent by the committing process at once, and by the worker only when left behind."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import socketio
import sqlalchemy as sa

from bazaar.config import Settings
from bazaar.kit import jobs
from bazaar.kit.db import Database, utcnow
from bazaar.kit.security import create_access_token
from bazaar.models import Job, User
from bazaar.realtime.events import REALTIME_JOB
from tests.fixtures.users import Account, MakeUser
from tests.marketplace.test_requests_support import REQUESTS, request_body
from tests.ops.helpers import Server
from tests.realtime.support import Listener, listening, live_server


@pytest.fixture
async def server(settings: Settings, db: Database, tmp_path: Path):  # type: ignore[no-untyped-def]
    # Re-checks only when nudged: what a test sees happen came from a commit, not a timer.
    async with live_server(settings, tmp_path, REALTIME_RECHECK_SECONDS="3600") as s:
        yield s


async def refused(server: Server, token: str | None) -> dict[str, object]:
    listener = Listener()
    with pytest.raises(socketio.exceptions.ConnectionError) as caught:
        await listener.connect(server.url, token)
    assert not listener.sio.connected
    info = listener.refusal
    assert isinstance(info, dict), caught.value.args
    assert info["message"] == info.get("data", {}).get("message"), info
    data: dict[str, object] = info["data"]
    return data


async def draft(server: Server, buyer: Account) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=server.url) as http:
        r = await http.post(REQUESTS, json=request_body(publish=False), headers=buyer.headers)
    assert r.status_code == 201, r.text
    data: dict[str, object] = r.json()["data"]
    return data


async def test_bad_expired_and_stale_tokens_are_refused(
    server: Server, settings: Settings, db: Database, make_user: MakeUser
) -> None:
    user = await make_user()
    assert (await refused(server, None))["code"] == "INVALID_TOKEN"
    assert (await refused(server, "not-a-jwt"))["code"] == "INVALID_TOKEN"
    other = settings.model_copy(update={"jwt_secret": "x" * 40})
    forged, _ = create_access_token(other, user.id, user.roles, 0)
    assert (await refused(server, forged))["code"] == "INVALID_TOKEN"
    expired_settings = settings.model_copy(update={"jwt_expires_in": timedelta(seconds=-10)})
    expired, _ = create_access_token(expired_settings, user.id, user.roles, 0)
    assert (await refused(server, expired))["code"] == "INVALID_TOKEN"
    # A token of an older token version (all sessions ended) no longer connects.
    async with db.transaction() as session:
        await session.execute(sa.update(User).where(User.id == user.id).values(token_version=1))
    assert (await refused(server, user.token))["code"] == "INVALID_TOKEN"


async def test_banned_user_is_refused(server: Server, db: Database, make_user: MakeUser) -> None:
    user = await make_user()
    async with db.transaction() as session:
        await session.execute(sa.update(User).where(User.id == user.id).values(banned_at=utcnow()))
    assert (await refused(server, user.token))["code"] == "ACCOUNT_BANNED"


async def test_revoked_session_is_refused(server: Server, make_user: MakeUser) -> None:
    user = await make_user()
    async with httpx.AsyncClient(base_url=server.url) as http:
        login = await http.post(
            "/api/auth/login", json={"email": user.email, "password": user.password}
        )
        assert login.status_code == 200, login.text
        token = login.json()["data"]["accessToken"]
        async with listening(server.url, token) as ok:
            assert ok.sio.connected
        out = await http.post(
            "/api/auth/logout", json={}, headers={"Authorization": f"Bearer {token}"}
        )
        assert out.status_code == 200, out.text
    assert (await refused(server, token))["code"] == "INVALID_TOKEN"


async def test_rooms_are_checked_against_access(
    server: Server, make_user: MakeUser, admin: Account
) -> None:
    buyer = await make_user(["buyer"])
    stranger = await make_user(["buyer", "seller"])
    request = await draft(server, buyer)
    room = f"request:{request['id']}"
    async with listening(server.url, stranger.token) as other:
        answer = await other.join(room)
        assert answer == {"ok": False, "error": {"code": "NOT_FOUND", "message": "No such room"}}
        # A room that does not exist is refused the same way.
        assert await other.join(f"request:{uuid.uuid4()}") == answer
        assert await other.join(f"payment:{uuid.uuid4()}") == answer
        assert await other.join(f"conversation:{uuid.uuid4()}") == answer
        assert await other.join("admin") == answer
        assert (await other.join("user:" + str(buyer.id)))["error"]["code"] == "VALIDATION_ERROR"
        assert (await other.join(42))["error"]["code"] == "VALIDATION_ERROR"  # type: ignore[arg-type]
    async with listening(server.url, buyer.token) as own:
        assert await own.join(room) == {"ok": True, "room": room}
        assert await own.leave(room) == {"ok": True, "room": room}
    async with listening(server.url, admin.token) as staff:
        assert await staff.join("admin") == {"ok": True, "room": "admin"}


async def test_committed_event_arrives_at_once_and_its_job_is_done(
    settings: Settings, db: Database, make_user: MakeUser, tmp_path: Path
) -> None:
    """No worker runs (WORKER_IN_PROCESS=false): the API process that committed the
    publish sends `request:updated` itself and marks the job done. The mark is written
    just after the send, so it is read once the server has stopped: its shutdown waits
    for the sends in flight."""
    buyer = await make_user(["buyer"])
    async with live_server(settings, tmp_path, REALTIME_RECHECK_SECONDS="3600") as server:
        request = await draft(server, buyer)
        room = f"request:{request['id']}"
        async with listening(server.url, buyer.token) as own:
            assert (await own.join(room))["ok"]
            async with httpx.AsyncClient(base_url=server.url) as http:
                url = f"{REQUESTS}/{request['id']}/publish"
                r = await http.post(url, headers=buyer.headers)
                assert r.status_code == 200, r.text
            event, data = await own.next()
            assert event == "request:updated"
            assert data["requestId"] == request["id"]
            assert (data["from"], data["to"]) == ("draft", "open")
    async with db.reading() as session:
        stmt = sa.select(Job.status, Job.payload).where(Job.kind == REALTIME_JOB)
        rows = [(s, p) for s, p in (await session.execute(stmt)).all() if p["room"] == room]
    assert rows and all(status == jobs.DONE for status, _ in rows), rows


async def left_behind(db: Database, room: str, event: str, expires_in: timedelta) -> uuid.UUID:
    """A committed event whose process died before sending it (inserted with a core
    statement, so no process takes it for its own)."""
    job_id = uuid.uuid4()
    now = utcnow()
    async with db.transaction() as session:
        await session.execute(
            sa.insert(Job).values(
                id=job_id,
                kind=REALTIME_JOB,
                payload={"room": room, "event": event, "data": {"n": event}},
                status=jobs.PENDING,
                run_at=now,
                attempts=0,
                max_attempts=0,
                created_at=now,
                expires_at=now + expires_in,
            )
        )
    return job_id


async def test_worker_sends_what_a_crash_left_and_drops_expired(
    settings: Settings, db: Database, tmp_path: Path, make_user: MakeUser
) -> None:
    user = await make_user()
    room = f"user:{user.id}"
    stale = await left_behind(db, room, "stale", timedelta(seconds=-1))
    worker = {"WORKER_IN_PROCESS": "true", "WORKER_POLL_INTERVAL": "0.2"}
    async with (
        live_server(settings, tmp_path, **worker) as server,
        listening(server.url, user.token) as me,
    ):
        fresh = await left_behind(db, room, "fresh", timedelta(minutes=1))
        event, data = await me.next(20)
        assert (event, data) == ("fresh", {"n": "fresh"})
    async with db.reading() as session:
        stmt = sa.select(Job.id, Job.status).where(Job.id.in_([stale, fresh]))
        status = dict((await session.execute(stmt)).all())
    assert status == {fresh: jobs.DONE, stale: jobs.EXPIRED}


async def test_logout_and_ban_disconnect_the_users_sockets(
    server: Server, db: Database, make_user: MakeUser, admin: Account
) -> None:
    """Committed by the server process: acted on at once, not at the next re-check."""
    user = await make_user()
    async with httpx.AsyncClient(base_url=server.url) as http:
        login = await http.post(
            "/api/auth/login", json={"email": user.email, "password": user.password}
        )
        token = login.json()["data"]["accessToken"]
        async with (
            listening(server.url, token) as session_socket,
            listening(server.url, user.token) as other_socket,
        ):
            out = await http.post(
                "/api/auth/logout", json={}, headers={"Authorization": f"Bearer {token}"}
            )
            assert out.status_code == 200, out.text
            await asyncio.wait_for(session_socket.disconnected.wait(), 10)
            # The other socket's token (no sign-in session) still stands.
            assert other_socket.sio.connected
            ban = await http.post(
                f"/api/admin/users/{user.id}/ban", json={"reason": "spam"}, headers=admin.headers
            )
            assert ban.status_code == 200, ban.text
            await asyncio.wait_for(other_socket.disconnected.wait(), 10)


async def test_a_ban_committed_elsewhere_disconnects_at_the_recheck(
    settings: Settings, db: Database, tmp_path: Path, make_user: MakeUser
) -> None:
    user = await make_user()
    async with (
        live_server(settings, tmp_path, REALTIME_RECHECK_SECONDS="0.2") as server,
        listening(server.url, user.token) as me,
    ):
        async with db.transaction() as session:
            stmt = sa.update(User).where(User.id == user.id).values(banned_at=utcnow())
            await session.execute(stmt)
        await asyncio.wait_for(me.disconnected.wait(), 10)
