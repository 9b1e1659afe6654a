"""Every review query. Reviews are public (the reviews about a user); who may write one,
and read a deal's two, is decided on the request, read through the requests service."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.pagination import PageParams, paginate
from bazaar.models import PurchaseRequest, Review, SellerOffer, User


async def find_review(
    session: AsyncSession, request_id: uuid.UUID, author_id: uuid.UUID
) -> Review | None:
    stmt = sa.select(Review).where(Review.request_id == request_id, Review.author_id == author_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_for_request(session: AsyncSession, request_id: uuid.UUID) -> list[Review]:
    stmt = sa.select(Review).where(Review.request_id == request_id).order_by(Review.created_at)
    return list((await session.execute(stmt)).scalars())


def _about(user_id: uuid.UUID, author_role: str | None) -> list[sa.ColumnElement[bool]]:
    where = [Review.subject_id == user_id]
    if author_role is not None:
        where.append(Review.author_role == author_role)
    return where


async def list_about_user(
    session: AsyncSession, user_id: uuid.UUID, author_role: str | None, params: PageParams
) -> tuple[list[Review], int]:
    stmt = (
        sa.select(Review)
        .where(*_about(user_id, author_role))
        .order_by(Review.created_at.desc(), Review.id.desc())
    )
    return await paginate(session, stmt, params)


async def user_names(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await session.execute(sa.select(User.id, User.name).where(User.id.in_(ids)))
    return {row.id: row.name for row in rows}


async def rating_totals(
    session: AsyncSession, user_id: uuid.UUID, author_role: str | None
) -> tuple[int, int]:
    """(number of reviews, sum of their ratings): integers, so exact on every backend."""
    stmt = sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(Review.rating), 0)).where(
        *_about(user_id, author_role)
    )
    row: Any = (await session.execute(stmt)).one()
    return int(row[0]), int(row[1])


async def count_completed_deals(session: AsyncSession, seller_id: uuid.UUID) -> int:
    stmt = (
        sa.select(sa.func.count())
        .select_from(PurchaseRequest)
        .join(SellerOffer, SellerOffer.id == PurchaseRequest.accepted_offer_id)
        .where(PurchaseRequest.status == "completed", SellerOffer.seller_id == seller_id)
    )
    return int((await session.execute(stmt)).scalar_one())
