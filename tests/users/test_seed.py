"""Development accounts and `ensure_admin` (the engine of `bazaar create-admin`)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager

from bazaar.config import ConfigError, Settings
from bazaar.kit.db import Database
from bazaar.kit.errors import ValidationFailed
from bazaar.kit.security import create_access_token, hash_password, verify_password
from bazaar.models import User
from bazaar.users.seed import DEV_USERS, seed_users
from bazaar.users.service import ensure_admin
from tests.conftest import make_app
from tests.fixtures.users import MakeUser
from tests.ops.helpers import settings_like


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


async def test_production_refuses_to_start_while_a_development_password_remains(
    db: Database, settings: Settings, make_user: MakeUser, tmp_path: Path
) -> None:
    """Checked once at startup: the development accounts, and any admin, tried against
    the published passwords; the error names each account."""
    assert await seed_users(db, settings) == len(DEV_USERS)
    await make_user(roles=["admin"], email="ops@example.com", password="Guard123!dev")
    await make_user(roles=["admin"], email="safe@example.com", password="a private one")
    production = settings_like(
        settings,
        tmp_path,
        data_dir=settings.data_dir,
        node_env="production",
        jwt_secret="p" * 40,
        metrics_token="m" * 24,
    )
    with pytest.raises(ConfigError) as refused:
        async with LifespanManager(make_app(production, db)):
            pass
    message = str(refused.value)
    for email in [dev.email for dev in DEV_USERS] + ["ops@example.com"]:
        assert email in message
    assert "safe@example.com" not in message

    # Once every such account has another password (or is gone), it starts.
    async with db.transaction() as session:
        await session.execute(
            sa.update(User)
            .where(User.email != "safe@example.com")
            .values(password_hash=hash_password(settings, "changed after install"))
        )
    async with LifespanManager(make_app(production, db)):
        pass
