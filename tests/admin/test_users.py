"""Admin user management: search, roles, ban (tokens die) and unban; admins only."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.kit.security import create_access_token
from bazaar.models import RefreshToken, User
from tests.fixtures.users import Account, MakeUser


async def test_non_admins_are_refused(
    client: httpx.AsyncClient, make_user: MakeUser, buyer: Account
) -> None:
    for roles in (["buyer"], ["seller", "resolver", "guard"]):
        user = await make_user(roles=roles)
        response = await client.get("/api/admin/users", headers=user.headers)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "ROLE_REQUIRED"
        ban = await client.post(
            f"/api/admin/users/{buyer.id}/ban", headers=user.headers, json={"reason": "x"}
        )
        assert ban.status_code == 403
    assert (await client.get("/api/admin/users")).status_code == 401
    profile = await client.get("/api/user/profile", headers=buyer.headers)
    assert profile.status_code == 200  # nobody got banned


async def test_search_filters_and_newest_first(
    client: httpx.AsyncClient, make_user: MakeUser, admin: Account, db: Database
) -> None:
    alice = await make_user(roles=["buyer"], email="alice@example.com", name="Alice Smith")
    bob = await make_user(roles=["seller"], email="bob@shop.example", name="Bob Jones")
    carol = await make_user(roles=["buyer", "seller"], email="carol@example.com", name="Carol")
    percent = await make_user(roles=["buyer"], email="odd@example.com", name="100% legit")
    async with db.session() as session:
        await session.execute(
            sa.update(User).where(User.id == bob.id).values(banned_at=utcnow(), ban_reason="x")
        )
        await session.commit()

    async def ids(query: str) -> list[str]:
        response = await client.get(f"/api/admin/users{query}", headers=admin.headers)
        assert response.status_code == 200, response.text
        return [u["id"] for u in response.json()["data"]["items"]]

    everyone = await ids("")
    assert everyone == [str(u.id) for u in (percent, carol, bob, alice, admin)]
    assert await ids("?q=SMITH") == [str(alice.id)]
    assert await ids("?q=shop.EXAMPLE") == [str(bob.id)]
    assert await ids("?q=%25") == [str(percent.id)]  # a literal %, not a wildcard
    assert await ids("?role=seller") == [str(carol.id), str(bob.id)]
    assert await ids("?role=seller&banned=false") == [str(carol.id)]
    assert await ids("?banned=true") == [str(bob.id)]
    assert await ids("?q=example.com&role=buyer") == [
        str(percent.id),
        str(carol.id),
        str(alice.id),
    ]

    page = await client.get("/api/admin/users?limit=2&page=2", headers=admin.headers)
    data = page.json()["data"]
    assert data["pagination"] == {"page": 2, "limit": 2, "total": 5, "pages": 3}
    assert [u["id"] for u in data["items"]] == everyone[2:4]
    assert data["items"][0]["banned"] is True and data["items"][0]["banReason"] == "x"

    bad = await client.get("/api/admin/users?role=king", headers=admin.headers)
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "VALIDATION_FAILED"
    maybe = await client.get("/api/admin/users?banned=maybe", headers=admin.headers)
    assert maybe.status_code == 400


async def test_get_one_by_uuid_or_legacy_id(
    client: httpx.AsyncClient, admin: Account, buyer: Account, db: Database
) -> None:
    legacy = "0123456789abcdef01234567"
    async with db.session() as session:
        await session.execute(
            sa.update(User).where(User.id == buyer.id).values(legacy_object_id=legacy)
        )
        await session.commit()
    for ref in (str(buyer.id), legacy):
        response = await client.get(f"/api/admin/users/{ref}", headers=admin.headers)
        assert response.status_code == 200
        user = response.json()["data"]
        assert user["email"] == buyer.email
        assert user["legacyId"] == legacy
        assert user["banned"] is False
    missing = await client.get(f"/api/admin/users/{uuid.uuid4()}", headers=admin.headers)
    assert missing.status_code == 404


async def test_set_roles(client: httpx.AsyncClient, admin: Account, buyer: Account) -> None:
    response = await client.put(
        f"/api/admin/users/{buyer.id}/roles",
        headers=admin.headers,
        json={"roles": ["seller", "buyer", "seller"]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["roles"] == ["buyer", "seller"]
    profile = await client.get("/api/user/profile", headers=buyer.headers)
    assert profile.json()["data"]["roles"] == ["buyer", "seller"]


@pytest.mark.parametrize("roles", [[], ["king"], "admin", None])
async def test_invalid_roles_are_refused(
    client: httpx.AsyncClient, admin: Account, buyer: Account, roles: object
) -> None:
    response = await client.put(
        f"/api/admin/users/{buyer.id}/roles", headers=admin.headers, json={"roles": roles}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_FAILED"
    profile = await client.get("/api/user/profile", headers=buyer.headers)
    assert profile.json()["data"]["roles"] == ["buyer"]


async def test_admin_cannot_demote_or_ban_themself(
    client: httpx.AsyncClient, admin: Account
) -> None:
    demote = await client.put(
        f"/api/admin/users/{admin.id}/roles", headers=admin.headers, json={"roles": ["buyer"]}
    )
    assert demote.status_code == 409
    assert demote.json()["error"]["code"] == "CANNOT_REMOVE_OWN_ADMIN"
    ban = await client.post(
        f"/api/admin/users/{admin.id}/ban", headers=admin.headers, json={"reason": "oops"}
    )
    assert ban.status_code == 409
    assert ban.json()["error"]["code"] == "CANNOT_BAN_SELF"

    me = (await client.get("/api/user/profile", headers=admin.headers)).json()["data"]
    assert me["roles"] == ["admin"]
    # Adding roles to oneself is fine as long as admin stays.
    more = await client.put(
        f"/api/admin/users/{admin.id}/roles",
        headers=admin.headers,
        json={"roles": ["admin", "resolver"]},
    )
    assert more.json()["data"]["roles"] == ["admin", "resolver"]


async def test_ban_kills_tokens_and_unban_restores_access(
    client: httpx.AsyncClient, admin: Account, make_user: MakeUser, db: Database
) -> None:
    seller = await make_user(roles=["seller"])
    async with db.session() as session:
        for n in range(2):
            session.add(
                RefreshToken(
                    user_id=seller.id,
                    family_id=uuid.uuid4(),
                    token_hash=uuid.uuid4().hex + str(n),
                    expires_at=utcnow() + timedelta(days=30),
                )
            )
        await session.commit()
    assert (await client.get(f"/api/user/{seller.id}/public")).status_code == 200

    ban = await client.post(
        f"/api/admin/users/{seller.id}/ban",
        headers=admin.headers,
        json={"reason": "Counterfeit goods"},
    )
    assert ban.status_code == 200, ban.text
    assert ban.json()["data"]["banned"] is True
    assert ban.json()["data"]["banReason"] == "Counterfeit goods"

    denied = await client.get("/api/user/profile", headers=seller.headers)
    assert denied.status_code in (401, 403)
    assert denied.json()["success"] is False
    assert (await client.get(f"/api/user/{seller.id}/public")).status_code == 404
    async with db.session(False) as session:
        revoked = (
            (
                await session.execute(
                    sa.select(RefreshToken.revoked_at).where(RefreshToken.user_id == seller.id)
                )
            )
            .scalars()
            .all()
        )
    assert len(revoked) == 2 and all(r is not None for r in revoked)

    twice = await client.post(
        f"/api/admin/users/{seller.id}/ban", headers=admin.headers, json={"reason": "again"}
    )
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "USER_ALREADY_BANNED"

    unban = await client.post(f"/api/admin/users/{seller.id}/unban", headers=admin.headers)
    assert unban.status_code == 200
    assert unban.json()["data"]["banned"] is False
    assert unban.json()["data"]["banReason"] is None
    assert (await client.get(f"/api/user/{seller.id}/public")).status_code == 200
    # The old token stays dead; a token for the current version works again.
    assert (await client.get("/api/user/profile", headers=seller.headers)).status_code == 401

    again = await client.post(f"/api/admin/users/{seller.id}/unban", headers=admin.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "USER_NOT_BANNED"


async def test_fresh_token_works_after_unban(
    client: httpx.AsyncClient, admin: Account, buyer: Account, settings: Settings, db: Database
) -> None:
    await client.post(
        f"/api/admin/users/{buyer.id}/ban", headers=admin.headers, json={"reason": "spam"}
    )
    async with db.session(False) as session:
        version = (
            await session.execute(sa.select(User.token_version).where(User.id == buyer.id))
        ).scalar_one()
    token, _ = create_access_token(settings, buyer.id, ["buyer"], version)
    headers = {"Authorization": f"Bearer {token}"}
    banned = await client.get("/api/user/profile", headers=headers)
    assert banned.status_code == 403
    assert banned.json()["error"]["code"] == "ACCOUNT_BANNED"

    await client.post(f"/api/admin/users/{buyer.id}/unban", headers=admin.headers)
    assert (await client.get("/api/user/profile", headers=headers)).status_code == 200


async def test_ban_needs_a_reason_and_an_existing_user(
    client: httpx.AsyncClient, admin: Account, buyer: Account
) -> None:
    for body in ({}, {"reason": "   "}, {"reason": "r" * 501}):
        response = await client.post(
            f"/api/admin/users/{buyer.id}/ban", headers=admin.headers, json=body
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "VALIDATION_FAILED"
    missing = await client.post(
        f"/api/admin/users/{uuid.uuid4()}/ban", headers=admin.headers, json={"reason": "x"}
    )
    assert missing.status_code == 404
    assert (await client.get("/api/user/profile", headers=buyer.headers)).status_code == 200
