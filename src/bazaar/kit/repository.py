"""What every domain repository needs: one row by reference out of a statement (the
domain's `readable_statement(viewer)`, or a plain `select(model)` for an unscoped getter),
optionally locked, and a page of rows (`paginate`, re-exported from kit/pagination)."""

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
    stmt: sa.Select[T],
    model: type[T],
    ref: str | uuid.UUID,
    *,
    lock: bool = False,
    share: bool = False,
) -> T | None:
    """The row of `stmt` whose UUID or legacy id is `ref`, or None (also for a `ref` that
    is neither). Scoping belongs in `stmt`, so a row the viewer may not read is never
    loaded. `lock` takes it FOR UPDATE (`share`: FOR SHARE) on PostgreSQL and reloads it,
    so values read before the lock are not trusted."""
    clause = ref_clause(model, ref)
    if clause is None:
        return None
    found: sa.Select[Any] = stmt.where(clause)
    if lock or share:
        # `of=model`: lock the row asked for, not rows of tables the scope joins.
        found = found.with_for_update(read=share and not lock, of=model).execution_options(
            populate_existing=True
        )
    return (await session.execute(found)).scalar_one_or_none()  # type: ignore[no-any-return]
