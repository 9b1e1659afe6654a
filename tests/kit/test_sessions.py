"""The request's one session: declared by the endpoint, shared with auth, one connection.

Findings of the foundation's second pass, each reproduced here: a signed-in listing held two
connections of one pool (and deadlocked a small pool), the session kind followed the HTTP
method, and SQLite reads ran on the event loop unless an endpoint remembered to opt out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import event

from bazaar.config import Settings
from bazaar.kit.db import Database, SessionKind
from bazaar.kit.deps import ReadSession, WriteSession, route_session_kind
from bazaar.kit.sqlite_inline import InlineConnection
from bazaar.models import Category
from tests.conftest import make_app
from tests.fixtures.routes import api_routes
from tests.fixtures.users import Account, MakeUser
from tests.ops.helpers import client_for, settings_like

# The only routes allowed to read inline on SQLite (InlineReadSession): measured hot paths
# of one indexed lookup each (docs/performance.md).
INLINE_ROUTES = {("GET", "/api/auth/me"), ("GET", "/api/address")}


def test_inline_reads_are_an_explicit_opt_in(app: FastAPI) -> None:
    inline = {
        (method, path)
        for method, path, route in api_routes(app)
        if route_session_kind(route) is SessionKind.INLINE
    }
    assert inline == INLINE_ROUTES


def test_the_session_kind_is_declared_not_taken_from_the_method(app: FastAPI) -> None:
    kinds = {(m, p): route_session_kind(r) for m, p, r in api_routes(app)}
    # Login reads the account, hashes with no connection held, then writes: a staged POST.
    assert kinds[("POST", "/api/auth/login")] is SessionKind.READ
    assert kinds[("POST", "/api/marketplace/requests")] is SessionKind.WRITE
    assert kinds[("GET", "/api/marketplace/requests")] is SessionKind.READ
    assert kinds[("DELETE", "/api/address/{address_id}")] is SessionKind.WRITE


async def _categories(db: Database) -> list[str]:
    async with db.session(False) as session:
        return list((await session.execute(sa.select(Category.slug))).scalars())


async def test_a_get_that_declares_a_write_session_writes(fresh_app: FastAPI, db: Database) -> None:
    """An OAuth callback or a webhook verification is a GET that must write."""

    async def callback(session: WriteSession) -> dict[str, Any]:
        session.add(Category(slug="written-by-a-get", name="Written by a GET"))
        await session.flush()
        return {"success": True, "data": None}

    async def reads_only(session: ReadSession) -> dict[str, Any]:
        session.add(Category(slug="refused", name="Refused"))
        await session.flush()
        return {"success": True, "data": None}

    fresh_app.add_api_route("/api/_probe/callback", callback, methods=["GET"])
    fresh_app.add_api_route("/api/_probe/reads-only", reads_only, methods=["POST"])
    async with client_for(fresh_app) as client:
        assert (await client.get("/api/_probe/callback")).status_code == 200
        assert (await client.post("/api/_probe/reads-only")).status_code == 500
    assert await _categories(db) == ["written-by-a-get"]


async def test_a_new_list_endpoint_reads_off_the_event_loop_by_default(
    fresh_app: FastAPI, db: Database, backend: str
) -> None:
    """Written the obvious way (ReadSession), a SQLite listing runs on aiosqlite's thread."""
    seen: dict[str, Any] = {}

    async def history(session: ReadSession) -> dict[str, Any]:
        raw = await (await session.connection()).get_raw_connection()
        seen["inline"] = isinstance(raw.driver_connection, InlineConnection)
        seen["engine"] = session.get_bind()
        return {"success": True, "data": None}

    fresh_app.add_api_route("/api/_probe/history", history, methods=["GET"])
    async with client_for(fresh_app) as client:
        assert (await client.get("/api/_probe/history")).status_code == 200
    assert seen["inline"] is False
    assert seen["engine"] is db.read_engine.sync_engine


@contextlib.contextmanager
def connections_in_use(db: Database) -> Iterator[dict[str, int]]:
    """Track how many pooled connections (of every engine) are checked out at once."""
    counts = {"now": 0, "peak": 0}

    def out(*_: Any) -> None:
        counts["now"] += 1
        counts["peak"] = max(counts["peak"], counts["now"])

    def back(*_: Any) -> None:
        counts["now"] -= 1

    pools = [engine.sync_engine.pool for engine in db.engines]
    for pool in pools:
        event.listen(pool, "checkout", out)
        event.listen(pool, "checkin", back)
    try:
        yield counts
    finally:
        for pool in pools:
            event.remove(pool, "checkout", out)
            event.remove(pool, "checkin", back)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/marketplace/requests?mine=true", None),
        ("GET", "/api/marketplace/requests?q=radio", None),
        ("GET", "/api/admin/users?q=test", None),
        ("GET", "/api/auth/me", None),
        (
            "POST",
            "/api/address",
            {
                "fullName": "A B",
                "line1": "1 Main St",
                "city": "Berlin",
                "postalCode": "10115",
                "country": "DE",
            },
        ),
    ],
)
async def test_a_signed_in_request_holds_one_connection(
    client: httpx.AsyncClient,
    db: Database,
    make_user: MakeUser,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    user = await make_user(roles=["buyer", "admin"])
    with connections_in_use(db) as counts:
        response = await client.request(method, path, json=body, headers=user.headers)
    assert response.status_code in (200, 201), response.text
    assert counts["peak"] == 1
    assert counts["now"] == 0


@contextlib.asynccontextmanager
async def small_pool_client(
    settings: Settings, tmp: Path, **pools: int
) -> AsyncIterator[httpx.AsyncClient]:
    # The suite's SQLite file (its data dir) or PostgreSQL database, with other pools.
    small = settings_like(settings, tmp, data_dir=settings.data_dir, **pools)
    database = Database(small)
    try:
        app = make_app(small, database)
        async with LifespanManager(app), client_for(app) as client:
            yield client
    finally:
        await database.dispose()


async def test_a_small_read_pool_serves_many_signed_in_listings(
    settings: Settings, make_user: MakeUser, tmp_path: Path
) -> None:
    """With DB_READ_POOL_SIZE=2, 30 concurrent signed-in listings and 30 signed-in admin
    searches all answer: each waits for one connection instead of holding one while
    waiting for a second (which deadlocked the pool and answered 500 after 30 s)."""
    buyers: list[Account] = [await make_user(roles=["buyer"]) for _ in range(3)]
    admin = await make_user(roles=["admin"])
    async with small_pool_client(settings, tmp_path, db_read_pool_size=2) as client:
        calls = [
            client.get("/api/marketplace/requests?mine=true", headers=buyers[i % 3].headers)
            for i in range(30)
        ] + [client.get("/api/admin/users?q=test", headers=admin.headers) for _ in range(30)]
        responses = await asyncio.wait_for(asyncio.gather(*calls), timeout=60)
    assert [r.status_code for r in responses] == [200] * 60
