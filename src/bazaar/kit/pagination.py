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
    """Run `stmt` for one page and count the whole result (the count only when the page
    alone does not tell it: see `_total`)."""
    rows = (await session.execute(stmt.limit(params.limit).offset(params.offset))).scalars()
    items = list(rows.unique())
    total = _total(items, params)
    if total is None:
        count_stmt = sa.select(sa.func.count()).select_from(
            stmt.order_by(None).options().subquery()
        )
        total = (await session.execute(count_stmt)).scalar_one()
    return items, int(total)


def _total(items: list[Any], params: PageParams) -> int | None:
    """The total when the page shows it: a page that is neither full nor empty is the last
    one, so the total is its offset plus its rows (an empty first page: zero). Else None."""
    if len(items) < params.limit and (items or params.offset == 0):
        return params.offset + len(items)
    return None


class PagedQuery:
    """A list query whose statement is fixed, built once at import time.

    Building a statement per request (WHERE, ORDER BY, LIMIT, the count subquery) and
    computing its cache key is a large share of a short list request. Here the page and
    count statements exist once, with bound parameters for the values (`**binds`) and the
    page window.
    """

    def __init__(self, stmt: sa.Select[Any]) -> None:
        self._page = stmt.limit(sa.bindparam("page_limit")).offset(sa.bindparam("page_offset"))
        self._count = sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())

    async def fetch(
        self, session: AsyncSession, params: PageParams, **binds: Any
    ) -> tuple[list[Any], int]:
        window = {"page_limit": params.limit, "page_offset": params.offset}
        items = list((await session.execute(self._page, binds | window)).scalars())
        total = _total(items, params)
        if total is None:
            total = (await session.execute(self._count, binds)).scalar_one()
        return items, int(total)
