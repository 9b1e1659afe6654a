"""The sign-in lockout: failed password checks counted per address, in the database.

5 failures within LOCKOUT_WINDOW lock the address for LOCKOUT_DURATION (423
`ACCOUNT_LOCKED`). The count is kept per sign-in address whether or not an account uses
it, so an unknown email locks exactly like a real one and the lockout reveals nothing
(before, a real account answered 423 after 5 bad passwords while an unknown email stayed
401 forever). Wrong current passwords on `password/change` count toward the same lock.
Rows are keyed by a digest of the normalised address and pruned once they no longer
matter (`delete_stale`, from the token cleanup sweep).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.models import SignInFailure

log = structlog.get_logger("bazaar.auth")


def failure_key(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


async def locked_until(session: AsyncSession, email: str, now: datetime) -> datetime | None:
    """When the address's lock ends, or None when it is not locked (a plain read)."""
    stmt = sa.select(SignInFailure.locked_until).where(SignInFailure.key == failure_key(email))
    until = (await session.execute(stmt)).scalar_one_or_none()
    return until if until is not None and until > now else None


async def _locked_row(session: AsyncSession, key: str, now: datetime) -> SignInFailure:
    """The address's row, created if missing, locked for this transaction (two concurrent
    failures of one address queue on it instead of both inserting)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.execute(
        insert(SignInFailure)
        .values(key=key, failures=0, window_started_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    stmt = (
        sa.select(SignInFailure)
        .where(SignInFailure.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one()


async def check_and_count(
    session: AsyncSession, settings: Settings, email: str, failed: bool, now: datetime
) -> datetime | None:
    """Under the address's lock: the end of a lock in force (nothing else changes), else
    count this attempt — a failure toward the lock, a success clears the count. Returns
    when the lock ends if the address is (now) locked."""
    row = await _locked_row(session, failure_key(email), now)
    if row.locked_until is not None and row.locked_until > now:
        return row.locked_until
    row.updated_at = now
    if not failed:
        row.failures, row.locked_until = 0, None
        return None
    if now - row.window_started_at > settings.lockout_window:
        row.failures, row.window_started_at = 0, now
    row.failures += 1
    row.locked_until = None
    if row.failures >= settings.lockout_threshold:
        row.failures, row.window_started_at = 0, now
        row.locked_until = now + settings.lockout_duration
        log.warning("sign_in_locked", key=row.key[:12])
        return row.locked_until
    return None


async def clear(session: AsyncSession, email: str) -> None:
    """Forget the address's failures and lift its lock (a password reset does)."""
    await session.execute(sa.delete(SignInFailure).where(SignInFailure.key == failure_key(email)))


async def locks_of(
    session: AsyncSession, emails: Collection[str], now: datetime
) -> dict[str, datetime]:
    """Locks in force for these addresses (for admin views), by address."""
    keys = {failure_key(e): e for e in emails}
    if not keys:
        return {}
    stmt = sa.select(SignInFailure.key, SignInFailure.locked_until).where(
        SignInFailure.key.in_(list(keys)), SignInFailure.locked_until > now
    )
    rows = (await session.execute(stmt)).all()
    return {keys[key]: until for key, until in rows if until is not None}


async def delete_stale(session: AsyncSession, before: datetime, limit: int) -> int:
    """Delete up to `limit` rows untouched since `before` whose lock is over."""
    ids = (
        sa.select(SignInFailure.key)
        .where(
            SignInFailure.updated_at < before,
            sa.or_(SignInFailure.locked_until.is_(None), SignInFailure.locked_until < before),
        )
        .limit(limit)
    )
    keys = list((await session.execute(ids)).scalars())
    if not keys:
        return 0
    await session.execute(sa.delete(SignInFailure).where(SignInFailure.key.in_(keys)))
    return len(keys)
