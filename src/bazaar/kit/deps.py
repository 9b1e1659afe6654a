"""Request-scoped dependencies: settings, and the request's one database session.

Each endpoint declares the session it needs by type, whatever its HTTP method:

    ReadSession        reads only (default). On SQLite its statements run on a thread of
                       aiosqlite's, so a long listing never blocks the event loop.
    WriteSession       one transaction, committed before the response is sent (rolled back
                       on error). On SQLite it is `BEGIN IMMEDIATE`: the database's single
                       write lock, held from the first statement to the commit.
    InlineReadSession  an opt-in for a few hot, short, indexed reads (one primary-key or
                       indexed lookup): on SQLite they run on the event loop thread, which is
                       several times cheaper and blocks the loop for as long as the
                       statement runs. Measured in docs/performance.md; do not use it for
                       lists.
    Staged             read first, do slow work (a password hash, a network call) with no
                       connection held, then record in a short transaction:
                       `async with staged.transaction() as session: ...`.

The auth dependency (auth/dependencies.py) reads the caller's user row through the same
session, so a request holds one connection at a time, never two. The kind is found once per
route by walking its dependencies (`route_session_kind`): WRITE if anything in the route
asks for a write session, else READ unless the route only asks for inline reads. A route
that declares nothing and only authenticates reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.db import Database, SessionKind, Sessions


# Dependencies are `async def` on purpose: a plain `def` would run in the threadpool on
# every request, a thread hop that costs more than the work itself.
async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_db(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


# -- which kind a route declares ------------------------------------------------------------


def _iter_calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _iter_calls(sub)


_KINDS: dict[int, SessionKind] = {}


def route_session_kind(route: APIRoute) -> SessionKind:
    """The session kind `route` declared (cached per route)."""
    kind = _KINDS.get(id(route))
    if kind is None:
        declared = {_MARKERS[c] for c in _iter_calls(route.dependant) if c in _MARKERS}
        if SessionKind.WRITE in declared:
            kind = SessionKind.WRITE
        elif declared == {SessionKind.INLINE}:
            kind = SessionKind.INLINE
        else:
            kind = SessionKind.READ
        _KINDS[id(route)] = kind
    return kind


async def _request_db(request: Request) -> AsyncIterator[Sessions]:
    route = request.scope.get("route")
    kind = route_session_kind(route) if isinstance(route, APIRoute) else SessionKind.READ
    rdb = Sessions(request.app.state.db, kind)
    try:
        yield rdb
    except BaseException:
        await rdb.finish(failed=True)
        raise
    await rdb.finish(failed=False)


# `scope="function"`: the session is committed and closed when the endpoint returns, before
# the response is sent, so a client never sees an answer whose effects are not stored.
RequestDbDep = Annotated[Sessions, Depends(_request_db, scope="function")]


async def _write_session(rdb: RequestDbDep) -> AsyncSession:
    return rdb.session()


async def _read_session(rdb: RequestDbDep) -> AsyncSession:
    return rdb.session()


async def _inline_session(rdb: RequestDbDep) -> AsyncSession:
    return rdb.session()


async def _staged(rdb: RequestDbDep) -> Sessions:
    return rdb


_MARKERS: dict[Callable[..., Any], SessionKind] = {
    _write_session: SessionKind.WRITE,
    _read_session: SessionKind.READ,
    _inline_session: SessionKind.INLINE,
    _staged: SessionKind.READ,
}

SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DatabaseDep = Annotated[Database, Depends(get_db)]
ReadSession = Annotated[AsyncSession, Depends(_read_session)]
WriteSession = Annotated[AsyncSession, Depends(_write_session)]
InlineReadSession = Annotated[AsyncSession, Depends(_inline_session)]
Staged = Annotated[Sessions, Depends(_staged)]
# For `dependencies=[InlineReads]` on a route that reads through auth only (GET /api/auth/me).
InlineReads = Depends(_inline_session)
