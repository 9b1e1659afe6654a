"""Refresh-token rotation and reuse detection, logout, password change."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import sqlalchemy as sa

from bazaar.kit.db import Database, utcnow
from bazaar.kit.security import sha256_hex
from bazaar.models import RefreshToken
from tests.auth.helpers import PASSWORD, bearer, error, login, register, user_row


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/auth/refresh", json={"refreshToken": token})


async def test_refresh_rotates_the_token(client: httpx.AsyncClient, db: Database) -> None:
    first = await register(client)

    response = await _refresh(client, first["refreshToken"])

    assert response.status_code == 200
    second = response.json()["data"]
    assert second["refreshToken"] != first["refreshToken"]
    assert second["user"]["id"] == first["user"]["id"]
    me = await client.get("/api/auth/me", headers=bearer(second["accessToken"]))
    assert me.status_code == 200
    async with db.session(False) as session:
        rows = {r.token_hash: r for r in (await session.execute(sa.select(RefreshToken))).scalars()}
    old, new = rows[sha256_hex(first["refreshToken"])], rows[sha256_hex(second["refreshToken"])]
    assert old.rotated_at is not None and old.revoked_at is None
    assert new.family_id == old.family_id
    # Only digests are stored.
    assert first["refreshToken"] not in {r.token_hash for r in rows.values()}


async def test_reusing_a_rotated_token_revokes_the_whole_family(
    client: httpx.AsyncClient,
) -> None:
    first = await register(client)
    email = first["user"]["email"]
    other_device = (await login(client, email)).json()["data"]
    second = (await _refresh(client, first["refreshToken"])).json()["data"]

    # Someone replays the spent token (e.g. stolen from the first device).
    replay = await _refresh(client, first["refreshToken"])

    assert replay.status_code == 401
    assert error(replay)["code"] == "REFRESH_TOKEN_REUSED"
    # The legitimate newer token of that family is revoked too...
    revoked = await _refresh(client, second["refreshToken"])
    assert revoked.status_code == 401
    assert error(revoked)["code"] == "INVALID_REFRESH_TOKEN"
    # ...while another sign-in's family keeps working.
    assert (await _refresh(client, other_device["refreshToken"])).status_code == 200


async def test_concurrent_use_of_one_token_counts_as_reuse(client: httpx.AsyncClient) -> None:
    data = await register(client)

    first, second = await asyncio.gather(
        _refresh(client, data["refreshToken"]), _refresh(client, data["refreshToken"])
    )

    # One rotation wins; the other request presents a spent token, which revokes the family,
    # including the token the winner just received.
    assert sorted(r.status_code for r in (first, second)) == [200, 401]
    winner = first if first.status_code == 200 else second
    loser = second if winner is first else first
    assert error(loser)["code"] == "REFRESH_TOKEN_REUSED"
    assert (await _refresh(client, winner.json()["data"]["refreshToken"])).status_code == 401


async def test_unknown_and_expired_refresh_tokens_are_refused(
    client: httpx.AsyncClient, db: Database
) -> None:
    unknown = await _refresh(client, "made-up-token")
    assert unknown.status_code == 401
    assert error(unknown)["code"] == "INVALID_REFRESH_TOKEN"

    data = await register(client)
    async with db.session() as session:
        await session.execute(
            sa.update(RefreshToken).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    expired = await _refresh(client, data["refreshToken"])
    assert expired.status_code == 401
    assert error(expired)["code"] == "INVALID_REFRESH_TOKEN"


async def test_logout_ends_the_session_and_is_idempotent(client: httpx.AsyncClient) -> None:
    data = await register(client)
    rotated = (await _refresh(client, data["refreshToken"])).json()["data"]

    for _ in range(2):
        response = await client.post(
            "/api/auth/logout", json={"refreshToken": rotated["refreshToken"]}
        )
        assert response.status_code == 200
        assert response.json()["data"] == {"loggedOut": True}

    assert (await _refresh(client, rotated["refreshToken"])).status_code == 401
    unknown = await client.post("/api/auth/logout", json={"refreshToken": "never-issued"})
    assert unknown.status_code == 200


async def test_logout_everywhere_invalidates_access_tokens(client: httpx.AsyncClient) -> None:
    data = await register(client)
    other = (await login(client, data["user"]["email"])).json()["data"]

    response = await client.post(
        "/api/auth/logout", json={"refreshToken": data["refreshToken"], "allDevices": True}
    )

    assert response.status_code == 200
    for tokens in (data, other):
        assert (
            await client.get("/api/auth/me", headers=bearer(tokens["accessToken"]))
        ).status_code == 401
        assert (await _refresh(client, tokens["refreshToken"])).status_code == 401


async def test_password_change_signs_out_other_sessions(
    client: httpx.AsyncClient, db: Database
) -> None:
    data = await register(client)
    email = data["user"]["email"]
    other = (await login(client, email)).json()["data"]

    response = await client.post(
        "/api/auth/password/change",
        json={"currentPassword": PASSWORD, "newPassword": "a brand new passphrase"},
        headers=bearer(data["accessToken"]),
    )

    assert response.status_code == 200
    fresh = response.json()["data"]
    assert (
        await client.get("/api/auth/me", headers=bearer(fresh["accessToken"]))
    ).status_code == 200
    assert (await _refresh(client, fresh["refreshToken"])).status_code == 200
    for old in (data, other):
        assert (
            await client.get("/api/auth/me", headers=bearer(old["accessToken"]))
        ).status_code == 401
        assert (await _refresh(client, old["refreshToken"])).status_code == 401
    assert (await login(client, email)).status_code == 401
    assert (await login(client, email, "a brand new passphrase")).status_code == 200
    assert (await user_row(db, email)).token_version == 1


async def test_password_change_checks_the_current_password(client: httpx.AsyncClient) -> None:
    data = await register(client)
    headers = bearer(data["accessToken"])

    wrong = await client.post(
        "/api/auth/password/change",
        json={"currentPassword": "guess guess", "newPassword": "a brand new passphrase"},
        headers=headers,
    )
    assert wrong.status_code == 400
    assert error(wrong)["code"] == "INVALID_CURRENT_PASSWORD"

    weak = await client.post(
        "/api/auth/password/change",
        json={"currentPassword": PASSWORD, "newPassword": "short"},
        headers=headers,
    )
    assert weak.status_code == 400
    assert error(weak)["details"][0]["path"] == "newPassword"

    anonymous = await client.post(
        "/api/auth/password/change",
        json={"currentPassword": PASSWORD, "newPassword": "a brand new passphrase"},
    )
    assert anonymous.status_code == 401
    # Nothing changed: the old password and session still work.
    assert (await client.get("/api/auth/me", headers=headers)).status_code == 200
    assert (await login(client, data["user"]["email"])).status_code == 200


async def _me(client: httpx.AsyncClient, token: str) -> int:
    return (await client.get("/api/auth/me", headers=bearer(token))).status_code


async def test_logout_ends_the_sessions_access_tokens_at_once(client: httpx.AsyncClient) -> None:
    """Logging out used to leave the access token of that session working for up to
    JWT_EXPIRES_IN (7 days); another sign-in of the same account keeps working."""
    data = await register(client)
    other = (await login(client, data["user"]["email"])).json()["data"]
    rotated = (await _refresh(client, data["refreshToken"])).json()["data"]

    response = await client.post("/api/auth/logout", json={"refreshToken": rotated["refreshToken"]})

    assert response.status_code == 200
    for token in (data["accessToken"], rotated["accessToken"]):
        me = await client.get("/api/auth/me", headers=bearer(token))
        assert me.status_code == 401
        assert error(me)["code"] == "INVALID_TOKEN"
    assert (
        await client.get("/api/auth/me", headers=bearer(other["accessToken"]))
    ).status_code == 200


async def test_logout_with_only_the_bearer_token_ends_that_session(
    client: httpx.AsyncClient,
) -> None:
    """A frontend written for the seed logs out with its access token and no body."""
    data = await register(client)
    other = (await login(client, data["user"]["email"])).json()["data"]

    response = await client.post("/api/auth/logout", headers=bearer(data["accessToken"]))

    assert response.status_code == 200
    assert (
        await client.get("/api/auth/me", headers=bearer(data["accessToken"]))
    ).status_code == 401
    assert (await _refresh(client, data["refreshToken"])).status_code == 401
    assert (
        await client.get("/api/auth/me", headers=bearer(other["accessToken"]))
    ).status_code == 200
    nothing = await client.post("/api/auth/logout")
    assert nothing.status_code == 400
    assert error(nothing)["code"] == "VALIDATION_FAILED"
    forged = await client.post("/api/auth/logout", headers=bearer("not.a.jwt"))
    assert forged.status_code == 401


async def test_reusing_a_refresh_token_ends_that_sessions_access_tokens(
    client: httpx.AsyncClient,
) -> None:
    data = await register(client)
    second = (await _refresh(client, data["refreshToken"])).json()["data"]
    assert (await _refresh(client, data["refreshToken"])).status_code == 401  # reuse
    me = await client.get("/api/auth/me", headers=bearer(second["accessToken"]))
    assert me.status_code == 401
