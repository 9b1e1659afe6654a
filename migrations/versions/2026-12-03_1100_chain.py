"""chain: schema changes of the on-chain provider

Revision ID: 0011_chain
Revises: 0010_ledger_guards
Create Date: 2026-12-03 11:00:00

Empty until the part of the escrow issue that owns it needs a change.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0011_chain"
down_revision: str | Sequence[str] | None = "0010_ledger_guards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
