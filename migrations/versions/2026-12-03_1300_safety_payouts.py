"""transaction safety and payouts: the payout verification sweep's columns, one payout per
ledger movement and kind

Revision ID: 0013_safety_payouts
Revises: 0012_lifecycle
Create Date: 2026-12-03 13:00:00

Plain ADD COLUMN with server defaults (no table rewrite on PostgreSQL, and SQLite's batch
mode copies a table that is empty before the escrow ships).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bazaar.kit.db

revision: str = "0013_safety_payouts"
down_revision: str | Sequence[str] | None = "0012_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("next_check_at", bazaar.kit.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("checks", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("confirmations", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_unique_constraint(
            "uq_payouts_ledger_kind", ["ledger_transaction_id", "kind"]
        )


def downgrade() -> None:
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_payouts_ledger_kind", type_="unique")
        batch_op.drop_column("confirmations")
        batch_op.drop_column("checks")
        batch_op.drop_column("next_check_at")
