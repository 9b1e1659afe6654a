"""Lining up concurrent transactions at a chosen statement, for race tests (no sleeps).

    async with Lineup(db, parties=2, at=lambda sql: sql.startswith("INSERT INTO shops")):
        await asyncio.gather(first(), second())

Each write transaction that is about to run a matching statement waits there (once) until
`parties` transactions have arrived, so every one of them has done its reads before any
writes: the interleaving that loses an update or double-allocates a value, every time.

A fix may make a transaction wait for a row or advisory lock *before* it reaches that
statement, so it never arrives. The lineup therefore also opens when every party still
missing is waiting for a lock in PostgreSQL (`pg_stat_activity`): fixed code runs through,
unfixed code is lined up. Keep `parties` within the write pool (a request waiting for a
pool connection neither arrives nor waits for a lock).

SQLite runs one write transaction at a time (BEGIN IMMEDIATE), so transactions cannot be
lined up inside their writes there: the lineup does nothing and the test runs as a plain
`gather`, which is the guarantee SQLite gives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.util import await_only

from bazaar.kit.db import Database

LOCK_WAITERS = sa.text(
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
)


class Lineup:
    def __init__(self, db: Database, parties: int, at: Callable[[str], bool]) -> None:
        self.db = db
        self.parties = parties
        self.at = at
        self.enabled = db.backend == "postgresql"
        self.arrived: set[int] = set()
        self.open = asyncio.Event()
        self.arrivals = 0
        self._watch: asyncio.Task[None] | None = None

    async def _lock_waiters(self) -> int:
        async with self.db.reading() as session:
            return int((await session.execute(LOCK_WAITERS)).scalar_one())

    async def _watch_locks(self) -> None:
        # Polls until the lineup opens; each poll is a round trip, so this yields the loop.
        while not self.open.is_set():
            if len(self.arrived) + await self._lock_waiters() >= self.parties:
                self.open.set()

    async def _arrive(self, key: int) -> None:
        self.arrived.add(key)
        self.arrivals += 1
        if len(self.arrived) >= self.parties:
            self.open.set()
        elif self._watch is None:
            self._watch = asyncio.create_task(self._watch_locks())
        async with asyncio.timeout(30):
            await self.open.wait()

    def _before(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        key = id(conn.connection.dbapi_connection)
        if self.open.is_set() or key in self.arrived or not self.at(statement):
            return
        await_only(self._arrive(key))

    async def __aenter__(self) -> Lineup:
        if self.enabled:
            event.listen(self.db.engine.sync_engine, "before_cursor_execute", self._before)
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if self.enabled:
            event.remove(self.db.engine.sync_engine, "before_cursor_execute", self._before)
        self.open.set()
        if self._watch is not None:
            await self._watch
