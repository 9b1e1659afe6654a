"""POST /api/auth/login and GET /api/auth/me: credentials, legacy hashes, bans, timing."""

from __future__ import annotations

import statistics
import time
import uuid
from pathlib import Path

import bcrypt
import httpx
import jwt
from asgi_lifespan import LifespanManager

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from tests.auth.helpers import (
    bearer,
    error,
    login,
    new_email,
    register,
    update_user,
    user_row,
)
from tests.conftest import base_settings, make_app
from tests.fixtures.users import MakeUser


async def test_login_returns_tokens_and_the_user(client: httpx.AsyncClient, db: Database) -> None:
    account = await register(client)
    email = account["user"]["email"]

    response = await login(client, email.upper())

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["user"]["email"] == email
    assert set(data) >= {"accessToken", "refreshToken", "expiresIn", "user"}
    me = await client.get("/api/auth/me", headers=bearer(data["accessToken"]))
    assert me.json()["data"]["email"] == email
    assert (await user_row(db, email)).last_login_at is not None


async def test_wrong_password_and_unknown_email_answer_alike(client: httpx.AsyncClient) -> None:
    account = await register(client)

    wrong = await login(client, account["user"]["email"], "not the password")
    unknown = await login(client, new_email(), "not the password")

    assert wrong.status_code == unknown.status_code == 401
    assert error(wrong) == error(unknown)
    assert error(wrong)["code"] == "INVALID_CREDENTIALS"


async def test_me_requires_a_valid_token(client: httpx.AsyncClient) -> None:
    anonymous = await client.get("/api/auth/me")
    assert anonymous.status_code == 401
    forged = await client.get("/api/auth/me", headers=bearer("not.a.jwt"))
    assert forged.status_code == 401
    assert error(forged)["code"] == "INVALID_TOKEN"


async def test_login_input_is_validated(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/login", json={"email": "nobody", "password": ""})
    assert response.status_code == 400
    assert {d["path"] for d in error(response)["details"]} == {"email", "password"}


async def test_legacy_bcrypt_hash_verifies_and_is_upgraded(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser
) -> None:
    account = await make_user(email=new_email())
    # The old Node system stored `$2a$`/`$2b$` hashes.
    legacy = bcrypt.hashpw(b"legacy password 1", bcrypt.gensalt(rounds=4, prefix=b"2a")).decode()
    await update_user(db, account.email, password_hash=legacy)

    wrong = await login(client, account.email, "legacy password 2")
    assert wrong.status_code == 401
    assert (await user_row(db, account.email)).password_hash == legacy

    right = await login(client, account.email, "legacy password 1")
    assert right.status_code == 200
    upgraded = (await user_row(db, account.email)).password_hash
    assert upgraded is not None and upgraded.startswith("$argon2id$")
    # The new hash works for the next sign-in.
    assert (await login(client, account.email, "legacy password 1")).status_code == 200


async def test_legacy_bcrypt_password_longer_than_72_bytes(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser
) -> None:
    # bcryptjs ignored everything after 72 bytes; the same password must still sign in.
    password = "p" * 72 + "-tail-the-old-system-never-saw"
    legacy = bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(rounds=4)).decode()
    account = await make_user(email=new_email())
    await update_user(db, account.email, password_hash=legacy)

    assert (await login(client, account.email, password)).status_code == 200
    upgraded = (await user_row(db, account.email)).password_hash
    assert upgraded is not None and upgraded.startswith("$argon2id$")
    assert (await login(client, account.email, password)).status_code == 200
    assert (await login(client, account.email, "p" * 72)).status_code == 401


async def test_password_less_account_cannot_sign_in(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser
) -> None:
    account = await make_user(email=new_email())
    await update_user(db, account.email, password_hash=None)
    response = await login(client, account.email, account.password)
    assert response.status_code == 401
    assert error(response)["code"] == "INVALID_CREDENTIALS"


async def test_banned_user_cannot_sign_in_and_tokens_stop_working(
    client: httpx.AsyncClient, db: Database
) -> None:
    account = await register(client)
    email = account["user"]["email"]
    await update_user(db, email, banned_at=utcnow(), ban_reason="fraud")

    response = await login(client, email)
    assert response.status_code == 403
    assert error(response)["code"] == "ACCOUNT_BANNED"
    me = await client.get("/api/auth/me", headers=bearer(account["accessToken"]))
    assert me.status_code == 403
    assert error(me)["code"] == "ACCOUNT_BANNED"
    refreshed = await client.post(
        "/api/auth/refresh", json={"refreshToken": account["refreshToken"]}
    )
    assert refreshed.status_code == 403
    # A wrong password still says only "invalid credentials".
    assert (await login(client, email, "wrong password!")).status_code == 401


async def test_unknown_email_takes_as_long_as_a_wrong_password(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    # Production hashing cost (the other tests use a cheap one) so the hash, not the
    # request, dominates: a shortcut for unknown emails would show as a ratio far below 0.5.
    defaults = Settings.model_fields
    slow = base_settings(
        tmp_path,
        pg_url=settings.pg_url,
        redis_uri=settings.redis_uri,
        argon2_time_cost=defaults["argon2_time_cost"].default,
        argon2_memory_cost=defaults["argon2_memory_cost"].default,
        lockout_threshold=1000,
    )
    app = make_app(slow, db)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4242))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            known = (await register(client))["user"]["email"]

            async def timed(email: str) -> float:
                started = time.perf_counter()
                response = await login(client, email, "definitely wrong")
                assert response.status_code == 401
                return time.perf_counter() - started

            await timed(new_email())  # warm up (the dummy hash is computed once)
            await timed(known)
            wrong, unknown = [], []
            for _ in range(7):
                wrong.append(await timed(known))
                unknown.append(await timed(new_email()))

    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.5 < ratio < 2, (ratio, wrong, unknown)


async def test_password_whitespace_is_part_of_the_password(client: httpx.AsyncClient) -> None:
    email = (await register(client, password="  spaced out  "))["user"]["email"]
    assert (await login(client, email, "  spaced out  ")).status_code == 200
    assert (await login(client, email, "spaced out")).status_code == 401


async def test_register_then_login_keeps_one_session_per_sign_in(
    client: httpx.AsyncClient,
) -> None:
    email = (await register(client))["user"]["email"]
    first = (await login(client, email)).json()["data"]
    second = (await login(client, email)).json()["data"]
    assert first["refreshToken"] != second["refreshToken"]
    # Both sign-ins are valid side by side (two devices).
    for tokens in (first, second):
        response = await client.post(
            "/api/auth/refresh", json={"refreshToken": tokens["refreshToken"]}
        )
        assert response.status_code == 200


async def test_unreadable_stored_hash_is_a_failed_sign_in_not_a_crash(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser
) -> None:
    account = await make_user(email=new_email())
    await update_user(db, account.email, password_hash="$2b$12$not-a-real-bcrypt-hash")
    response = await login(client, account.email, "p" * 100)
    assert response.status_code == 401
    assert error(response)["code"] == "INVALID_CREDENTIALS"


async def test_tokens_with_insane_claims_are_refused_not_crashed(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """An `exp` of 1e20 overflowed the datetime conversion and answered 500."""
    base = {"sub": str(uuid.uuid4()), "ver": 0, "typ": "access"}
    for claims in (
        {**base, "exp": 1e20},
        {**base, "exp": 10**30},
        {**base, "exp": 4102444800, "sid": "not-a-uuid"},
        {**base, "exp": 4102444800, "roles": "admin"},
        {**base, "exp": 4102444800, "sub": ["x"]},
    ):
        token = jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
        me = await client.get("/api/auth/me", headers=bearer(token))
        assert me.status_code == 401, claims
        assert error(me)["code"] == "INVALID_TOKEN"
