"""Engine, sessions and the unit of work; column types shared by every table.

Transactions: on PostgreSQL, writers lock rows with `SELECT ... FOR UPDATE`. On SQLite the
driver's implicit transactions are turned off and we emit BEGIN ourselves: write sessions
open with `BEGIN IMMEDIATE` (one writer at a time, so a check-then-update cannot race), read
sessions with a plain deferred `BEGIN`.
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


def create_engine(settings: Settings, *, read_only: bool = False) -> AsyncEngine:
    """The engine for writes, or (`read_only`) one whose connections run in autocommit.

    Read requests need no transaction: every statement sees committed data, and skipping
    BEGIN/COMMIT saves round trips (on SQLite each is a hop to aiosqlite's thread). A pool
    connection is a thread on SQLite, so those pools stay small.
    """
    url = settings.database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {"connect_args": {"timeout": 30}}
        if read_only:
            options.update(pool_size=1, max_overflow=0, pool_reset_on_return=None)
        else:
            options.update(pool_size=2, max_overflow=6)
        engine = create_async_engine(url, **options)
        _configure_sqlite(engine, read_only=read_only)
        return engine
    # asyncpg prepares statements; after five runs PostgreSQL may switch a statement to a
    # generic plan that ignores the values, which turned full-text search from 8 ms into
    # 450 ms (bench.marketplace). Planning each execution costs ~0.3 ms and avoids that.
    pg_options: dict[str, Any] = {
        "pool_size": 10,
        "max_overflow": 20,
        "pool_pre_ping": True,
        "connect_args": {"server_settings": {"plan_cache_mode": "force_custom_plan"}},
    }
    if read_only:
        pg_options.update(isolation_level="AUTOCOMMIT", pool_reset_on_return=None)
    return create_async_engine(url, **pg_options)


def _configure_sqlite(engine: AsyncEngine, *, read_only: bool = False) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
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
        # A given engine serves both kinds of session (its reads use deferred BEGIN).
        self.read_engine = create_engine(settings, read_only=True) if engine is None else engine
        self.backend = self.engine.dialect.name
        writer = self.engine.execution_options(**{WRITE_OPTION: True})
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False, autoflush=False)
        self._write = async_sessionmaker(writer, expire_on_commit=False, autoflush=False)

    def session(self, write: bool = True) -> AsyncSession:
        """A write session (a transaction; BEGIN IMMEDIATE on SQLite) or a read session
        (autocommit: each statement sees the latest committed data)."""
        return (self._write if write else self._read)()

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


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
