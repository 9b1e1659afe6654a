"""Queries on addresses. An address is readable by its owner only, decided in SQL by
`readable_statement`; nothing here reads another user's address."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.db import utcnow
from bazaar.kit.pagination import PagedQuery, PageParams
from bazaar.kit.repository import find_by_ref
from bazaar.models import Address, User


def _owned_by(owner_id: Any) -> sa.Select[Address]:
    # `owner_id` is a UUID or a bound parameter (for the list statement built once below).
    return sa.select(Address).where(Address.user_id == owner_id)


def readable_statement(viewer: User) -> sa.Select[Address]:
    """The addresses `viewer` may read: their own."""
    return _owned_by(viewer.id)


# The viewer's addresses (`viewer_id`): the default first, then the newest. Built once (see
# PagedQuery) from the same rule as readable_statement.
READABLE_PAGE = PagedQuery(
    _owned_by(sa.bindparam("viewer_id")).order_by(
        Address.is_default.desc(), Address.created_at.desc(), Address.id.desc()
    )
)


async def list_readable(
    session: AsyncSession, viewer: User, params: PageParams
) -> tuple[list[Address], int]:
    return await READABLE_PAGE.fetch(session, params, viewer_id=viewer.id)


async def get_readable(session: AsyncSession, viewer: User, ref: str) -> Address | None:
    """One of the viewer's addresses by UUID or legacy id; anyone else's is None."""
    return await find_by_ref(session, readable_statement(viewer), Address, ref)


async def count_owned(session: AsyncSession, user_id: uuid.UUID) -> int:
    stmt = sa.select(sa.func.count()).select_from(Address).where(Address.user_id == user_id)
    return int((await session.execute(stmt)).scalar_one())


async def clear_default(session: AsyncSession, user_id: uuid.UUID, keep: uuid.UUID) -> None:
    """Unset the user's current default (other than `keep`) with an immediate UPDATE, so the
    one-default unique index never sees two defaults."""
    await session.execute(
        sa.update(Address)
        .where(Address.user_id == user_id, Address.is_default, Address.id != keep)
        .values(is_default=False, updated_at=utcnow())
    )


async def newest_owned(session: AsyncSession, user_id: uuid.UUID) -> Address | None:
    stmt = (
        sa.select(Address)
        .where(Address.user_id == user_id)
        .order_by(Address.created_at.desc(), Address.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def default_id(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID | None:
    stmt = sa.select(Address.id).where(Address.user_id == user_id, Address.is_default)
    return (await session.execute(stmt)).scalar_one_or_none()
