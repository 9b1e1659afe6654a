"""Every shop query."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.ids import LEGACY_ID, parse_uuid
from bazaar.models import Shop


async def by_owner(session: AsyncSession, owner_id: uuid.UUID, lock: bool = False) -> Shop | None:
    stmt = sa.select(Shop).where(Shop.owner_id == owner_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def by_ref(session: AsyncSession, ref: str | uuid.UUID) -> Shop | None:
    """By UUID, 24-hex legacy id or slug (slugs never look like ids, so no ambiguity)."""
    as_uuid = parse_uuid(ref)
    text = str(ref).strip().lower()
    if as_uuid is not None:
        clause = Shop.id == as_uuid
    elif LEGACY_ID.match(text):
        clause = Shop.legacy_object_id == text
    else:
        clause = Shop.slug == text
    return (await session.execute(sa.select(Shop).where(clause))).scalar_one_or_none()


async def taken_slugs(session: AsyncSession, base: str) -> set[str]:
    """Slugs equal to `base` or of the form `base-...` (candidates for a derived slug)."""
    stmt = sa.select(Shop.slug).where(sa.or_(Shop.slug == base, Shop.slug.like(f"{base}-%")))
    return set((await session.execute(stmt)).scalars())


async def slug_in_use(session: AsyncSession, slug: str, exclude: uuid.UUID | None = None) -> bool:
    stmt = sa.select(Shop.id).where(Shop.slug == slug)
    if exclude is not None:
        stmt = stmt.where(Shop.id != exclude)
    return (await session.execute(stmt.limit(1))).first() is not None
