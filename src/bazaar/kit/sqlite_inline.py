"""`sqlite+inline://`: SQLite reads run on the event loop thread, for the read-only engine.

aiosqlite sends every DBAPI call (cursor, execute, fetch, close) to a thread and back. For
the short, indexed reads of an API request that hop costs several times the query itself:
a session running `SELECT 1` took 0.76 ms of CPU through aiosqlite and 0.13 ms inline
(docs/performance.md). This dialect is the stdlib `sqlite3` driver, declared async so that
`AsyncEngine`/`AsyncSession` accept it: its calls simply complete inside SQLAlchemy's
greenlet without awaiting anything.

Only the read engine uses it. A read in WAL mode never waits for a writer, so a statement
blocks the loop only for as long as it computes. A write may wait for the database lock
(`BEGIN IMMEDIATE`) held by another session of this very process, which could only release
it if the loop ran: writes therefore stay on aiosqlite's threads.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL

DRIVER = "inline"


class InlineCursor(sqlite3.Cursor):
    async def _async_soft_close(self) -> None:
        """What AsyncSession awaits after a statement: the rows stay readable."""


class InlineConnection(sqlite3.Connection):
    def cursor(self, factory: Any = InlineCursor) -> Any:
        return super().cursor(factory)


class SQLiteDialect_inline(SQLiteDialect_pysqlite):  # noqa: N801 (SQLAlchemy's naming)
    driver = DRIVER
    is_async = True
    supports_statement_cache = True

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        # The asyncio-aware queue: waiting for a free connection awaits, never blocks.
        return pool.AsyncAdaptedQueuePool

    def create_connect_args(self, url: URL) -> Any:
        args, options = super().create_connect_args(url)
        options.update(factory=InlineConnection, check_same_thread=False)
        return args, options


registry.register(f"sqlite.{DRIVER}", __name__, "SQLiteDialect_inline")
