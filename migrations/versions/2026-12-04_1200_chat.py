"""chat: conversations, participants, messages, read markers

Revision ID: 0017_chat
Revises: 0016_notifications
Create Date: 2026-12-04 12:00:00

Empty until the part of the realtime/chat/notifications/files issue that owns it needs a
change.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0017_chat"
down_revision: str | Sequence[str] | None = "0016_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
