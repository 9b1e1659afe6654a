"""request listing index: the public "newest first" order without a sort

Revision ID: 0003_request_listing_index
Revises: 0002_marketplace
Create Date: 2026-11-25 10:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_request_listing_index"
down_revision: str | Sequence[str] | None = "0002_marketplace"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_purchase_requests_status_newest"


def upgrade() -> None:
    # Matches requests/repository.py's "newest" ORDER BY exactly, so both databases walk
    # the index in order instead of sorting every open request (measured by bench.marketplace).
    op.create_index(
        NAME,
        "purchase_requests",
        [
            "status",
            sa.text("coalesce(published_at, created_at) DESC"),
            sa.text("created_at DESC"),
            "id",
        ],
    )


def downgrade() -> None:
    op.drop_index(NAME, table_name="purchase_requests")
