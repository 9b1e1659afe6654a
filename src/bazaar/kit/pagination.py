"""Page/limit pagination and the list envelope (`items` + `pagination`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import sqlalchemy as sa
from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


@dataclass(frozen=True)
class PageParams:
    page: int = 1
    limit: int = 20

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


async def _page_params(
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> PageParams:
    return PageParams(page=page, limit=limit)


Pagination = Annotated[PageParams, Depends(_page_params)]


class PageInfo(BaseModel):
    page: int
    limit: int
    total: int
    pages: int


class Page(BaseModel, Generic[T]):
    items: list[T]
    pagination: PageInfo

    @classmethod
    def build(cls, items: list[Any], total: int, params: PageParams) -> Page[T]:
        pages = math.ceil(total / params.limit) if total else 0
        info = PageInfo(page=params.page, limit=params.limit, total=total, pages=pages)
        return cls(items=items, pagination=info)


async def paginate(
    session: AsyncSession, stmt: sa.Select[Any], params: PageParams
) -> tuple[list[Any], int]:
    """Run `stmt` for one page and count the whole result: exactly two queries."""
    count_stmt = sa.select(sa.func.count()).select_from(stmt.order_by(None).options().subquery())
    total = (await session.execute(count_stmt)).scalar_one()
    rows = (await session.execute(stmt.limit(params.limit).offset(params.offset))).scalars()
    return list(rows.unique()), int(total)
