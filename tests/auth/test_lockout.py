"""Lockout: 5 failed sign-ins within 15 minutes lock the address for 15 minutes, whether
or not an account uses it, and wrong current passwords on password change count too."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from bazaar.auth.lockout import failure_key
from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.models import SignInFailure
from bazaar.worker import Worker
from tests.auth.helpers import PASSWORD, bearer, error, login, new_email, register
from tests.ops.helpers import client_for

WRONG = "not the password"


async def _fail(client: httpx.AsyncClient, email: str, times: int) -> list[int]:
    return [(await login(client, email, WRONG)).status_code for _ in range(times)]


async def _row(db: Database, email: str) -> SignInFailure | None:
    async with db.session(False) as session:
        stmt = sa.select(SignInFailure).where(SignInFailure.key == failure_key(email))
        return (await session.execute(stmt)).scalar_one_or_none()


async def _set(db: Database, email: str, **values: Any) -> None:
    async with db.transaction() as session:
        await session.execute(
            sa.update(SignInFailure).where(SignInFailure.key == failure_key(email)).values(**values)
        )


async def test_failed_attempts_are_counted_although_the_request_fails(
    client: httpx.AsyncClient, db: Database
) -> None:
    email = (await register(client))["user"]["email"]

    assert await _fail(client, email, 2) == [401, 401]

    row = await _row(db, email)
    assert row is not None and row.failures == 2 and row.locked_until is None
    # Only a digest of the address is stored.
    async with db.session(False) as session:
        keys = (await session.execute(sa.select(SignInFailure.key))).scalars().all()
    assert email not in keys


async def test_fifth_failure_locks_the_account(client: httpx.AsyncClient, db: Database) -> None:
    email = (await register(client))["user"]["email"]

    assert await _fail(client, email, 5) == [401, 401, 401, 401, 423]

    locked = await login(client, email)  # even the right password is refused now
    assert locked.status_code == 423
    assert error(locked)["code"] == "ACCOUNT_LOCKED"
    retry_after = int(locked.headers["Retry-After"])
    assert 14 * 60 < retry_after <= 15 * 60
    row = await _row(db, email)
    assert row is not None and row.locked_until is not None
    assert row.locked_until > utcnow() + timedelta(minutes=14)


async def test_an_unknown_email_locks_exactly_like_an_account(
    client: httpx.AsyncClient,
) -> None:
    """A real account answered 423 after 5 bad passwords while an unknown email stayed
    401 forever: the lockout told which accounts exist."""
    known = (await register(client))["user"]["email"]
    unknown = new_email()

    for_known = await _fail(client, known, 7)
    for_unknown = await _fail(client, unknown, 7)

    assert for_known == for_unknown == [401, 401, 401, 401, 423, 423, 423]
    answers = [await login(client, e, WRONG) for e in (known, unknown)]
    assert answers[0].json() == answers[1].json()
    assert answers[0].headers["Retry-After"] == answers[1].headers["Retry-After"]


async def test_two_processes_count_toward_one_lock(
    client: httpx.AsyncClient, fresh_app: FastAPI
) -> None:
    """Failures through two app instances (two processes' worth of state) add up."""
    email = (await register(client))["user"]["email"]
    async with client_for(fresh_app) as other:
        statuses = []
        for attempt in range(5):
            statuses.append(
                (await login(client if attempt % 2 else other, email, WRONG)).status_code
            )
        assert statuses == [401, 401, 401, 401, 423]
        assert (await login(other, email)).status_code == 423


async def test_account_unlocks_after_the_lock_period(
    client: httpx.AsyncClient, db: Database
) -> None:
    email = (await register(client))["user"]["email"]
    await _fail(client, email, 5)
    # Fifteen minutes pass.
    await _set(db, email, locked_until=utcnow() - timedelta(seconds=1))

    response = await login(client, email)

    assert response.status_code == 200
    row = await _row(db, email)
    assert row is not None and row.failures == 0 and row.locked_until is None


async def test_success_resets_the_counter(client: httpx.AsyncClient, db: Database) -> None:
    email = (await register(client))["user"]["email"]
    await _fail(client, email, 4)
    assert (await login(client, email)).status_code == 200

    # Four more failures are again below the threshold.
    assert await _fail(client, email, 4) == [401] * 4
    row = await _row(db, email)
    assert row is not None and row.failures == 4


async def test_failures_outside_the_window_start_a_new_count(
    client: httpx.AsyncClient, db: Database
) -> None:
    email = (await register(client))["user"]["email"]
    await _fail(client, email, 4)
    # The first failures are now older than the 15-minute window.
    await _set(db, email, window_started_at=utcnow() - timedelta(minutes=16))

    assert await _fail(client, email, 4) == [401] * 4

    row = await _row(db, email)
    assert row is not None and row.failures == 4 and row.locked_until is None


async def test_concurrent_failures_are_all_counted(client: httpx.AsyncClient) -> None:
    emails = [(await register(client))["user"]["email"], new_email()]
    for email in emails:
        responses = await asyncio.gather(*(login(client, email, WRONG) for _ in range(5)))
        # The address's row is locked while a failure is counted, so none is lost.
        assert sorted(r.status_code for r in responses) == [401, 401, 401, 401, 423]
        assert (await login(client, email)).status_code == 423


async def test_wrong_current_passwords_count_toward_the_lockout(
    client: httpx.AsyncClient,
) -> None:
    """`password/change` was a password oracle: 12 wrong guesses all answered 400."""
    account = await register(client)
    email, token = account["user"]["email"], account["accessToken"]

    statuses = []
    for _ in range(6):
        answer = await client.post(
            "/api/auth/password/change",
            json={"currentPassword": WRONG, "newPassword": "a brand new password"},
            headers=bearer(token),
        )
        statuses.append(answer.status_code)

    assert statuses == [400, 400, 400, 400, 423, 423]
    assert (await login(client, email, PASSWORD)).status_code == 423


@pytest.mark.parametrize("locked", [False, True])
async def test_stale_failure_rows_are_pruned(
    client: httpx.AsyncClient, db: Database, settings: Settings, tmp_path: Path, locked: bool
) -> None:
    email = new_email()
    await _fail(client, email, 5 if locked else 2)
    long_ago = utcnow() - timedelta(days=2)
    await _set(db, email, updated_at=long_ago, locked_until=long_ago if locked else None)
    fresh = new_email()
    await _fail(client, fresh, 1)

    worker = Worker(db, settings, name="test", kinds=(), sweeps={"auth.token_cleanup"})
    await worker.run_once()

    assert await _row(db, email) is None
    assert await _row(db, fresh) is not None
