"""Lockout: 5 failed sign-ins within 15 minutes lock the account for 15 minutes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from bazaar.kit.db import Database, utcnow
from tests.auth.helpers import error, login, register, update_user, user_row

WRONG = "not the password"


async def _fail(client: httpx.AsyncClient, email: str, times: int) -> list[int]:
    return [(await login(client, email, WRONG)).status_code for _ in range(times)]


async def test_failed_attempts_are_counted_although_the_request_fails(
    client: httpx.AsyncClient, db: Database
) -> None:
    email = (await register(client))["user"]["email"]

    assert await _fail(client, email, 2) == [401, 401]

    row = await user_row(db, email)
    assert row.failed_login_count == 2
    assert row.failed_login_window_start is not None
    assert row.locked_until is None


async def test_fifth_failure_locks_the_account(client: httpx.AsyncClient, db: Database) -> None:
    email = (await register(client))["user"]["email"]

    assert await _fail(client, email, 5) == [401, 401, 401, 401, 423]

    locked = await login(client, email)  # even the right password is refused now
    assert locked.status_code == 423
    assert error(locked)["code"] == "ACCOUNT_LOCKED"
    retry_after = int(locked.headers["Retry-After"])
    assert 14 * 60 < retry_after <= 15 * 60
    row = await user_row(db, email)
    assert row.locked_until is not None and row.locked_until > utcnow() + timedelta(minutes=14)


async def test_account_unlocks_after_the_lock_period(
    client: httpx.AsyncClient, db: Database
) -> None:
    email = (await register(client))["user"]["email"]
    await _fail(client, email, 5)
    # Fifteen minutes pass.
    await update_user(db, email, locked_until=utcnow() - timedelta(seconds=1))

    response = await login(client, email)

    assert response.status_code == 200
    row = await user_row(db, email)
    assert row.locked_until is None
    assert row.failed_login_count == 0


async def test_success_resets_the_counter(client: httpx.AsyncClient, db: Database) -> None:
    email = (await register(client))["user"]["email"]
    await _fail(client, email, 4)
    assert (await login(client, email)).status_code == 200

    # Four more failures are again below the threshold.
    assert await _fail(client, email, 4) == [401] * 4
    assert (await user_row(db, email)).failed_login_count == 4


async def test_failures_outside_the_window_start_a_new_count(
    client: httpx.AsyncClient, db: Database
) -> None:
    email = (await register(client))["user"]["email"]
    await _fail(client, email, 4)
    # The first failures are now older than the 15-minute window.
    await update_user(db, email, failed_login_window_start=utcnow() - timedelta(minutes=16))

    assert await _fail(client, email, 4) == [401] * 4

    row = await user_row(db, email)
    assert row.failed_login_count == 4
    assert row.locked_until is None


async def test_concurrent_failures_are_all_counted(client: httpx.AsyncClient, db: Database) -> None:
    email = (await register(client))["user"]["email"]

    responses = await asyncio.gather(*(login(client, email, WRONG) for _ in range(5)))

    # The account row is locked while a failure is counted, so none is lost.
    assert sorted(r.status_code for r in responses) == [401, 401, 401, 401, 423]
    assert (await login(client, email)).status_code == 423
