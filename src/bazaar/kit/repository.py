"""What every domain repository needs: one row by reference (scoped, optionally locked)
and a page of rows (`paginate`, re-exported from kit/pagination)."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.ids import ref_clause
from bazaar.kit.pagination import paginate

T = TypeVar("T")

__all__ = ["find_by_ref", "paginate"]


async def find_by_ref(
    session: AsyncSession,
    model: type[T],
    ref: str | uuid.UUID,
    *where: sa.ColumnElement[bool],
    lock: bool = False,
    share: bool = False,
) -> T | None:
    """The row whose UUID or legacy id is `ref` and that matches `where` (e.g. an owner
    scope), or None. `lock` takes it FOR UPDATE (`share`: FOR SHARE) on PostgreSQL and
    reloads it, so values read before the lock are not trusted."""
    clause = ref_clause(model, ref)
    if clause is None:
        return None
    stmt: sa.Select[Any] = sa.select(model).where(clause, *where)
    if lock or share:
        stmt = stmt.with_for_update(read=share and not lock).execution_options(
            populate_existing=True
        )
    return (await session.execute(stmt)).scalar_one_or_none()  # type: ignore[no-any-return]
