"""File queries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.models import StoredFile, User


async def get(session: AsyncSession, file_id: uuid.UUID) -> StoredFile | None:
    return await session.get(StoredFile, file_id)


async def owned(session: AsyncSession, owner: User, ids: Sequence[uuid.UUID]) -> list[StoredFile]:
    result = await session.scalars(
        sa.select(StoredFile).where(StoredFile.id.in_(ids), StoredFile.owner_id == owner.id)
    )
    return list(result)


async def attach(
    session: AsyncSession, ids: Sequence[uuid.UUID], kind: str, object_id: uuid.UUID
) -> None:
    """Mark still-unattached files as belonging to (`kind`, `object_id`)."""
    if not ids:
        return
    await session.execute(
        sa.update(StoredFile)
        .where(StoredFile.id.in_(ids), StoredFile.attached_kind.is_(None))
        .values(attached_kind=kind, attached_id=object_id)
    )


async def orphans(
    session: AsyncSession, before: datetime, limit: int, *, lock: bool
) -> list[tuple[uuid.UUID, str]]:
    stmt = (
        sa.select(StoredFile.id, StoredFile.storage_key)
        .where(StoredFile.attached_kind.is_(None), StoredFile.created_at < before)
        .order_by(StoredFile.created_at)
        .limit(limit)
    )
    if lock:
        stmt = stmt.with_for_update(skip_locked=True)
    return [(row[0], row[1]) for row in await session.execute(stmt)]


async def delete(session: AsyncSession, ids: Sequence[uuid.UUID]) -> None:
    await session.execute(sa.delete(StoredFile).where(StoredFile.id.in_(ids)))
