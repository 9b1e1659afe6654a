"""POST /api/auth/register: accounts, referral codes, duplicates, validation."""

from __future__ import annotations

import httpx

from bazaar.kit.db import Database
from tests.auth.helpers import (
    PASSWORD,
    bearer,
    count_users,
    email_jobs,
    error,
    new_email,
    register,
    user_row,
)


async def test_register_signs_the_new_account_in(client: httpx.AsyncClient, db: Database) -> None:
    data = await register(client, email="Mixed.Case@Example.COM", name="Mia")

    assert data["user"]["email"] == "mixed.case@example.com"
    assert data["user"]["roles"] == ["buyer"]
    assert data["user"]["emailVerified"] is False
    assert data["tokenType"] == "Bearer"
    assert data["expiresIn"] == 7 * 24 * 3600
    me = await client.get("/api/auth/me", headers=bearer(data["accessToken"]))
    assert me.status_code == 200
    assert me.json()["data"]["id"] == data["user"]["id"]
    refreshed = await client.post("/api/auth/refresh", json={"refreshToken": data["refreshToken"]})
    assert refreshed.status_code == 200
    # The password is stored as Argon2id, never as given.
    row = await user_row(db, "mixed.case@example.com")
    assert row.password_hash is not None and row.password_hash.startswith("$argon2id$")


async def test_register_as_seller(client: httpx.AsyncClient) -> None:
    data = await register(client, role="seller")
    assert data["user"]["roles"] == ["seller"]


async def test_every_account_gets_its_own_referral_code(client: httpx.AsyncClient) -> None:
    codes = {(await register(client))["user"]["referralCode"] for _ in range(5)}
    assert len(codes) == 5
    assert all(code and len(code) == 8 for code in codes)


async def test_referral_code_links_the_referrer(client: httpx.AsyncClient, db: Database) -> None:
    referrer = await register(client)
    code = referrer["user"]["referralCode"]

    referred = await register(client, referralCode=code.lower())

    row = await user_row(db, referred["user"]["email"])
    assert str(row.referred_by_id) == referrer["user"]["id"]


async def test_unknown_referral_code_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await client.post(
        "/api/auth/register",
        json={
            "email": new_email(),
            "password": PASSWORD,
            "name": "Nora",
            "referralCode": "NOSUCH99",
        },
    )
    assert response.status_code == 400
    assert error(response)["code"] == "VALIDATION_FAILED"
    assert error(response)["details"][0]["path"] == "referralCode"
    assert await count_users(db) == 0
    assert await email_jobs(db) == []


async def test_taken_email_is_409_whatever_its_case(
    client: httpx.AsyncClient, db: Database
) -> None:
    email = new_email()
    await register(client, email=email)

    response = await client.post(
        "/api/auth/register",
        json={"email": email.upper(), "password": PASSWORD, "name": "Twin"},
    )

    assert response.status_code == 409
    assert error(response)["code"] == "EMAIL_TAKEN"
    assert await count_users(db) == 1


async def test_invalid_input_lists_every_problem(client: httpx.AsyncClient, db: Database) -> None:
    response = await client.post(
        "/api/auth/register",
        json={"email": "not-an-email", "password": "short", "role": "admin"},
    )

    assert response.status_code == 400
    problems = error(response)
    assert problems["code"] == "VALIDATION_FAILED"
    paths = {d["path"] for d in problems["details"]}
    assert {"email", "password", "name", "role"} <= paths
    assert await count_users(db) == 0


async def test_unknown_fields_and_malformed_bodies_are_400(client: httpx.AsyncClient) -> None:
    extra = await client.post(
        "/api/auth/register",
        json={"email": new_email(), "password": PASSWORD, "name": "X", "roles": ["admin"]},
    )
    assert extra.status_code == 400
    assert error(extra)["details"][0]["path"] == "roles"

    garbage = await client.post(
        "/api/auth/register", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert garbage.status_code == 400
    assert error(garbage)["code"] in ("VALIDATION_FAILED", "MALFORMED_JSON")

    wrong_types = await client.post(
        "/api/auth/register", json={"email": 5, "password": ["x"], "name": None}
    )
    assert wrong_types.status_code == 400


async def test_registration_emails_a_verification_link(
    client: httpx.AsyncClient, db: Database
) -> None:
    data = await register(client, name="Vera")

    jobs = await email_jobs(db, to=data["user"]["email"])
    assert len(jobs) == 1
    assert jobs[0].payload["template"] == "email_verification"
    # The registrant's name is not in it: the address is not proven yet.
    assert "name" not in jobs[0].payload["context"]
