"""notifications: in-app rows and deliveries

Revision ID: 0016_notifications
Revises: 0015_files
Create Date: 2026-12-04 11:00:00

Empty until the part of the realtime/chat/notifications/files issue that owns it needs a
change.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0016_notifications"
down_revision: str | Sequence[str] | None = "0015_files"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
