"""files: uploads

Revision ID: 0015_files
Revises: 0014_realtime
Create Date: 2026-12-04 10:00:00

Empty until the part of the realtime/chat/notifications/files issue that owns it needs a
change.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0015_files"
down_revision: str | Sequence[str] | None = "0014_realtime"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
