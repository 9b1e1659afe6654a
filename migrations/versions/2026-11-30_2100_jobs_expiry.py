"""jobs expiry and pruning: jobs.expires_at, indexes for the prune sweep

Revision ID: 0004_jobs_expiry
Revises: 0003_request_listing_index
Create Date: 2026-11-30 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bazaar.kit.db

revision: str = "0004_jobs_expiry"
down_revision: str | Sequence[str] | None = "0003_request_listing_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXPIRY_WHERE = sa.text("expires_at IS NOT NULL")


def upgrade() -> None:
    # A nullable column without a default: a metadata-only change on both databases, so
    # a large jobs table is not rewritten.
    op.add_column(
        "jobs", sa.Column("expires_at", bazaar.kit.db.UTCDateTime(timezone=True), nullable=True)
    )
    # Partial: only jobs that can expire (live events) are indexed, so jobs without an
    # expiry cost nothing extra on insert.
    op.create_index(
        "ix_jobs_expiry",
        "jobs",
        ["status", "expires_at"],
        sqlite_where=EXPIRY_WHERE,
        postgresql_where=EXPIRY_WHERE,
    )
    # The prune sweep deletes idempotency keys by age.
    op.create_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotency_keys_created_at"), table_name="idempotency_keys")
    op.drop_index("ix_jobs_expiry", table_name="jobs")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
