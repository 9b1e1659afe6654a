"""Queries of sign-in: accounts by email, refresh-token families, emailed tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.db import for_update
from bazaar.models import RefreshToken, User, UserToken


async def user_by_email(session: AsyncSession, email: str, *, lock: bool = False) -> User | None:
    """The account using `email` (stored lower-cased); locked for update when asked."""
    stmt = sa.select(User).where(User.email == email.lower())
    if lock:
        stmt = for_update(stmt)
    return (await session.execute(stmt)).scalar_one_or_none()


async def user_by_id(
    session: AsyncSession, user_id: uuid.UUID, *, lock: bool = False
) -> User | None:
    stmt = sa.select(User).where(User.id == user_id)
    if lock:
        stmt = for_update(stmt)
    return (await session.execute(stmt)).scalar_one_or_none()


async def email_taken(session: AsyncSession, email: str) -> bool:
    stmt = sa.select(sa.exists().where(User.email == email.lower()))
    return bool((await session.execute(stmt)).scalar())


async def user_id_by_referral_code(session: AsyncSession, code: str) -> uuid.UUID | None:
    """Case-insensitive: codes are read aloud and typed, and imported ones keep their case."""
    stmt = sa.select(User.id).where(sa.func.upper(User.referral_code) == code.upper()).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def refresh_token_by_hash(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    """The refresh token row, locked so two rotations of one token cannot both succeed."""
    stmt = for_update(sa.select(RefreshToken).where(RefreshToken.token_hash == token_hash))
    return (await session.execute(stmt)).scalar_one_or_none()


async def revoke_family(session: AsyncSession, family_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


async def revoke_user_refresh_tokens(
    session: AsyncSession, user_id: uuid.UUID, now: datetime
) -> None:
    await session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


async def user_token_by_hash(
    session: AsyncSession, token_hash: str, purpose: str
) -> UserToken | None:
    """The emailed token, locked so it can be used once even under concurrent requests."""
    stmt = for_update(
        sa.select(UserToken).where(UserToken.token_hash == token_hash, UserToken.purpose == purpose)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def discard_unused_user_tokens(
    session: AsyncSession, user_id: uuid.UUID, purpose: str
) -> None:
    """Only the newest emailed link of a kind stays valid."""
    await session.execute(
        sa.delete(UserToken)
        .where(
            UserToken.user_id == user_id,
            UserToken.purpose == purpose,
            UserToken.used_at.is_(None),
        )
        .execution_options(synchronize_session=False)
    )


async def delete_spent_refresh_tokens(
    session: AsyncSession, expired_before: datetime, revoked_before: datetime, limit: int
) -> int:
    """Delete up to `limit` refresh tokens that expired before `expired_before` or were
    revoked before `revoked_before`; returns the count.

    A rotated token is kept until it expires: presenting it again is how a stolen token
    is noticed (service.refresh revokes its family). A revoked one is refused either way.
    """
    spent = sa.or_(
        RefreshToken.expires_at < expired_before, RefreshToken.revoked_at < revoked_before
    )
    return await _delete_some(session, RefreshToken, spent, limit)


async def delete_spent_user_tokens(
    session: AsyncSession, expired_before: datetime, used_before: datetime, limit: int
) -> int:
    """Delete up to `limit` emailed tokens that expired before `expired_before` or were
    used before `used_before`; returns the count."""
    spent = sa.or_(UserToken.expires_at < expired_before, UserToken.used_at < used_before)
    return await _delete_some(session, UserToken, spent, limit)


async def _delete_some(
    session: AsyncSession,
    model: type[RefreshToken] | type[UserToken],
    where: sa.ColumnElement[bool],
    limit: int,
) -> int:
    # DELETE has no LIMIT on PostgreSQL (nor in SQLite's default build): pick the ids first.
    some = sa.select(model.id).where(where).limit(limit)
    result = await session.execute(
        sa.delete(model).where(model.id.in_(some)).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
