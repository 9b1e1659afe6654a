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


async def get_scan_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A read session for a GET whose statements may go through many rows (listings,
    search): on SQLite they run on aiosqlite's threads, not on the event loop.

    The short reads of a request (the caller's user row) still use `SessionDep`, inline.
    Inline is several times cheaper for them; a thread keeps a long scan from holding up
    every other request and lets SQLite compute on the second core (measured in
    docs/performance.md: a filtered listing answered 56 req/s with p99 1.4 s this way,
    36 req/s with p99 4.3 s and timeouts inline).
    """
    db: Database = request.app.state.db
    async with db.session(write=False, scan=True) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DatabaseDep = Annotated[Database, Depends(get_db)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ScanSessionDep = Annotated[AsyncSession, Depends(get_scan_session, scope="function")]
