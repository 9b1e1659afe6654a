"""Queries on addresses, always scoped to their owner."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.db import utcnow
from bazaar.kit.errors import NotFound
from bazaar.kit.pagination import PagedQuery, PageParams
from bazaar.kit.repository import find_by_ref
from bazaar.models import Address

# The user's addresses (`owner`): the default first, then the newest.
OWNED = PagedQuery(
    sa.select(Address)
    .where(Address.user_id == sa.bindparam("owner"))
    .order_by(Address.is_default.desc(), Address.created_at.desc(), Address.id.desc())
)


async def list_owned(
    session: AsyncSession, user_id: uuid.UUID, params: PageParams
) -> tuple[list[Address], int]:
    return await OWNED.fetch(session, params, owner=user_id)


async def get_owned(session: AsyncSession, user_id: uuid.UUID, ref: str) -> Address:
    """One of the user's addresses by UUID or legacy id; anyone else's is 404."""
    address = await find_by_ref(session, Address, ref, Address.user_id == user_id)
    if address is None:
        raise NotFound("Address not found")
    return address


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
