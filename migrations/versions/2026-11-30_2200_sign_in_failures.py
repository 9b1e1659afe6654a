"""sign-in failures per address (unknown emails lock like real ones); token expiry indexes

Revision ID: 0005_sign_in_failures
Revises: 0004_jobs_expiry
Create Date: 2026-11-30 22:00:00

The lockout counters move from the users row to a table keyed by a digest of the
normalised email, so an address without an account locks the same way. Locks in force are
carried over; the users columns are dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import bazaar.kit.db

revision: str = "0005_sign_in_failures"
down_revision: str | Sequence[str] | None = "0004_jobs_expiry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_COLUMNS = ("failed_login_count", "failed_login_window_start", "locked_until")


def _key(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def upgrade() -> None:
    failures = op.create_table(
        "sign_in_failures",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", bazaar.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", bazaar.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", bazaar.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_failures")),
    )
    op.create_index(
        op.f("ix_sign_in_failures_updated_at"), "sign_in_failures", ["updated_at"], unique=False
    )
    op.create_index(op.f("ix_refresh_tokens_expires_at"), "refresh_tokens", ["expires_at"])
    op.create_index(op.f("ix_user_tokens_expires_at"), "user_tokens", ["expires_at"])

    users = sa.table(
        "users",
        sa.column("email", sa.String),
        sa.column("locked_until", bazaar.kit.db.UTCDateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    locked = op.get_bind().execute(
        sa.select(users.c.email, users.c.locked_until).where(users.c.locked_until > now)
    )
    rows = [
        {
            "key": _key(email),
            "failures": 0,
            "window_started_at": now,
            "locked_until": until,
            "updated_at": now,
        }
        for email, until in locked
    ]
    if rows:
        op.bulk_insert(failures, rows)
    # Both databases drop a plain column in place (SQLite since 3.35).
    for column in OLD_COLUMNS:
        op.execute(f"ALTER TABLE users DROP COLUMN {column}")


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("failed_login_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column(
                "failed_login_window_start",
                bazaar.kit.db.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch.add_column(
            sa.Column("locked_until", bazaar.kit.db.UTCDateTime(timezone=True), nullable=True)
        )
    op.drop_index(op.f("ix_user_tokens_expires_at"), table_name="user_tokens")
    op.drop_index(op.f("ix_refresh_tokens_expires_at"), table_name="refresh_tokens")
    op.drop_index(op.f("ix_sign_in_failures_updated_at"), table_name="sign_in_failures")
    op.drop_table("sign_in_failures")
