"""payment lifecycle: schema changes of the lifecycle and API

Revision ID: 0012_lifecycle
Revises: 0011_chain
Create Date: 2026-12-03 12:00:00

Empty until the part of the escrow issue that owns it needs a change.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0012_lifecycle"
down_revision: str | Sequence[str] | None = "0011_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
