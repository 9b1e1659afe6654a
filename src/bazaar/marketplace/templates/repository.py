"""Every template query."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.pagination import PageParams, paginate
from bazaar.kit.repository import find_by_ref
from bazaar.models import PurchaseRequest, RequestTemplate, User


async def get(session: AsyncSession, ref: str, *, lock: bool = False) -> RequestTemplate | None:
    """A template by UUID or legacy id, whatever its owner or state."""
    return await find_by_ref(session, RequestTemplate, ref, lock=lock)


def _newest_first(stmt: sa.Select[Any]) -> sa.Select[Any]:
    return stmt.order_by(RequestTemplate.created_at.desc(), RequestTemplate.id.desc())


async def list_by_seller(
    session: AsyncSession, seller_id: uuid.UUID, active: bool | None, params: PageParams
) -> tuple[list[RequestTemplate], int]:
    stmt = sa.select(RequestTemplate).where(RequestTemplate.seller_id == seller_id)
    if active is not None:
        stmt = stmt.where(RequestTemplate.is_active.is_(active))
    return await paginate(session, _newest_first(stmt), params)


async def list_active_by_shop(
    session: AsyncSession,
    shop_id: uuid.UUID,
    category_ids: list[uuid.UUID] | None,
    params: PageParams,
) -> tuple[list[RequestTemplate], int]:
    stmt = sa.select(RequestTemplate).where(
        RequestTemplate.shop_id == shop_id, RequestTemplate.is_active.is_(True)
    )
    if category_ids is not None:
        stmt = stmt.where(RequestTemplate.category_id.in_(category_ids))
    return await paginate(session, _newest_first(stmt), params)


async def was_instantiated(session: AsyncSession, template_id: uuid.UUID) -> bool:
    stmt = sa.select(sa.exists().where(PurchaseRequest.template_id == template_id))
    return bool((await session.execute(stmt)).scalar_one())


async def delete(session: AsyncSession, template: RequestTemplate) -> None:
    await session.delete(template)
    await session.flush()


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return (await session.execute(sa.select(User).where(User.id == user_id))).scalar_one_or_none()
