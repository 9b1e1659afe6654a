"""realtime: schema changes of the Socket.IO layer

Revision ID: 0014_realtime
Revises: 0013_safety_payouts
Create Date: 2026-12-04 09:00:00

Empty until the part of the realtime/chat/notifications/files issue that owns it needs a
change.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0014_realtime"
down_revision: str | Sequence[str] | None = "0013_safety_payouts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
