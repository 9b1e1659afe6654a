"""Which tasks hold a write transaction, and the guard that keeps slow work out of them.

A write transaction holds locks: row locks on PostgreSQL, the whole database's write lock
on SQLite (`BEGIN IMMEDIATE`). Work that waits on something else — hashing a password,
talking SMTP, HTTP or JSON-RPC — must not run while one is open, or every other writer
queues behind it. The write engine reports each transaction's begin and end
(`track_write_transactions`), keyed by the asyncio task that runs it; the slow paths call
`assert_no_write_transaction(...)` first.

Outside production a violation raises `SlowWorkUnderLock`, so any code path the test suite
exercises proves the rule; in production it is logged (`slow_work_under_lock`) and the work
goes on. `checks` counts each kind of guarded work, so a test can show the guard ran.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter
from typing import Any

import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger("bazaar.locks")


class SlowWorkUnderLock(RuntimeError):
    """Slow work was started while this task held a write transaction."""


class _WriteTransactions:
    def __init__(self) -> None:
        # Open transactions by DBAPI connection, each with the task that began it (weakly:
        # a finished task's entry can never match again). Keyed by connection because a
        # transaction may end in another task than the one that began it (SQLAlchemy
        # closes sessions in a shielded task of their own); a connection going back to
        # the pool, or dropped, ends whatever it had open.
        self._open: dict[int, weakref.ref[asyncio.Task[Any]]] = {}
        self.strict = True
        self.checks: Counter[str] = Counter()
        self.violations: Counter[str] = Counter()

    @staticmethod
    def _current() -> asyncio.Task[Any] | None:
        try:
            return asyncio.current_task()
        except RuntimeError:
            return None  # not on an event loop (a thread): the task that started it checked

    def opened(self, dbapi_connection: Any) -> None:
        task = self._current()
        if task is not None:
            self._open[id(dbapi_connection)] = weakref.ref(task)

    def closed(self, dbapi_connection: Any) -> None:
        self._open.pop(id(dbapi_connection), None)

    def held_by_current_task(self) -> bool:
        task = self._current()
        if task is None:
            return False
        return any(ref() is task for ref in list(self._open.values()))

    def check(self, work: str) -> None:
        self.checks[work] += 1
        if not self.held_by_current_task():
            return
        self.violations[work] += 1
        if self.strict:
            raise SlowWorkUnderLock(f"{work} started inside a write transaction")
        log.error("slow_work_under_lock", work=work)


WRITE_TRANSACTIONS = _WriteTransactions()


def assert_no_write_transaction(work: str) -> None:
    """Call before slow work (`work` names it, e.g. "password hash", "smtp")."""
    WRITE_TRANSACTIONS.check(work)


def track_write_transactions(engine: AsyncEngine) -> None:
    """Record the begin and end of every transaction of `engine` against its task."""

    def raw(conn: Any) -> Any:
        return conn.connection.dbapi_connection

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        WRITE_TRANSACTIONS.opened(raw(conn))

    @event.listens_for(engine.sync_engine, "commit")
    def _commit(conn: Any) -> None:
        WRITE_TRANSACTIONS.closed(raw(conn))

    @event.listens_for(engine.sync_engine, "rollback")
    def _rollback(conn: Any) -> None:
        WRITE_TRANSACTIONS.closed(raw(conn))

    pool = engine.sync_engine.pool
    for name in ("checkin", "close", "invalidate", "soft_invalidate", "reset"):

        @event.listens_for(pool, name)
        def _ended(dbapi_connection: Any, *_: Any) -> None:
            WRITE_TRANSACTIONS.closed(dbapi_connection)
