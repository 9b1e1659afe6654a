"""Request-scoped dependencies: settings, database session (the unit of work)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.db import Database

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# Dependencies are `async def` on purpose: a plain `def` would run in the threadpool on
# every request, a thread hop that costs more than the work itself.
async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_db(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work.

    Writes (every method but GET/HEAD/OPTIONS) get one transaction, `BEGIN IMMEDIATE` on
    SQLite, committed before the response is sent or rolled back. Reads get a session on
    the read-only autocommit engine (kit/db.py): there is nothing to commit, so it is only
    closed, which returns the connection without a round trip.
    """
    db: Database = request.app.state.db
    if request.method in READ_METHODS:
        async with db.session(write=False) as session:
            yield session
        return
    async with db.session(write=True) as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DatabaseDep = Annotated[Database, Depends(get_db)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
