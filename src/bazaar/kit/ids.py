"""Entity references: a UUID or the old system's 24-hex Mongo ObjectId."""

from __future__ import annotations

import re
import uuid
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.errors import NotFound

LEGACY_ID = re.compile(r"^[0-9a-fA-F]{24}$")
T = TypeVar("T")


def parse_uuid(ref: str | uuid.UUID) -> uuid.UUID | None:
    if isinstance(ref, uuid.UUID):
        return ref
    try:
        return uuid.UUID(str(ref))
    except ValueError:
        return None


def ref_clause(model: Any, ref: str | uuid.UUID) -> sa.ColumnElement[bool] | None:
    """WHERE clause matching `ref` as UUID or legacy id; None when it is neither."""
    as_uuid = parse_uuid(ref)
    if as_uuid is not None:
        return model.id == as_uuid  # type: ignore[no-any-return]
    if LEGACY_ID.match(str(ref)):
        return model.legacy_object_id == str(ref).lower()  # type: ignore[no-any-return]
    return None


async def get_by_ref(
    session: AsyncSession,
    model: type[T],
    ref: str | uuid.UUID,
    *,
    what: str | None = None,
    lock: bool = False,
) -> T:
    """Load one row by UUID or legacy id, or raise 404 NOT_FOUND."""
    clause = ref_clause(model, ref)
    name = what or getattr(model, "__name__", "Entity")
    if clause is None:
        raise NotFound(f"{name} not found")
    stmt = sa.select(model).where(clause)
    if lock:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"{name} not found")
    return row
