"""transaction safety and payouts: schema changes

Revision ID: 0013_safety_payouts
Revises: 0012_lifecycle
Create Date: 2026-12-03 13:00:00

Empty until the part of the escrow issue that owns it needs a change.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0013_safety_payouts"
down_revision: str | Sequence[str] | None = "0012_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
