"""payment lifecycle: when each deadline's reminder was sent

Revision ID: 0012_lifecycle
Revises: 0011_chain
Create Date: 2026-12-03 12:00:00

`payments.funding_reminded_at` / `delivery_reminded_at` / `inspection_reminded_at`: the reminder sweep sends each
deadline's reminder once and stamps it here, in the same transaction as the notification
job. Plain ADD COLUMN on both databases (nullable, no rewrite; a batch rebuild of
`payments` on SQLite would rename tables while the full-text search table is there).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bazaar.kit.db

revision: str = "0012_lifecycle"
down_revision: str | Sequence[str] | None = "0011_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("funding_reminded_at", "delivery_reminded_at", "inspection_reminded_at")


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column(
            "payments",
            sa.Column(name, bazaar.kit.db.UTCDateTime(timezone=True), nullable=True),
        )


def downgrade() -> None:
    for name in reversed(COLUMNS):
        op.drop_column("payments", name)
