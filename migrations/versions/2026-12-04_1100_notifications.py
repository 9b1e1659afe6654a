"""notifications: in-app rows

Revision ID: 0016_notifications
Revises: 0015_files
Create Date: 2026-12-04 11:00:00

One row per in-app notification (notifications/); deliveries to the other sinks are jobs.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bazaar.kit.db

revision: str = "0016_notifications"
down_revision: str | Sequence[str] | None = "0015_files"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("locale", sa.String(length=35), nullable=False),
        sa.Column("source_job_id", sa.Uuid(), nullable=True),
        sa.Column("read_at", bazaar.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", bazaar.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("source_job_id", name=op.f("uq_notifications_source_job_id")),
    )
    op.create_index(
        "ix_notifications_user_newest", "notifications", ["user_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_notifications_user_unread",
        "notifications",
        ["user_id"],
        unique=False,
        sqlite_where=sa.text("read_at IS NULL"),
        postgresql_where=sa.text("read_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_user_unread", table_name="notifications")
    op.drop_index("ix_notifications_user_newest", table_name="notifications")
    op.drop_table("notifications")
