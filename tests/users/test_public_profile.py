"""Public profiles: no sign-in, by UUID or legacy id, only public facts, banned users hidden."""

from __future__ import annotations

import uuid

import httpx
import sqlalchemy as sa

from bazaar.kit.db import Database, utcnow
from bazaar.models import User
from tests.fixtures.users import MakeUser


async def _update(db: Database, user_id: uuid.UUID, **values: object) -> None:
    async with db.session() as session:
        await session.execute(sa.update(User).where(User.id == user_id).values(**values))
        await session.commit()


async def test_public_profile_by_uuid_shows_only_public_facts(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database
) -> None:
    user = await make_user(roles=["seller", "admin", "buyer"], name="Sam Seller")
    await _update(db, user.id, bio="Vintage cameras")
    response = await client.get(f"/api/user/{user.id}/public")
    assert response.status_code == 200, response.text
    profile = response.json()["data"]
    assert profile["id"] == str(user.id)
    assert profile["name"] == "Sam Seller"
    assert profile["bio"] == "Vintage cameras"
    assert profile["roles"] == ["seller"]  # admin and buyer are not advertised
    assert profile["memberSince"]
    assert "email" not in profile and "timezone" not in profile


async def test_public_profile_by_legacy_id_and_on_legacy_mount(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database
) -> None:
    user = await make_user(roles=["buyer"], name="Old Timer")
    legacy = "64b7f0c2a1b2c3d4e5f60718"
    await _update(db, user.id, legacy_object_id=legacy)
    for url in (f"/api/user/{legacy}/public", f"/api/users/{legacy.upper()}/public"):
        response = await client.get(url)
        assert response.status_code == 200, response.text
        assert response.json()["data"]["id"] == str(user.id)
        assert response.json()["data"]["roles"] == []


async def test_unknown_malformed_and_banned_users_are_404(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database
) -> None:
    banned = await make_user(roles=["seller"])
    await _update(db, banned.id, banned_at=utcnow(), ban_reason="fraud")
    for ref in (str(banned.id), str(uuid.uuid4()), "not-an-id", "0" * 24):
        response = await client.get(f"/api/user/{ref}/public")
        assert response.status_code == 404, ref
        assert response.json()["error"]["code"] == "NOT_FOUND"
