"""Every template query.

Who may see a template is decided in SQL by `readable_statement(viewer)`: an active one
anyone, an inactive one its owner only. Changes go through `get_owned`, the owner's own.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.pagination import PageParams, paginate
from bazaar.kit.repository import find_by_ref
from bazaar.models import PurchaseRequest, RequestTemplate, User


def readable_statement(viewer: User | None) -> sa.Select[RequestTemplate]:
    """The templates `viewer` may see: every active one (the public catalogue) and their
    own inactive ones."""
    stmt = sa.select(RequestTemplate)
    if viewer is None:
        return stmt.where(RequestTemplate.is_active.is_(True))
    return stmt.where(
        sa.or_(RequestTemplate.is_active.is_(True), RequestTemplate.seller_id == viewer.id)
    )


async def get_readable(
    session: AsyncSession, ref: str, viewer: User | None, *, share: bool = False
) -> RequestTemplate | None:
    """A template by UUID or legacy id if `viewer` may see it; `share` reads it under a
    shared row lock (FOR SHARE) that a delete or an edit waits for."""
    stmt = readable_statement(viewer)
    return await find_by_ref(session, stmt, RequestTemplate, ref, share=share)


async def get_owned(
    session: AsyncSession, ref: str, owner: User, *, lock: bool = False
) -> RequestTemplate | None:
    """One of `owner`'s templates, active or not (only its owner may change one)."""
    stmt = readable_statement(owner).where(RequestTemplate.seller_id == owner.id)
    return await find_by_ref(session, stmt, RequestTemplate, ref, lock=lock)


def _newest_first(stmt: sa.Select[Any]) -> sa.Select[Any]:
    return stmt.order_by(RequestTemplate.created_at.desc(), RequestTemplate.id.desc())


async def list_owned(
    session: AsyncSession, owner: User, active: bool | None, params: PageParams
) -> tuple[list[RequestTemplate], int]:
    stmt = readable_statement(owner).where(RequestTemplate.seller_id == owner.id)
    if active is not None:
        stmt = stmt.where(RequestTemplate.is_active.is_(active))
    return await paginate(session, _newest_first(stmt), params)


async def list_active_by_shop(
    session: AsyncSession,
    shop_id: uuid.UUID,
    category_ids: list[uuid.UUID] | None,
    params: PageParams,
) -> tuple[list[RequestTemplate], int]:
    """The shop's catalogue: its active templates, whoever asks (the owner too)."""
    stmt = readable_statement(None).where(RequestTemplate.shop_id == shop_id)
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
    """A shop owner's account, to see whether they can still take orders."""
    return (await session.execute(sa.select(User).where(User.id == user_id))).scalar_one_or_none()
