"""Development accounts and `ensure_admin` (the engine of `bazaar create-admin`)."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from bazaar.config import Settings
from bazaar.kit.db import Database
from bazaar.kit.errors import ValidationFailed
from bazaar.kit.security import create_access_token, verify_password
from bazaar.models import User
from bazaar.users.seed import DEV_USERS, seed_users
from bazaar.users.service import ensure_admin
from tests.fixtures.users import MakeUser


async def _user(db: Database, email: str) -> User:
    async with db.session(False) as session:
        return (await session.execute(sa.select(User).where(User.email == email))).scalar_one()


async def test_seed_creates_one_verified_user_per_role_once(
    db: Database, settings: Settings, client: httpx.AsyncClient
) -> None:
    assert await seed_users(db, settings) == len(DEV_USERS)
    assert await seed_users(db, settings) == 0

    async with db.session(False) as session:
        users = (await session.execute(sa.select(User))).scalars().all()
    assert sorted(u.roles[0] for u in users) == sorted(d.role for d in DEV_USERS)
    for dev in DEV_USERS:
        user = await _user(db, dev.email)
        assert user.roles == [dev.role]
        assert verify_password(settings, dev.password, user.password_hash or "")[0]
        assert user.referral_code
        token, _ = create_access_token(settings, user.id, user.roles, user.token_version)
        profile = await client.get(
            "/api/user/profile", headers={"Authorization": f"Bearer {token}"}
        )
        assert profile.json()["data"]["emailVerified"] is True


async def test_seed_leaves_an_existing_account_alone(
    db: Database, settings: Settings, make_user: MakeUser
) -> None:
    await make_user(roles=["buyer"], email="admin@bazaar.local", password="my own secret")
    assert await seed_users(db, settings) == len(DEV_USERS) - 1
    kept = await _user(db, "admin@bazaar.local")
    assert kept.roles == ["buyer"]
    assert verify_password(settings, "my own secret", kept.password_hash or "")[0]


async def test_ensure_admin_creates_then_promotes(
    db: Database, settings: Settings, make_user: MakeUser
) -> None:
    outcome = await ensure_admin(db, settings, " Root@Example.com ", "long enough pw", "Root")
    assert outcome == "created"
    root = await _user(db, "root@example.com")
    assert root.roles == ["admin"] and root.name == "Root"
    assert root.email_verified_at is not None
    assert verify_password(settings, "long enough pw", root.password_hash or "")[0]

    member = await make_user(roles=["seller"], email="Shop.Owner@example.com")
    outcome = await ensure_admin(
        db, settings, "shop.owner@EXAMPLE.com", "a different pw", "Ignored"
    )
    assert outcome == "promoted"
    promoted = await _user(db, "Shop.Owner@example.com")
    assert promoted.roles == ["seller", "admin"]
    # The existing password and name stay: the command never takes over an account.
    assert verify_password(settings, member.password, promoted.password_hash or "")[0]
    assert promoted.name == "Test User"

    again = await ensure_admin(db, settings, "root@example.com", "long enough pw", "R")
    assert again == "unchanged"


@pytest.mark.parametrize(
    ("email", "password", "name", "path"),
    [
        ("not-an-email", "long enough pw", "Root", "email"),
        ("root@example.com", "short", "Root", "password"),
        ("root@example.com", "long enough pw", "   ", "name"),
    ],
)
async def test_ensure_admin_validates_input(
    db: Database, settings: Settings, email: str, password: str, name: str, path: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await ensure_admin(db, settings, email, password, name)
    assert caught.value.details[0]["path"] == path
    async with db.session(False) as session:
        assert (await session.execute(sa.select(sa.func.count(User.id)))).scalar_one() == 0
