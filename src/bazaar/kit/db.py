"""Engine, sessions and the unit of work; column types shared by every table.

Transactions: on PostgreSQL, writers lock rows with `SELECT ... FOR UPDATE`. On SQLite the
driver's implicit transactions are turned off and we emit BEGIN ourselves: write sessions
open with `BEGIN IMMEDIATE` (one writer at a time, so a check-then-update cannot race).
Read sessions use a separate, read-only engine in autocommit (see `create_engine`). Which
kind a request gets is declared by its endpoint (kit/deps.py), not by its HTTP method.
"""

from __future__ import annotations

import contextlib
import enum
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from bazaar.config import Settings
from bazaar.kit import sqlite_inline
from bazaar.kit.locks import WRITE_TRANSACTIONS, track_write_transactions
from bazaar.kit.money import Money, register_sqlite_functions

WRITE_OPTION = "bazaar_write"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both backends (SQLite stores naive text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), Any: JSONType}


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)


class LegacyIdMixin:
    """Business tables keep the old system's Mongo ObjectId (24 hex) for lookups."""

    legacy_object_id: Mapped[str | None] = mapped_column(sa.String(24), unique=True, index=True)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Entity(IdMixin, LegacyIdMixin, TimestampMixin):
    """UUID key, legacy id and timestamps: what every business table has."""


__all__ = ["Base", "Entity", "Money", "JSONType", "UTCDateTime", "utcnow"]


# Planner statistics for SQLite: ANALYZE, sampling about 1,000 rows of each index so it
# stays quick on a large file. (Not `PRAGMA optimize`: before SQLite 3.46 — Python 3.11
# ships 3.40 — it only analyzes tables the same connection has queried, so on a fresh
# connection it does nothing.)
SQLITE_OPTIMIZE = ("PRAGMA analysis_limit=1000", "ANALYZE")

# SQLite write connections are threads of aiosqlite's, and SQLite runs one writer at a
# time: a few connections serve every request (more only add threads fighting for the GIL).
# Overflow stays small: overflow connections are closed when returned.
SQLITE_WRITE_POOL = 3
# Reads go through aiosqlite threads too by default: SQLite computes while the event loop
# serves other requests, and on the second core. A thread per connection, so only a few.
SQLITE_READ_POOL = 4
# Inline reads (kit/sqlite_inline.py) have no thread: an explicit opt-in for a few hot,
# short, indexed reads (InlineReadSession in kit/deps.py), measured in docs/performance.md.
SQLITE_INLINE_POOL = 50
# How long a connection waits for SQLite's lock before "database is locked".
SQLITE_BUSY_MS = 30_000
# A reader in WAL mode is almost never busy (WAL recovery, a writer in exclusive mode);
# when it is, an inline reader waits on the loop thread, so not for long.
SQLITE_INLINE_BUSY_MS = 2000
# PostgreSQL (DB_READ_POOL_SIZE, DB_WRITE_POOL_SIZE): fixed pools, no overflow. A request
# holds one connection, so a process serves as many requests at once as its pools hold and
# queues the rest for a free connection (POOL_TIMEOUT seconds at most); opening and closing
# overflow connections under steady load cost more than the wait. The defaults (10 + 6)
# let 4 API processes and 2 workers share a server with max_connections=100.
PG_POOL_TIMEOUT = 30


class SessionKind(enum.StrEnum):
    """What a session may do. READ and INLINE are read-only autocommit; WRITE is one
    transaction (`BEGIN IMMEDIATE` on SQLite)."""

    READ = "read"
    INLINE = "inline"  # SQLite: on the event loop thread; PostgreSQL: same as READ
    WRITE = "write"


def create_engine(settings: Settings, kind: SessionKind = SessionKind.WRITE) -> AsyncEngine:
    """The engine for one kind of session.

    Read engines run in autocommit: no BEGIN/COMMIT/ROLLBACK round trips, one per statement
    instead of three. Each statement sees the latest committed data, which is what
    PostgreSQL's READ COMMITTED gives a multi-statement transaction anyway. They are
    read-only at the database level too (`query_only` / `default_transaction_read_only`),
    so a read session that tries to write fails loudly instead of writing outside a
    transaction.
    """
    url = settings.database_url
    if url.startswith("sqlite"):
        return _sqlite_engine(settings, url, kind)
    url, ssl = pg_url_and_ssl(url)
    server_settings = {**PG_SESSION, "application_name": f"bazaar-{os.getpid()}-{kind}"}
    common: dict[str, Any] = {"max_overflow": 0, "pool_timeout": PG_POOL_TIMEOUT}
    if kind is SessionKind.WRITE:
        return create_async_engine(
            url,
            pool_size=settings.db_write_pool_size,
            pool_pre_ping=True,
            connect_args={"server_settings": server_settings, "ssl": ssl},
            **common,
        )
    server_settings["default_transaction_read_only"] = "on"
    engine = create_async_engine(
        url,
        pool_size=settings.db_read_pool_size,
        connect_args={"server_settings": server_settings, "ssl": ssl},
        **common,
        **_AUTOCOMMIT,
    )
    _check_connection_on_checkout(engine)
    return engine


def pg_url_and_ssl(url: str) -> tuple[str, Any]:
    """The URL without `sslmode`/`ssl`, and what to pass asyncpg as `ssl`.

    asyncpg's own default is `prefer`: try TLS first, on every new connection, even on a
    local socket. Bazaar asks for TLS only when PG_URL does (`?sslmode=require`, as libpq
    spells it, or `?ssl=...`)."""
    parsed = make_url(url)
    query = dict(parsed.query)
    mode = query.pop("sslmode", None) or query.pop("ssl", None)
    if isinstance(mode, tuple):
        mode = mode[-1]
    clean = parsed.set(query=query).render_as_string(hide_password=False)
    if mode is None or mode in ("disable", "false", "0"):
        return clean, False
    return clean, mode


def _sqlite_engine(settings: Settings, url: str, kind: SessionKind) -> AsyncEngine:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    busy_ms = SQLITE_INLINE_BUSY_MS if kind is SessionKind.INLINE else SQLITE_BUSY_MS
    options: dict[str, Any] = {"connect_args": {"timeout": busy_ms / 1000}}
    if kind is SessionKind.INLINE:
        url = url.replace("sqlite+aiosqlite:", f"sqlite+{sqlite_inline.DRIVER}:", 1)
        options.update(pool_size=SQLITE_INLINE_POOL, max_overflow=10, **_AUTOCOMMIT)
    elif kind is SessionKind.READ:
        options.update(pool_size=SQLITE_READ_POOL, max_overflow=4, **_AUTOCOMMIT)
    else:
        options.update(pool_size=SQLITE_WRITE_POOL, max_overflow=5)
    engine = create_async_engine(url, **options)
    _configure_sqlite(engine, read_only=kind is not SessionKind.WRITE, busy_ms=busy_ms)
    return engine


# asyncpg prepares every statement, and after five executions PostgreSQL may switch to a
# generic plan that ignores the values: the full-text count then scanned every row
# (2.7 ms with the index, 160 ms without). Planning each execution costs ~0.1-0.3 ms.
PG_SESSION = {"plan_cache_mode": "force_custom_plan"}


# Autocommit connections end with nothing to roll back: skip the DBAPI rollback on
# session close and on pool return (each would be a round trip).
_AUTOCOMMIT: dict[str, Any] = {
    "isolation_level": "AUTOCOMMIT",
    "skip_autocommit_rollback": True,
    "pool_reset_on_return": None,
}


def _check_connection_on_checkout(engine: AsyncEngine) -> None:
    """Replace a pooled PostgreSQL connection the server has closed, without a round trip.

    `pool_pre_ping` costs one round trip per request. A restarted server, an idle timeout
    or a proxy closing the socket all reach asyncpg as a closed connection, which it knows
    locally (`is_closed()`); the pool then opens a fresh one. A connection dropped without
    the socket noticing still fails its request once and is replaced (SQLAlchemy
    invalidates connections on disconnect errors).
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is not None and driver.is_closed():
            raise sa.exc.DisconnectionError("connection closed by the server")


def _configure_sqlite(engine: AsyncEngine, *, read_only: bool, busy_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()
        register_sqlite_functions(dbapi_connection)

    if read_only:
        return  # no BEGIN: the driver is in autocommit, each statement stands alone

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Database:
    """Owns the engines and hands out sessions of each kind."""

    def __init__(self, settings: Settings, engine: AsyncEngine | None = None) -> None:
        self.settings = settings
        self.engine = engine or create_engine(settings, SessionKind.WRITE)
        self.backend = self.engine.dialect.name
        # A given engine serves every kind of session (its reads use deferred BEGIN).
        self.read_engine = create_engine(settings, SessionKind.READ) if engine is None else engine
        # On PostgreSQL inline reads are plain reads: the database does the work.
        self.inline_engine = (
            create_engine(settings, SessionKind.INLINE)
            if engine is None and self.backend == "sqlite"
            else self.read_engine
        )
        track_write_transactions(self.engine)
        WRITE_TRANSACTIONS.strict = not settings.is_production
        writer = self.engine.execution_options(**{WRITE_OPTION: True})
        self._makers = {
            SessionKind.WRITE: async_sessionmaker(writer, expire_on_commit=False, autoflush=False),
            SessionKind.READ: async_sessionmaker(
                self.read_engine, expire_on_commit=False, autoflush=False
            ),
            SessionKind.INLINE: async_sessionmaker(
                self.inline_engine, expire_on_commit=False, autoflush=False
            ),
        }

    def session(self, kind: SessionKind | bool = SessionKind.WRITE) -> AsyncSession:
        """A new session of `kind` (`True`/`False` mean WRITE/READ). Write sessions are one
        transaction (`BEGIN IMMEDIATE` on SQLite); read sessions are autocommit."""
        if isinstance(kind, bool):
            kind = SessionKind.WRITE if kind else SessionKind.READ
        return self._makers[kind]()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A short write transaction: committed when the block succeeds, else rolled back."""
        async with self.session(SessionKind.WRITE) as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A read session (autocommit), closed after the block."""
        async with self.session(SessionKind.READ) as session:
            yield session

    @property
    def engines(self) -> list[AsyncEngine]:
        """Every distinct engine: write, read and (on SQLite) inline."""
        unique = {id(e): e for e in (self.engine, self.read_engine, self.inline_engine)}
        return list(unique.values())

    async def dispose(self) -> None:
        for engine in self.engines:
            await engine.dispose()


class Transactions(Protocol):
    """Anything that opens short write transactions: a `Database`, a request's `Sessions`."""

    def transaction(self) -> contextlib.AbstractAsyncContextManager[AsyncSession]: ...


class Sessions:
    """A unit of work's database access: at most one session (one connection) at a time.

    A request gets one (kit/deps.py), of the kind its endpoint declared. Reads go through
    `session()`; a staged flow then calls `transaction()` for a short write transaction,
    which returns the read connection first. Services that do slow work between reading
    and writing (password hashing, network calls) take a `Sessions` and own their
    transactions this way; they still never call `commit()` themselves."""

    __slots__ = ("_session", "db", "kind")

    def __init__(self, db: Database, kind: SessionKind) -> None:
        self.db = db
        self.kind = kind
        self._session: AsyncSession | None = None

    def session(self) -> AsyncSession:
        """The request's session of its declared kind, opened on first use (the
        connection itself is taken at the first statement)."""
        if self._session is None:
            self._session = self.db.session(self.kind)
        return self._session

    async def release(self) -> None:
        """Give the connection back now (reads only); objects loaded stay readable."""
        if self._session is None:
            return
        if self.kind is SessionKind.WRITE:
            raise RuntimeError("a write session ends with the request")
        session, self._session = self._session, None
        await _close(session)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A short write transaction after the request's reads (Staged endpoints): the
        read connection is returned first, so the request still holds only one."""
        await self.release()
        async with self.db.transaction() as session:
            yield session

    async def finish(self, failed: bool) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        try:
            if self.kind is SessionKind.WRITE:
                if failed:
                    await session.rollback()
                else:
                    await session.commit()
        finally:
            await _close(session)


async def _close(session: AsyncSession) -> None:
    """Close as `async with session` does: in a shielded task of its own, so a cancelled
    request still returns its connection. (Awaiting `close()` directly saved a loop
    iteration but made SQLite's p99 under load 14x worse: docs/decisions.md.)"""
    await session.__aexit__(None, None, None)


def for_update(stmt: sa.Select[Any]) -> sa.Select[Any]:
    """Row lock on PostgreSQL; SQLite write sessions are already serialized."""
    return stmt.with_for_update()


def json_array_contains(column: Any, value: str, backend: str) -> sa.ColumnElement[bool]:
    """`value in column` for a JSON array column, on either backend."""
    if backend == "postgresql":
        return column.op("@>")(sa.cast(sa.literal(f'["{value}"]'), JSONB))
    each = sa.func.json_each(column).table_valued("value")
    return sa.exists(sa.select(1).select_from(each).where(each.c.value == value))
