"""ledger guards: PostgreSQL triggers and a deferred balance check on ledger entries

Revision ID: 0010_ledger_guards
Revises: 0009_escrow
Create Date: 2026-12-03 10:00:00

Empty until the part of the escrow issue that owns it needs a change.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0010_ledger_guards"
down_revision: str | Sequence[str] | None = "0009_escrow"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
