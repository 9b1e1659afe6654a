"""Engine, sessions and the unit of work; column types shared by every table.

Transactions: on PostgreSQL, writers lock rows with `SELECT ... FOR UPDATE`. On SQLite the
driver's implicit transactions are turned off and we emit BEGIN ourselves: write sessions
open with `BEGIN IMMEDIATE` (one writer at a time, so a check-then-update cannot race).
Read sessions (GET/HEAD/OPTIONS requests) use a separate, read-only engine in autocommit:
see `create_engine`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB
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

# A SQLite write connection is a thread of aiosqlite's, and SQLite runs one writer at a
# time: a few connections serve every request (more only add threads fighting for the GIL).
# Overflow stays small: overflow connections are closed when returned, so a large overflow
# under steady load means opening connections (a thread, PRAGMAs) again and again.
# Read connections have no thread (kit/sqlite_inline.py). A request keeps its connection
# until its session's close, which SQLAlchemy runs in a task of its own (shielded from
# cancellation): one trip around the event loop, so under load every request in flight
# holds one. A pool smaller than the concurrency means opening connections over and over.
SQLITE_READ_POOL = 50
SQLITE_WRITE_POOL = 3
# Scan sessions (listings, search) read through aiosqlite threads: SQLite computes while
# the event loop serves other requests, and on the second core. A thread per connection,
# so only a few; more only fight for the GIL.
SQLITE_SCAN_POOL = 4
# PostgreSQL (DB_READ_POOL_SIZE, DB_WRITE_POOL_SIZE): a request holds its read connection
# until its endpoint returns, so under load about as many are in use as requests are in
# flight. Connections beyond the pool ("overflow") are closed when returned: a pool smaller
# than the usual concurrency opens and closes a connection (TCP, TLS negotiation, a server
# process) per request. The benchmark at 50 concurrent clients spent a sixth of its CPU
# doing that with a pool of 10.
# How long a connection waits for SQLite's lock before "database is locked".
SQLITE_BUSY_MS = 30_000
# A reader in WAL mode is almost never busy (WAL recovery, a writer in exclusive mode);
# when it is, an inline reader waits on the loop thread, so not for long.
SQLITE_READ_BUSY_MS = 2000


def create_engine(
    settings: Settings, *, read_only: bool = False, scan: bool = False
) -> AsyncEngine:
    """The engine for writes, or (`read_only`) the one for GET/HEAD/OPTIONS requests, or
    (`read_only` and `scan`) the one for reads that may go through many rows; on
    PostgreSQL the last two are alike, on SQLite short reads run inline (see
    `SQLITE_READ_POOL`) and scans on aiosqlite's threads.

    Read connections run in autocommit: no BEGIN/COMMIT/ROLLBACK round trips, one per
    statement instead of three (on SQLite each is a hop to aiosqlite's thread; on
    PostgreSQL a socket round trip). Each statement sees the latest committed data, which
    is what PostgreSQL's READ COMMITTED gives a multi-statement transaction anyway. They are
    read-only at the database level too (`query_only` / `default_transaction_read_only`),
    so a read request that tries to write fails loudly instead of writing outside a
    transaction.
    """
    url = settings.database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        inline = read_only and not scan
        busy_ms = SQLITE_READ_BUSY_MS if inline else SQLITE_BUSY_MS
        options: dict[str, Any] = {"connect_args": {"timeout": busy_ms / 1000}}
        if inline:
            url = url.replace("sqlite+aiosqlite:", f"sqlite+{sqlite_inline.DRIVER}:", 1)
            options.update(pool_size=SQLITE_READ_POOL, max_overflow=10, **_AUTOCOMMIT)
        elif read_only:
            options.update(pool_size=SQLITE_SCAN_POOL, max_overflow=4, **_AUTOCOMMIT)
        else:
            options.update(pool_size=SQLITE_WRITE_POOL, max_overflow=5)
        engine = create_async_engine(url, **options)
        _configure_sqlite(engine, read_only=read_only, busy_ms=busy_ms)
        return engine
    if read_only:
        engine = create_async_engine(
            url,
            pool_size=settings.db_read_pool_size,
            max_overflow=10,
            connect_args={"server_settings": {**PG_SESSION, "default_transaction_read_only": "on"}},
            **_AUTOCOMMIT,
        )
        _check_connection_on_checkout(engine)
        return engine
    return create_async_engine(
        url,
        pool_size=settings.db_write_pool_size,
        max_overflow=20,
        pool_pre_ping=True,
        connect_args={"server_settings": dict(PG_SESSION)},
    )


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
    """Owns the engine and hands out read and write sessions."""

    def __init__(self, settings: Settings, engine: AsyncEngine | None = None) -> None:
        self.settings = settings
        self.engine = engine or create_engine(settings)
        # A given engine serves every kind of session (its reads use deferred BEGIN).
        self.read_engine = create_engine(settings, read_only=True) if engine is None else engine
        self.backend = self.engine.dialect.name
        # On PostgreSQL the database does the scanning, so scans share the read engine.
        self.scan_engine = (
            create_engine(settings, read_only=True, scan=True)
            if engine is None and self.backend == "sqlite"
            else self.read_engine
        )
        writer = self.engine.execution_options(**{WRITE_OPTION: True})
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False, autoflush=False)
        self._scan = async_sessionmaker(self.scan_engine, expire_on_commit=False, autoflush=False)
        self._write = async_sessionmaker(writer, expire_on_commit=False, autoflush=False)

    def session(self, write: bool = True, scan: bool = False) -> AsyncSession:
        """A write session (a transaction; BEGIN IMMEDIATE on SQLite) or a read session
        (autocommit: each statement sees the latest committed data). `scan`: a read
        session for statements that may go through many rows (listings, search); on
        SQLite they run on a thread instead of the event loop (kit/sqlite_inline.py)."""
        if write:
            return self._write()
        return (self._scan if scan else self._read)()

    @property
    def engines(self) -> list[AsyncEngine]:
        """Every distinct engine: write, read and (on SQLite) scan."""
        unique = {id(e): e for e in (self.engine, self.read_engine, self.scan_engine)}
        return list(unique.values())

    async def dispose(self) -> None:
        for engine in self.engines:
            await engine.dispose()


async def unit_of_work(db: Database, write: bool = True) -> AsyncIterator[AsyncSession]:
    """Open a session, commit when the block succeeds, roll back when it raises."""
    async with db.session(write) as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def for_update(stmt: sa.Select[Any]) -> sa.Select[Any]:
    """Row lock on PostgreSQL; SQLite write sessions are already serialized."""
    return stmt.with_for_update()


def json_array_contains(column: Any, value: str, backend: str) -> sa.ColumnElement[bool]:
    """`value in column` for a JSON array column, on either backend."""
    if backend == "postgresql":
        return column.op("@>")(sa.cast(sa.literal(f'["{value}"]'), JSONB))
    each = sa.func.json_each(column).table_valued("value")
    return sa.exists(sa.select(1).select_from(each).where(each.c.value == value))
