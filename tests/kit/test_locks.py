"""No slow work under a lock: the guard that proves it, and sign-in flows that obey it.

The guard (kit/locks.py) knows which task holds a write transaction; password hashing
checks it before starting. Outside production it raises, so every test that signs in,
registers or changes a password is a proof; the tests here show the guard can fail, and
run the sign-in flows with production Argon2 parameters (the finding: login locked the
user row — on SQLite the whole database — before the Argon2 check).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager

from bazaar.config import Settings
from bazaar.kit.db import Database
from bazaar.kit.locks import WRITE_TRANSACTIONS, SlowWorkUnderLock
from bazaar.kit.security import PASSWORD_WORK, hash_password_async
from bazaar.models import Category
from tests.conftest import make_app
from tests.fixtures.users import MakeUser
from tests.ops.helpers import client_for, settings_like

PRODUCTION_ARGON2 = {"argon2_time_cost": 2, "argon2_memory_cost": 19456}


async def test_the_guard_refuses_a_hash_inside_a_write_transaction(
    db: Database, settings: Settings
) -> None:
    async with db.transaction() as session:
        session.add(Category(slug="locked", name="Locked"))
        await session.flush()  # the transaction is open (BEGIN IMMEDIATE on SQLite)
        with pytest.raises(SlowWorkUnderLock):
            await hash_password_async(settings, "a password")
    # Outside it, and inside a read session (which locks nothing), hashing goes ahead.
    assert await hash_password_async(settings, "a password")
    async with db.session(False) as reader:
        await reader.execute(sa.select(Category.slug))
        assert await hash_password_async(settings, "a password")


async def test_the_guard_is_per_task(db: Database, settings: Settings) -> None:
    """Another request's open transaction does not make this one's hash a violation."""
    holding = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with db.transaction() as session:
            session.add(Category(slug="held", name="Held"))
            await session.flush()
            holding.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await holding.wait()
    try:
        assert await hash_password_async(settings, "a password")
    finally:
        release.set()
        await holder


@pytest.fixture
async def production_argon2(
    settings: Settings, db: Database, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    slow = settings_like(settings, tmp_path, data_dir=settings.data_dir, **PRODUCTION_ARGON2)
    app = make_app(slow, db)
    async with LifespanManager(app), client_for(app) as client:
        yield client


async def test_concurrent_failed_logins_hash_outside_any_transaction(
    production_argon2: httpx.AsyncClient, make_user: MakeUser
) -> None:
    """8 concurrent failed logins on 8 accounts: each password check ran with no write
    transaction open in its task (a violation raises and would answer 500), and each
    failure was still counted toward the lockout."""
    accounts = [await make_user(email=f"user{i}@example.com") for i in range(8)]
    checks = WRITE_TRANSACTIONS.checks[PASSWORD_WORK]
    violations = WRITE_TRANSACTIONS.violations[PASSWORD_WORK]
    answers = await asyncio.gather(
        *(
            production_argon2.post(
                "/api/auth/login", json={"email": a.email, "password": "wrong password"}
            )
            for a in accounts
        )
    )
    assert [a.status_code for a in answers] == [401] * 8
    assert WRITE_TRANSACTIONS.checks[PASSWORD_WORK] >= checks + 8
    assert WRITE_TRANSACTIONS.violations[PASSWORD_WORK] == violations


async def test_sign_in_flows_with_production_hashing_take_no_lock_while_hashing(
    production_argon2: httpx.AsyncClient, make_user: MakeUser
) -> None:
    violations = WRITE_TRANSACTIONS.violations[PASSWORD_WORK]
    registered = await production_argon2.post(
        "/api/auth/register",
        json={"email": "new@example.com", "password": "a long password", "name": "New"},
    )
    assert registered.status_code == 201, registered.text
    signed_in = await production_argon2.post(
        "/api/auth/login", json={"email": "new@example.com", "password": "a long password"}
    )
    assert signed_in.status_code == 200
    token = signed_in.json()["data"]["accessToken"]
    changed = await production_argon2.post(
        "/api/auth/password/change",
        json={"currentPassword": "a long password", "newPassword": "another long one"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert changed.status_code == 200, changed.text
    again = await production_argon2.post(
        "/api/auth/login", json={"email": "new@example.com", "password": "another long one"}
    )
    assert again.status_code == 200
    assert WRITE_TRANSACTIONS.violations[PASSWORD_WORK] == violations
