"""Queries on accounts: lookups, locking, admin search, refresh-token revocation."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.db import json_array_contains
from bazaar.models import RefreshToken, User


async def find_by_email(session: AsyncSession, email: str, *, lock: bool = False) -> User | None:
    """Case-insensitive, so an account is found however its address was typed."""
    stmt = sa.select(User).where(sa.func.lower(User.email) == email.lower())
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalars().first()


async def lock_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Serialize changes to one user's rows (row lock on PostgreSQL; SQLite writers are
    already serialized by BEGIN IMMEDIATE)."""
    await session.execute(sa.select(User.id).where(User.id == user_id).with_for_update())


async def referral_code_taken(session: AsyncSession, code: str) -> bool:
    stmt = sa.select(sa.exists().where(User.referral_code == code))
    return bool((await session.execute(stmt)).scalar())


def search_stmt(
    backend: str, *, q: str | None, role: str | None, banned: bool | None
) -> sa.Select[Any]:
    """Users matching the admin filters, newest first."""
    stmt = sa.select(User)
    if q:
        needle = q.lower()
        stmt = stmt.where(
            sa.or_(
                sa.func.lower(User.email).contains(needle, autoescape=True),
                sa.func.lower(User.name).contains(needle, autoescape=True),
            )
        )
    if role:
        stmt = stmt.where(json_array_contains(User.roles, role, backend))
    if banned is True:
        stmt = stmt.where(User.banned_at.is_not(None))
    elif banned is False:
        stmt = stmt.where(User.banned_at.is_(None))
    return stmt.order_by(User.created_at.desc(), User.id.desc())


async def revoke_refresh_tokens(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> int:
    """Revoke every live refresh token of the user; returns how many were live."""
    result = await session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
