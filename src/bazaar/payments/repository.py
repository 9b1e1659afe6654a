"""Every payment query. Payments have no reads by id yet: the marketplace reaches them
through a request it already holds (accept, cancel, the funding-window sweep)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.models import Payment


async def not_closed_locked(
    session: AsyncSession, request_id: uuid.UUID, closed: Collection[str]
) -> list[Payment]:
    """The request's payments not in `closed`, locked for update and reloaded."""
    stmt = (
        sa.select(Payment)
        .where(Payment.request_id == request_id, Payment.status.not_in(list(closed)))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(stmt)).scalars())


def money_moving(request_id_column: Any, unpaid: Collection[str]) -> sa.ColumnElement[bool]:
    """SQL: the request has a payment whose status is not one of `unpaid`."""
    return sa.exists().where(
        Payment.request_id == request_id_column, Payment.status.not_in(list(unpaid))
    )
