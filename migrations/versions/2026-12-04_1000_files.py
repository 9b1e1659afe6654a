"""files: uploads

Revision ID: 0015_files
Revises: 0014_realtime
Create Date: 2026-12-04 10:00:00

One row per upload (files/); the bytes live under <DATA_DIR>/uploads.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bazaar.kit.db

revision: str = "0015_files"
down_revision: str | Sequence[str] | None = "0014_realtime"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("original_name", sa.String(length=255), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("attached_kind", sa.String(length=16), nullable=True),
        sa.Column("attached_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", bazaar.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_files_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_files_storage_key")),
    )
    op.create_index(op.f("ix_files_owner_id"), "files", ["owner_id"], unique=False)
    op.create_index("ix_files_attached", "files", ["attached_kind", "attached_id"], unique=False)
    op.create_index(
        "ix_files_orphans",
        "files",
        ["created_at"],
        unique=False,
        sqlite_where=sa.text("attached_kind IS NULL"),
        postgresql_where=sa.text("attached_kind IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_files_orphans", table_name="files")
    op.drop_index("ix_files_attached", table_name="files")
    op.drop_index(op.f("ix_files_owner_id"), table_name="files")
    op.drop_table("files")
