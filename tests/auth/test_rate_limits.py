"""The auth rate limit covers the credential endpoints, not /me or logout."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager

from bazaar.config import Settings
from bazaar.kit.db import Database
from bazaar.models import Job
from tests.auth.helpers import PASSWORD, bearer, error, new_email
from tests.conftest import base_settings, make_app

CREDENTIAL_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("/api/auth/register", {"email": "x@example.com", "password": PASSWORD, "name": "X"}),
    ("/api/auth/login", {"email": "x@example.com", "password": PASSWORD}),
    ("/api/auth/refresh", {"refreshToken": "whatever"}),
    ("/api/auth/password/forgot", {"email": "x@example.com"}),
    ("/api/auth/password/reset", {"token": "whatever", "newPassword": PASSWORD}),
    # A password oracle otherwise: it checks the current password.
    ("/api/auth/password/change", {"currentPassword": PASSWORD, "newPassword": PASSWORD}),
    ("/api/auth/email/verify/request", {}),
]


@asynccontextmanager
async def limited_client(
    settings: Settings, db: Database, tmp_path: Path, limit: str
) -> AsyncIterator[httpx.AsyncClient]:
    limited = base_settings(
        tmp_path, pg_url=settings.pg_url, redis_uri=settings.redis_uri, rate_limit_auth=limit
    )
    app = make_app(limited, db)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4242))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


@pytest.mark.parametrize(("path", "body"), CREDENTIAL_CALLS, ids=lambda v: str(v)[:30])
async def test_credential_endpoint_is_limited(
    settings: Settings, db: Database, tmp_path: Path, path: str, body: dict[str, Any]
) -> None:
    async with limited_client(settings, db, tmp_path, "1/15 minutes") as client:
        await client.post(path, json=body)
        refused = await client.post(path, json=body)

    assert refused.status_code == 429
    assert error(refused)["code"] == "RATE_LIMITED"
    assert int(refused.headers["Retry-After"]) > 0


async def test_me_logout_and_verification_are_not_limited(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    async with limited_client(settings, db, tmp_path, "1/15 minutes") as client:
        registered = await client.post(
            "/api/auth/register", json={"email": new_email(), "password": PASSWORD, "name": "L"}
        )
        data = registered.json()["data"]
        assert (
            await client.post("/api/auth/login", json={"email": "a@b.c", "password": "x"})
        ).status_code == 429

        for _ in range(3):
            me = await client.get("/api/auth/me", headers=bearer(data["accessToken"]))
            assert me.status_code == 200
        verify = await client.post("/api/auth/email/verify", json={"token": "nope"})
        assert verify.status_code == 400
        logout = await client.post("/api/auth/logout", json={"refreshToken": data["refreshToken"]})
        assert logout.status_code == 200


async def test_mail_goes_to_an_address_at_most_once_a_minute(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    """`email/verify/request` was outside every limit: 15 calls sent 16 mails. Every
    endpoint that sends mail now has a per-address (and per-account) cooldown, counted
    whether or not an account uses the address, so a 429 reveals nothing."""
    cooled = base_settings(
        tmp_path,
        pg_url=settings.pg_url,
        redis_uri=settings.redis_uri,
        rate_limit_auth="1000/15 minutes",
        rate_limit_mail="1/1 minute",
    )
    app = make_app(cooled, db)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 4242))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            email = new_email()
            registered = await client.post(
                "/api/auth/register", json={"email": email, "password": PASSWORD, "name": "M"}
            )
            assert registered.status_code == 201  # the verification mail went out
            token = registered.json()["data"]["accessToken"]
            again = [
                await client.post("/api/auth/email/verify/request", headers=bearer(token))
                for _ in range(15)
            ]
            assert {r.status_code for r in again} == {429}
            assert all(int(r.headers["Retry-After"]) > 0 for r in again)
            assert await _mails_queued(db) == 1

            for address in (email, "nobody-here@example.com"):
                first = await client.post("/api/auth/password/forgot", json={"email": address})
                second = await client.post("/api/auth/password/forgot", json={"email": address})
                # The known address was mailed moments ago (at registration); the unknown
                # one is cooled down after its first request all the same.
                expected = 429 if address == email else 200
                assert first.status_code == expected
                assert second.status_code == 429
                assert error(second)["code"] == "RATE_LIMITED"
    assert await _mails_queued(db) == 1


async def _mails_queued(db: Database) -> int:
    async with db.session(False) as session:
        stmt = sa.select(sa.func.count()).select_from(Job).where(Job.kind == "email.send")
        return int((await session.execute(stmt)).scalar_one())
